package conversation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var exportT0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// exportFixture builds, through the Log's public API, four conversations
// an hour apart:
//
//	c1 acme   alice  two answers (up, down), resolved without a handoff
//	c2 acme   bob    an answer, a handoff, two user messages, an agent's
//	                 reply, resolved
//	c3 globex alice  one answer, still with the bot
//	c4 acme   anon.  two answers (none, up), still with the bot
func exportFixture(t *testing.T) *Log {
	t.Helper()
	ctx := context.Background()
	clk := &clock{now: exportT0}
	l := New(openStore(t, t.TempDir()), Options{Logger: quietLogger(), Now: clk.Now})
	bob := Owner{UserID: "bob", Verified: true}
	rate := func(c *Conversation, o Owner, n uint32, r Rating) {
		t.Helper()
		if _, err := l.SetFeedback(ctx, c.Bot, c.ID, o, n, r, ""); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(c *Conversation, o Owner) {
		t.Helper()
		if _, err := l.Resolve(ctx, c.Bot, c.ID, o, 5); err != nil {
			t.Fatal(err)
		}
	}

	c1, o1 := create(t, l, "acme", alice)
	appendTurn(t, l, c1, o1, answer("How do I return shoes?", "Within 30 days [1]."))
	appendTurn(t, l, c1, o1, answer("Mail me at jo@x.org or +44 20 7946 0958", "Sure, card 4111 1111 1111 1111 noted."))
	rate(c1, o1, 0, RatingUp)
	rate(c1, o1, 1, RatingDown)
	resolve(c1, o1)

	clk.set(exportT0.Add(time.Hour))
	c2, o2 := create(t, l, "acme", bob)
	appendTurn(t, l, c2, o2, answer("Where is ORD-2024-00817?", "It shipped on 2024-01-15."))
	if _, _, err := l.Handoff(ctx, c2.Bot, c2.ID, o2, HandoffRequest{Reason: "asked_for_human", Target: "webhook",
		Turn: &Turn{User: "I want a human", Answer: "Connecting you to a person."}}); err != nil {
		t.Fatal(err)
	}
	appendTurn(t, l, c2, o2, Turn{Role: RoleUser, User: "Call me on 030 1234567"})
	appendTurn(t, l, c2, o2, Turn{Role: RoleUser, User: "Anyone there?"})
	if _, err := l.AddAgentMessage(ctx, c2.Bot, c2.ID, "Sam", "Refund issued, jo@x.org."); err != nil {
		t.Fatal(err)
	}
	resolve(c2, o2)

	clk.set(exportT0.Add(2 * time.Hour))
	c3, o3 := create(t, l, "globex", alice)
	appendTurn(t, l, c3, o3, answer("Hi", "Hello!"))

	clk.set(exportT0.Add(3 * time.Hour))
	c4, o4 := create(t, l, "acme", Owner{})
	appendTurn(t, l, c4, o4, answer("Opening hours?", "9 to 5."))
	appendTurn(t, l, c4, o4, answer("Weekends?", "Closed."))
	rate(c4, o4, 1, RatingUp)
	return l
}

// The fixture's records, in the notation of renderChat: "u:" a user
// message, "a:" the answer a record exports, "a0:" an assistant message
// with weight 0, "s:" the system prompt.
var (
	chatC1T0 = []string{"u:How do I return shoes?", "a:Within 30 days [1]."}
	chatC1T1 = []string{"u:How do I return shoes?", "a0:Within 30 days [1].",
		"u:Mail me at jo@x.org or +44 20 7946 0958", "a:Sure, card 4111 1111 1111 1111 noted."}
	chatC2T0      = []string{"u:Where is ORD-2024-00817?", "a:It shipped on 2024-01-15."}
	chatC2Handoff = []string{"u:Where is ORD-2024-00817?", "a0:It shipped on 2024-01-15.",
		"u:I want a human", "a:Connecting you to a person."}
	chatC2Agent = []string{"u:Where is ORD-2024-00817?", "a0:It shipped on 2024-01-15.",
		"u:I want a human", "a0:Connecting you to a person.", "u:Call me on 030 1234567", "u:Anyone there?",
		"a:Refund issued, jo@x.org."}
	chatC3T0 = []string{"u:Hi", "a:Hello!"}
	chatC4T0 = []string{"u:Opening hours?", "a:9 to 5."}
	chatC4T1 = []string{"u:Opening hours?", "a0:9 to 5.", "u:Weekends?", "a:Closed."}
)

func TestExport(t *testing.T) {
	l := exportFixture(t)
	tests := []struct {
		name  string
		o     ExportOptions
		want  [][]string // chat records (renderChat) or pairs (renderPair, one element each)
		convs int        // ExportStats.Conversations
		red   Redactions
	}{
		{name: "everything, defaults", o: ExportOptions{}, convs: 4,
			want: [][]string{chatC1T0, chatC1T1, chatC2T0, chatC3T0, chatC4T0, chatC4T1}},
		{name: "system prompt", o: ExportOptions{Bot: "globex", SystemPrompt: "You are Globex's assistant."}, convs: 1,
			want: [][]string{{"s:You are Globex's assistant.", "u:Hi", "a:Hello!"}}},
		{name: "bot", o: ExportOptions{Bot: "acme"}, convs: 3,
			want: [][]string{chatC1T0, chatC1T1, chatC2T0, chatC4T0, chatC4T1}},
		{name: "unknown bot", o: ExportOptions{Bot: "initech"}, convs: 0},
		{name: "time range, to excluded", o: ExportOptions{From: exportT0.Add(time.Hour), To: exportT0.Add(3 * time.Hour)}, convs: 2,
			want: [][]string{chatC2T0, chatC3T0}},
		{name: "from only", o: ExportOptions{From: exportT0.Add(2*time.Hour + time.Nanosecond)}, convs: 1,
			want: [][]string{chatC4T0, chatC4T1}},
		{name: "to only", o: ExportOptions{To: exportT0.Add(time.Nanosecond)}, convs: 1,
			want: [][]string{chatC1T0, chatC1T1}},
		{name: "resolved", o: ExportOptions{Outcomes: []Outcome{OutcomeResolved}}, convs: 4,
			want: [][]string{chatC1T0, chatC1T1, chatC2T0}},
		{name: "handed off", o: ExportOptions{Outcomes: []Outcome{OutcomeHandedOff}}, convs: 4,
			want: [][]string{chatC2T0}},
		{name: "contained", o: ExportOptions{Outcomes: []Outcome{OutcomeContained}}, convs: 4,
			want: [][]string{chatC1T0, chatC1T1}},
		{name: "rated up", o: ExportOptions{Outcomes: []Outcome{OutcomeRatedUp}}, convs: 4,
			want: [][]string{chatC1T0, chatC4T1}},
		{name: "resolved and rated up", o: ExportOptions{Outcomes: []Outcome{OutcomeResolved, OutcomeRatedUp}}, convs: 4,
			want: [][]string{chatC1T0}},
		{name: "bot, range and outcome together", o: ExportOptions{Bot: "acme", From: exportT0.Add(time.Minute), Outcomes: []Outcome{OutcomeRatedUp}}, convs: 2,
			want: [][]string{chatC4T1}},
		{name: "agents included", o: ExportOptions{IncludeAgent: true}, convs: 4,
			want: [][]string{chatC1T0, chatC1T1, chatC2T0, chatC2Agent, chatC3T0, chatC4T0, chatC4T1}},
		{name: "handoff included", o: ExportOptions{IncludeHandoff: true, Bot: "acme", Outcomes: []Outcome{OutcomeHandedOff}}, convs: 3,
			want: [][]string{chatC2T0, chatC2Handoff}},
		{name: "agents of handed-off conversations", o: ExportOptions{IncludeAgent: true, Outcomes: []Outcome{OutcomeHandedOff}}, convs: 4,
			want: [][]string{chatC2T0, chatC2Agent}},
		{name: "an agent's message is never rated up", o: ExportOptions{IncludeAgent: true, Outcomes: []Outcome{OutcomeRatedUp}}, convs: 4,
			want: [][]string{chatC1T0, chatC4T1}},
		{name: "redacted", o: ExportOptions{Redact: true, To: exportT0.Add(2 * time.Hour)}, convs: 2,
			red: Redactions{Emails: 1, Phones: 1, Cards: 1},
			want: [][]string{chatC1T0,
				{"u:How do I return shoes?", "a0:Within 30 days [1].", "u:Mail me at [email] or [phone]", "a:Sure, card [card] noted."},
				chatC2T0}},
		{name: "redacted with agents", o: ExportOptions{Redact: true, IncludeAgent: true, Bot: "acme", Outcomes: []Outcome{OutcomeHandedOff}}, convs: 3,
			red: Redactions{Emails: 1, Phones: 1},
			want: [][]string{chatC2T0,
				{"u:Where is ORD-2024-00817?", "a0:It shipped on 2024-01-15.", "u:I want a human", "a0:Connecting you to a person.",
					"u:Call me on [phone]", "u:Anyone there?", "a:Refund issued, [email]."}}},
		{name: "pairs", o: ExportOptions{Format: FormatPairs, SystemPrompt: "ignored"}, convs: 4,
			want: [][]string{
				{"How do I return shoes? => Within 30 days [1]."},
				{"Mail me at jo@x.org or +44 20 7946 0958 => Sure, card 4111 1111 1111 1111 noted."},
				{"Where is ORD-2024-00817? => It shipped on 2024-01-15."},
				{"Hi => Hello!"}, {"Opening hours? => 9 to 5."}, {"Weekends? => Closed."}}},
		{name: "pairs, agents: the unanswered messages are the prompt", o: ExportOptions{Format: FormatPairs, IncludeAgent: true, Outcomes: []Outcome{OutcomeHandedOff}}, convs: 4,
			want: [][]string{
				{"Where is ORD-2024-00817? => It shipped on 2024-01-15."},
				{"Call me on 030 1234567\n\nAnyone there? => Refund issued, jo@x.org."}}},
		{name: "pairs with history", o: ExportOptions{Format: FormatPairs, PairsHistory: true, Bot: "acme", Outcomes: []Outcome{OutcomeRatedUp}}, convs: 3,
			want: [][]string{
				{"User: How do I return shoes? => Within 30 days [1]."},
				{"User: Opening hours?\n\nAssistant: 9 to 5.\n\nUser: Weekends? => Closed."}}},
		{name: "pairs redacted", o: ExportOptions{Format: FormatPairs, Redact: true, Outcomes: []Outcome{OutcomeContained}}, convs: 4,
			red: Redactions{Emails: 1, Phones: 1, Cards: 1},
			want: [][]string{
				{"How do I return shoes? => Within 30 days [1]."},
				{"Mail me at [email] or [phone] => Sure, card [card] noted."}}},
	}
	for _, tc := range tests {
		// The page size must not change the output: 1 and 3 cut the four
		// conversations into several pages, 0 is the default.
		for _, page := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/page=%d", tc.name, page), func(t *testing.T) {
				o := tc.o
				o.PageSize = page
				var buf bytes.Buffer
				stats, err := l.Export(context.Background(), &buf, o)
				if err != nil {
					t.Fatal(err)
				}
				got := parseExport(t, buf.Bytes(), o.Format)
				if !slices.EqualFunc(got, tc.want, slices.Equal) {
					t.Errorf("records:\n%s\nwant:\n%s", show(got), show(tc.want))
				}
				want := ExportStats{Conversations: tc.convs, Records: len(tc.want), Redactions: tc.red}
				if stats != want {
					t.Errorf("stats %+v, want %+v", stats, want)
				}
			})
		}
	}
}

