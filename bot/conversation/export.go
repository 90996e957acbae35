package conversation

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/infergate/infergate/store"
)

// Format is the shape of an exported record (see export_record.go).
type Format string

const (
	// FormatChat is OpenAI's fine-tuning chat format:
	// {"messages":[{"role":"system",...}?, {"role":"user",...},
	// {"role":"assistant",...}, ...]}.
	FormatChat Format = "chat"
	// FormatPairs is {"prompt": ..., "completion": ...}.
	FormatPairs Format = "pairs"
)

// Valid reports whether f is one of the formats above.
func (f Format) Valid() bool { return f == FormatChat || f == FormatPairs }

// Outcome selects what an exported answer led to.
type Outcome string

const (
	// OutcomeResolved: the conversation's status is resolved, whether or
	// not a human took part.
	OutcomeResolved Outcome = "resolved"
	// OutcomeHandedOff: the conversation was handed to a human (and may
	// since have been resolved).
	OutcomeHandedOff Outcome = "handed_off"
	// OutcomeContained: resolved without a handoff: the bot's own success,
	// the containment the metrics count.
	OutcomeContained Outcome = "contained"
	// OutcomeRatedUp: the answer itself was rated up by the end user. It is
	// a property of the turn, not of the conversation, and only the bot's
	// answers can be rated, so it never selects an agent's message.
	OutcomeRatedUp Outcome = "rated_up"
)

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeResolved, OutcomeHandedOff, OutcomeContained, OutcomeRatedUp:
		return true
	}
	return false
}

// ExportOptions select and shape what Export writes. The zero value
// exports every bot answer of every conversation in FormatChat.
type ExportOptions struct {
	// Format defaults to FormatChat.
	Format Format
	// From and To bound the conversations' creation time, From included,
	// To excluded; zero for no bound. It is the conversation that is dated,
	// not the turn, because that is what the time index orders, and a
	// conversation is exported whole or not at all.
	From, To time.Time
	// Bot exports only that bot's conversations; "" for all.
	Bot string
	// Outcomes must all hold for an answer to be exported ("resolved and
	// rated up"); none for no condition.
	Outcomes []Outcome
	// SystemPrompt, when set, opens every FormatChat record as the system
	// message. It is the operator's text: it is not redacted. FormatPairs
	// has no place for it and ignores it.
	SystemPrompt string
	// IncludeAgent exports a human agent's messages as the assistant's
	// answers, with the conversation before them as their history. Off by
	// default: a model trained on them learns to speak as the help desk,
	// which is a choice for the operator to make (they are often the best
	// answers there are), and their text has not been through the bot's
	// guardrails. Off, agent messages are left out of every record.
	IncludeAgent bool
	// IncludeHandoff exports the turn that handed the conversation off. Off
	// by default, because its answer is the bot's configured handoff
	// message, not a model's answer; it stays in the history of the
	// records after it either way.
	IncludeHandoff bool
	// PairsHistory renders, in FormatPairs, the conversation before the
	// answer into the prompt (see export_record.go); off, the prompt is the
	// user's message alone.
	PairsHistory bool
	// Redact replaces e-mail addresses, phone numbers and card numbers in
	// the users' and the assistant's text (see Redact).
	Redact bool
	// PageSize is how many entries of the time index one read takes
	// (default 256): it bounds how long a read holds its iterator and how
	// many conversations are named in memory at once.
	PageSize int
}

// ExportStats says what Export wrote.
type ExportStats struct {
	// Conversations is how many conversations were read (those of other
	// bots are skipped on the index key alone and not counted); Records
	// how many lines were written.
	Conversations, Records int
	// Redactions counts what was redacted in the messages written, each
	// message once (a message is repeated in the history of the records
	// after it).
	Redactions Redactions
}

const defaultExportPage = 256

