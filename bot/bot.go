package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/llm"
)

// Retriever searches the knowledge base; *index.KB satisfies it.
type Retriever interface {
	Search(ctx context.Context, collection string, q index.Query) ([]index.Hit, error)
}

// Log is the conversation log as the bot uses it; *conversation.Log
// satisfies it.
type Log interface {
	Create(ctx context.Context, bot string, owner conversation.Owner, co conversation.CreateOptions) (*conversation.Conversation, string, error)
	Get(ctx context.Context, bot, id string, owner conversation.Owner) (*conversation.Conversation, []conversation.Turn, error)
	AppendTurn(ctx context.Context, bot, id string, owner conversation.Owner, t conversation.Turn) (conversation.Turn, error)
	Handoff(ctx context.Context, bot, id string, owner conversation.Owner, req conversation.HandoffRequest) (*conversation.Conversation, handoff.Ticket, error)
	SetFeedback(ctx context.Context, bot, id string, owner conversation.Owner, n uint32, rating conversation.Rating, comment string) (conversation.Turn, error)
	Resolve(ctx context.Context, bot, id string, owner conversation.Owner, csat int) (*conversation.Conversation, error)
}

// Deps are what a Bot runs on.
type Deps struct {
	Retriever Retriever
	// Generator answers: the model's router, or its batcher.
	Generator llm.Generator
	Tokenizer Tokenizer
	Log       Log
	// SpecialTokens are the model's special tokens as text, neutralised
	// in documents and messages beside the common shapes; may be empty.
	SpecialTokens []string
	// Metrics is shared by the process's bots; nil: the bot's own.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock of latencies; nil: time.Now.
	Now func() time.Time
}

// Bot is one configured support bot. It is safe for concurrent use; it
// keeps no per-conversation state: the conversation log is the state.
type Bot struct {
	cfg       Config
	d         Deps
	prompts   promptBuilder
	clean     neutralizer
	asks      phraseSet
	sensitive phraseSet
	m         *Metrics
	log       *slog.Logger
}

// New returns the bot of cfg (defaults applied, then validated) over d.
func New(cfg Config, d Deps) (*Bot, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Retriever == nil, d.Generator == nil, d.Tokenizer == nil, d.Log == nil:
		return nil, fmt.Errorf("%w: bot %q needs a retriever, a generator, a tokenizer and a log", ErrConfig, cfg.Name)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	clean := newNeutralizer(d.SpecialTokens)
	b := &Bot{cfg: cfg, d: d, clean: clean, prompts: newPromptBuilder(cfg, d.Tokenizer, clean),
		asks: newPhraseSet(cfg.Escalation.Phrases), sensitive: newPhraseSet(cfg.Escalation.SensitiveTopics),
		m: d.Metrics, log: d.Logger.With("bot", cfg.Name)}
	return b, nil
}

// Config returns the bot's config, defaults applied.
func (b *Bot) Config() Config { return b.cfg }

// Start begins a conversation for owner and returns it, the anonymous
// secret (see conversation.Log.Create) and the greeting to show.
func (b *Bot) Start(ctx context.Context, owner conversation.Owner, co conversation.CreateOptions) (*conversation.Conversation, string, string, error) {
	c, secret, err := b.d.Log.Create(ctx, b.cfg.Name, owner, co)
	if err != nil {
		return nil, "", "", fmt.Errorf("bot %q: start: %w", b.cfg.Name, err)
	}
	b.m.conversations.WithLabelValues(b.cfg.Name).Inc()
	return c, secret, b.cfg.Greeting, nil
}

// Feedback records owner's rating of the answer in turn n and, for a
// rating down with Escalation.OnNegativeFeedback, hands the conversation
// off (ReasonNegativeFeedback). It returns the handoff's ticket id, ""
// when there was none.
func (b *Bot) Feedback(ctx context.Context, id string, owner conversation.Owner, n uint32, rating conversation.Rating, comment string) (string, error) {
	if _, err := b.d.Log.SetFeedback(ctx, b.cfg.Name, id, owner, n, rating, comment); err != nil {
		return "", fmt.Errorf("bot %q: feedback: %w", b.cfg.Name, err)
	}
	if rating == conversation.RatingUp {
		b.m.feedbackUp.WithLabelValues(b.cfg.Name).Inc()
		return "", nil
	}
	b.m.feedbackDown.WithLabelValues(b.cfg.Name).Inc()
	if !b.cfg.Escalation.OnNegativeFeedback {
		return "", nil
	}
	c, _, err := b.d.Log.Get(ctx, b.cfg.Name, id, owner)
	if err != nil {
		return "", fmt.Errorf("bot %q: feedback: %w", b.cfg.Name, err)
	}
	if c.Status != conversation.StatusBot {
		return "", nil // a human has it already
	}
	_, tk, err := b.d.Log.Handoff(ctx, b.cfg.Name, id, owner, conversation.HandoffRequest{
		Reason: ReasonNegativeFeedback, Detail: comment, Target: b.target(c)})
	var te *conversation.TransitionError
	if errors.As(err, &te) {
		return "", nil // handed off or resolved meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("bot %q: feedback handoff: %w", b.cfg.Name, err)
	}
	b.m.handoffs.WithLabelValues(b.cfg.Name, ReasonNegativeFeedback).Inc()
	return tk.ID, nil
}

// Resolve ends owner's conversation with the customer's CSAT (1–5, 0 for
// none) and counts it, contained when no human was involved.
func (b *Bot) Resolve(ctx context.Context, id string, owner conversation.Owner, csat int) (*conversation.Conversation, error) {
	c, err := b.d.Log.Resolve(ctx, b.cfg.Name, id, owner, csat)
	if err != nil {
		return nil, fmt.Errorf("bot %q: resolve: %w", b.cfg.Name, err)
	}
	outcome := "contained"
	if c.HandoffReason != "" {
		outcome = "handed_off"
	}
	b.m.resolved.WithLabelValues(b.cfg.Name, outcome).Inc()
	if csat > 0 {
		b.m.csat.WithLabelValues(b.cfg.Name).Observe(float64(csat))
	}
	return c, nil
}

// The handoff targets' names (handoff.Webhook.Name, handoff.Chatwoot.Name).
const (
	targetWebhook  = "webhook"
	targetChatwoot = "chatwoot"
)

// target is where c's handoff goes: back to Chatwoot when it came from
// there and the bot has a Chatwoot target, else the webhook.
func (b *Bot) target(c *conversation.Conversation) string {
	h := b.cfg.Handoff
	if h.Chatwoot != nil && (c.Chatwoot != nil || h.Webhook == nil) {
		return targetChatwoot
	}
	return targetWebhook
}
