package extract

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format is how a document's content is written.
type Format int

// The formats Extract reads.
const (
	FormatText Format = iota
	FormatMarkdown
	FormatHTML
)

// String names the format for logs and errors.
func (f Format) String() string {
	switch f {
	case FormatText:
		return "text"
	case FormatMarkdown:
		return "markdown"
	case FormatHTML:
		return "html"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Section is a run of body text under one heading path.
type Section struct {
	Headings []string // heading path the section sits under, outermost first (may be empty)
	Start    int      // byte offset of the section's body in Document.Text
	End      int      // end of the body (exclusive)
}

// Document is extracted content: its readable text and how that text is
// divided by headings.
type Document struct {
	// Title is the HTML <title> (else the first h1); for Markdown the first
	// h1, else the front matter's title; "" if none.
	Title string
	// Text is the whole readable text.
	Text string
	// Sections are in order and cover the body text of Text; heading lines
	// sit between them.
	Sections []Section
}

// Errors Extract returns, wrapped with the reason.
var (
	// ErrEmpty: nothing readable is left after extraction.
	ErrEmpty = errors.New("extract: no readable text")
	// ErrNotText: the content is not text (invalid UTF-8, NUL or other
	// binary control bytes), so it is most likely a binary file.
	ErrNotText = errors.New("extract: content is not text")
	// ErrUnparseable: the content is not in the format it was said to be
	// (HTML without any markup), HTML the parser refuses (nesting deeper
	// than 512 elements), or an unknown format.
	ErrUnparseable = errors.New("extract: content cannot be parsed")
)

// Extract reads content written in format f.
func Extract(content string, f Format) (Document, error) {
	if err := checkText(content); err != nil {
		return Document{}, err
	}
	content = strings.TrimPrefix(content, "\uFEFF")
	var (
		d   Document
		err error
	)
	switch f {
	case FormatText:
		d = extractText(normalizeNewlines(content))
	case FormatMarkdown:
		d = extractMarkdown(normalizeNewlines(content))
	case FormatHTML:
		d, err = extractHTML(content)
	default:
		return Document{}, fmt.Errorf("%w: unknown format %v", ErrUnparseable, f)
	}
	if err != nil {
		return Document{}, err
	}
	if len(d.Sections) == 0 {
		return Document{}, fmt.Errorf("%w: %v content has no body text", ErrEmpty, f)
	}
	return d, nil
}

// checkText rejects what cannot be a text document. Tab, newline, carriage
// return, form feed and vertical tab occur in real text files (form feed
// separates pages of RFCs); other C0 controls and DEL do not.
func checkText(s string) error {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != '\v') || b == 0x7f {
			return fmt.Errorf("%w: control byte %#02x at offset %d", ErrNotText, b, i)
		}
	}
	if !utf8.ValidString(s) {
		for i, r := range s {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
					return fmt.Errorf("%w: invalid UTF-8 at offset %d", ErrNotText, i)
				}
			}
		}
	}
	return nil
}

// normalizeNewlines turns CRLF and lone CR into LF, so that offsets and
// line splitting mean one thing everywhere.
func normalizeNewlines(s string) string {
	if !strings.ContainsRune(s, '\r') {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

func extractText(s string) Document {
	d := Document{Text: s}
	if a, b := TrimSpan(s, 0, len(s)); a < b {
		d.Sections = []Section{{Start: a, End: b}}
	}
	return d
}

// TrimSpan narrows s[start:end] to exclude surrounding whitespace, so that
// a span's offsets name its text exactly (sections here, chunks in
// index/chunk).
func TrimSpan(s string, start, end int) (int, int) {
	for start < end {
		r, n := utf8.DecodeRuneInString(s[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		start += n
	}
	for end > start {
		r, n := utf8.DecodeLastRuneInString(s[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= n
	}
	return start, end
}

// sectioner cuts a text into sections as headings are found, keeping the
// heading path as a stack by level.
type sectioner struct {
	secs   []Section
	levels []int
	titles []string
	start  int // where the current section's body begins
}

// heading ends the current section at lineStart (where the heading line
// begins) and starts the next at bodyStart, under title at level. An empty
// title still ends the deeper levels: it is a boundary without a name.
func (s *sectioner) heading(text string, lineStart, bodyStart, level int, title string) {
	s.close(text, lineStart)
	for len(s.levels) > 0 && s.levels[len(s.levels)-1] >= level {
		s.levels = s.levels[:len(s.levels)-1]
		s.titles = s.titles[:len(s.titles)-1]
	}
	if title != "" {
		s.levels = append(s.levels, level)
		s.titles = append(s.titles, title)
	}
	s.start = bodyStart
}

// close records the current section, up to end, if it has any text.
func (s *sectioner) close(text string, end int) {
	a, b := TrimSpan(text, s.start, end)
	if a >= b {
		return
	}
	var path []string
	if len(s.titles) > 0 {
		path = append([]string(nil), s.titles...)
	}
	s.secs = append(s.secs, Section{Headings: path, Start: a, End: b})
}

// isSpace reports whitespace to collapse: Unicode spaces (NBSP included,
// which HTML keeps but a reader does not need), and control characters,
// which a character reference can smuggle into HTML text.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// collapse appends s to b with every whitespace run made one space, no
// space at the start of b, and a trailing run left pending in *space.
func collapse(b *strings.Builder, s string, space *bool) {
	for _, r := range s {
		if isSpace(r) {
			*space = b.Len() > 0
			continue
		}
		if *space {
			b.WriteByte(' ')
			*space = false
		}
		b.WriteRune(r)
	}
}

// collapseString is collapse for a whole string.
func collapseString(s string) string {
	var b strings.Builder
	var space bool
	collapse(&b, s, &space)
	return b.String()
}
