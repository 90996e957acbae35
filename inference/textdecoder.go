package inference

import "unicode/utf8"

// TextDecoder turns a stream of tokens into text that never splits a UTF-8
// character: a token may carry only some bytes of a character (byte-fallback
// tokens, emoji), so bytes are held until the character is complete.
type TextDecoder struct {
	m       *Model
	pending []byte
}

// NewTextDecoder returns a decoder for m's tokens.
func (m *Model) NewTextDecoder() *TextDecoder { return &TextDecoder{m: m} }

// Add appends a token and returns the text that is now complete.
func (d *TextDecoder) Add(t Token) string {
	// special=false renders control tokens (EOS, <|im_end|>) as nothing, so
	// they never reach the user.
	d.pending = d.m.m.AppendPiece(d.pending, t, false)
	n := completeUTF8(d.pending)
	if n == 0 {
		return ""
	}
	s := string(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return s
}

// Flush returns what is left, invalid bytes replaced, at the end of a
// generation.
func (d *TextDecoder) Flush() string {
	if len(d.pending) == 0 {
		return ""
	}
	s := string([]rune(string(d.pending)))
	d.pending = d.pending[:0]
	return s
}

// completeUTF8 is the length of the longest prefix of b that does not end
// inside a multi-byte character. Invalid bytes count as complete so that
// garbage never blocks the stream.
func completeUTF8(b []byte) int {
	// Look back at most 3 bytes for the start of a character.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < 0x80 {
			return len(b)
		}
		if c >= 0xC0 { // a leading byte
			need := 2
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			}
			if len(b)-i < need && utf8.RuneStart(c) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}
