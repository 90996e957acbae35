// Package progress draws a status line that redraws itself in place on a
// terminal: the download bar of `infergate models pull` and the ingestion
// progress of `infergate ingest`.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Interval is how often a line is redrawn: often enough to look live,
// rarely enough that drawing costs nothing next to the work it reports.
const Interval = 200 * time.Millisecond

// IsTerminal reports whether w is a terminal (a character device, which
// /dev/null also is, where drawing is harmless). Pipes and log files get no
// carriage-return noise.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Line is one line of text redrawn in place with a carriage return. It
// pads rather than using an erase escape, so that it also works where
// escapes are not understood.
type Line struct {
	w     io.Writer
	last  time.Time
	width int // length of the last text drawn, to blank leftovers
}

// NewLine returns a Line drawn on w; its first Due is true at once.
func NewLine(w io.Writer) *Line {
	return &Line{w: w, last: time.Now().Add(-Interval)}
}

// Due reports whether Interval has passed since the last draw, and if so
// counts now as the last draw: callers format the text only when it is due.
func (l *Line) Due(now time.Time) bool {
	if now.Sub(l.last) < Interval {
		return false
	}
	l.last = now
	return true
}

// Draw replaces the line with s.
func (l *Line) Draw(s string) {
	pad := max(l.width-len(s), 0)
	l.width = len(s)
	fmt.Fprintf(l.w, "\r%s%s", s, strings.Repeat(" ", pad))
}

// Clear blanks the line and leaves the cursor at its start, so that other
// output can be written before the next Draw.
func (l *Line) Clear() {
	if l.width > 0 {
		fmt.Fprintf(l.w, "\r%s\r", strings.Repeat(" ", l.width))
		l.width = 0
	}
}

// Done draws s a last time and ends the line.
func (l *Line) Done(s string) {
	l.Draw(s)
	fmt.Fprintln(l.w)
	l.width = 0
}

// Bar renders frac (clamped to 0..1) as a bar of cells: "[=====     ]".
func Bar(frac float64, cells int) string {
	filled := int(float64(cells) * min(max(frac, 0), 1))
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", cells-filled) + "]"
}
