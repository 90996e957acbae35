// Package conversation is the support bot's conversation log: every
// conversation and every turn of it, in the store (kind 0x20, see
// store/doc.go), for the transcript the customer and the agent see, for
// quality review and compliance, and for export as fine-tuning data.
//
// A Conversation record holds who it belongs to, its status and its
// counters; each Turn is a record of its own under the conversation, so an
// append writes one small record. Values are versioned JSON.
//
// Export writes the log as fine-tuning data (OpenAI's chat JSONL or
// prompt/completion pairs, one record per answer), filtered by date, bot
// and outcome, optionally through Redact (e-mail addresses, phone numbers,
// Luhn-checked card numbers).
//
// # Status state machine
//
//	bot ──Handoff──▶ handed_off ──Resolve──▶ resolved
//	bot ──Resolve───────────────────────────▶ resolved
//
// Conversation.Transition applies a change and refuses any other with a
// *TransitionError (ErrInvalidTransition).
//
// # Invariants
//
//   - A conversation is bound to its end user (or, anonymous, to the hash
//     of its secret): every end-user method takes the Owner, and another
//     owner's conversation is ErrNotFound, never ErrForbidden, so that its
//     existence does not leak.
//   - Turn numbers run from 0 without gaps or duplicates: changes to one
//     conversation are serialised by a striped lock and committed, with the
//     conversation record, in one synced Write.
//   - After a handoff the bot appends no answer (ErrHandedOff); nothing is
//     appended to a resolved conversation (ErrResolved).
//   - Handoff commits the status change, the handing-off turn and the
//     outbox ticket (handoff.Enqueue) in one Write: both survive or neither.
//   - Each conversation has one entry in the index by creation time, and,
//     when it has a user id, one in the index by user; erasure and
//     retention delete a conversation, its turns, its index entries and its
//     handoff ticket together.
//
// The lock is this process's; a store shared by several replicas would
// need a conditional write instead, behind the same Store interface.
package conversation
