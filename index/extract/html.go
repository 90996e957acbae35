package extract

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// brk is a pending break between two runs of text, the strongest asked for
// since the last text winning.
type brk int

const (
	brkNone brk = iota
	brkSpace
	brkLine
	brkPara
)

// maxListIndent caps list nesting in the output, so that deep nesting
// cannot make the text grow with the square of the input.
const maxListIndent = 8

// extractHTML renders the body of an HTML document as Markdown-like text.
func extractHTML(content string) (Document, error) {
	if !looksLikeHTML(content) {
		return Document{}, fmt.Errorf("%w: no HTML markup", ErrUnparseable)
	}
	root, err := html.Parse(strings.NewReader(content))
	if err != nil {
		return Document{}, fmt.Errorf("%w: %w", ErrUnparseable, err)
	}
	w := &htmlWriter{}
	w.walk(root)
	text := w.out.String()
	w.sec.close(text, len(text))
	d := Document{Title: w.title, Text: text, Sections: w.sec.secs}
	if !w.haveTitle {
		d.Title = w.h1
	}
	return d, nil
}

// looksLikeHTML reports whether content has any markup at all: a tag, an
// end tag, a comment or a doctype. Text without one is not HTML, whatever
// it was labelled, and the caller should know rather than index it as such.
func looksLikeHTML(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || i+1 >= len(s) {
			return false
		}
		c := s[i+1]
		if c == '!' || c == '/' || c == '?' || (c|0x20 >= 'a' && c|0x20 <= 'z') {
			return true
		}
		s = s[i+1:]
	}
}

// action is what entering an element did, undone when leaving it.
type action int

const (
	actNone action = iota
	actSkip
	actBlock   // a paragraph break before and after
	actLine    // a line break before and after
	actList    // ul, ol
	actItem    // li
	actPre     // pre
	actHeading // h1..h6 outside lists and tables
	actTitle   // <title>
	actTable   // table
	actRow     // tr
	actCell    // td, th
	actSection // article, section, main: header and footer inside are content
	actBr
)

type listState struct {
	ordered bool
	n       int
}

// inline gathers the text of a heading, table cell or title, collapsed.
type inline struct {
	b     strings.Builder
	space bool
}

type htmlWriter struct {
	out     strings.Builder
	pending brk
	brs     int // <br>s since the last text: two make a paragraph break
	sec     sectioner

	lists  []listState
	marker string // list marker waiting for the item's first text

	pre        int
	preTrail   string // whitespace at the end of a pre's text, written only if more follows
	sectioning int    // depth inside article, section, main

	capture *inline // heading, cell or title being gathered, or nil
	level   int     // the heading being gathered

	row      []string // cells of the table row being gathered
	inRow    bool
	rowDepth int // rows being gathered, including nested tables' rows

	title     string
	haveTitle bool
	h1        string
	haveH1    bool
}

// walk visits the tree in document order without recursion (the parser
// keeps any depth of nesting, and a deep tree must not overflow the stack).
func (w *htmlWriter) walk(root *html.Node) {
	var acts []action
	n := root
	for n != nil {
		act := w.enter(n)
		if act != actSkip && n.FirstChild != nil {
			acts = append(acts, act)
			n = n.FirstChild
			continue
		}
		w.leave(n, act)
		for n != root && n.NextSibling == nil {
			n = n.Parent
			act, acts = acts[len(acts)-1], acts[:len(acts)-1]
			w.leave(n, act)
		}
		if n == root {
			return
		}
		n = n.NextSibling
	}
}

// skipped are elements whose content is not part of the readable text:
// code, styling, navigation and chrome, forms and embedded media.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Aside: true, atom.Form: true, atom.Svg: true, atom.Iframe: true,
	atom.Button: true, atom.Select: true, atom.Textarea: true, atom.Object: true,
	atom.Embed: true, atom.Canvas: true, atom.Audio: true, atom.Video: true,
	atom.Frameset: true, atom.Dialog: true, atom.Meta: true, atom.Link: true,
}

// skippedRoles are ARIA landmark roles of page chrome.
var skippedRoles = map[string]bool{
	"navigation": true, "banner": true, "contentinfo": true, "complementary": true, "search": true,
}

