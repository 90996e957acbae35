package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small GBNF recognizer, test-only: it parses the grammar dialect that
// llama.cpp accepts (the subset the gateway emits) and decides whether a
// string is a sentence of it. Tests use it to check that the grammars the
// gateway builds accept the JSON they should and refuse what they should
// not, without loading a model.

type gNode struct {
	kind     byte // 'l' literal, 'c' class, 'r' ref, 's' sequence, 'a' alternatives, 'p' repetition
	lit      []rune
	ranges   [][2]rune
	negate   bool
	ref      string
	kids     []*gNode
	min, max int // repetition; max -1 unbounded
}

type gbnf struct {
	rules map[string]*gNode
	memo  map[string]map[int][]int
	in    []rune
}

type gParser struct {
	src []rune
	pos int
}

func parseGBNF(src string) (*gbnf, error) {
	p := &gParser{src: []rune(src)}
	g := &gbnf{rules: map[string]*gNode{}}
	for {
		p.skipSpace(true)
		if p.pos >= len(p.src) {
			break
		}
		name := p.name()
		if name == "" {
			return nil, fmt.Errorf("expected a rule name at %d: %q", p.pos, p.rest())
		}
		p.skipSpace(true)
		if !p.consume("::=") {
			return nil, fmt.Errorf("expected ::= after %q at %d", name, p.pos)
		}
		body, err := p.alternatives(false)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		if _, dup := g.rules[name]; dup {
			return nil, fmt.Errorf("rule %s defined twice", name)
		}
		g.rules[name] = body
	}
	if g.rules["root"] == nil {
		return nil, fmt.Errorf("no root rule")
	}
	var check func(n *gNode) error
	check = func(n *gNode) error {
		if n.kind == 'r' && g.rules[n.ref] == nil {
			return fmt.Errorf("undefined rule %q", n.ref)
		}
		for _, k := range n.kids {
			if err := check(k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range g.rules {
		if err := check(r); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (p *gParser) rest() string {
	end := min(p.pos+30, len(p.src))
	return string(p.src[p.pos:end])
}

// isWord matches llama.cpp's rule-name characters: no underscore.
func isWord(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
}

func (p *gParser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isWord(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

// skipSpace skips blanks and comments; newlines only when nl is set (a
// newline outside parentheses ends a rule's body).
func (p *gParser) skipSpace(nl bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '\n' && nl:
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *gParser) consume(s string) bool {
	r := []rune(s)
	if p.pos+len(r) <= len(p.src) && string(p.src[p.pos:p.pos+len(r)]) == s {
		p.pos += len(r)
		return true
	}
	return false
}

func (p *gParser) alternatives(nested bool) (*gNode, error) {
	alt := &gNode{kind: 'a'}
	for {
		seq, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		alt.kids = append(alt.kids, seq)
		p.skipSpace(nested)
		if p.pos < len(p.src) && p.src[p.pos] == '|' {
			p.pos++
			continue
		}
		return alt, nil
	}
}

func (p *gParser) sequence(nested bool) (*gNode, error) {
	seq := &gNode{kind: 's'}
	for {
		p.skipSpace(nested)
		if p.pos >= len(p.src) {
			return seq, nil
		}
		c := p.src[p.pos]
		if c == '|' || c == ')' || c == '\n' {
			return seq, nil
		}
		var el *gNode
		switch {
		case c == '"':
			p.pos++
			var lit []rune
			for {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated string")
				}
				if p.src[p.pos] == '"' {
					p.pos++
					break
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				lit = append(lit, r)
			}
			el = &gNode{kind: 'l', lit: lit}
		case c == '[':
			p.pos++
			el = &gNode{kind: 'c'}
			if p.pos < len(p.src) && p.src[p.pos] == '^' {
				el.negate = true
				p.pos++
			}
			for {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated class")
				}
				if p.src[p.pos] == ']' {
					p.pos++
					break
				}
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
				}
				el.ranges = append(el.ranges, [2]rune{lo, hi})
			}
		case c == '(':
			p.pos++
			inner, err := p.alternatives(true)
			if err != nil {
				return nil, err
			}
			p.skipSpace(true)
			if p.pos >= len(p.src) || p.src[p.pos] != ')' {
				return nil, fmt.Errorf("missing )")
			}
			p.pos++
			el = inner
		case isWord(c):
			el = &gNode{kind: 'r', ref: p.name()}
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, p.pos)
		}
	postfix:
		for p.pos < len(p.src) {
			switch p.src[p.pos] {
			case '*':
				el = &gNode{kind: 'p', kids: []*gNode{el}, min: 0, max: -1}
			case '+':
				el = &gNode{kind: 'p', kids: []*gNode{el}, min: 1, max: -1}
			case '?':
				el = &gNode{kind: 'p', kids: []*gNode{el}, min: 0, max: 1}
			case '{':
				end := p.pos
				for end < len(p.src) && p.src[end] != '}' {
					end++
				}
				if end >= len(p.src) {
					return nil, fmt.Errorf("unterminated {")
				}
				spec := string(p.src[p.pos+1 : end])
				lo, hi, found := strings.Cut(spec, ",")
				m, err := strconv.Atoi(strings.TrimSpace(lo))
				if err != nil {
					return nil, fmt.Errorf("bad repetition {%s}", spec)
				}
				n := m
				if found {
					if strings.TrimSpace(hi) == "" {
						n = -1
					} else if n, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
						return nil, fmt.Errorf("bad repetition {%s}", spec)
					}
				}
				el = &gNode{kind: 'p', kids: []*gNode{el}, min: m, max: n}
				p.pos = end
			default:
				break postfix
			}
			p.pos++
		}
		seq.kids = append(seq.kids, el)
	}
}

func (p *gParser) char() (rune, error) {
	c := p.src[p.pos]
	if c != '\\' {
		p.pos++
		return c, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, fmt.Errorf("dangling escape")
	}
	e := p.src[p.pos+1]
	p.pos += 2
	hex := func(n int) (rune, error) {
		if p.pos+n > len(p.src) {
			return 0, fmt.Errorf("short escape")
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bad escape")
		}
		p.pos += n
		return rune(v), nil
	}
	switch e {
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'x':
		return hex(2)
	case 'u':
		return hex(4)
	case 'U':
		return hex(8)
	case '\\', '"', '[', ']', '-', '^':
		return e, nil
	default:
		return 0, fmt.Errorf("unknown escape \\%c", e)
	}
}

// accepts reports whether s is a sentence of the grammar.
func (g *gbnf) accepts(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	g.in = []rune(s)
	g.memo = map[string]map[int][]int{}
	for _, end := range g.matchRef("root", 0) {
		if end == len(g.in) {
			return true
		}
	}
	return false
}

func (g *gbnf) matchRef(name string, pos int) []int {
	m := g.memo[name]
	if m == nil {
		m = map[int][]int{}
		g.memo[name] = m
	}
	if ends, ok := m[pos]; ok {
		return ends
	}
	m[pos] = nil // left-recursion guard
	ends := g.match(g.rules[name], pos)
	m[pos] = ends
	return ends
}

func union(a []int, b ...int) []int {
	for _, x := range b {
		found := false
		for _, y := range a {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			a = append(a, x)
		}
	}
	return a
}

func (g *gbnf) match(n *gNode, pos int) []int {
	switch n.kind {
	case 'l':
		if pos+len(n.lit) > len(g.in) {
			return nil
		}
		for i, r := range n.lit {
			if g.in[pos+i] != r {
				return nil
			}
		}
		return []int{pos + len(n.lit)}
	case 'c':
		if pos >= len(g.in) {
			return nil
		}
		c := g.in[pos]
		in := false
		for _, r := range n.ranges {
			if c >= r[0] && c <= r[1] {
				in = true
				break
			}
		}
		if in != n.negate {
			return []int{pos + 1}
		}
		return nil
	case 'r':
		return g.matchRef(n.ref, pos)
	case 's':
		cur := []int{pos}
		for _, k := range n.kids {
			var next []int
			for _, p := range cur {
				next = union(next, g.match(k, p)...)
			}
			if len(next) == 0 {
				return nil
			}
			cur = next
		}
		return cur
	case 'a':
		var out []int
		for _, k := range n.kids {
			out = union(out, g.match(k, pos)...)
		}
		return out
	case 'p':
		var out []int
		if n.min == 0 {
			out = []int{pos}
		}
		cur := []int{pos}
		seen := map[int]bool{}
		for count := 1; n.max < 0 || count <= n.max; count++ {
			var next []int
			for _, p := range cur {
				next = union(next, g.match(n.kids[0], p)...)
			}
			if count > n.min {
				// Past the minimum only new positions can lead anywhere new.
				var fresh []int
				for _, p := range next {
					if !seen[p] {
						fresh = append(fresh, p)
					}
				}
				next = fresh
			}
			if len(next) == 0 {
				break
			}
			if count >= n.min {
				out = union(out, next...)
				for _, p := range next {
					seen[p] = true
				}
			}
			cur = next
		}
		return out
	}
	return nil
}
