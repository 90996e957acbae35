package chunk

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infergate/infergate/index/extract"
)

// section packs the atoms of one section into chunks.
type section struct {
	sp       *splitter
	pre      string
	headings []string
	t        int // target content tokens per chunk, overlap included
	ov       int // overlap tokens
	atoms    []atom
}

// chunk makes the chunk for text[start:end] and counts its EmbedText: the
// count that decides whether it fits is always a real tokenization, never
// an estimate.
func (s *section) chunk(start, end int) (Chunk, error) {
	text := s.sp.text[start:end]
	et := embedText(s.pre, text)
	n, err := s.sp.count(et)
	if err != nil {
		return Chunk{}, err
	}
	return Chunk{
		Text: text, Start: start, End: end,
		Headings:  slices.Clone(s.headings),
		EmbedText: et, Tokens: n + s.sp.base,
	}, nil
}

// atomize cuts text[start:end] into sentences, noting the break before
// each (a blank line, a line break, a sentence end), and measures each
// once. Sentences over the target are cut at words, else bytes.
func (s *section) atomize(start, end int) ([]atom, error) {
	text := s.sp.text
	var atoms []atom
	para := false
	for pos := start; pos < end; {
		le := end
		next := end
		if i := strings.IndexByte(text[pos:end], '\n'); i >= 0 {
			le, next = pos+i, pos+i+1
		}
		a, b := extract.TrimSpan(text, pos, le)
		pos = next
		if a == b {
			para = len(atoms) > 0
			continue
		}
		brk := brkLine
		if para {
			brk = brkPara
		}
		para = false
		i := a
		for j := a; j < b; {
			r, n := utf8.DecodeRuneInString(text[j:b])
			if !isTerminator(r) {
				j += n
				continue
			}
			k := j + n
			for k < b {
				r2, n2 := utf8.DecodeRuneInString(text[k:b])
				if !isTerminator(r2) && !isCloser(r2) {
					break
				}
				k += n2
			}
			m := k
			if m < b {
				if r3, _ := utf8.DecodeRuneInString(text[m:b]); !unicode.IsSpace(r3) && !isWideTerminator(r) {
					j = k
					continue
				}
				m, _ = extract.TrimSpan(text, m, b)
			}
			// "e.g. the": a lowercase word after the stop is the same
			// sentence, more often than not.
			if r4, _ := utf8.DecodeRuneInString(text[m:b]); m < b && unicode.IsLower(r4) {
				j = k
				continue
			}
			var err error
			if atoms, err = s.add(atoms, i, k, brk); err != nil {
				return nil, err
			}
			brk = brkSentence
			i, j = m, m
		}
		if i < b {
			var err error
			if atoms, err = s.add(atoms, i, b, brk); err != nil {
				return nil, err
			}
		}
	}
	return atoms, nil
}

func isTerminator(r rune) bool {
	switch r {
	case '.', '!', '?', '…':
		return true
	}
	return isWideTerminator(r)
}

// isWideTerminator: CJK full stops, which need no space after them.
func isWideTerminator(r rune) bool {
	switch r {
	case '。', '！', '？':
		return true
	}
	return false
}

func isCloser(r rune) bool {
	switch r {
	case '"', '\'', ')', ']', '”', '’', '»', '」', '』', '）':
		return true
	}
	return false
}

// add measures text[start:end] and appends it as an atom, or as several
// where it is over the target.
func (s *section) add(atoms []atom, start, end, brk int) ([]atom, error) {
	n, err := s.sp.count(s.sp.text[start:end])
	if err != nil {
		return nil, err
	}
	if n <= s.t || isOneRune(s.sp.text[start:end]) {
		return append(atoms, atom{start, end, brk, n}), nil
	}
	// Parts of a quarter of the target pack well and cost few calls.
	return s.cut(atoms, start, end, brk, max(2, (n+s.t/4-1)/max(1, s.t/4)))
}

func isOneRune(s string) bool {
	_, n := utf8.DecodeRuneInString(s)
	return n == len(s)
}

// cut divides text[start:end] into about parts pieces of equal bytes, at
// whitespace near each cut (words) or, where there is none, at a rune
// boundary, and adds each piece (cut further if still over the target).
// Each search looks at most one piece's length either side, so the cost is
// linear in the text.
func (s *section) cut(atoms []atom, start, end, brk, parts int) ([]atom, error) {
	text := s.sp.text
	target := max(1, (end-start)/parts)
	for cur := start; cur < end; {
		pieceEnd, next, nextBrk := end, end, brkWord
		if end-cur > target+target/2 {
			want := cur + target
			pieceEnd, next = wordCut(text, cur, want, min(end, want+target), end)
			if pieceEnd < 0 {
				for want > cur && !utf8.RuneStart(text[want]) {
					want--
				}
				if want == cur {
					_, n := utf8.DecodeRuneInString(text[cur:end])
					want = cur + n
				}
				pieceEnd, next, nextBrk = want, want, brkByte
			}
		}
		var err error
		if atoms, err = s.add(atoms, cur, pieceEnd, brk); err != nil {
			return nil, err
		}
		brk = nextBrk
		cur = next
	}
	return atoms, nil
}

// wordCut finds whitespace at or before want (but after cur), else after
// want up to limit, and returns where the piece before it ends and where
// the next begins (before end); -1 if there is none.
func wordCut(text string, cur, want, limit, end int) (int, int) {
	for p := want; p > cur; {
		r, n := utf8.DecodeLastRuneInString(text[cur:p])
		p -= n
		if unicode.IsSpace(r) {
			if _, e := extract.TrimSpan(text, cur, p); e > cur {
				nx, _ := extract.TrimSpan(text, p, end)
				return e, nx
			}
		}
	}
	for p := want; p < limit; {
		r, n := utf8.DecodeRuneInString(text[p:limit])
		if unicode.IsSpace(r) {
			_, e := extract.TrimSpan(text, cur, p)
			if nx, _ := extract.TrimSpan(text, p, end); nx < end && e > cur {
				return e, nx
			}
			return -1, -1
		}
		p += n
	}
	return -1, -1
}

