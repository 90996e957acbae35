package index

import (
	"slices"
	"testing"

	"github.com/infergate/infergate/index/lexical"
)

// TestExactTerms: identifiers always rank exactly; a word only one chunk
// holds does when the query words beside it are in that chunk too (a
// command, a product name), not when it is used in passing.
func TestExactTerms(t *testing.T) {
	c := &collection{lex: lexical.New(lexical.Params{})}
	for id, text := range []string{
		"If the clock is right, run acme auth refresh and sync again.",
		"Report a security issue to the acme team; we reply within a day.",
		"Our website has a hole in its navigation menu, sorry.",
		"Orders look like ORD-2024-00817 on every invoice.",
		"Sync runs every hour; refresh the page to see it.",
	} {
		c.lex.Add(uint64(id), text)
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"when do I run acme auth refresh?", []string{"auth"}},
		{"I found a security hole in your website", nil}, // "hole" is alone in a chunk without "security"
		{"where is order ORD-2024-00817", []string{"ord-2024-00817"}},
		{"auth", nil},                    // a name needs a neighbour to confirm it
		{"how often does sync run", nil}, // no word that one chunk alone holds
	}
	for _, tc := range cases {
		got := c.exactTerms(tc.query)
		if !slices.Equal(got, tc.want) {
			t.Errorf("exactTerms(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
}
