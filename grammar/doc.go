// Package grammar compiles JSON Schemas (an OpenAI response_format's
// json_schema, and later tool-call arguments) to GBNF, the grammar format
// that llama.cpp's sampler enforces token by token, so that the output is
// valid JSON by construction rather than by hoping the model complies.
//
// Its invariants, which its tests and fuzz target check:
//
//   - FromSchema never panics, and either returns a grammar or refuses
//     the schema with a *SchemaError, which is the caller's mistake (an
//     HTTP 400, never a 500). Any other error is a bug in the compiler.
//   - Every sentence of a returned grammar is a JSON document valid
//     against the schema. Some schemas are compiled stricter than written
//     (object properties come in schema order, undeclared properties are
//     not generated); keywords that cannot be enforced are refused, never
//     ignored.
//   - Every returned grammar passes Check: llama.cpp parses it (no
//     repetition count above MaxRepetition), initialises it (no left
//     recursion, including through rules that can be empty, on which
//     llama.cpp's sampler would otherwise recurse without end), and holds
//     it in bounded memory. Large counts such as maxLength 5000 are
//     compiled into nested repetitions that stay within the limit.
//   - The cost of compiling is bounded by the schema's nesting depth, its
//     number of rules and the size of the grammar text.
//
// The package is pure Go and imports nothing of infergate's.
package grammar
