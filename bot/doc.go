// Package bot is the support bot's turn: from a customer's message to a
// grounded, cited answer, a reply that says the bot does not know, or a
// handoff to a human, logged in the conversation log.
//
// A Bot is one Config (one entry of the --config YAML's bots:) over its
// Deps, each an interface defined here: a Retriever (*index.KB), an
// llm.Generator (the router or the batcher), a Tokenizer for fitting the
// prompt (*batcher.Batcher) and the Log (*conversation.Log). Answer runs
// one turn and reports it as typed events (events.go) that the gateway
// turns into SSE; Start, Feedback and Resolve are the rest of a
// conversation's life.
//
// The parts, one file each: query.go (what is searched: the last
// question, with the previous one for a follow-up), gate.go (the
// answerability gate), sanitize.go (text is data: special tokens and
// role markers neutralised), prompt.go (assembly and fitting into the
// context), citations.go (the [n] check), guard.go (the output check and
// the streaming hold-back), escalation.go (when to hand off),
// metrics.go.
//
// # Invariants
//
//   - The bot generates only for a question that passed the gate; below
//     it the customer gets the configured message or a human, and the
//     reason is counted and logged.
//   - Every text the bot did not write (passages, titles, messages,
//     earlier answers) is neutralised before it enters a prompt, and
//     passages are quoted between delimiters that such text cannot hold.
//   - No released text holds a reference to a passage that was not in the
//     prompt, and the citations event lists only passages in the prompt.
//   - No released text holds LeakChars characters of the hidden
//     instructions in a row, nor CannotHelpMarker: the hold-back checks
//     text before it is sent.
//   - After a handoff the bot sends nothing more in the conversation: the
//     log refuses the bot's answers (conversation.ErrHandedOff), and the
//     customer's messages are logged for the human.
//   - Every handoff goes through conversation.Log.Handoff with a
//     low-cardinality reason (the Reason… constants), which commits the
//     status, the turn and the outbox ticket together.
//
// The bot keeps no state between turns: the conversation log is the
// state, so any number of conversations run concurrently.
package bot
