package extract

import (
	"strings"
)

// A line's block kind, as far as headings need it: a setext underline makes
// a heading only of a paragraph's single first line, and a line after a
// list item or quote is that block's lazy continuation, not a paragraph.
type mdKind int

const (
	mdBlank  mdKind = iota // blank, or the start of the text
	mdPara1                // the first line of a paragraph
	mdParaN                // a later line of a paragraph
	mdOther                // list item, block quote, or a lazy continuation of one
	mdClosed               // heading, thematic break, fence or indented code: nothing continues it
)

// extractMarkdown finds ATX and setext headings outside fenced code. It is
// a line scanner, not a CommonMark parser: it only has to know where
// headings are. Where it simplifies, it errs towards "not a heading": a
// setext underline under a paragraph of several lines is left as text (the
// usual cause is a thematic break missing its blank line, not a heading).
func extractMarkdown(s string) Document {
	body, fmTitle := dropFrontMatter(s)
	d := Document{Text: body}
	var (
		sec              sectioner
		prev             = mdBlank
		prevStart        int
		fenceCh          byte
		fenceLen         int
		h1               string
		haveH1, inFenced bool
	)
	for pos := 0; pos < len(body); {
		end := strings.IndexByte(body[pos:], '\n')
		next := len(body)
		if end < 0 {
			end = len(body)
		} else {
			end += pos
			next = end + 1
		}
		line := body[pos:end]
		kind := mdClosed
		switch {
		case inFenced:
			if fenceCloses(line, fenceCh, fenceLen) {
				inFenced = false
			}
		case fenceOpens(line, &fenceCh, &fenceLen):
			inFenced = true
		default:
			if level, title, ok := atxHeading(line); ok {
				title = cleanHeading(title)
				sec.heading(body, pos, next, level, title)
				if level == 1 && !haveH1 && title != "" {
					h1, haveH1 = title, true
				}
				break
			}
			if level, ok := setextUnderline(line); ok && prev == mdPara1 {
				title := cleanHeading(body[prevStart:pos])
				sec.heading(body, prevStart, next, level, title)
				if level == 1 && !haveH1 && title != "" {
					h1, haveH1 = title, true
				}
				break
			}
			kind = classify(line, prev)
		}
		prev, prevStart = kind, pos
		pos = next
	}
	sec.close(body, len(body))
	d.Sections = sec.secs
	d.Title = h1
	if !haveH1 {
		d.Title = fmTitle
	}
	return d
}

// classify says what kind of line a non-heading, non-fence line is.
func classify(line string, prev mdKind) mdKind {
	indent, rest := leadingIndent(line)
	if strings.TrimSpace(rest) == "" {
		return mdBlank
	}
	inPara := prev == mdPara1 || prev == mdParaN
	switch {
	case indent >= 4:
		// Indented code, unless it continues a paragraph or list item.
		if inPara {
			return mdParaN
		}
		if prev == mdOther {
			return mdOther
		}
		return mdClosed
	case thematicBreak(rest):
		return mdClosed
	case rest[0] == '>' || listMarker(rest):
		return mdOther
	case inPara:
		return mdParaN
	case prev == mdOther:
		return mdOther
	}
	return mdPara1
}

// leadingIndent measures the indentation in columns (a tab reaches the next
// multiple of four) and returns the rest of the line.
func leadingIndent(line string) (int, string) {
	col := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ':
			col++
		case '\t':
			col += 4 - col%4
		default:
			return col, line[i:]
		}
	}
	return col, ""
}

// atxHeading parses "## Title ##": up to three spaces, one to six #, then a
// space or the end of the line. The closing #s are dropped.
func atxHeading(line string) (int, string, bool) {
	indent, rest := leadingIndent(line)
	if indent > 3 {
		return 0, "", false
	}
	n := 0
	for n < len(rest) && rest[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(rest) && rest[n] != ' ' && rest[n] != '\t') {
		return 0, "", false
	}
	title := strings.TrimSpace(rest[n:])
	if t := strings.TrimRight(title, "#"); t == "" {
		title = ""
	} else if t != title && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
		title = strings.TrimSpace(t)
	}
	return n, title, true
}

// setextUnderline recognises "===" (level 1) and "---" (level 2) lines.
func setextUnderline(line string) (int, bool) {
	indent, rest := leadingIndent(line)
	rest = strings.TrimRight(rest, " \t")
	if indent > 3 || rest == "" || (rest[0] != '=' && rest[0] != '-') {
		return 0, false
	}
	if strings.Trim(rest, rest[:1]) != "" {
		return 0, false
	}
	if rest[0] == '=' {
		return 1, true
	}
	return 2, true
}

