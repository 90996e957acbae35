package bot

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/infergate/infergate/index"
	"gopkg.in/yaml.v3"
)

// Config is one bot, as an entry of the --config YAML's bots: list. The
// YAML names of issue 13's example (name, collection, model,
// system_prompt, retrieval, identity, handoff) are fixed: operators' files
// must keep working; the rest may grow. Zero fields take the defaults
// below (WithDefaults).
type Config struct {
	Name       string `yaml:"name"`
	Collection string `yaml:"collection"`
	// Model is the chat model (or cloud-only model id) that answers.
	Model string `yaml:"model"`
	// Persona is who the bot is ("Acme's support assistant"); it opens the
	// system message before SystemPrompt.
	Persona      string `yaml:"persona"`
	SystemPrompt string `yaml:"system_prompt"`
	Scope        Scope  `yaml:"scope"`
	// Greeting is the bot's first message of a conversation.
	Greeting string `yaml:"greeting"`
	// HandoffMessage is what the customer reads when a human takes over.
	HandoffMessage string `yaml:"handoff_message"`
	// UnanswerableMessage is the reply when the answerability gate stops a
	// question in "offer" mode: it says the bot does not know and offers a
	// person.
	UnanswerableMessage string `yaml:"unanswerable_message"`
	// RefusalMessage replaces an answer the output check refuses (one that
	// repeats the hidden instructions).
	RefusalMessage string `yaml:"refusal_message"`

	Retrieval     RetrievalConfig     `yaml:"retrieval"`
	Answerability AnswerabilityConfig `yaml:"answerability"`
	Escalation    EscalationConfig    `yaml:"escalation"`
	Generation    GenerationConfig    `yaml:"generation"`
	Guardrails    GuardrailsConfig    `yaml:"guardrails"`
	Identity      IdentityConfig      `yaml:"identity"`
	Handoff       HandoffConfig       `yaml:"handoff"`
}

// Scope says what the bot answers and what it declines; both go into the
// system message.
type Scope struct {
	Answers  string `yaml:"answers"`
	Declines string `yaml:"declines"`
}

// RetrievalConfig is the knowledge-base search of each turn.
type RetrievalConfig struct {
	K    int        `yaml:"k"`
	Mode index.Mode `yaml:"mode"`
	// MinScore drops passages from the prompt. Its scale is the vector
	// similarity (cosine) in hybrid and vector mode, because a fused score
	// is a sum of reciprocal ranks (never above 3/61) that says how a
	// passage ranked, not how well it matches; in lexical mode it is BM25.
	// A passage that holds an identifier of the question verbatim
	// (index.Hit.ExactRank) is kept whatever its similarity.
	MinScore float64 `yaml:"min_score"`
	Filter   *Filter `yaml:"filter"`
}

// Filter is an index.Filter written in YAML with the syntax of the search
// API's JSON filter ({category, tags: {any, all}, updated: {after,
// before}, <free key>: value}), parsed by the index itself.
type Filter struct{ index.Filter }

// UnmarshalYAML implements yaml.Unmarshaler.
func (f *Filter) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	return f.Filter.UnmarshalJSON(b)
}

// AnswerabilityConfig holds the thresholds of the answerability gate (see
// gate.go): below them the bot does not generate.
type AnswerabilityConfig struct {
	// MinSimilarity is the best passage's vector similarity needed to
	// answer.
	MinSimilarity float64 `yaml:"min_similarity"`
	// MinFused is the best fused (RRF) score needed as well; 0: no bound.
	MinFused float64 `yaml:"min_fused"`
	// MinLexical is the best BM25 score that passes in lexical mode, where
	// there is no similarity.
	MinLexical float64 `yaml:"min_lexical"`
	// ExactMatch lets a passage holding an identifier of the question
	// verbatim (an error code, a command) pass without the similarity;
	// nil: true.
	ExactMatch *bool `yaml:"exact_match"`
}

// Unanswerable policies: what the gate does with a question it stops.
const (
	OnUnanswerableOffer   = "offer"   // reply UnanswerableMessage; the customer may ask for a person
	OnUnanswerableHandoff = "handoff" // hand off at once
)