// parseExport parses JSONL strictly (no unknown keys, one object a line,
// each line ended) and renders each record for comparison.
func parseExport(t *testing.T, b []byte, f Format) [][]string {
	t.Helper()
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", b)
	}
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var rec struct {
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
				Weight  *int   `json:"weight"`
			} `json:"messages"`
			Prompt     *string `json:"prompt"`
			Completion *string `json:"completion"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		if dec.More() {
			t.Fatalf("line %q holds more than one value", sc.Bytes())
		}
		if f == FormatPairs {
			if rec.Messages != nil || rec.Prompt == nil || rec.Completion == nil {
				t.Fatalf("line %q is not a pair", sc.Bytes())
			}
			out = append(out, []string{*rec.Prompt + " => " + *rec.Completion})
			continue
		}
		if rec.Prompt != nil || rec.Completion != nil || len(rec.Messages) == 0 {
			t.Fatalf("line %q is not a chat record", sc.Bytes())
		}
		var r []string
		for i, m := range rec.Messages {
			last := i == len(rec.Messages)-1
			switch {
			case m.Role == "system" && i == 0 && m.Weight == nil:
				r = append(r, "s:"+m.Content)
			case m.Role == "user" && m.Weight == nil && !last:
				r = append(r, "u:"+m.Content)
			case m.Role == "assistant" && last && m.Weight == nil:
				r = append(r, "a:"+m.Content)
			case m.Role == "assistant" && !last && m.Weight != nil && *m.Weight == 0:
				r = append(r, "a0:"+m.Content)
			default:
				t.Fatalf("line %q: message %d is out of place", sc.Bytes(), i)
			}
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func show(recs [][]string) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %q\n", r)
	}
	return b.String()
}

// TestExportRoundTrip exports a log of many conversations over several
// pages and checks the records against the log read back with Get: one
// record per answer, in order, each holding its conversation so far.
func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: exportT0}
	l := New(openStore(t, t.TempDir()), Options{Logger: quietLogger(), Now: clk.Now})
	rng := rand.New(rand.NewPCG(1, 2))
	type conv struct {
		c *Conversation
		o Owner
	}
	var convs []conv
	for i := range 40 {
		clk.set(exportT0.Add(time.Duration(i) * time.Minute))
		c, o := create(t, l, []string{"acme", "globex", "initech"}[i%3], Owner{UserID: fmt.Sprintf("u%d", i)})
		for j := range 1 + rng.IntN(5) {
			appendTurn(t, l, c, o, answer(fmt.Sprintf("q%d.%d <&> \"quoted\"\n", i, j), fmt.Sprintf("a%d.%d ünïcode ✓", i, j)))
		}
		convs = append(convs, conv{c, o})
	}
	var buf bytes.Buffer
	stats, err := l.Export(ctx, &buf, ExportOptions{PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	got := parseExport(t, buf.Bytes(), FormatChat)
	var want [][]string
	for _, cv := range convs {
		_, turns, err := l.Get(ctx, cv.c.Bot, cv.c.ID, cv.o)
		if err != nil {
			t.Fatal(err)
		}
		var hist []string
		for _, tn := range turns {
			rec := append(slices.Clone(hist), "u:"+tn.User, "a:"+tn.Answer)
			want = append(want, rec)
			hist = append(hist, "u:"+tn.User, "a0:"+tn.Answer)
		}
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("%d records, want %d:\n%s\nwant:\n%s", len(got), len(want), show(got), show(want))
	}
	if stats.Conversations != len(convs) || stats.Records != len(want) {
		t.Errorf("stats %+v, want %d conversations, %d records", stats, len(convs), len(want))
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestExportErrors(t *testing.T) {
	l := exportFixture(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		w    *bytes.Buffer
		o    ExportOptions
		want error
	}{
		{"unknown format", context.Background(), &bytes.Buffer{}, ExportOptions{Format: "alpaca"}, ErrInvalid},
		{"unknown outcome", context.Background(), &bytes.Buffer{}, ExportOptions{Outcomes: []Outcome{"happy"}}, ErrInvalid},
		{"empty range", context.Background(), &bytes.Buffer{}, ExportOptions{From: exportT0, To: exportT0}, ErrInvalid},
		{"no writer", context.Background(), nil, ExportOptions{}, ErrInvalid},
		{"cancelled", cancelled, &bytes.Buffer{}, ExportOptions{}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w io.Writer
			if tc.w != nil {
				w = tc.w
			}
			if _, err := l.Export(tc.ctx, w, tc.o); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("writer fails", func(t *testing.T) {
		if _, err := l.Export(context.Background(), failingWriter{}, ExportOptions{}); !errors.Is(err, errDiskFull) {
			t.Fatalf("err %v, want %v", err, errDiskFull)
		}
	})
}
