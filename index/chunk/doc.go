// Package chunk cuts an extracted document into the passages the knowledge
// base embeds and retrieves, sized in the embedding model's own tokens.
//
// A passage must be small enough for the model (an input over its context
// is an error, and a truncated one loses meaning silently) and large
// enough to answer a question on its own. So a chunk stays inside one
// section, carries its title and heading path in the text it embeds (a
// short answer under "Refunds > Card payments" means nothing without it),
// ends at the strongest boundary available (a section's end, a blank line,
// a line break, a sentence, a word, and for a run without spaces a UTF-8
// character boundary), and repeats a little of the previous chunk's tail so
// that a passage cut in two is whole in one of them.
//
// Invariants, for every document and tokenizer (FuzzSplit checks them):
//   - Chunk.Tokens is the tokenizer's count of EmbedText, and it is never
//     above Options.MaxTokens: every chunk is tokenized as a whole before it
//     is returned, because token counts are not additive across joins, and
//     one that is over is cut again.
//   - Chunk.Text is doc.Text[Start:End], trimmed, inside one section; chunks
//     are in document order and together cover every non-space byte of
//     every section.
//   - The work is linear in the text: each sentence is tokenized once to
//     plan the packing and each chunk once to check it.
package chunk
