package bot

import (
	"testing"

	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/index"
)

func TestRetrievalQuery(t *testing.T) {
	prev := []conversation.Turn{{User: "How do I get a refund?", Answer: "Within 14 days [1]."}, {Role: conversation.RoleBot}}
	for _, tt := range []struct {
		turns []conversation.Turn
		text  string
		want  string
	}{
		{nil, "and for Spain?", "and for Spain?"},
		{prev, "How long does shipping to Europe take?", "How long does shipping to Europe take?"},
		{prev, "and for Spain?", "How do I get a refund?\nand for Spain?"},
		{prev, "How long does it take to arrive?", "How do I get a refund?\nHow long does it take to arrive?"},
		{prev, "¿Cuánto tarda eso en llegar a casa?", "How do I get a refund?\n¿Cuánto tarda eso en llegar a casa?"},
		{prev, "What about orders paid by card?", "How do I get a refund?\nWhat about orders paid by card?"},
	} {
		if got := retrievalQuery(tt.turns, tt.text); got != tt.want {
			t.Errorf("retrievalQuery(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestPhrases(t *testing.T) {
	s := newPhraseSet(DefaultHandoffPhrases)
	for text, want := range map[string]bool{
		"I want to TALK to a human!": true, "quiero hablar con una persona": true, "Je voudrais parler a quelqu'un": true,
		"Kann ich mit einem Mitarbeiter sprechen?": true, "Posso falar com alguem?": true,
		"How do I reset my password?": false, "the personal settings": false, "unreal personality": false,
	} {
		if _, got := s.match(text); got != want {
			t.Errorf("match(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestGate(t *testing.T) {
	yes, no := true, false
	a := AnswerabilityConfig{MinSimilarity: 0.4, MinFused: 0.01, ExactMatch: &yes}
	close := index.Hit{Score: 0.03, VectorScore: 0.55}
	far := index.Hit{Score: 0.03, VectorScore: 0.2}
	exact := index.Hit{Score: 0.03, VectorScore: 0.2, ExactRank: 1}
	for _, tt := range []struct {
		name   string
		hits   []index.Hit
		mode   index.Mode
		exact  *bool
		ok     bool
		reason string
	}{
		{"none", nil, index.ModeHybrid, &yes, false, gateNoPassages},
		{"similar", []index.Hit{far, close}, index.ModeHybrid, &yes, true, ""},
		{"dissimilar", []index.Hit{far}, index.ModeHybrid, &yes, false, gateLowSimilarity},
		{"exact match", []index.Hit{exact}, index.ModeHybrid, &yes, true, ""},
		{"exact match off", []index.Hit{exact}, index.ModeHybrid, &no, false, gateLowSimilarity},
		{"low fused", []index.Hit{{Score: 0.005, VectorScore: 0.9}}, index.ModeHybrid, &yes, false, gateLowFused},
		{"vector mode", []index.Hit{{Score: 0.5}}, index.ModeVector, &yes, true, ""},
	} {
		a.ExactMatch = tt.exact
		v := judge(tt.hits, tt.mode, a)
		if v.answerable != tt.ok || v.reason != tt.reason {
			t.Errorf("%s: %+v", tt.name, v)
		}
	}
	r := RetrievalConfig{Mode: index.ModeHybrid, MinScore: 0.3}
	if got := usable([]index.Hit{close, far, exact}, r); len(got) != 2 || got[1].ExactRank != 1 {
		t.Errorf("usable = %+v: want the similar hit and the exact match", got)
	}
}