// EscalationConfig says when the bot hands the conversation to a human.
type EscalationConfig struct {
	// Phrases ask for a person; matched case- and accent-insensitively on
	// word boundaries. nil: DefaultHandoffPhrases (English, Spanish,
	// French, German, Portuguese, Italian); a list replaces them.
	Phrases []string `yaml:"phrases"`
	// MaxUnresolvedTurns hands off before answering once this many bot
	// turns since the last positive rating went unanswered or were rated
	// down; 0: never.
	MaxUnresolvedTurns int `yaml:"max_unresolved_turns"`
	// OnNegativeFeedback hands off when the customer rates an answer down.
	OnNegativeFeedback bool `yaml:"on_negative_feedback"`
	// SensitiveTopics are phrases (matched as Phrases are) that go to a
	// human without an answer: "refund", "lawyer", "chargeback".
	SensitiveTopics []string `yaml:"sensitive_topics"`
	// OnUnanswerable is OnUnanswerableOffer (default) or
	// OnUnanswerableHandoff.
	OnUnanswerable string `yaml:"on_unanswerable"`
}

// GenerationConfig bounds the model's answer.
type GenerationConfig struct {
	MaxTokens   int     `yaml:"max_tokens"`
	Temperature float32 `yaml:"temperature"`
}

// GuardrailsConfig tunes the output check (guard.go).
type GuardrailsConfig struct {
	// LeakChars is the shortest verbatim span of the hidden instructions
	// (whitespace and case folded) that counts as a leak; the stream holds
	// back LeakChars-1 characters to check before releasing them.
	LeakChars int `yaml:"leak_chars"`
}

// IdentityConfig names where the bot's identity secrets are
// (bot/identity verifies the tokens; the gateway wires it).
type IdentityConfig struct {
	HMACSecretEnv  string `yaml:"hmac_secret_env"`
	JWTSecretEnv   string `yaml:"jwt_secret_env"`
	AllowAnonymous bool   `yaml:"allow_anonymous"`
}

// HandoffConfig names the help desks that receive the bot's handoffs.
type HandoffConfig struct {
	Webhook  *WebhookConfig  `yaml:"webhook"`
	Chatwoot *ChatwootConfig `yaml:"chatwoot"`
}

// WebhookConfig is the generic webhook target (handoff.Webhook).
type WebhookConfig struct {
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
}

// ChatwootConfig is the Chatwoot target (handoff.Chatwoot).
type ChatwootConfig struct {
	BaseURL   string `yaml:"base_url"`
	AccountID int64  `yaml:"account_id"`
	TokenEnv  string `yaml:"token_env"`
}

// Defaults for zero Config fields.
const (
	DefaultK                   = 4
	DefaultMinScore            = 0.25
	DefaultMinSimilarity       = 0.4
	DefaultMaxTokens           = 256
	DefaultLeakChars           = 40
	DefaultGreeting            = "Hi! How can I help you today?"
	DefaultHandoffMessage      = "I'm passing you to a member of our team; they will reply here."
	DefaultUnanswerableMessage = "I couldn't find the answer in our documentation. Would you like to talk to a person?"
	DefaultRefusalMessage      = "Sorry, I can't help with that."
)

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	c.Retrieval.K = cmp.Or(c.Retrieval.K, DefaultK)
	c.Retrieval.Mode = cmp.Or(c.Retrieval.Mode, index.ModeHybrid)
	c.Retrieval.MinScore = cmp.Or(c.Retrieval.MinScore, DefaultMinScore)
	c.Answerability.MinSimilarity = cmp.Or(c.Answerability.MinSimilarity, DefaultMinSimilarity)
	if c.Answerability.ExactMatch == nil {
		t := true
		c.Answerability.ExactMatch = &t
	}
	if c.Escalation.Phrases == nil {
		c.Escalation.Phrases = slices.Clone(DefaultHandoffPhrases)
	}
	c.Escalation.OnUnanswerable = cmp.Or(c.Escalation.OnUnanswerable, OnUnanswerableOffer)
	c.Generation.MaxTokens = cmp.Or(c.Generation.MaxTokens, DefaultMaxTokens)
	c.Guardrails.LeakChars = cmp.Or(c.Guardrails.LeakChars, DefaultLeakChars)
	c.Greeting = cmp.Or(c.Greeting, DefaultGreeting)
	c.HandoffMessage = cmp.Or(c.HandoffMessage, DefaultHandoffMessage)
	c.UnanswerableMessage = cmp.Or(c.UnanswerableMessage, DefaultUnanswerableMessage)
	c.RefusalMessage = cmp.Or(c.RefusalMessage, DefaultRefusalMessage)
	return c
}

