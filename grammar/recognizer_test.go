package grammar

import (
	"testing"
	"unicode/utf8"
)

// A recognizer for parsed grammars, test-only: it decides whether a string
// is a sentence of a grammar, so that tests can check that the compiled
// grammars accept the JSON they should and refuse what they should not,
// without loading a model.

type recognizer struct {
	g    *parsed
	memo map[string]map[int][]int
	in   []rune
}

func mustParse(t testing.TB, src string) *parsed {
	t.Helper()
	g, err := parseGBNF(src)
	if err != nil {
		t.Fatalf("grammar does not parse: %v\n%s", err, src)
	}
	return g
}

// accepts reports whether s is a sentence of g.
func (g *parsed) accepts(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	r := &recognizer{g: g, in: []rune(s), memo: map[string]map[int][]int{}}
	for _, end := range r.matchRef("root", 0) {
		if end == len(r.in) {
			return true
		}
	}
	return false
}

func (r *recognizer) matchRef(name string, pos int) []int {
	m := r.memo[name]
	if m == nil {
		m = map[int][]int{}
		r.memo[name] = m
	}
	if ends, ok := m[pos]; ok {
		return ends
	}
	m[pos] = nil // left-recursion guard
	ends := r.match(r.g.rules[name], pos)
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

func (r *recognizer) match(n *node, pos int) []int {
	switch n.kind {
	case nodeLiteral:
		if pos+len(n.lit) > len(r.in) {
			return nil
		}
		for i, c := range n.lit {
			if r.in[pos+i] != c {
				return nil
			}
		}
		return []int{pos + len(n.lit)}
	case nodeClass:
		if pos >= len(r.in) {
			return nil
		}
		c := r.in[pos]
		in := false
		for _, rg := range n.ranges {
			if c >= rg[0] && c <= rg[1] {
				in = true
				break
			}
		}
		if in != n.negate {
			return []int{pos + 1}
		}
		return nil
	case nodeRef:
		return r.matchRef(n.ref, pos)
	case nodeSeq:
		cur := []int{pos}
		for _, k := range n.kids {
			var next []int
			for _, p := range cur {
				next = union(next, r.match(k, p)...)
			}
			if len(next) == 0 {
				return nil
			}
			cur = next
		}
		return cur
	case nodeAlt:
		var out []int
		for _, k := range n.kids {
			out = union(out, r.match(k, pos)...)
		}
		return out
	case nodeRepeat:
		var out []int
		if n.min == 0 {
			out = []int{pos}
		}
		cur := []int{pos}
		seen := map[int]bool{}
		for count := 1; n.max < 0 || count <= n.max; count++ {
			var next []int
			for _, p := range cur {
				next = union(next, r.match(n.kids[0], p)...)
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