// Export writes the log as JSONL to w, one record per exported answer:
// each bot answer (and, as the options say, each agent message or handoff
// message) that the filters select, with the conversation before it as
// its history, so that the export holds one record per turn that answers
// and a model is trained on every answer in context. The record shapes
// are in export_record.go. Conversations come in the order of creation,
// turns in order.
//
// Export streams: it walks the time index PageSize entries at a time,
// without holding an iterator while it writes, and holds one
// conversation's turns in memory at a time, never the log. It takes no
// lock and no snapshot: a conversation that changes during the export is
// exported as one of its reads found it, and one erased meanwhile is
// skipped. On an error the output ends where the error struck, possibly
// within a record, and is to be discarded.
func (l *Log) Export(ctx context.Context, w io.Writer, o ExportOptions) (ExportStats, error) {
	var stats ExportStats
	if err := o.normalise(); err != nil {
		return stats, err
	}
	if w == nil {
		return stats, fmt.Errorf("%w: export needs a writer", ErrInvalid)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // the text is read by people and tokenizers, not embedded in HTML
	e := &exporter{l: l, o: o, enc: enc, stats: &stats}
	err := l.walkTimeIndex(ctx, o, func(r ref) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return e.conversation(ctx, r)
	})
	if err != nil {
		return stats, fmt.Errorf("conversation: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return stats, fmt.Errorf("conversation: export: %w", err)
	}
	return stats, nil
}

func (o *ExportOptions) normalise() error {
	if o.Format == "" {
		o.Format = FormatChat
	}
	if !o.Format.Valid() {
		return fmt.Errorf("%w: export format %q", ErrInvalid, o.Format)
	}
	for _, oc := range o.Outcomes {
		if !oc.Valid() {
			return fmt.Errorf("%w: export outcome %q", ErrInvalid, oc)
		}
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return fmt.Errorf("%w: export range from %v to %v is empty", ErrInvalid, o.From, o.To)
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultExportPage
	}
	return nil
}

// walkTimeIndex calls fn for each conversation of o.Bot (all bots for "")
// created in [o.From, o.To), oldest first. It reads the index a page at a
// time and calls fn only after the page's iterator is closed, so that a
// slow writer holds no iterator (and so no Pebble version) open.
func (l *Log) walkTimeIndex(ctx context.Context, o ExportOptions, fn func(ref) error) error {
	r := store.ConversationTimeRange(o.From, o.To)
	var after []byte
	for {
		var (
			page []ref
			seen int
			last []byte
		)
		err := l.st.Walk(ctx, r, after, o.PageSize, func(k, _ []byte) error {
			seen++
			last = append(last[:0], k...) // k is the iterator's, valid during this call only
			_, bot, id, err := store.ParseConversationTimeKey(k)
			if err != nil {
				return fmt.Errorf("%w: time index: %w", ErrCorrupt, err)
			}
			if o.Bot == "" || bot == o.Bot {
				page = append(page, ref{bot, id})
			}
			return nil
		})
		if err != nil {
			return err
		}
		after = last
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if seen < o.PageSize {
			return nil
		}
	}
}

// exporter writes the records of one export.
type exporter struct {
	l     *Log
	o     ExportOptions
	enc   *json.Encoder
	stats *ExportStats
}

// conversation writes the records of one conversation.
func (e *exporter) conversation(ctx context.Context, r ref) error {
	c, err := e.l.load(ctx, r.bot, r.id)
	if errors.Is(err, ErrNotFound) {
		return nil // erased since the index was read
	}
	if err != nil {
		return err
	}
	e.stats.Conversations++
	if !e.conversationOutcome(c) {
		return nil
	}
	turns, err := e.l.turns(ctx, c.Bot, c.ID)
	if err != nil {
		return err
	}
	var h history
	for i := range turns {
		t := &turns[i]
		if t.Role == RoleAgent && !e.o.IncludeAgent {
			continue
		}
		h.add(roleUser, t.User)
		if t.Answer == "" {
			continue // a message nobody answered: history, not a record
		}
		h.add(roleAssistant, t.Answer)
		if !e.exports(t) {
			continue
		}
		h.prepare(e.text)
		rec, ok := h.record(e.o)
		if !ok {
			continue
		}
		if err := e.enc.Encode(rec); err != nil {
			return fmt.Errorf("write record of %q turn %d: %w", c.ID, t.N, err)
		}
		e.stats.Records++
	}
	return nil
}

// conversationOutcome checks the outcomes that are the conversation's, so
// that a conversation they exclude is not read further.
func (e *exporter) conversationOutcome(c *Conversation) bool {
	handedOff := !c.HandedOffAt.IsZero() || c.HandoffTicket != ""
	for _, oc := range e.o.Outcomes {
		switch oc {
		case OutcomeResolved:
			if c.Status != StatusResolved {
				return false
			}
		case OutcomeHandedOff:
			if !handedOff {
				return false
			}
		case OutcomeContained:
			if c.Status != StatusResolved || handedOff {
				return false
			}
		}
	}
	return true
}

// exports reports whether answer turn t makes a record: its role is one
// the options export, and the outcomes that are the turn's hold.
func (e *exporter) exports(t *Turn) bool {
	switch {
	case t.Role == RoleAgent && !e.o.IncludeAgent, t.Handoff && !e.o.IncludeHandoff:
		return false
	case slices.Contains(e.o.Outcomes, OutcomeRatedUp):
		return t.Feedback != nil && t.Feedback.Rating == RatingUp
	}
	return true
}

// text is s as exported: redacted when the options say so, and counted.
func (e *exporter) text(s string) string {
	if !e.o.Redact || s == "" {
		return s
	}
	out, n := Redact(s)
	e.stats.Redactions.add(n)
	return out
}
