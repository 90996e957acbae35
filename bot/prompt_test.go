package bot

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/index"
)

// shortContext is the real tokenizer with a smaller context, so that a
// few turns overflow it.
type shortContext struct {
	Tokenizer
	ctx int
}

func (s shortContext) SeqCtx() int { return s.ctx }

// TestPromptFitting: with the real tokenizer, the oldest turns are
// dropped first; passages are cut only when no history is left, the
// lowest-ranked first.
func TestPromptFitting(t *testing.T) {
	chat, _ := realModels(t)
	cfg := testConfig().WithDefaults()
	hits := []index.Hit{
		{DocumentID: "a", Text: strings.Repeat("Refunds are paid within five days. ", 6), Metadata: index.Metadata{Title: "A"}},
		{DocumentID: "b", Text: strings.Repeat("Shipping takes three days. ", 6), Metadata: index.Metadata{Title: "B"}},
	}
	var turns []conversation.Turn
	for i := range 12 {
		turns = append(turns, conversation.Turn{Role: conversation.RoleBot, User: fmt.Sprintf("question number %d about my order", i),
			Answer: fmt.Sprintf("answer number %d about your order", i)})
	}
	full := newPromptBuilder(cfg, shortContext{chat, 1 << 20}, newNeutralizer(nil))
	p, err := full.build(turns, "and the refund?", hits)
	if err != nil || p.DroppedTurns != 0 || len(p.Passages) != 2 {
		t.Fatalf("in the full context: dropped %d, passages %d, %v", p.DroppedTurns, len(p.Passages), err)
	}
	need := p.Tokens + cfg.Generation.MaxTokens + fitMargin

	// A context short of a few turns drops the oldest ones.
	pb := newPromptBuilder(cfg, shortContext{chat, need - 60}, newNeutralizer(nil))
	p, err = pb.build(turns, "and the refund?", hits)
	if err != nil || p.DroppedTurns == 0 || p.DroppedTurns == len(turns) || len(p.Passages) != 2 || p.Passages[1].Text != hits[1].Text {
		t.Fatalf("short context: dropped %d, passages %d, %v", p.DroppedTurns, len(p.Passages), err)
	}
	kept := p.Messages[1 : len(p.Messages)-1]
	if want := fmt.Sprintf("question number %d about my order", p.DroppedTurns); kept[0].Content != want ||
		kept[len(kept)-1].Content != "answer number 11 about your order" {
		t.Fatalf("kept history starts with %q, ends with %q; want the newest turns, from %q", kept[0].Content, kept[len(kept)-1].Content, want)
	}
	if p.Tokens+cfg.Generation.MaxTokens+fitMargin > need-60 {
		t.Fatalf("prompt of %d tokens exceeds the budget", p.Tokens)
	}

	// A context too short for both passages loses all history and cuts
	// the second passage.
	head, _ := pb.count(pb.head + passagesIntro)
	pa, _ := pb.count(passageBlock(1, hits[0], hits[0].Text, pb.clean))
	q, _ := pb.count("and the refund?")
	tight := head + pa + q + minPassageTokens + messageOverhead + 60 + cfg.Generation.MaxTokens + fitMargin
	pb = newPromptBuilder(cfg, shortContext{chat, tight}, newNeutralizer(nil))
	p, err = pb.build(turns, "and the refund?", hits)
	if err != nil || p.DroppedTurns != len(turns) || len(p.Passages) != 2 || p.Passages[0].Text != hits[0].Text ||
		!strings.HasSuffix(p.Passages[1].Text, " …") || len(p.Passages[1].Text) >= len(hits[1].Text) {
		t.Fatalf("tight context: dropped %d, passages %+v, %v", p.DroppedTurns, p.Passages, err)
	}

	// Not even the system prompt and the question: ErrPromptTooLong.
	pb = newPromptBuilder(cfg, shortContext{chat, head}, newNeutralizer(nil))
	if _, err = pb.build(nil, "and the refund?", hits); !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("build = %v, want ErrPromptTooLong", err)
	}
}
