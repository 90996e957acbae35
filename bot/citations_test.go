package bot

import (
	"testing"

	"github.com/infergate/infergate/index"
)

func TestCitations(t *testing.T) {
	ps := []passage{
		{Ref: 1, Hit: index.Hit{DocumentID: "a", ChunkID: 3, Metadata: index.Metadata{Title: "A", URL: "https://x/a"}}},
		{Ref: 2, Hit: index.Hit{DocumentID: "b", ChunkID: 9}},
	}
	for _, tt := range []struct {
		text  string
		clean string
		refs  []int
	}{
		{"No references.", "No references.", nil},
		{"Yes [2], then [1] and [2] again.", "Yes [2], then [1] and [2] again.", []int{2, 1}},
		{"Bad [0] [3] [999] good [1]", "Bad    good [1]", []int{1}},
		{"Not a ref: [a] [1.5] [-1]", "Not a ref: [a] [1.5] [-1]", nil},
	} {
		clean, _ := dropInvalidRefs(tt.text, len(ps))
		if clean != tt.clean {
			t.Errorf("dropInvalidRefs(%q) = %q, want %q", tt.text, clean, tt.clean)
		}
		cs := citations(tt.text, ps) // the raw text: the check holds without the cleaning too
		if len(cs) != len(tt.refs) {
			t.Fatalf("citations(%q) = %+v, want refs %v", tt.text, cs, tt.refs)
		}
		for i, c := range cs {
			if c.Ref != tt.refs[i] || c.DocumentID != ps[c.Ref-1].Hit.DocumentID {
				t.Errorf("citations(%q)[%d] = %+v", tt.text, i, c)
			}
		}
	}
}

func TestOpenRef(t *testing.T) {
	for s, want := range map[string]int{"ab [": 3, "ab [1": 3, "ab [12": 3, "ab [123": 3, "[1234": -1, "ab [1]": -1, "ab [x": -1, "ab": -1} {
		if got := openRef(s); got != want {
			t.Errorf("openRef(%q) = %d, want %d", s, got, want)
		}
	}
}
