package grammar

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// This file reads back the GBNF that the compiler writes, with the syntax
// of llama.cpp's parser (llama-grammar.cpp, llama_grammar_parser), and
// checks it against what llama.cpp can hold and sample. It covers the
// subset of GBNF this package emits: literals, character classes, rule
// references, groups and the repetition operators; not tokens (<...>,
// !<...>) or the any-character dot.

// MaxRepetition is the largest count llama.cpp accepts in a repetition
// x{m,n} (MAX_REPETITION_THRESHOLD in llama-grammar.cpp); its parser
// throws beyond it.
const MaxRepetition = 2000

// maxParsedBytes bounds the memory llama.cpp spends on one parsed grammar.
// Its parser expands every repetition x{m,n} into m copies of x and n-m
// helper rules, so a short grammar text can unfold into millions of rules;
// each request holds its own copy.
const maxParsedBytes = 16 << 20

// Approximate sizes in llama.cpp's parsed form: a llama_grammar_element is
// two 32-bit words; a rule is a std::vector (header and heap block) plus,
// for generated rules, a named entry in the symbol map.
const (
	elementBytes = 8
	ruleBytes    = 160
)

// LimitError is a grammar that llama.cpp's parser would refuse, or accept
// and then fail on while sampling (a rule that reaches itself before
// consuming a character recurses until the stack overflows).
type LimitError struct {
	Rule   string // the rule at fault; "" for the grammar as a whole
	Reason string
}

func (e *LimitError) Error() string {
	if e.Rule == "" {
		return "grammar: " + e.Reason
	}
	return "grammar: rule " + e.Rule + ": " + e.Reason
}

// errSyntax marks text that is not GBNF of the subset this package emits.
var errSyntax = errors.New("grammar: syntax error")

// Check reports whether src, a grammar in the subset of GBNF this package
// emits, is one llama.cpp parses, can initialise (no left recursion) and
// holds in bounded memory. A *LimitError says which limit a well-formed
// grammar breaks; other errors wrap errSyntax.
func Check(src string) error {
	g, err := parseGBNF(src)
	if err != nil {
		return err
	}
	return g.check()
}

type nodeKind uint8

const (
	nodeLiteral nodeKind = iota
	nodeClass
	nodeRef
	nodeSeq
	nodeAlt // a rule's body, or a parenthesised group inside one
	nodeRepeat
)

// node is one element of a parsed rule.
type node struct {
	kind     nodeKind
	lit      []rune    // nodeLiteral
	ranges   [][2]rune // nodeClass: inclusive ranges
	negate   bool      // nodeClass: [^...]
	ref      string    // nodeRef
	kids     []*node   // nodeSeq, nodeAlt; nodeRepeat: the one repeated node
	min, max int       // nodeRepeat; max < 0 is unbounded
}

// parsed is a grammar read back: rules by name, in definition order.
type parsed struct {
	rules map[string]*node
	order []string
}

type gbnfParser struct {
	src []rune
	pos int
}

func syntaxError(p *gbnfParser, format string, args ...any) error {
	end := min(p.pos+30, len(p.src))
	return fmt.Errorf("%w at %q: %s", errSyntax, string(p.src[p.pos:end]), fmt.Sprintf(format, args...))
}

func parseGBNF(src string) (*parsed, error) {
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("%w: not UTF-8", errSyntax)
	}
	p := &gbnfParser{src: []rune(src)}
	for _, r := range p.src {
		if r == 0 {
			// llama.cpp reads a C string: it would stop here.
			return nil, fmt.Errorf("%w: NUL character", errSyntax)
		}
	}
	g := &parsed{rules: map[string]*node{}}
	p.space(true)
	for p.pos < len(p.src) {
		name := p.name()
		if name == "" {
			return nil, syntaxError(p, "expecting a rule name")
		}
		p.space(false)
		if !p.consume("::=") {
			return nil, syntaxError(p, "expecting ::= after %s", name)
		}
		p.space(true)
		body, err := p.alternates(false)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		if _, dup := g.rules[name]; dup {
			return nil, fmt.Errorf("%w: rule %s is defined twice", errSyntax, name)
		}
		g.rules[name] = body
		g.order = append(g.order, name)
		switch {
		case p.consume("\r\n"), p.consume("\n"), p.consume("\r"), p.pos >= len(p.src):
		default:
			return nil, syntaxError(p, "expecting the end of rule %s", name)
		}
		p.space(true)
	}
	if g.rules["root"] == nil {
		return nil, fmt.Errorf("%w: no root rule", errSyntax)
	}
	for _, name := range g.order {
		if err := g.checkRefs(g.rules[name]); err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
	}
	return g, nil
}

