package lexical

import (
	"unicode"
	"unicode/utf8"
)

const (
	// maxTermBytes bounds a term. Longer runs are base64 blobs, minified
	// code or pasted hashes: nobody types them into a question, and each
	// would cost a dictionary entry of its own.
	maxTermBytes = 128
	// maxDocTerms bounds the terms counted for one document, so that a
	// document's length and every term frequency fit the posting format with
	// room to spare whatever the caller passes.
	maxDocTerms = 1 << 24
)

// Analyze splits text into lowercased terms, in the order they appear.
//
// A token is a run of letters and digits, possibly joined by the
// characters - _ . @ / : + & = ? % ~ and apostrophes (leading and trailing
// joiners are dropped). A token with one part is one term: a word (plural
// "s" removed, a short English stopword list dropped) or a number. A token
// with several parts, split at joiners, at letter/digit changes and at
// camelCase boundaries, is an identifier: it yields itself whole and
// unstemmed, then each joined segment that is itself compound, then its
// parts (stemmed words, numbers; one-letter parts and stopwords dropped):
//
//	ORD-2024-00817     ord-2024-00817 ord 2024 00817
//	E1043              e1043 1043
//	0x80070005         0x80070005 80070005
//	v2.3.1             v2.3.1 2.3.1 v2 2 3 1
//	getUserIDs         getuserids get user ids
//
// Latin accents are folded (é→e, ß→ss, ł→l) and combining marks dropped,
// because users type "cafe" and "Muller" for text written "café" and
// "Müller"; the collisions this causes are rare and the semantic side of a
// hybrid search tells such words apart. Han, Hiragana and Katakana
// characters, written without spaces, are one term each.
func Analyze(text string) []string {
	var out []string
	var a analyzer
	a.run(text, func(t []byte) { out = append(out, string(t)) })
	return out
}

// Character classes seen by the tokenizer.
const (
	clSep   uint8 = iota
	clLower       // a cased letter, lowercase
	clUpper       // a cased letter, uppercase (or titlecase)
	clOther       // a letter without case
	clDigit
	clMark // a combining mark: part of the word before it, dropped
	clJoin // joins the parts of an identifier
	clApos // an apostrophe: joins, then vanishes ("don't" is "dont")
	clIdeo // an ideograph or kana: a term by itself
)

var asciiClass [128]uint8

func init() {
	for c := 'a'; c <= 'z'; c++ {
		asciiClass[c] = clLower
		asciiClass[c-'a'+'A'] = clUpper
	}
	for c := '0'; c <= '9'; c++ {
		asciiClass[c] = clDigit
	}
	for _, c := range "-_.@/:+&=?%~" {
		asciiClass[c] = clJoin
	}
	asciiClass['\''] = clApos
	initFold()
}

func isWord(c uint8) bool { return c >= clLower && c <= clDigit }

// class returns the rune at s[i], its size and its class. Invalid UTF-8 is a
// separator, so no term ever carries a replacement for it.
func class(s string, i int) (rune, int, uint8) {
	if b := s[i]; b < utf8.RuneSelf {
		return rune(b), 1, asciiClass[b]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return r, 1, clSep
	}
	return r, n, classRune(r)
}

func classRune(r rune) uint8 {
	switch {
	case r == '\u2019': // right single quotation mark, the typographic apostrophe
		return clApos
	case r >= 0x2e80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)):
		return clIdeo
	case unicode.IsUpper(r) || unicode.IsTitle(r):
		return clUpper
	case unicode.IsLower(r):
		return clLower
	case unicode.IsLetter(r):
		return clOther
	case unicode.IsDigit(r):
		return clDigit
	case unicode.Is(unicode.Mn, r):
		return clMark
	}
	return clSep
}

// foldTable maps lowercase Latin-1 and Latin Extended-A letters
// (U+00C0..U+017F) to ASCII; "" means no folding.
var foldTable [0x180 - 0xc0]string

