package conversation

import (
	"regexp"
	"strings"
)

// Placeholders that replace what Redact removes. They hold no digit and no
// '@', so nothing that Redact looks for can be rebuilt from them, and they
// begin and end with brackets, which Redact treats like letters (see
// wordByte), so that a placeholder gives its neighbours the context that
// the text it replaced gave them; that is what makes Redact idempotent.
const (
	PlaceholderEmail = "[email]"
	PlaceholderPhone = "[phone]"
	PlaceholderCard  = "[card]"
)

// Redactions counts what Redact replaced.
type Redactions struct {
	Emails, Phones, Cards int
}

func (r *Redactions) add(o Redactions) {
	r.Emails += o.Emails
	r.Phones += o.Phones
	r.Cards += o.Cards
}

// Redact replaces the e-mail addresses, payment card numbers and phone
// numbers in text with PlaceholderEmail, PlaceholderCard and
// PlaceholderPhone, in that order (a card number is never mistaken for a
// phone number, and digits inside an address go with the address), and
// says how many of each it replaced. It is meant for exported training
// data, so it errs towards redacting a card number and towards keeping
// the identifiers that support conversations are full of (order numbers,
// dates, versions):
//
//   - An e-mail address is local@domain with a dotted domain whose last
//     label has two or more letters (ASCII; an address in another script
//     passes).
//   - A card number is 13 to 19 digits, contiguous or in groups joined by
//     one space or one dash, that pass the Luhn check, wherever it stands
//     (also glued to letters: "INV4111111111111111"). The Luhn check is
//     what lets order numbers and other long digit strings survive: only a
//     tenth of random digit strings pass it. Within a longer sequence of
//     groups, every run of whole groups is checked, so a card beside a date
//     or a quantity is found as well. After a '+', 13 to 15 digits are
//     taken for an international phone number instead.
//   - A phone number is 7 to 15 digits (E.164 allows 15) in the usual
//     international and national writings: an optional leading '+', groups
//     joined by one space, dash or dot, an area code or trunk "(0)" in
//     parentheses ("+1 (415) 555-2671", "+44 (0)20 7946 0958", "030
//     1234567", "06 12 34 56 78"). An unseparated run counts only when it
//     begins with '+' or '0' (an international or trunk prefix): a bare
//     run like "12345678" is as likely an order or account number. Not
//     phones: a run glued to a word ("ORD-2024-00817", "v2.14.1087",
//     "#12345678", "id_0301234567"), dates ("2024-01-15", "15.01.2024"),
//     references that begin with a year ("2024-00817"), IPv4 addresses,
//     decimals ("3.14159265") and thousands ("1 234 567", "1.234.567").
//     Times never match: ':' joins no group.
//
// Only ASCII digits are recognised. Redact is idempotent: Redact of its
// own output changes nothing.
func Redact(text string) (string, Redactions) {
	var n Redactions
	text, n.Emails = redactEmails(text)
	text, n.Cards = redactCards(text)
	text, n.Phones = redactPhones(text)
	return text, n
}