// Validate checks a config after WithDefaults; its errors are
// *ConfigError (ErrConfig).
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Bot: c.Name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	r, a := c.Retrieval, c.Answerability
	switch {
	case !index.ValidName(c.Name):
		return bad("name", "%q is not a valid name: 1 to 64 of a-z, 0-9, _ and -", c.Name)
	case !index.ValidName(c.Collection):
		return bad("collection", "%q is not a valid collection name", c.Collection)
	case strings.TrimSpace(c.Model) == "":
		return bad("model", "a bot needs a model")
	case r.K < 1 || r.K > index.MaxK:
		return bad("retrieval.k", "%d is outside [1, %d]", r.K, index.MaxK)
	case r.Mode != index.ModeHybrid && r.Mode != index.ModeVector && r.Mode != index.ModeLexical:
		return bad("retrieval.mode", "%q is not one of hybrid, vector, lexical", r.Mode)
	case r.MinScore < 0 || (r.Mode != index.ModeLexical && r.MinScore > 1):
		return bad("retrieval.min_score", "%v is outside [0, 1] (a similarity)", r.MinScore)
	case a.MinSimilarity < 0 || a.MinSimilarity > 1:
		return bad("answerability.min_similarity", "%v is outside [0, 1]", a.MinSimilarity)
	case a.MinFused < 0 || a.MinLexical < 0:
		return bad("answerability", "thresholds cannot be negative")
	case c.Escalation.OnUnanswerable != OnUnanswerableOffer && c.Escalation.OnUnanswerable != OnUnanswerableHandoff:
		return bad("escalation.on_unanswerable", "%q is not offer or handoff", c.Escalation.OnUnanswerable)
	case c.Escalation.MaxUnresolvedTurns < 0:
		return bad("escalation.max_unresolved_turns", "%d is negative", c.Escalation.MaxUnresolvedTurns)
	case c.Generation.MaxTokens < 1:
		return bad("generation.max_tokens", "%d is not positive", c.Generation.MaxTokens)
	case c.Generation.Temperature < 0 || c.Generation.Temperature > 2:
		return bad("generation.temperature", "%v is outside [0, 2]", c.Generation.Temperature)
	case c.Guardrails.LeakChars < 8:
		return bad("guardrails.leak_chars", "%d is below 8: every short phrase would count as a leak", c.Guardrails.LeakChars)
	case c.Handoff.Webhook == nil && c.Handoff.Chatwoot == nil:
		return bad("handoff", "a bot needs a handoff target (webhook or chatwoot)")
	case !c.Identity.AllowAnonymous && c.Identity.HMACSecretEnv == "" && c.Identity.JWTSecretEnv == "":
		return bad("identity", "set hmac_secret_env, jwt_secret_env or allow_anonymous")
	}
	for i, p := range slices.Concat(c.Escalation.Phrases, c.Escalation.SensitiveTopics) {
		if fold(p) == "" {
			return bad("escalation", "phrase %d is empty", i)
		}
	}
	if w := c.Handoff.Webhook; w != nil {
		if err := checkURL(w.URL); err != nil {
			return bad("handoff.webhook.url", "%v", err)
		}
		if w.SecretEnv == "" {
			return bad("handoff.webhook.secret_env", "a webhook is signed: name the secret's environment variable")
		}
	}
	if cw := c.Handoff.Chatwoot; cw != nil {
		if err := checkURL(cw.BaseURL); err != nil {
			return bad("handoff.chatwoot.base_url", "%v", err)
		}
		if cw.AccountID <= 0 || cw.TokenEnv == "" {
			return bad("handoff.chatwoot", "account_id and token_env are required")
		}
	}
	return nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}
