package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

// Notifier is told when a handoff ticket was committed, so that the
// deliverer sends it at once (*handoff.Deliverer satisfies it).
type Notifier interface{ Notify() }

// Options configure a Log. Zero fields take defaults.
type Options struct {
	// Notifier is woken after each committed handoff; nil for none.
	Notifier Notifier
	// Now is the clock (default time.Now); tests of retention set it.
	Now    func() time.Time
	Logger *slog.Logger
}

// lockStripes is the number of per-conversation mutexes: enough that
// unrelated conversations rarely share one.
const lockStripes = 256

// Log is the conversation log. It is safe for concurrent use: changes to
// one conversation (a read of its record, then one Write) are serialised by
// a striped lock, so turn numbers have no gaps or duplicates. The lock is
// this process's: one Log per store.
type Log struct {
	st    Store
	o     Options
	seed  maphash.Seed
	locks [lockStripes]sync.Mutex
}

// New returns the log over st.
func New(st Store, o Options) *Log {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Log{st: st, o: o, seed: maphash.MakeSeed()}
}

func (l *Log) now() time.Time { return l.o.Now().UTC() }

func (l *Log) stripe(bot, id string) int {
	var h maphash.Hash
	h.SetSeed(l.seed)
	_, _ = h.WriteString(bot)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(id)
	return int(h.Sum64() % lockStripes)
}

// ref names a conversation.
type ref struct{ bot, id string }

// lock takes the locks of the given conversations, in stripe order so that
// two callers locking overlapping sets cannot deadlock, and returns the
// unlock.
func (l *Log) lock(refs ...ref) func() {
	stripes := make([]int, 0, len(refs))
	for _, r := range refs {
		stripes = append(stripes, l.stripe(r.bot, r.id))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, s := range stripes {
		l.locks[s].Lock()
	}
	return func() {
		for _, s := range slices.Backward(stripes) {
			l.locks[s].Unlock()
		}
	}
}

// lockOne is lock for one conversation.
func (l *Log) lockOne(bot, id string) func() { return l.lock(ref{bot, id}) }

func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// New conversation's settings.
type CreateOptions struct {
	Chatwoot *handoff.ChatwootRef
	Arm      string
}

// Create starts a conversation of bot for owner. For an anonymous owner
// (no UserID) it draws the conversation's secret and returns it: the client
// must present it as Owner.Secret from then on; only its hash is stored.
func (l *Log) Create(ctx context.Context, bot string, owner Owner, co CreateOptions) (*Conversation, string, error) {
	if bot == "" {
		return nil, "", fmt.Errorf("%w: a conversation needs a bot", ErrInvalid)
	}
	now := l.now()
	c := &Conversation{ID: newID("c_"), Bot: bot, Status: StatusBot, CreatedAt: now, UpdatedAt: now,
		Chatwoot: co.Chatwoot, Arm: co.Arm}
	var secret string
	if owner.UserID != "" {
		c.UserID, c.UserVerified = owner.UserID, owner.Verified
	} else {
		secret = newID("")
		c.SecretHash = hashSecret(secret)
	}
	b, err := encode(c)
	if err != nil {
		return nil, "", err
	}
	var w store.Write
	w.Set(store.ConversationKey(bot, c.ID), b)
	w.Set(store.ConversationTimeKey(c.CreatedAt, bot, c.ID), []byte{})
	if c.UserID != "" {
		w.Set(store.ConversationUserKey(bot, c.UserID, c.ID), []byte{})
	}
	if err := l.st.Apply(ctx, &w); err != nil {
		return nil, "", fmt.Errorf("conversation: create: %w", err)
	}
	return c, secret, nil
}

// load reads a conversation's record, unbound to any owner.
func (l *Log) load(ctx context.Context, bot, id string) (*Conversation, error) {
	b, err := l.st.Get(ctx, store.ConversationKey(bot, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("conversation: get %q: %w", id, err)
	}
	c, err := decodeConversation(b)
	if err != nil {
		return nil, fmt.Errorf("conversation: get %q: %w", id, err)
	}
	return c, nil
}

// loadOwned is load bound to the owner: another owner's conversation is
// ErrNotFound.
func (l *Log) loadOwned(ctx context.Context, bot, id string, owner Owner) (*Conversation, error) {
	c, err := l.load(ctx, bot, id)
	if err != nil {
		return nil, err
	}
	if !owner.owns(c) {
		return nil, ErrNotFound
	}
	return c, nil
}

// turns reads a conversation's turns, oldest first.
func (l *Log) turns(ctx context.Context, bot, id string) ([]Turn, error) {
	var out []Turn
	err := l.st.Walk(ctx, store.PrefixRange(store.TurnsPrefix(bot, id)), nil, 0, func(_, v []byte) error {
		t, err := decodeTurn(v)
		if err != nil {
			return err
		}
		out = append(out, *t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversation: turns of %q: %w", id, err)
	}
	return out, nil
}

// Get returns owner's conversation and its turns, oldest first.
func (l *Log) Get(ctx context.Context, bot, id string, owner Owner) (*Conversation, []Turn, error) {
	c, err := l.loadOwned(ctx, bot, id, owner)
	if err != nil {
		return nil, nil, err
	}
	turns, err := l.turns(ctx, bot, id)
	if err != nil {
		return nil, nil, err
	}
	return c, turns, nil
}

// Read returns a conversation and its turns for an operator or a help
// desk: bound to no end user, which the gateway's admin routes
// authenticate instead.
func (l *Log) Read(ctx context.Context, bot, id string) (*Conversation, []Turn, error) {
	c, err := l.load(ctx, bot, id)
	if err != nil {
		return nil, nil, err
	}
	turns, err := l.turns(ctx, bot, id)
	if err != nil {
		return nil, nil, err
	}
	return c, turns, nil
}

// List returns up to limit of bot's conversations in id order, after the
// id after ("" from the start), and the cursor of the next page ("" at
// the end). It is for operators: it is bound to no end user.
func (l *Log) List(ctx context.Context, bot, after string, limit int) ([]Conversation, string, error) {
	if limit <= 0 {
		limit = 100
	}
	var from []byte
	if after != "" {
		from = store.ConversationKey(bot, after)
	}
	var out []Conversation
	err := l.st.Walk(ctx, store.PrefixRange(store.ConversationsPrefix(bot)), from, limit+1, func(_, v []byte) error {
		c, err := decodeConversation(v)
		if err != nil {
			return err
		}
		out = append(out, *c)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("conversation: list %q: %w", bot, err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}