func initFold() {
	for _, g := range []struct {
		lo, hi rune
		to     string
	}{
		{0xe0, 0xe5, "a"}, {0xe6, 0xe6, "ae"}, {0xe7, 0xe7, "c"}, {0xe8, 0xeb, "e"},
		{0xec, 0xef, "i"}, {0xf0, 0xf0, "d"}, {0xf1, 0xf1, "n"}, {0xf2, 0xf6, "o"},
		{0xf8, 0xf8, "o"}, {0xf9, 0xfc, "u"}, {0xfd, 0xfd, "y"}, {0xfe, 0xfe, "th"},
		{0xff, 0xff, "y"}, {0xdf, 0xdf, "ss"},
		{0x100, 0x105, "a"}, {0x106, 0x10d, "c"}, {0x10e, 0x111, "d"}, {0x112, 0x11b, "e"},
		{0x11c, 0x123, "g"}, {0x124, 0x127, "h"}, {0x128, 0x131, "i"}, {0x132, 0x133, "ij"},
		{0x134, 0x135, "j"}, {0x136, 0x138, "k"}, {0x139, 0x142, "l"}, {0x143, 0x14b, "n"},
		{0x14c, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"}, {0x15a, 0x161, "s"},
		{0x162, 0x167, "t"}, {0x168, 0x173, "u"}, {0x174, 0x175, "w"}, {0x176, 0x178, "y"},
		{0x179, 0x17e, "z"}, {0x17f, 0x17f, "s"},
	} {
		for r := g.lo; r <= g.hi; r++ {
			foldTable[r-0xc0] = g.to
		}
	}
}

// appendFolded appends r lowercased and, for Latin letters, without accents.
func appendFolded(b []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(b, byte(r))
	}
	r = unicode.ToLower(r)
	if r >= 0xc0 && r < 0x180 {
		if f := foldTable[r-0xc0]; f != "" {
			return append(b, f...)
		}
	}
	if r == 'ς' { // final sigma: the same letter as σ
		r = 'σ'
	}
	return utf8.AppendRune(b, r)
}

// stopwords are dropped from documents and queries alike: in 400-token
// chunks they are about a third of all tokens, so dropping them shrinks the
// postings and spares a query like "how do I reset the password" a walk
// over a list that covers every chunk. BM25's IDF would score them near
// zero anyway. Lucene's classic English list without "no" and "not". Only
// words are checked: a whole identifier or a number is never dropped.
var stopwords = []string{"a", "an", "and", "are", "as", "at", "be", "but", "by",
	"for", "if", "in", "into", "is", "it", "of", "on", "or", "such", "that", "the",
	"their", "then", "there", "these", "they", "this", "to", "was", "will", "with"}

// stopByLen holds the stopwords by length: a scan of a dozen short strings
// beats hashing, and most tokens are short, common words.
var stopByLen = func() (t [6][]string) {
	for _, w := range stopwords {
		t[len(w)] = append(t[len(w)], w)
	}
	return t
}()

func isStopword(b []byte) bool {
	if len(b) >= len(stopByLen) {
		return false
	}
	for _, w := range stopByLen[len(b)] {
		if string(b) == w {
			return true
		}
	}
	return false
}

// stem removes an English plural "s" in place, after Lucene's
// EnglishMinimalStemmer, for words of four bytes or more ("has", "was" and
// "yes" stay): policies→policy, refunds→refund; status, address, goes stay.
// Both forms of a word meet at the same stem, which is all that matters.
func stem(b []byte) []byte {
	n := len(b)
	if n < 4 || b[n-1] != 's' {
		return b
	}
	switch b[n-2] {
	case 'u', 's':
		return b
	case 'e':
		if b[n-3] == 'i' && b[n-4] != 'a' && b[n-4] != 'e' {
			b[n-3] = 'y'
			return b[:n-2]
		}
		if c := b[n-3]; c == 'i' || c == 'a' || c == 'o' || c == 'e' {
			return b
		}
	}
	return b[:n-1]
}

// analyzer holds the scratch buffers of one analysis; reused through pools
// so that indexing a chunk allocates nothing per term.
type analyzer struct {
	low   []byte  // a token's letters and digits, folded, without joiners
	whole []byte  // the token folded, with its joiners
	tmp   []byte  // a term being stemmed
	runes []rinfo // the current segment's runes
	parts []part
	segs  []seg
	// general turns the fast path off, for the test that compares the two.
	general bool
}

type rinfo struct {
	cls    uint8
	first  byte // first folded byte, enough to spot a plural "s"
	lo, hi int32
}

type part struct {
	lo, hi  int32
	letters bool
	runes   int32
}

type seg struct {
	p0, p1 int32 // parts[p0:p1]
	lo, hi int32 // low[lo:hi]
	hex    bool  // 0x… : one part, the digits, which stands for two
}