var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Body: true, atom.Blockquote: true, atom.Figure: true,
	atom.Address: true, atom.Details: true, atom.Dl: true, atom.Fieldset: true, atom.Hr: true,
	atom.Center: true, atom.Header: true, atom.Footer: true,
}

var lines = map[atom.Atom]bool{
	atom.Dt: true, atom.Dd: true, atom.Figcaption: true, atom.Summary: true, atom.Caption: true,
	atom.Legend: true,
}

func (w *htmlWriter) enter(n *html.Node) action {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return actNone
	case html.ElementNode:
	case html.DocumentNode:
		return actNone
	default:
		return actSkip
	}
	if n.Namespace != "" || skipped[n.DataAtom] || hidden(n) {
		return actSkip
	}
	a := n.DataAtom
	if (a == atom.Header || a == atom.Footer) && w.sectioning == 0 {
		// Page-level header and footer are the site's banner and footer
		// links; inside an article or section they belong to it.
		return actSkip
	}
	if w.capture != nil {
		// Inside a heading, cell or title everything is inline text.
		switch a {
		case atom.Br, atom.Td, atom.Th, atom.Tr, atom.Li, atom.P, atom.Div:
			w.capture.space = w.capture.b.Len() > 0
		}
		return actNone
	}
	switch a {
	case atom.Title:
		if w.haveTitle {
			return actSkip
		}
		w.capture = &inline{}
		return actTitle
	case atom.Head:
		return actNone
	case atom.Article, atom.Section, atom.Main:
		w.sectioning++
		w.brk(brkPara)
		return actSection
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		if len(w.lists) > 0 || w.rowDepth > 0 {
			w.brk(brkLine)
			return actLine
		}
		w.brk(brkPara)
		w.capture = &inline{}
		w.level = int(n.Data[1] - '0')
		return actHeading
	case atom.Br:
		if w.pre > 0 {
			w.preTrail += "\n"
			return actBr
		}
		w.brs++
		if w.brs >= 2 {
			w.brk(brkPara)
		} else {
			w.brk(brkLine)
		}
		return actBr
	case atom.Ul, atom.Ol, atom.Menu:
		if len(w.lists) == 0 {
			w.brk(brkPara)
		} else {
			w.brk(brkLine)
		}
		l := listState{ordered: a == atom.Ol, n: 1}
		if l.ordered {
			if v, err := strconv.Atoi(attr(n, "start")); err == nil && v > -1e9 && v < 1e9 {
				l.n = v
			}
		}
		w.lists = append(w.lists, l)
		return actList
	case atom.Li:
		w.brk(brkLine)
		w.marker = "- "
		if k := len(w.lists) - 1; k >= 0 && w.lists[k].ordered {
			w.marker = strconv.Itoa(w.lists[k].n) + ". "
			w.lists[k].n++
		}
		return actItem
	case atom.Pre:
		w.brk(brkPara)
		w.pre++
		return actPre
	case atom.Table:
		w.brk(brkPara)
		return actTable
	case atom.Tr:
		w.rowDepth++
		if w.rowDepth == 1 {
			w.row, w.inRow = w.row[:0], true
		}
		return actRow
	case atom.Td, atom.Th:
		if w.inRow {
			w.capture = &inline{}
			return actCell
		}
		w.brk(brkSpace)
		return actNone
	}
	if blocks[a] {
		w.brk(brkPara)
		return actBlock
	}
	if lines[a] {
		w.brk(brkLine)
		return actLine
	}
	return actNone
}