// pack fills chunks greedily with atoms, cuts each at the strongest break
// that leaves it at least half full, checks it with the tokenizer and
// shrinks it if the estimate was wrong, then starts the next with the
// overlap.
func (s *section) pack(out []Chunk) ([]Chunk, error) {
	join, maxTok := s.sp.join, s.sp.o.MaxTokens
	ovStart, ovTok := -1, 0
	var ests []int
	for pos := 0; pos < len(s.atoms); {
		if err := s.sp.ctx.Err(); err != nil {
			return out, err
		}
		atoms := s.atoms
		est, k := 0, pos
		if ovStart >= 0 {
			est = ovTok
		}
		ests = ests[:0]
		for k < len(atoms) {
			add := atoms[k].tok
			if k > pos || ovStart >= 0 {
				add += join
			}
			if est+add > s.t {
				if k > pos {
					break
				}
				if ovStart >= 0 {
					// The overlap leaves no room for the next atom.
					ovStart, ovTok, est = -1, 0, 0
					continue
				}
			}
			est += add
			ests = append(ests, est)
			k++
		}
		c := k
		if k < len(atoms) {
			c = s.bestCut(pos, k, ests)
		}
		for {
			start := atoms[pos].start
			if ovStart >= 0 {
				start = ovStart
			}
			ch, err := s.chunk(start, atoms[c-1].end)
			if err != nil {
				return out, err
			}
			if ch.Tokens <= maxTok {
				out = append(out, ch)
				break
			}
			// The estimate was short (tokens are not additive across
			// joins): give up atoms at the end, then the overlap, then
			// cut the one atom finer.
			excess := ch.Tokens - maxTok
			switch {
			case c-pos > 1:
				for removed := 0; c-pos > 1 && removed < excess; {
					c--
					removed += atoms[c].tok + join
				}
			case ovStart >= 0:
				ovStart, ovTok = -1, 0
			default:
				a := atoms[pos]
				if isOneRune(s.sp.text[a.start:a.end]) {
					return out, fmt.Errorf("%w: %q with its prefix is %d tokens, MaxTokens %d", ErrTooLong, s.sp.text[a.start:a.end], ch.Tokens, maxTok)
				}
				finer, err := s.cut(nil, a.start, a.end, a.brk, 2)
				if err != nil {
					return out, err
				}
				s.atoms = slices.Replace(s.atoms, pos, pos+1, finer...)
				atoms, c = s.atoms, pos+1
			}
		}
		hadOverlap := ovStart >= 0
		ovStart, ovTok = -1, 0
		if c < len(atoms) && s.ov > 0 {
			var err error
			if ovStart, ovTok, err = s.overlap(pos, c, hadOverlap); err != nil {
				return out, err
			}
		}
		pos = c
	}
	return out, nil
}

// bestCut picks where the chunk of atoms[pos:k] ends: at the strongest
// break that keeps it at least half full, the latest of equals. ests[i] is
// the estimate of the chunk ending after atom pos+i.
func (s *section) bestCut(pos, k int, ests []int) int {
	best, bestBrk := k, -1
	for c := pos + 1; c <= k; c++ {
		if ests[c-pos-1] < s.t/2 {
			continue
		}
		b := brkEnd
		if c < len(s.atoms) {
			b = s.atoms[c].brk
		}
		if b >= bestBrk {
			best, bestBrk = c, b
		}
	}
	return best
}

// overlap chooses where the chunk after atoms[pos:c] starts: whole
// sentences from the tail while they fit in the overlap, then, if that is
// under half of it, the last words of the sentence before. The next chunk
// must start after this one did, so where this one had no overlap its
// first atom is not repeated whole.
func (s *section) overlap(pos, c int, hadOverlap bool) (int, int, error) {
	join := s.sp.join
	lo := pos + 1
	if hadOverlap {
		lo = pos
	}
	sum, j := 0, c
	for j > lo {
		add := s.atoms[j-1].tok
		if sum > 0 {
			add += join
		}
		if sum+add > s.ov {
			break
		}
		sum += add
		j--
	}
	start := -1
	if j < c {
		start = s.atoms[j].start
	}
	if sum >= s.ov/2 || j <= pos {
		return start, sum, nil
	}
	a := s.atoms[j-1]
	room := s.ov - sum - join
	if room <= 0 || a.tok <= 0 {
		return start, sum, nil
	}
	text := s.sp.text
	p := max(a.start+1, a.end-room*(a.end-a.start)/a.tok)
	for p < a.end && !utf8.RuneStart(text[p]) {
		p++
	}
	// Forward to the start of a word.
	if r, _ := utf8.DecodeLastRuneInString(text[a.start:p]); !unicode.IsSpace(r) {
		for p < a.end {
			r, n := utf8.DecodeRuneInString(text[p:a.end])
			if unicode.IsSpace(r) {
				break
			}
			p += n
		}
	}
	p, _ = extract.TrimSpan(text, p, a.end)
	if p >= a.end {
		return start, sum, nil
	}
	n, err := s.sp.count(text[p:a.end])
	if err != nil {
		return 0, 0, err
	}
	if n > room {
		return start, sum, nil
	}
	if sum > 0 {
		n += join
	}
	return p, sum + n, nil
}
