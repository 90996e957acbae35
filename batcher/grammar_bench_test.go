package batcher

import (
	"context"
	"github.com/infergate/infergate/llm"
	"sync"
	"testing"
	"time"
)

// benchJSONGrammar is one JSON object, as response_format json_object
// compiles it (kept literal here so that the benchmark also builds against
// older trees, for before-and-after runs).
const benchJSONGrammar = `root ::= object
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( "," ws member )* )? "}"
member ::= string ws ":" ws value ws
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" hex hex hex hex )
hex ::= [0-9a-fA-F]
number ::= integer frac? exp?
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
frac ::= "." [0-9]{1,16}
exp ::= [eE] [-+]? [0-9]{1,3}
ws ::= ( " " | "\n" " "{0,16} )?
`

// BenchmarkGrammar measures output tokens/s of 4 concurrent sampled
// streams with and without a JSON grammar: the grammar's cost per token is
// the gap between the two.
//
//	go test -run '^$' -bench Grammar -benchtime 5x ./batcher/
func BenchmarkGrammar(b *testing.B) {
	for _, bc := range []struct {
		name    string
		grammar string
	}{{"none", ""}, {"json", benchJSONGrammar}} {
		b.Run(bc.name, func(b *testing.B) {
			bt := newBenchChat(b, Config{Parallel: 4, CtxSize: 4 * 256})
			var tokens int
			var busy time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var wg sync.WaitGroup
				var mu sync.Mutex
				for c := 0; c < 4; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s, err := bt.Generate(context.Background(), llm.Request{
							Prompt:    "Once upon a time",
							MaxTokens: 128,
							Sampling:  llm.Sampling{Temperature: 0.8, Seed: uint32(i*4 + c), HasSeed: true, Grammar: bc.grammar},
						})
						if err != nil {
							b.Error(err)
							return
						}
						_, res := collect(s)
						if res.Err != nil {
							b.Error(res.Err)
						}
						mu.Lock()
						tokens += res.CompletionTokens
						mu.Unlock()
					}()
				}
				wg.Wait()
				busy += time.Since(start)
			}
			b.ReportMetric(float64(tokens)/busy.Seconds(), "tok/s")
			b.ReportMetric(float64(tokens)/float64(b.N*4), "tokens/req")
		})
	}
}
