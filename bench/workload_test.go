package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyntheticText(t *testing.T) {
	r := newRand(1, 2)
	for _, n := range []int{1, 5, 23, 24, 100, 1000} {
		s := syntheticText(r, n, true)
		got := len(strings.Fields(s))
		// With the instruction the word count is n minus its token
		// allowance plus its own words; either way within a few of n.
		if got < n-instructionTokens/2 || got > n+2 {
			t.Errorf("n=%d: %d words", n, got)
		}
	}
	a, b := syntheticText(newRand(1, 10), 50, true), syntheticText(newRand(1, 11), 50, true)
	if strings.Fields(a)[0] == strings.Fields(b)[0] && strings.Fields(a)[1] == strings.Fields(b)[1] {
		t.Errorf("two prompts share a prefix: %q / %q", a[:30], b[:30])
	}
	if syntheticText(newRand(5, 5), 40, true) != syntheticText(newRand(5, 5), 40, true) {
		t.Error("same seed, different text")
	}
}

func TestParseDatasetLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		system  string
		users   []string
		replys  []string
		wantErr bool
	}{
		{
			name:   "openai messages",
			line:   `{"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}]}`,
			system: "be nice", users: []string{"hi", "bye"}, replys: []string{"hello", ""},
		},
		{
			name:  "content parts",
			line:  `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{}},{"type":"text","text":"b"}]}]}`,
			users: []string{"ab"}, replys: []string{""},
		},
		{
			name:  "sharegpt",
			line:  `{"id":"x","conversations":[{"from":"human","value":"q1"},{"from":"gpt","value":"a1"},{"from":"human","value":"q2"},{"from":"gpt","value":"a2"}]}`,
			users: []string{"q1", "q2"}, replys: []string{"a1", "a2"},
		},
		{
			name:  "consecutive users merge",
			line:  `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"}]}`,
			users: []string{"a\nb"}, replys: []string{"c"},
		},
		{name: "prompt", line: `{"prompt":"p"}`, users: []string{"p"}, replys: []string{""}},
		{name: "assistant only", line: `{"messages":[{"role":"assistant","content":"x"}]}`},
		{name: "unknown shape", line: `{"text":"x"}`, wantErr: true},
		{name: "bad json", line: `{"messages":`, wantErr: true},
		{name: "bad content", line: `{"messages":[{"role":"user","content":5}]}`, wantErr: true},
	}
	for _, tt := range tests {
		c, err := parseDatasetLine([]byte(tt.line))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if c.system != tt.system || strings.Join(c.users, "|") != strings.Join(tt.users, "|") || strings.Join(c.replys, "|") != strings.Join(tt.replys, "|") {
			t.Errorf("%s: got %+v", tt.name, c)
		}
	}
}

func TestLoadDataset(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.jsonl")
	data := `{"prompt":"one"}

{"messages":[{"role":"assistant","content":"skipped"}]}
{"conversations":[{"from":"human","value":"two"}]}
`
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := loadDataset(p)
	if err != nil || len(ds) != 2 {
		t.Fatalf("loadDataset = %v, %v", ds, err)
	}
	if err := os.WriteFile(p, []byte(`{"prompt":"a"}`+"\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDataset(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
	if err := os.WriteFile(p, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDataset(p); err == nil {
		t.Error("empty dataset accepted")
	}
}

func TestBuildBody(t *testing.T) {
	cfg := &config{API: "chat", Model: "m", Stream: true, Temperature: 0, IgnoreEOS: true}
	hist := []message{{Role: "user", Content: "u1"}, {Role: "assistant", Content: "a1"}}
	body, err := buildBody(cfg, "sys", hist, turn{user: "u2", maxTokens: 7})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	msgs := got["messages"].([]any)
	if len(msgs) != 4 || got["max_tokens"].(float64) != 7 || got["stream"] != true || got["ignore_eos"] != true || got["temperature"].(float64) != 0 {
		t.Errorf("chat body = %s", body)
	}
	if so, ok := got["stream_options"].(map[string]any); !ok || so["include_usage"] != true {
		t.Errorf("stream_options missing: %s", body)
	}

	cfg = &config{API: "completions", Stream: false, Temperature: -1}
	body, _ = buildBody(cfg, "", nil, turn{user: "just this", maxTokens: 3})
	got = nil
	json.Unmarshal(body, &got)
	if got["prompt"] != "just this" || got["stream_options"] != nil || got["temperature"] != nil || got["model"] != nil {
		t.Errorf("completions body = %s", body)
	}
	if p := flattenPrompt("sys", hist, "u2"); p != "sys\n\nUser: u1\nAssistant: a1\nUser: u2\nAssistant:" {
		t.Errorf("flattenPrompt = %q", p)
	}
}

func TestWorkloadDeterministicAndFresh(t *testing.T) {
	in, _ := ParseLengthDist("30-60")
	out, _ := ParseLengthDist("5")
	cfg := &config{Seed: 9, Turns: 2, InputTokens: in, OutputTokens: out, SystemTokens: 20}
	w1, w2 := newWorkload(cfg, nil), newWorkload(cfg, nil)
	a, b := w1.next(), w2.next()
	if a.turns[0].user != b.turns[0].user || a.system != b.system || len(a.turns) != 2 {
		t.Error("same seed, different conversations")
	}
	c := w1.next()
	if c.turns[0].user == a.turns[0].user {
		t.Error("second conversation repeats the first")
	}
	if c.system != a.system || a.system == "" {
		t.Error("the system prompt should be shared")
	}
}