func (g *parsed) checkRefs(n *node) error {
	if n.kind == nodeRef && g.rules[n.ref] == nil {
		return fmt.Errorf("%w: undefined rule %s", errSyntax, n.ref)
	}
	for _, k := range n.kids {
		if err := g.checkRefs(k); err != nil {
			return err
		}
	}
	return nil
}

// isWordChar is llama.cpp's rule-name character: no underscore.
func isWordChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
}

func (p *gbnfParser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

// space skips blanks and comments, and line breaks when newlines is set
// (outside parentheses a line break ends a rule).
func (p *gbnfParser) space(newlines bool) {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t':
			p.pos++
		case newlines && (c == '\r' || c == '\n'):
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\r' && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *gbnfParser) consume(s string) bool {
	r := []rune(s)
	if p.pos+len(r) <= len(p.src) && string(p.src[p.pos:p.pos+len(r)]) == s {
		p.pos += len(r)
		return true
	}
	return false
}

func (p *gbnfParser) peek() rune {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *gbnfParser) alternates(nested bool) (*node, error) {
	alt := &node{kind: nodeAlt}
	for {
		seq, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		alt.kids = append(alt.kids, seq)
		if p.peek() != '|' {
			return alt, nil
		}
		p.pos++
		p.space(true)
	}
}

func (p *gbnfParser) sequence(nested bool) (*node, error) {
	seq := &node{kind: nodeSeq}
	for p.pos < len(p.src) {
		var el *node
		switch c := p.src[p.pos]; {
		case c == '"':
			p.pos++
			el = &node{kind: nodeLiteral}
			for p.peek() != '"' {
				if p.pos >= len(p.src) {
					return nil, syntaxError(p, "unterminated literal")
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				el.lit = append(el.lit, r)
			}
			p.pos++
		case c == '[':
			p.pos++
			el = &node{kind: nodeClass}
			if p.peek() == '^' {
				el.negate = true
				p.pos++
			}
			for p.peek() != ']' {
				if p.pos >= len(p.src) {
					return nil, syntaxError(p, "unterminated character class")
				}
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
				}
				el.ranges = append(el.ranges, [2]rune{lo, hi})
			}
			p.pos++
		case isWordChar(c):
			el = &node{kind: nodeRef, ref: p.name()}
		case c == '(':
			p.pos++
			p.space(true)
			inner, err := p.alternates(true)
			if err != nil {
				return nil, err
			}
			if p.peek() != ')' {
				return nil, syntaxError(p, "expecting )")
			}
			p.pos++
			el = inner
		case c == '*' || c == '+' || c == '?' || c == '{':
			return nil, syntaxError(p, "expecting an item before %c", c)
		default:
			// '|', ')', the end of the rule, or something outside the
			// subset; the caller decides.
			return seq, nil
		}
		p.space(nested)
		if err := p.postfix(el, seq, nested); err != nil {
			return nil, err
		}
	}
	return seq, nil
}

// postfix applies the repetition operators after el and appends it to seq.
func (p *gbnfParser) postfix(el, seq *node, nested bool) error {
	// llama.cpp repeats "the preceding item"; an empty literal adds none.
	empty := el.kind == nodeLiteral && len(el.lit) == 0
	for p.pos < len(p.src) {
		lo, hi := 0, 0
		switch p.src[p.pos] {
		case '*':
			p.pos++
			lo, hi = 0, -1
		case '+':
			p.pos++
			lo, hi = 1, -1
		case '?':
			p.pos++
			lo, hi = 0, 1
		case '{':
			p.pos++
			var err error
			if lo, hi, err = p.counts(nested); err != nil {
				return err
			}
		default:
			seq.kids = append(seq.kids, el)
			return nil
		}
		if empty {
			return syntaxError(p, "expecting an item before a repetition")
		}
		p.space(nested)
		el = &node{kind: nodeRepeat, kids: []*node{el}, min: lo, max: hi}
	}
	seq.kids = append(seq.kids, el)
	return nil
}

// counts reads the inside of {m}, {m,} or {m,n}, after the brace.
func (p *gbnfParser) counts(nested bool) (lo, hi int, err error) {
	p.space(nested)
	if lo, err = p.int(); err != nil {
		return 0, 0, err
	}
	p.space(nested)
	switch p.peek() {
	case '}':
		hi = lo
	case ',':
		p.pos++
		p.space(nested)
		hi = -1
		if c := p.peek(); c >= '0' && c <= '9' {
			if hi, err = p.int(); err != nil {
				return 0, 0, err
			}
			p.space(nested)
		}
		if p.peek() != '}' {
			return 0, 0, syntaxError(p, "expecting }")
		}
	default:
		return 0, 0, syntaxError(p, "expecting , or }")
	}
	p.pos++
	if lo > MaxRepetition || hi > MaxRepetition {
		return 0, 0, &LimitError{Reason: fmt.Sprintf("repetition {%d,%d} exceeds llama.cpp's limit of %d", lo, hi, MaxRepetition)}
	}
	if hi >= 0 && hi < lo {
		// llama.cpp would compute a huge unsigned count of optional copies.
		return 0, 0, syntaxError(p, "repetition {%d,%d} has its maximum below its minimum", lo, hi)
	}
	return lo, hi, nil
}

func (p *gbnfParser) int() (int, error) {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		return 0, syntaxError(p, "expecting an integer")
	}
	v, err := strconv.Atoi(string(p.src[start:p.pos]))
	if err != nil {
		return 0, &LimitError{Reason: fmt.Sprintf("repetition count %s exceeds llama.cpp's limit of %d", string(p.src[start:p.pos]), MaxRepetition)}
	}
	return v, nil
}

