package conversation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/store"
)

// eraseBatch is how many conversations one Write deletes: erasure and
// retention run beside live traffic, so each write (and the locks it
// holds) stays small.
const eraseBatch = 64

// EraseUser deletes everything of one end user of bot: their
// conversations, turns, index entries and handoff tickets (delivered or
// not), in batches, and returns how many conversations it deleted. It is
// for operators (a data-subject request), so it is bound to no owner.
// Anonymous conversations have no user id; they go by retention.
func (l *Log) EraseUser(ctx context.Context, bot, user string) (int, error) {
	if user == "" {
		return 0, fmt.Errorf("%w: EraseUser needs a user id", ErrInvalid)
	}
	n, err := l.deleteIndexed(ctx, store.PrefixRange(store.UserConversationsPrefix(bot, user)), func(k []byte) (ref, error) {
		_, _, id, err := store.ParseConversationUserKey(k)
		return ref{bot, id}, err
	})
	if err != nil {
		return n, fmt.Errorf("conversation: erase user: %w", err)
	}
	return n, nil
}

// Purge deletes the conversations created before now minus retention, in
// batches, with everything that belongs to them, and returns how many it
// deleted. Retention counts from a conversation's creation.
func (l *Log) Purge(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("%w: retention %v", ErrInvalid, retention)
	}
	cutoff := l.now().Add(-retention)
	n, err := l.deleteIndexed(ctx, store.ConversationTimeRange(time.Time{}, cutoff), func(k []byte) (ref, error) {
		_, bot, id, err := store.ParseConversationTimeKey(k)
		return ref{bot, id}, err
	})
	if err != nil {
		return n, fmt.Errorf("conversation: purge: %w", err)
	}
	return n, nil
}

// deleteIndexed deletes, eraseBatch at a time, every conversation that an
// index entry in r names (parse reads the entry's key), until r is empty,
// and returns how many it deleted.
func (l *Log) deleteIndexed(ctx context.Context, r store.Range, parse func(key []byte) (ref, error)) (int, error) {
	total := 0
	for {
		var (
			refs []ref
			idx  [][]byte
		)
		err := l.st.Walk(ctx, r, nil, eraseBatch, func(k, _ []byte) error {
			c, err := parse(k)
			refs, idx = append(refs, c), append(idx, bytes.Clone(k))
			return err
		})
		if err != nil {
			return total, err
		}
		if len(refs) == 0 {
			return total, nil
		}
		n, err := l.deleteAll(ctx, refs, idx)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// RunPurge purges at once and then every interval until ctx is done, when
// it returns nil: the server's retention loop. A failed purge is logged
// and tried again at the next tick.
func (l *Log) RunPurge(ctx context.Context, retention, interval time.Duration) error {
	if retention <= 0 || interval <= 0 {
		return fmt.Errorf("%w: retention %v, interval %v", ErrInvalid, retention, interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := l.Purge(ctx, retention)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.o.Logger.LogAttrs(ctx, slog.LevelError, "conversation: purge failed", slog.Int("deleted", n), slog.String("error", err.Error()))
		case n > 0:
			l.o.Logger.LogAttrs(ctx, slog.LevelInfo, "conversation: purged", slog.Int("deleted", n), slog.Duration("retention", retention))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// deleteAll deletes the conversations in one Write, with the index
// entries idx that led to them (deleted even when the conversation is
// already gone, so a scan never finds them again), holding their locks so
// that no turn is appended to a conversation being deleted. It returns how
// many conversation records it deleted.
func (l *Log) deleteAll(ctx context.Context, refs []ref, idx [][]byte) (int, error) {
	defer l.lock(refs...)()
	var w store.Write
	for _, k := range idx {
		w.Delete(k)
	}
	n := 0
	for _, r := range refs {
		c, err := l.load(ctx, r.bot, r.id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // a dangling index entry: only its key goes
		case errors.Is(err, ErrCorrupt):
			l.o.Logger.LogAttrs(ctx, slog.LevelWarn, "conversation: deleting an undecodable record", slog.String("bot", r.bot), slog.String("conversation", r.id))
			c = nil
		case err != nil:
			return 0, err
		}
		for _, rg := range store.ConversationRanges(r.bot, r.id) {
			w.DeleteRange(rg)
		}
		n++
		if c == nil {
			continue
		}
		w.Delete(store.ConversationTimeKey(c.CreatedAt, c.Bot, c.ID))
		if c.UserID != "" {
			w.Delete(store.ConversationUserKey(c.Bot, c.UserID, c.ID))
		}
		if c.HandoffTicket != "" {
			if err := handoff.Erase(ctx, l.st, &w, c.HandoffTicket); err != nil {
				return 0, err
			}
		}
	}
	if err := l.st.Apply(ctx, &w); err != nil {
		return 0, err
	}
	return n, nil
}