// run calls emit with each term of s in order. The slice passed to emit is
// reused afterwards: emit copies what it keeps.
func (a *analyzer) run(s string, emit func([]byte)) {
	for i := 0; i < len(s); {
		_, n, c := class(s, i)
		if c == clIdeo {
			a.tmp = append(a.tmp[:0], s[i:i+n]...)
			emit(a.tmp)
			i += n
			continue
		}
		if !isWord(c) {
			i += n
			continue
		}
		if j, ok := simpleEnd(s, i, c); ok && !a.general {
			a.simple(s[i:j], c == clDigit, emit)
			i = j
			continue
		}
		start, end := i, i+n
		for j := end; j < len(s); {
			_, n, c := class(s, j)
			if isWord(c) || c == clMark {
				j += n
				end = j
				continue
			}
			if c != clJoin && c != clApos {
				break
			}
			k := j + n
			for k < len(s) {
				_, n, c := class(s, k)
				if c != clJoin && c != clApos {
					break
				}
				k += n
			}
			if k == len(s) {
				break
			}
			if _, _, c := class(s, k); !isWord(c) {
				break
			}
			j = k
		}
		a.token(s[start:end], emit)
		i = end
	}
}

// simpleEnd spots the common token that needs no splitting: an ASCII word
// (lowercase, or capitalised) or an ASCII number, followed by a separator or
// by one trailing joiner before a separator ("done." "see,"). It returns
// the token's end; anything else takes the general path, which would
// produce the same single term for these.
func simpleEnd(s string, i int, c uint8) (int, bool) {
	if s[i] >= utf8.RuneSelf {
		return 0, false
	}
	want := clLower
	if c == clDigit {
		want = clDigit
	}
	j := i + 1
	for j < len(s) && s[j] < utf8.RuneSelf && asciiClass[s[j]] == want {
		j++
	}
	if j == len(s) {
		return j, true
	}
	if s[j] >= utf8.RuneSelf {
		return 0, false
	}
	switch asciiClass[s[j]] {
	case clSep:
		return j, true
	case clJoin:
		if j+1 == len(s) || s[j+1] < utf8.RuneSelf && asciiClass[s[j+1]] == clSep {
			return j, true
		}
	}
	return 0, false
}

// simple emits the one term of a token simpleEnd accepted.
func (a *analyzer) simple(tok string, number bool, emit func([]byte)) {
	if len(tok) > maxTermBytes {
		return
	}
	a.tmp = append(a.tmp[:0], tok...)
	if number {
		emit(a.tmp)
		return
	}
	if c := a.tmp[0]; 'A' <= c && c <= 'Z' {
		a.tmp[0] = c + 'a' - 'A'
	}
	if isStopword(a.tmp) {
		return
	}
	emit(stem(a.tmp))
}

// token turns one token (starting and ending with a letter, digit or mark)
// into terms.
func (a *analyzer) token(tok string, emit func([]byte)) {
	tok = trimPossessive(tok)
	a.low, a.whole, a.runes, a.parts, a.segs = a.low[:0], a.whole[:0], a.runes[:0], a.parts[:0], a.segs[:0]
	for i := 0; i < len(tok); {
		r, n, c := class(tok, i)
		i += n
		switch c {
		case clApos, clMark:
		case clJoin:
			a.endSeg()
			a.whole = append(a.whole, byte(r))
		default:
			lo := len(a.low)
			a.low = appendFolded(a.low, r)
			a.whole = append(a.whole, a.low[lo:]...)
			a.runes = append(a.runes, rinfo{cls: c, first: a.low[lo], lo: int32(lo), hi: int32(len(a.low))})
		}
	}
	a.endSeg()
	if len(a.segs) == 0 {
		return
	}
	if len(a.segs) == 1 && len(a.parts) == 1 && !a.segs[0].hex {
		a.emitPart(a.parts[0], true, emit)
		return
	}
	if len(a.whole) <= maxTermBytes {
		emit(a.whole)
		if v := a.whole; isVersion(v) {
			a.tmp = append(a.tmp[:0], v[1:]...)
			emit(a.tmp)
		}
	}
	for _, sg := range a.segs {
		if len(a.segs) > 1 && (sg.p1-sg.p0 > 1 || sg.hex) && sg.hi-sg.lo <= maxTermBytes {
			emit(a.low[sg.lo:sg.hi])
		}
		for _, p := range a.parts[sg.p0:sg.p1] {
			a.emitPart(p, false, emit)
		}
	}
}

// trimPossessive drops a trailing 's or ’s after a letter: "customer's" is
// about the customer.
func trimPossessive(tok string) string {
	n := len(tok)
	if n < 2 || (tok[n-1] != 's' && tok[n-1] != 'S') {
		return tok
	}
	k := 0
	switch {
	case tok[n-2] == '\'':
		k = 2
	case n >= 4 && tok[n-4:n-1] == "\u2019":
		k = 4
	default:
		return tok
	}
	if n-k == 0 {
		return tok
	}
	if _, _, c := class(tok, lastRuneStart(tok[:n-k])); c != clLower && c != clUpper && c != clOther {
		return tok
	}
	return tok[:n-k]
}

