package bot

import (
	"errors"
	"testing"

	"github.com/infergate/infergate/index"
	"gopkg.in/yaml.v3"
)

func TestConfigYAML(t *testing.T) {
	src := `
name: acme
collection: acme
model: stories260K
system_prompt: "You are Acme's support assistant."
retrieval: {k: 4, mode: hybrid, min_score: 0.3, filter: {category: billing, tags: {any: [eu]}}}
identity: {hmac_secret_env: ACME_IDENTITY_SECRET, allow_anonymous: true}
handoff:
  webhook: {url: "https://helpdesk.example/hooks/infergate", secret_env: ACME_WEBHOOK_SECRET}
  chatwoot: {base_url: "https://chat.example", account_id: 1, token_env: CHATWOOT_BOT_TOKEN}
escalation: {on_unanswerable: handoff, max_unresolved_turns: 3, sensitive_topics: [lawyer]}
`
	var c Config
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Retrieval.K != 4 || c.Retrieval.MinScore != 0.3 || c.Retrieval.Filter == nil || c.Retrieval.Filter.Category[0] != "billing" ||
		c.Retrieval.Filter.TagsAny[0] != "eu" || c.Identity.HMACSecretEnv != "ACME_IDENTITY_SECRET" || c.Handoff.Chatwoot.AccountID != 1 ||
		c.Escalation.OnUnanswerable != OnUnanswerableHandoff || len(c.Escalation.Phrases) != len(DefaultHandoffPhrases) ||
		c.Greeting != DefaultGreeting || !*c.Answerability.ExactMatch {
		t.Fatalf("%+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		field string
		edit  func(*Config)
	}{
		{"bad name", "name", func(c *Config) { c.Name = "Acme Bot" }},
		{"no model", "model", func(c *Config) { c.Model = " " }},
		{"k", "retrieval.k", func(c *Config) { c.Retrieval.K = index.MaxK + 1 }},
		{"mode", "retrieval.mode", func(c *Config) { c.Retrieval.Mode = "fuzzy" }},
		{"similarity", "answerability.min_similarity", func(c *Config) { c.Answerability.MinSimilarity = 1.5 }},
		{"policy", "escalation.on_unanswerable", func(c *Config) { c.Escalation.OnUnanswerable = "guess" }},
		{"no target", "handoff", func(c *Config) { c.Handoff = HandoffConfig{} }},
		{"webhook url", "handoff.webhook.url", func(c *Config) { c.Handoff.Webhook.URL = "helpdesk/hooks" }},
		{"no identity", "identity", func(c *Config) { c.Identity = IdentityConfig{} }},
		{"empty phrase", "escalation", func(c *Config) { c.Escalation.Phrases = []string{"  ?"} }},
		{"leak chars", "guardrails.leak_chars", func(c *Config) { c.Guardrails.LeakChars = 3 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			err := c.WithDefaults().Validate()
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("Validate = %v, want a *ConfigError on %s", err, tt.field)
			}
		})
	}
	if err := testConfig().WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
}
