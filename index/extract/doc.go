// Package extract turns a document's content (plain text, Markdown or HTML)
// into the readable text the knowledge base indexes, with the heading
// structure kept beside it, so that a chunk can say which part of the
// document it comes from and never has to span two parts.
//
// Invariants, for every input (FuzzExtract checks them):
//   - Extract never panics, is deterministic and runs in time linear in the
//     input; nothing it emits grows faster than the input (list indentation
//     is capped for that reason).
//   - On success Text is valid UTF-8 and not empty, and Sections lie inside
//     Text, in order, without overlap, each a non-empty span that starts and
//     ends on non-space text. Everything in Text outside the sections is
//     whitespace or a heading line.
//   - On failure the error is ErrNotText, ErrEmpty or ErrUnparseable
//     (errors.Is), wrapped with the reason.
//
// Text keeps the document readable rather than faithful: Markdown stays
// Markdown (heading lines and all), because an embedding model reads it
// well and offsets into it still mean something to a person; HTML becomes
// Markdown-like text ("# Heading", "- item", "a | b") for the same reason.
// Boilerplate that would pollute search (navigation, scripts, forms,
// hidden elements) is dropped from HTML, where it is common.
package extract
