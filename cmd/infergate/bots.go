package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/infergate/infergate/bot"
	"github.com/infergate/infergate/bot/conversation"
	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/bot/identity"
	"github.com/infergate/infergate/gateway"
	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/store"
)

// openedBots are the support bots of the --config file's bots: list and
// what runs under them: one conversation log on the shared store and one
// handoff deliverer draining its outbox.
type openedBots struct {
	bots      map[string]gateway.Bot
	convs     *conversation.Log
	deliverer *handoff.Deliverer
	// retention, when positive, runs the log's purge hourly.
	retention  time.Duration
	collectors []prometheus.Collector
	log        *slog.Logger
}

// openBots builds every configured bot over the knowledge base, the
// served chat models and the store. Secrets are read from the environment
// variables the config names; a missing one is an error here, at start,
// rather than a refused handoff or identity later.
func openBots(cfgs []bot.Config, st *store.Store, kb *index.KB, served []gateway.Model, getenv func(string) string, log *slog.Logger) (*openedBots, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	if st == nil || kb == nil {
		return nil, errors.New("config bots: the support bots need the knowledge base and the store: set --data-dir")
	}
	secret := func(i int, field, env string) ([]byte, error) {
		if env == "" {
			return nil, nil
		}
		v := getenv(env)
		if v == "" {
			return nil, fmt.Errorf("config bots[%d] (%s): %s: the environment variable $%s is not set", i, cfgs[i].Name, field, env)
		}
		return []byte(v), nil
	}
	webhooks := &botTargets{name: "webhook", byBot: map[string]handoff.Target{}}
	chatwoots := &botTargets{name: "chatwoot", byBot: map[string]handoff.Target{}}
	type pending struct {
		cfg bot.Config
		v   *identity.Verifier
		gen llm.Generator
		tok bot.Tokenizer
	}
	var ps []pending
	for i, cfg := range cfgs {
		cfg = cfg.WithDefaults()
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("config bots[%d]: %w", i, err)
		}
		if webhooks.byBot[cfg.Name] != nil || chatwoots.byBot[cfg.Name] != nil {
			return nil, fmt.Errorf("config bots[%d]: the name %q is used twice", i, cfg.Name)
		}
		gen, tok, err := botModel(cfg.Model, served)
		if err != nil {
			return nil, fmt.Errorf("config bots[%d] (%s): %w", i, cfg.Name, err)
		}
		var ic identity.Config
		if ic.HMACSecret, err = secret(i, "identity.hmac_secret_env", cfg.Identity.HMACSecretEnv); err != nil {
			return nil, err
		}
		if ic.JWTSecret, err = secret(i, "identity.jwt_secret_env", cfg.Identity.JWTSecretEnv); err != nil {
			return nil, err
		}
		ic.AllowAnonymous = cfg.Identity.AllowAnonymous
		v, err := identity.NewVerifier(ic)
		if err != nil {
			return nil, fmt.Errorf("config bots[%d] (%s): %w", i, cfg.Name, err)
		}
		if w := cfg.Handoff.Webhook; w != nil {
			key, err := secret(i, "handoff.webhook.secret_env", w.SecretEnv)
			if err != nil {
				return nil, err
			}
			t, err := handoff.NewWebhook(handoff.WebhookConfig{URL: w.URL, Secret: key, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("config bots[%d] (%s): handoff.webhook: %w", i, cfg.Name, err)
			}
			webhooks.byBot[cfg.Name] = t
		}
		if cw := cfg.Handoff.Chatwoot; cw != nil {
			token, err := secret(i, "handoff.chatwoot.token_env", cw.TokenEnv)
			if err != nil {
				return nil, err
			}
			client, err := handoff.NewChatwootClient(handoff.ChatwootConfig{BaseURL: cw.BaseURL, Token: string(token)})
			if err != nil {
				return nil, fmt.Errorf("config bots[%d] (%s): handoff.chatwoot: %w", i, cfg.Name, err)
			}
			t, err := handoff.NewChatwoot(handoff.ChatwootTargetConfig{Client: client, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("config bots[%d] (%s): handoff.chatwoot: %w", i, cfg.Name, err)
			}
			chatwoots.byBot[cfg.Name] = t
		}
		ps = append(ps, pending{cfg, v, gen, tok})
	}
	d, err := handoff.NewDeliverer(st, handoff.Options{Targets: []handoff.Target{webhooks, chatwoots}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("config bots: handoff deliverer: %w", err)
	}
	convs := conversation.New(st, conversation.Options{Notifier: d, Logger: log})
	metrics := bot.NewMetrics()
	ob := &openedBots{bots: map[string]gateway.Bot{}, convs: convs, deliverer: d, collectors: []prometheus.Collector{metrics, d.Collector()}, log: log}
	for _, p := range ps {
		b, err := bot.New(p.cfg, bot.Deps{Retriever: kb, Generator: p.gen, Tokenizer: p.tok, Log: convs, Metrics: metrics, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("config bots (%s): %w", p.cfg.Name, err)
		}
		ob.bots[p.cfg.Name] = &servedBot{Bot: b, v: p.v, log: convs}
		log.Info("bot ready", "bot", p.cfg.Name, "collection", p.cfg.Collection, "model", p.cfg.Model,
			"webhook", p.cfg.Handoff.Webhook != nil, "chatwoot", p.cfg.Handoff.Chatwoot != nil, "anonymous", p.cfg.Identity.AllowAnonymous)
	}
	return ob, nil
}

// purgeInterval is how often retention deletes expired conversations:
// retention is counted in days, so an hour late is no matter.
const purgeInterval = time.Hour

// start runs the deliverer until the returned stop is called, which waits
// for it: deferred after the store's close, stop runs before it.
func (ob *openedBots) start(ctx context.Context) (stop func()) {
	// Not cancelled with the signal: handoffs made while the server
	// drains are still delivered, until stop.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ob.deliverer.Run(ctx); err != nil {
			ob.log.Error("handoff deliverer stopped", "error", err.Error())
		}
	}()
	if ob.retention > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ob.convs.RunPurge(ctx, ob.retention, purgeInterval); err != nil {
				ob.log.Error("conversation retention stopped", "error", err.Error())
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// botModel finds the generator of a bot's model among the served chat
// models, and what fits its prompts: the local model's own tokenizer, or,
// for a cloud-only model, an estimate.
func botModel(id string, served []gateway.Model) (llm.Generator, bot.Tokenizer, error) {
	for _, m := range served {
		if m.ID != id {
			continue
		}
		switch g := m.Generator.(type) {
		case gateway.Local:
			return g.B, g.B, nil
		case gateway.RouterGenerator:
			if g.Local != nil {
				return g.R, g.Local, nil
			}
			return g.R, estimateTokenizer{seqCtx: cloudContextTokens}, nil
		}
		return nil, nil, fmt.Errorf("model %q is not a chat model", id)
	}
	return nil, nil, fmt.Errorf("model %q is not served (neither a --chat-model nor a model of an upstream)", id)
}

// servedBot is a bot with its identity verifier, as the gateway serves it.
type servedBot struct {
	*bot.Bot
	v   *identity.Verifier
	log *conversation.Log
}

var _ gateway.Bot = (*servedBot)(nil)

func (b *servedBot) Verify(c identity.Credentials) (identity.User, error) { return b.v.Verify(c) }

func (b *servedBot) Transcript(ctx context.Context, id string, owner conversation.Owner) (*conversation.Conversation, []conversation.Turn, error) {
	return b.log.Get(ctx, b.Config().Name, id, owner)
}

// botTargets is one handoff target kind ("webhook", "chatwoot") for all
// bots: the deliverer knows a target by its name only, while each bot has
// its own receiver and secret, chosen here by the ticket's bot.
type botTargets struct {
	name  string
	byBot map[string]handoff.Target
}

func (t *botTargets) Name() string { return t.name }

// Deliver implements handoff.Target. A ticket of a bot without this target
// (removed from the config since) is retried until its give-up time, so
// that restoring the config delivers it.
func (t *botTargets) Deliver(ctx context.Context, tk handoff.Ticket) error {
	target, ok := t.byBot[tk.Bot]
	if !ok {
		return &handoff.DeliveryError{Target: t.name, Err: fmt.Errorf("bot %q: %w", tk.Bot, handoff.ErrUnknownTarget)}
	}
	return target.Deliver(ctx, tk)
}
