// Package handoff hands a conversation to a human: the Ticket a handoff
// delivers, the Target interface of the help desks that receive it, the
// durable outbox that holds tickets until they are delivered, and the
// Deliverer that drains it.
//
// A handoff is an outbox record written with Enqueue into the caller's
// store.Write, so that the conversation's status change and the ticket are
// committed together (bot/conversation does this): a ticket exists exactly
// when its conversation was handed off, whatever crashes.
//
// # Targets
//
// Webhook POSTs the ticket as JSON, signed as Stripe signs its webhooks
// (X-Infergate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">);
// receivers check it with VerifySignature, which also refuses replays.
// Chatwoot posts the transcript as a private note whose first line carries
// the ticket id, looked up before posting so that a retry never posts
// twice, then sets the conversation open only while it is still pending.
//
// # Delivery state machine
//
//	pending ──deliver ok──────────────────────▶ delivered
//	pending ──permanent error / past give-up──▶ failed
//	pending ──retryable error─────────────────▶ pending (attempts+1, next attempt later)
//
// delivered and failed are final; failed records are kept (and counted) so
// that an operator can see and replay them.
//
// # Invariants
//
//   - A pending record has exactly one entry in the due index
//     (store.OutboxDueKey at its next attempt time); a final record has
//     none. Every change of a record and its index entry is one synced
//     store.Write.
//   - Delivery is at least once: the record is updated only after the
//     target answered, so a crash in between delivers again after the
//     restart. Ticket.ID is the idempotency key that makes this safe.
//   - One Deliverer drains a store: attempts for one ticket never overlap.
package handoff