// char reads one character of a literal or class, with llama.cpp's
// escapes (parse_char): no others are accepted.
func (p *gbnfParser) char() (rune, error) {
	c := p.src[p.pos]
	if c != '\\' {
		p.pos++
		return c, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, syntaxError(p, "dangling escape")
	}
	e := p.src[p.pos+1]
	p.pos += 2
	hex := func(n int) (rune, error) {
		if p.pos+n > len(p.src) {
			return 0, syntaxError(p, "expecting %d hex digits", n)
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
		if err != nil {
			return 0, syntaxError(p, "expecting %d hex digits", n)
		}
		p.pos += n
		return rune(v), nil
	}
	switch e {
	case 'x':
		return hex(2)
	case 'u':
		return hex(4)
	case 'U':
		return hex(8)
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'n':
		return '\n', nil
	case '\\', '"', '[', ']':
		return e, nil
	default:
		p.pos -= 2
		return 0, syntaxError(p, "unknown escape")
	}
}

// check applies the limits of llama.cpp beyond its syntax: the memory its
// parsed form takes, and left recursion.
func (g *parsed) check() error {
	var c expansion
	for _, name := range g.order {
		c.rules++
		c.elements += c.body(g.rules[name])
	}
	if est := c.elements*elementBytes + c.rules*ruleBytes; est > maxParsedBytes {
		return &LimitError{Reason: fmt.Sprintf("llama.cpp would expand it to about %d MiB (%d rules; the limit is %d MiB)",
			est>>20, c.rules, maxParsedBytes>>20)}
	}
	return g.checkLeftRecursion()
}

// expansion counts the elements and rules of llama.cpp's parsed form.
type expansion struct {
	elements, rules int
}

// body counts an alternation laid out in one rule: each alternative's
// symbols and its ALT or END marker.
func (c *expansion) body(alt *node) int {
	n := 0
	for _, seq := range alt.kids {
		for _, k := range seq.kids {
			n += c.symbol(k)
		}
		n++
	}
	return n
}

// symbol counts the elements n takes where it stands and adds what it
// creates elsewhere (a group's rule, a repetition's helper rules).
func (c *expansion) symbol(n *node) int {
	switch n.kind {
	case nodeLiteral:
		return len(n.lit)
	case nodeClass:
		k := 0
		for _, r := range n.ranges {
			k++
			if r[0] != r[1] {
				k++
			}
		}
		return k
	case nodeAlt:
		c.rules++
		c.elements += c.body(n)
		return 1
	case nodeRepeat:
		// S{m,n}: m copies of S, then n-m rules S'(i) ::= S S'(i-1) |
		// (one S' ::= S S' | when unbounded).
		s := c.symbol(n.kids[0])
		opt := 1
		if n.max >= 0 {
			opt = n.max - n.min
		}
		c.rules += opt
		c.elements += opt * (s + 3)
		here := n.min * s
		if opt > 0 {
			here++
		}
		return here
	default: // nodeRef
		return 1
	}
}

// checkLeftRecursion refuses a rule that can reach itself before consuming
// a character. llama.cpp refuses some of these when the grammar is
// initialised, but misses those that pass through a rule that only
// derives the empty string indirectly, and its sampler then recurses
// without end; a repetition of something that can be empty does the same
// through the helper rule llama.cpp makes for it.
func (g *parsed) checkLeftRecursion() error {
	nullable := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, name := range g.order {
			if !nullable[name] && g.nullable(g.rules[name], nullable) {
				nullable[name] = true
				changed = true
			}
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = active
		var firsts []string
		if err := g.firsts(g.rules[name], nullable, name, &firsts); err != nil {
			return err
		}
		for _, f := range firsts {
			switch state[f] {
			case active:
				return &LimitError{Rule: f, Reason: "it can reach itself before consuming any character (left recursion), which llama.cpp cannot sample"}
			case unseen:
				if err := visit(f); err != nil {
					return err
				}
			}
		}
		state[name] = done
		return nil
	}
	for _, name := range g.order {
		if state[name] == unseen {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// nullable reports whether n derives the empty string, given what is
// known so far of the rules.
func (g *parsed) nullable(n *node, rules map[string]bool) bool {
	switch n.kind {
	case nodeLiteral:
		return len(n.lit) == 0
	case nodeClass:
		return false
	case nodeRef:
		return rules[n.ref]
	case nodeSeq:
		for _, k := range n.kids {
			if !g.nullable(k, rules) {
				return false
			}
		}
		return true
	case nodeAlt:
		for _, k := range n.kids {
			if g.nullable(k, rules) {
				return true
			}
		}
		return false
	default: // nodeRepeat
		return n.min == 0 || g.nullable(n.kids[0], rules)
	}
}

// firsts appends the rules that n can begin with (a rule reference reached
// before any character is consumed).
func (g *parsed) firsts(n *node, nullable map[string]bool, rule string, out *[]string) error {
	switch n.kind {
	case nodeRef:
		*out = append(*out, n.ref)
	case nodeSeq:
		for _, k := range n.kids {
			if err := g.firsts(k, nullable, rule, out); err != nil {
				return err
			}
			if !g.nullable(k, nullable) {
				break
			}
		}
	case nodeAlt:
		for _, k := range n.kids {
			if err := g.firsts(k, nullable, rule, out); err != nil {
				return err
			}
		}
	case nodeRepeat:
		if n.max < 0 && g.nullable(n.kids[0], nullable) {
			return &LimitError{Rule: rule, Reason: "it repeats without bound something that can be empty, which llama.cpp cannot sample"}
		}
		if n.max != 0 {
			return g.firsts(n.kids[0], nullable, rule, out)
		}
	}
	return nil
}