// thematicBreak recognises "***", "- - -", "___" (three or more).
func thematicBreak(rest string) bool {
	c := rest[0]
	if c != '-' && c != '*' && c != '_' {
		return false
	}
	n := 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case c:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// listMarker recognises "- ", "* ", "+ ", "1. " and "1) " (or the marker
// alone on its line).
func listMarker(rest string) bool {
	i := 0
	switch rest[0] {
	case '-', '*', '+':
		i = 1
	default:
		for i < len(rest) && i < 9 && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i >= len(rest) || (rest[i] != '.' && rest[i] != ')') {
			return false
		}
		i++
	}
	return i == len(rest) || rest[i] == ' ' || rest[i] == '\t'
}

// fenceOpens recognises a code fence, three or more backticks or tildes
// after at most three spaces, and reports its character and length.
func fenceOpens(line string, ch *byte, n *int) bool {
	indent, rest := leadingIndent(line)
	if indent > 3 || len(rest) < 3 || (rest[0] != '`' && rest[0] != '~') {
		return false
	}
	c := rest[0]
	k := 0
	for k < len(rest) && rest[k] == c {
		k++
	}
	// A backtick fence's info string cannot hold a backtick (that would be
	// inline code).
	if k < 3 || (c == '`' && strings.IndexByte(rest[k:], '`') >= 0) {
		return false
	}
	*ch, *n = c, k
	return true
}

// fenceCloses recognises the fence that ends a block opened with n of c.
func fenceCloses(line string, c byte, n int) bool {
	indent, rest := leadingIndent(line)
	if indent > 3 {
		return false
	}
	k := 0
	for k < len(rest) && rest[k] == c {
		k++
	}
	return k >= n && strings.TrimSpace(rest[k:]) == ""
}

// dropFrontMatter removes a YAML (---) or TOML (+++) block at the very top,
// which is metadata, not text, and reads its title. A block that is never
// closed is kept: it was a thematic break, not front matter.
func dropFrontMatter(s string) (string, string) {
	first, rest, ok := strings.Cut(s, "\n")
	first = strings.TrimRight(first, " \t")
	if !ok || (first != "---" && first != "+++") {
		return s, ""
	}
	sep := byte(':')
	if first == "+++" {
		sep = '='
	}
	var title string
	for pos := 0; pos < len(rest); {
		end := strings.IndexByte(rest[pos:], '\n')
		next := len(rest)
		if end < 0 {
			end = len(rest)
		} else {
			end += pos
			next = end + 1
		}
		line := strings.TrimRight(rest[pos:end], " \t")
		if line == first || (first == "---" && line == "...") {
			return rest[next:], title
		}
		if title == "" {
			if k, v, ok := strings.Cut(line, string(sep)); ok && strings.TrimSpace(k) == "title" {
				v = strings.TrimSpace(v)
				if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
					v = v[1 : len(v)-1]
				}
				title = collapseString(v)
			}
		}
		pos = next
	}
	return s, ""
}

// maxLinkScan bounds how far cleanHeading looks for the end of a link, so
// that a heading full of "[" stays linear.
const maxLinkScan = 512

// cleanHeading makes a heading's Markdown readable for the heading path:
// links and images become their text, code spans lose their backticks,
// backslash escapes and a trailing {#id} attribute block go, and
// whitespace collapses. Emphasis is kept: "_" and "*" are too often literal.
func cleanHeading(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "{"); i >= 0 && strings.HasSuffix(s, "}") && i+1 < len(s) && (s[i+1] == '#' || s[i+1] == '.') {
		s = s[:i]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			i++
			b.WriteByte(s[i])
		case c == '`':
		case c == '!' && i+1 < len(s) && s[i+1] == '[':
		case c == '[':
			text, n := linkText(s[i:])
			if n == 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString(text)
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return collapseString(b.String())
}

// linkText parses "[text](dest)" or "[text][ref]" at the start of s and
// returns text and the length consumed, or 0 if s does not start a link.
func linkText(s string) (string, int) {
	limit := min(len(s), maxLinkScan)
	end := strings.IndexByte(s[1:limit], ']')
	if end < 0 {
		return "", 0
	}
	end++
	text := s[1:end]
	if strings.IndexByte(text, '[') >= 0 || end+1 >= len(s) {
		return "", 0
	}
	var closer byte
	switch s[end+1] {
	case '(':
		closer = ')'
	case '[':
		closer = ']'
	default:
		return "", 0
	}
	rest := s[end+2 : max(end+2, limit)]
	k := strings.IndexByte(rest, closer)
	if k < 0 {
		return "", 0
	}
	return text, end + 2 + k + 1
}

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}