func lastRuneStart(s string) int {
	_, n := utf8.DecodeLastRuneInString(s)
	return len(s) - n
}

// endSeg closes the segment made of a.runes and splits it into parts.
func (a *analyzer) endSeg() {
	rs := a.runes
	if len(rs) == 0 {
		return
	}
	a.runes = a.runes[:0]
	sg := seg{p0: int32(len(a.parts)), lo: rs[0].lo, hi: rs[len(rs)-1].hi}
	if isHex(a.low[sg.lo:sg.hi]) {
		sg.hex = true
		a.parts = append(a.parts, part{lo: sg.lo + 2, hi: sg.hi, runes: sg.hi - sg.lo - 2})
		sg.p1 = int32(len(a.parts))
		a.segs = append(a.segs, sg)
		return
	}
	start := 0
	for i := 1; i <= len(rs); i++ {
		if i < len(rs) && !boundary(rs, i) {
			continue
		}
		a.parts = append(a.parts, part{lo: rs[start].lo, hi: rs[i-1].hi, letters: rs[start].cls != clDigit, runes: int32(i - start)})
		start = i
	}
	sg.p1 = int32(len(a.parts))
	a.segs = append(a.segs, sg)
}

// boundary reports whether a new part starts at rs[i]: at a change between
// letters and digits, at lower→Upper ("maxRetry"), and before the last
// capital of a run followed by lowercase ("HTTPServer"), unless that
// lowercase is a final plural "s" ("IDs", "FAQs").
func boundary(rs []rinfo, i int) bool {
	c0, c1 := rs[i-1].cls, rs[i].cls
	if (c0 == clDigit) != (c1 == clDigit) {
		return true
	}
	if c0 == clLower && c1 == clUpper {
		return true
	}
	if c0 == clUpper && c1 == clUpper && i+1 < len(rs) && rs[i+1].cls == clLower {
		return !(i+2 == len(rs) && rs[i+1].first == 's')
	}
	return false
}

// emitPart emits one part: numbers always; words unless they are stopwords,
// stemmed; inside an identifier, one-letter words are noise ("v" of "v2",
// "e" of "E1043") and are dropped too.
func (a *analyzer) emitPart(p part, plain bool, emit func([]byte)) {
	b := a.low[p.lo:p.hi]
	if len(b) > maxTermBytes {
		return
	}
	if !p.letters {
		emit(b)
		return
	}
	if !plain && p.runes == 1 {
		return
	}
	if isStopword(b) {
		return
	}
	a.tmp = append(a.tmp[:0], b...)
	emit(stem(a.tmp))
}

// isHex reports whether b is 0x followed by hexadecimal digits: error codes
// such as 0x80070005 are one identifier, not "0", "x" and digits.
func isHex(b []byte) bool {
	if len(b) < 3 || b[0] != '0' || b[1] != 'x' {
		return false
	}
	for _, c := range b[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isVersion reports whether b is v followed by a dotted number (v2.3.1), so
// that the number alone (2.3.1, as users often write it) is a term too.
func isVersion(b []byte) bool {
	if len(b) < 4 || b[0] != 'v' {
		return false
	}
	dots := 0
	prevDigit := false
	for _, c := range b[1:] {
		switch {
		case '0' <= c && c <= '9':
			prevDigit = true
		case c == '.' && prevDigit:
			dots++
			prevDigit = false
		default:
			return false
		}
	}
	return dots > 0 && prevDigit
}

// IsIdentifier reports whether term, as Analyze returns it, is a whole
// identifier: it holds a joiner or both letters and digits (e1043,
// ord-2024-00817, sync.max_bandwidth_kbps), as opposed to a word or a
// number. A search can rank exact matches of such terms on their own,
// since a user who types one wants the passage that contains it.
func IsIdentifier(term string) bool {
	letters, digits := false, false
	for i := 0; i < len(term); i++ {
		c := term[i]
		switch {
		case c >= utf8.RuneSelf:
			letters = true
		case asciiClass[c] == clJoin:
			return true
		case asciiClass[c] == clDigit:
			digits = true
		case asciiClass[c] == clLower || asciiClass[c] == clUpper:
			letters = true
		}
	}
	return letters && digits
}