func (w *htmlWriter) leave(n *html.Node, act action) {
	switch act {
	case actBlock, actSection:
		if act == actSection {
			w.sectioning--
		}
		w.brk(brkPara)
	case actLine:
		w.brk(brkLine)
	case actTitle:
		w.title, w.haveTitle = w.capture.b.String(), true
		w.capture = nil
		if w.title == "" {
			w.haveTitle = false
		}
	case actHeading:
		t := w.capture.b.String()
		w.capture = nil
		if t == "" {
			return
		}
		w.emit(strings.Repeat("#", w.level) + " " + t)
		text := w.out.String()
		w.sec.heading(text, len(text)-len(t)-w.level-1, len(text), w.level, t)
		w.brk(brkPara)
		if w.level == 1 && !w.haveH1 {
			w.h1, w.haveH1 = t, true
		}
	case actList:
		w.lists = w.lists[:len(w.lists)-1]
		if len(w.lists) == 0 {
			w.brk(brkPara)
		} else {
			w.brk(brkLine)
		}
	case actItem:
		w.marker = ""
		w.brk(brkLine)
	case actPre:
		w.pre--
		w.preTrail = ""
		w.brk(brkPara)
	case actTable:
		w.brk(brkPara)
	case actRow:
		w.rowDepth--
		if w.rowDepth > 0 || !w.inRow {
			return
		}
		w.inRow = false
		for _, c := range w.row {
			if c != "" {
				w.brk(brkLine)
				w.emit(strings.Join(w.row, " | "))
				w.brk(brkLine)
				break
			}
		}
	case actCell:
		w.row = append(w.row, w.capture.b.String())
		w.capture = nil
	}
}

// text writes a text node: raw inside pre, collapsed elsewhere.
func (w *htmlWriter) text(s string) {
	if w.capture != nil {
		collapse(&w.capture.b, s, &w.capture.space)
		return
	}
	if w.pre > 0 {
		s = w.preTrail + strings.Map(func(r rune) rune {
			if r != '\n' && r != '\t' && isSpace(r) {
				return ' '
			}
			return r
		}, s)
		body := strings.TrimRight(s, " \t\n")
		w.preTrail = s[len(body):]
		if body != "" {
			w.writeRaw(body)
		}
		return
	}
	start := 0
	for i, r := range s {
		if !isSpace(r) {
			continue
		}
		if start < i {
			w.emit(s[start:i])
		}
		w.brk(brkSpace)
		start = i + utf8.RuneLen(r)
	}
	if start < len(s) {
		w.emit(s[start:])
	}
}

// writeRaw writes pre text, which keeps its own line breaks.
func (w *htmlWriter) writeRaw(s string) {
	if w.out.Len() == 0 {
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			return
		}
	}
	w.flush()
	w.out.WriteString(s)
	w.brs = 0
}

// emit writes s, which has no whitespace to collapse, after the pending
// break and, at the start of a line in a list, the indentation or marker.
func (w *htmlWriter) emit(s string) {
	w.flush()
	w.out.WriteString(s)
	w.brs = 0
}

func (w *htmlWriter) flush() {
	p := w.pending
	w.pending = brkNone
	lineStart := w.out.Len() == 0
	if !lineStart {
		switch p {
		case brkPara:
			w.out.WriteString("\n\n")
			lineStart = true
		case brkLine:
			w.out.WriteByte('\n')
			lineStart = true
		case brkSpace:
			w.out.WriteByte(' ')
		}
	}
	if !lineStart || len(w.lists) == 0 || w.pre > 0 {
		return
	}
	depth := min(len(w.lists), maxListIndent)
	if w.marker != "" {
		w.out.WriteString(strings.Repeat("  ", depth-1))
		w.out.WriteString(w.marker)
		w.marker = ""
		return
	}
	w.out.WriteString(strings.Repeat("  ", depth))
}

// brk asks for a break before the next text. Inside a list a paragraph
// break is only a line break, so that an item's paragraphs stay its own.
func (w *htmlWriter) brk(b brk) {
	if b == brkPara && len(w.lists) > 0 {
		b = brkLine
	}
	if b > w.pending {
		w.pending = b
	}
}

// hidden reports an element the page does not show, or one that is a
// landmark of page chrome.
func hidden(n *html.Node) bool {
	for _, a := range n.Attr {
		if a.Namespace != "" {
			continue
		}
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "role":
			if skippedRoles[strings.ToLower(strings.TrimSpace(a.Val))] {
				return true
			}
		case "style":
			v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(v, "display:none") || strings.Contains(v, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return strings.TrimSpace(a.Val)
		}
	}
	return ""
}