// emailRE: a practical address, not RFC 5322's: the local part's usual
// characters, then dotted labels ending in a label of letters.
var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}`)

func redactEmails(s string) (string, int) {
	if !strings.Contains(s, "@") {
		return s, 0
	}
	n := 0
	out := emailRE.ReplaceAllStringFunc(s, func(string) string { n++; return PlaceholderEmail })
	return out, n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// wordByte reports whether c glues a digit run to an identifier: ASCII
// letters and digits, '_', and the placeholders' brackets.
func wordByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '[' || c == ']'
}

// span is a half-open byte range of the text.
type span struct{ start, end int }

// replaceSpans returns s with each span (sorted, disjoint) replaced by
// with.
func replaceSpans(s string, spans []span, with string) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(with)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// digitGroups returns the maximal runs of ASCII digits in s.
func digitGroups(s string) []span {
	var out []span
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		out = append(out, span{i, j})
		i = j
	}
	return out
}

const (
	minCardDigits = 13
	maxCardDigits = 19
)

// redactCards replaces card numbers: every run of consecutive digit groups
// joined by a single space or dash whose digits number 13 to 19 and pass
// the Luhn check, scanning left to right and taking the longest such run
// from each group on. No such run is left in the output: a run that
// survives starts at a group from which every run was checked, and the
// groups are never changed, only removed.
//
// One exception keeps international phone numbers for redactPhones: in a
// sequence of groups right after a '+', runs of up to 15 digits (E.164's
// limit) are not cards, since a tenth of phone numbers pass the Luhn
// check too. Runs of 16 digits or more are cards there as well.
func redactCards(s string) (string, int) {
	groups := digitGroups(s)
	var spans []span
	plus := false // the current sequence of joined groups follows a '+'
	for i := 0; i < len(groups); {
		if i == 0 || !cardJoin(s, groups[i-1], groups[i]) {
			plus = groups[i].start > 0 && s[groups[i].start-1] == '+'
		}
		end, digits := -1, 0
		for j := i; j < len(groups); j++ {
			if j > i && !cardJoin(s, groups[j-1], groups[j]) {
				break
			}
			digits += groups[j].end - groups[j].start
			if digits > maxCardDigits {
				break
			}
			if digits >= minCardDigits && (!plus || digits > maxPhoneDigits) && luhn(s, groups[i:j+1]) {
				end = j
			}
		}
		if end < 0 {
			i++
			continue
		}
		spans = append(spans, span{groups[i].start, groups[end].end})
		i = end + 1
	}
	return replaceSpans(s, spans, PlaceholderCard), len(spans)
}

// cardJoin reports whether groups a and b, a before b, are joined as a
// card number's groups are: by exactly one space or dash.
func cardJoin(s string, a, b span) bool {
	return b.start == a.end+1 && (s[a.end] == ' ' || s[a.end] == '-')
}

// luhn reports whether the digits of groups pass the Luhn check.
func luhn(s string, groups []span) bool {
	sum, double := 0, false
	for g := len(groups) - 1; g >= 0; g-- {
		for i := groups[g].end - 1; i >= groups[g].start; i-- {
			d := int(s[i] - '0')
			if double {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

const (
	minPhoneDigits = 7
	maxPhoneDigits = 15 // E.164
)

// redactPhones replaces what phoneAt finds and isPhone accepts, scanning
// left to right; a candidate refused is skipped whole, so that its tail
// is not taken for a phone number of its own.
func redactPhones(s string) (string, int) {
	var spans []span
	for i := 0; i < len(s); {
		c, ok := phoneAt(s, i)
		if !ok {
			i++
			continue
		}
		if c.isPhone(s) {
			spans = append(spans, c.span)
		}
		i = c.end
	}
	return replaceSpans(s, spans, PlaceholderPhone), len(spans)
}

// phoneCandidate is a stretch of text written like a phone number: an
// optional '+', then digit groups, each bare or in parentheses, joined by
// one separator (space, dash, dot) or, beside a parenthesised group, by
// nothing.
type phoneCandidate struct {
	span
	plus   bool
	groups []span // the digit runs, without parentheses
	seps   []byte // seps[i] joins groups[i] and groups[i+1]; 0 for none
	parens bool   // some group is parenthesised
}

// phoneAt returns the candidate that starts at i, if one does: at a digit,
// at '+' before a digit or '(', or at '(' before a digit.
func phoneAt(s string, i int) (phoneCandidate, bool) {
	c := phoneCandidate{span: span{start: i}}
	p := i
	if s[p] == '+' {
		c.plus = true
		p++
	}
	g, q, paren, ok := phoneGroup(s, p)
	if !ok {
		return c, false
	}
	c.groups, c.parens, c.end = append(c.groups, g), paren, q
	for {
		p = c.end
		var sep byte
		if p < len(s) && (s[p] == ' ' || s[p] == '-' || s[p] == '.') {
			sep = s[p]
			p++
		}
		if p >= len(s) {
			break
		}
		// Without a separator, only a parenthesis can join two groups
		// (a digit right after a group would be part of it).
		if sep == 0 && s[p] != '(' && !paren {
			break
		}
		g, q, paren, ok = phoneGroup(s, p)
		if !ok {
			break
		}
		c.groups, c.seps, c.end = append(c.groups, g), append(c.seps, sep), q
		c.parens = c.parens || paren
	}
	return c, true
}

// phoneGroup reads a digit run at p, bare or in parentheses, and returns
// its digits, the position after it, and whether it was parenthesised.
func phoneGroup(s string, p int) (g span, end int, paren, ok bool) {
	if p < len(s) && s[p] == '(' {
		paren = true
		p++
	}
	q := p
	for q < len(s) && isDigit(s[q]) {
		q++
	}
	if q == p || paren && (q >= len(s) || s[q] != ')') {
		return span{}, 0, false, false
	}
	g, end = span{p, q}, q
	if paren {
		end++
	}
	return g, end, paren, true
}

// isPhone applies the rules in Redact's comment to the candidate.
func (c phoneCandidate) isPhone(s string) bool {
	digits := 0
	for _, g := range c.groups {
		digits += g.end - g.start
	}
	if digits < minPhoneDigits || digits > maxPhoneDigits || c.glued(s) {
		return false
	}
	if len(c.groups) == 1 {
		// One unseparated run: a phone only behind an international or
		// trunk prefix.
		return c.plus || s[c.groups[0].start] == '0'
	}
	if c.plus || c.parens {
		return true // nobody writes a date or an amount that way
	}
	sep, mixed := c.seps[0], false
	for _, x := range c.seps[1:] {
		mixed = mixed || x != sep
	}
	lens := make([]int, len(c.groups))
	for i, g := range c.groups {
		lens[i] = g.end - g.start
	}
	switch {
	case c.startsWithYear(s):
		return false // a date or a dated reference: 2024-01-15, 2024-00817
	case !mixed && (sep == '.' || sep == '-' || sep == ' ') && c.isDate(s, lens):
		return false
	case !mixed && (sep == '.' || sep == ' ') && s[c.groups[0].start] != '0' && isThousands(lens):
		return false
	case !mixed && sep == '.' && (len(lens) == 2 || c.isIPv4(s, lens)):
		return false // a decimal or an address
	}
	// Spaced single digits ("1 2 3 4 5 6 7") are a list, not a number.
	long := 0
	for _, n := range lens {
		if n >= 2 {
			long++
		}
	}
	return long >= 2
}

// glued reports whether the candidate is part of an identifier: a word
// character right before or after it, a '#' or '@' before it, or a joining
// character ('-', '.', '/') between it and a word on either side.
func (c phoneCandidate) glued(s string) bool {
	if c.start > 0 {
		p := s[c.start-1]
		switch {
		case wordByte(p) || p == '#' || p == '@':
			return true
		case (p == '-' || p == '.' || p == '/') && c.start > 1 && wordByte(s[c.start-2]):
			return true
		}
	}
	if c.end < len(s) {
		n := s[c.end]
		switch {
		case wordByte(n) || n == '@':
			return true
		case (n == '-' || n == '/') && c.end+1 < len(s) && wordByte(s[c.end+1]):
			return true
		}
	}
	return false
}

func (c phoneCandidate) number(s string, i int) int {
	n := 0
	for p := c.groups[i].start; p < c.groups[i].end; p++ {
		n = n*10 + int(s[p]-'0')
		if n > 1e6 {
			return n
		}
	}
	return n
}

// startsWithYear: a first group of four digits from 1900 to 2099 followed
// by a dash, dot or slash.
func (c phoneCandidate) startsWithYear(s string) bool {
	if c.groups[0].end-c.groups[0].start != 4 || len(c.seps) == 0 || c.seps[0] == ' ' || c.seps[0] == 0 {
		return false
	}
	y := c.number(s, 0)
	return 1900 <= y && y <= 2099
}

// isDate: three groups that read as day, month and year in either order
// (DD.MM.YYYY, MM-DD-YY, YYYY MM DD).
func (c phoneCandidate) isDate(s string, lens []int) bool {
	if len(lens) != 3 {
		return false
	}
	dm := func(i int) bool { n := c.number(s, i); return lens[i] <= 2 && 1 <= n && n <= 31 }
	switch {
	case lens[0] == 4:
		return dm(1) && dm(2)
	case lens[2] == 4 || lens[2] == 2:
		return dm(0) && dm(1)
	}
	return false
}

// isThousands: 1 to 3 digits, then groups of exactly three.
func isThousands(lens []int) bool {
	if lens[0] > 3 {
		return false
	}
	for _, n := range lens[1:] {
		if n != 3 {
			return false
		}
	}
	return true
}

func (c phoneCandidate) isIPv4(s string, lens []int) bool {
	if len(lens) != 4 {
		return false
	}
	for i, n := range lens {
		if n > 3 || c.number(s, i) > 255 {
			return false
		}
	}
	return true
}
