package lexical

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The synthetic knowledge base: chunks of about 400 tokens, sentences of
// words drawn from a Zipf distribution over a 50,000-word vocabulary (real
// English function and support words at the top ranks, pronounceable
// pseudo-words below), with about one token in a hundred an identifier of
// the kinds support questions carry. Seeded: every run sees the same text.

var commonWords = strings.Fields(`the of and to a in is you that it for on with as
your be this are can or by if from at not an will we have order account
please our all more when click after which may any their use these also
payment customer support refund shipping delivery password reset email
settings update error device app version invoice billing subscription plan
product return item address number contact service request help issue problem
check select page new data user team access time days within first
store login browser download install server network connection file report`)

var syllables = strings.Fields(`ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge
gi go ha he hi ho ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po
ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za ze zi zo tion ment ing er
al ly ous ble ter con pro ex`)

type corpus struct {
	vocab  []string
	chunks []string
	idents []string // identifiers that occur in chunks, for queries
	bytes  int64
}

func newVocab(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	v := make([]string, 0, n)
	for _, w := range commonWords {
		if !seen[w] {
			seen[w] = true
			v = append(v, w)
		}
	}
	for len(v) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		w := b.String()
		if r.IntN(8) == 0 {
			w += "s"
		}
		if !seen[w] {
			seen[w] = true
			v = append(v, w)
		}
	}
	return v
}

func identifier(r *rand.Rand, vocab []string) string {
	w := func() string { return vocab[80+r.IntN(2000)] }
	switch r.IntN(10) {
	case 0:
		return fmt.Sprintf("ORD-%d-%05d", 2019+r.IntN(7), r.IntN(100000))
	case 1:
		return fmt.Sprintf("SKU-%05d-%s", r.IntN(100000), []string{"BLK", "WHT", "RED", "BLU", "GRN"}[r.IntN(5)])
	case 2:
		return fmt.Sprintf("E%04d", r.IntN(10000))
	case 3:
		return fmt.Sprintf("0x8007%04X", r.IntN(1<<16))
	case 4:
		return fmt.Sprintf("v%d.%d.%d", r.IntN(5), r.IntN(20), r.IntN(30))
	case 5:
		return fmt.Sprintf("%s.%s@%s.example", w(), w(), w())
	case 6:
		return fmt.Sprintf("https://docs.acme.example/%s/%s-%s", w(), w(), w())
	case 7:
		return w() + "_" + w() + "_" + w()
	case 8:
		c := w()
		return w() + strings.ToUpper(c[:1]) + c[1:]
	default:
		return fmt.Sprintf("/var/log/%s/%s.log", w(), w())
	}
}

func makeCorpus(n int, seed uint64) *corpus {
	r := rand.New(rand.NewPCG(seed, 1))
	c := &corpus{vocab: newVocab(r, 50000)}
	z := rand.NewZipf(r, 1.07, 2, uint64(len(c.vocab)-1))
	var b strings.Builder
	for range n {
		b.Reset()
		tokens := 360 + r.IntN(80)
		for t := 0; t < tokens; {
			sentence := 6 + r.IntN(16)
			for i := 0; i < sentence && t < tokens; i, t = i+1, t+1 {
				var word string
				if r.IntN(100) == 0 {
					word = identifier(r, c.vocab)
					if r.IntN(20) == 0 {
						c.idents = append(c.idents, word)
					}
				} else {
					word = c.vocab[z.Uint64()]
				}
				if i == 0 {
					word = strings.ToUpper(word[:1]) + word[1:]
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(word)
				if i > 0 && i < sentence-1 && r.IntN(12) == 0 {
					b.WriteByte(',')
				}
			}
			b.WriteString(". ")
		}
		s := b.String()
		c.chunks = append(c.chunks, s)
		c.bytes += int64(len(s))
	}
	return c
}

var (
	corpusOnce sync.Once
	bigCorpus  *corpus
)

// corpusOf returns the first n chunks of the shared 100,000-chunk corpus.
func corpusOf(n int) *corpus {
	corpusOnce.Do(func() { bigCorpus = makeCorpus(100000, 42) })
	c := *bigCorpus
	c.chunks = c.chunks[:n]
	c.bytes = 0
	for _, s := range c.chunks {
		c.bytes += int64(len(s))
	}
	return &c
}

func buildCorpus(c *corpus) *Index {
	x := New(Params{})
	for i, s := range c.chunks {
		x.Add(uint64(i)*7+1, s)
	}
	return x
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

var sizes = []int{10000, 100000}

// BenchmarkBuild: Add of every chunk into an empty index, one goroutine
// (serial) or GOMAXPROCS of them (parallel: analysis runs outside the
// lock). bytes/chunk is the index's heap after a GC, divided by chunks.
func BenchmarkBuild(b *testing.B) {
	for _, n := range sizes {
		c := corpusOf(n)
		b.Run(fmt.Sprintf("serial/n=%d", n), func(b *testing.B) {
			b.SetBytes(c.bytes)
			var perChunk, postings, terms float64
			for i := 0; b.Loop(); i++ {
				if i == 0 {
					b.StopTimer()
					before := heapInUse()
					b.StartTimer()
					x := buildCorpus(c)
					b.StopTimer()
					perChunk = float64(heapInUse()-before) / float64(n)
					for _, t := range x.terms {
						postings += float64(len(t.post))
					}
					postings /= float64(n)
					terms = float64(len(x.terms)) / float64(n)
					b.StartTimer()
					continue
				}
				buildCorpus(c)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
			b.ReportMetric(perChunk, "bytes/chunk")
			b.ReportMetric(postings, "posting-bytes/chunk")
			b.ReportMetric(terms, "terms/chunk")
		})
		b.Run(fmt.Sprintf("parallel/n=%d", n), func(b *testing.B) {
			b.SetBytes(c.bytes)
			workers := runtime.GOMAXPROCS(0)
			for b.Loop() {
				x := New(Params{})
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for i := w; i < len(c.chunks); i += workers {
							x.Add(uint64(i)*7+1, c.chunks[i])
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}

// BenchmarkLoad: Load of a snapshot held in memory; compare with
// BenchmarkBuild at the same n for "load or re-analyse at start-up".
func BenchmarkLoad(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			snap := snapshotOf(b, buildCorpus(corpusOf(n)))
			b.SetBytes(int64(len(snap)))
			var perChunk float64
			for i := 0; b.Loop(); i++ {
				var before uint64
				if i == 0 {
					b.StopTimer()
					before = heapInUse()
					b.StartTimer()
				}
				x, err := Load(bytes.NewReader(snap))
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					b.StopTimer()
					perChunk = float64(heapInUse()-before) / float64(n)
					runtime.KeepAlive(x)
					b.StartTimer()
				}
			}
			b.ReportMetric(perChunk, "bytes/chunk")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
			b.ReportMetric(float64(len(snap))/float64(n), "snapshot-bytes/chunk")
		})
	}
}

func BenchmarkWriteTo(b *testing.B) {
	x := buildCorpus(corpusOf(100000))
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if _, err := x.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// BenchmarkCompact: one compaction of 100,000 chunks of which a quarter are
// deleted: how long writers and searchers wait when one happens.
func BenchmarkCompact(b *testing.B) {
	c := corpusOf(100000)
	for b.Loop() {
		b.StopTimer()
		x := buildCorpus(c)
		x.wmu.Lock()
		x.mu.Lock()
		for i := range len(c.chunks) / 4 {
			o := x.ords[uint64(4*i)*7+1]
			x.kill(o)
			delete(x.ords, uint64(4*i)*7+1)
		}
		x.mu.Unlock()
		b.StartTimer()
		x.compact()
		x.wmu.Unlock()
	}
}

// queries returns search mixes over c: natural questions (Zipf words,
// stopwords included), exact identifiers, and both together.
func queries(c *corpus, kind string, n int) []string {
	r := rand.New(rand.NewPCG(9, uint64(len(kind))))
	z := rand.NewZipf(r, 1.07, 2, uint64(len(c.vocab)-1))
	words := func(k int) string {
		var w []string
		for range k {
			w = append(w, c.vocab[z.Uint64()])
		}
		return strings.Join(w, " ")
	}
	idents := c.idents // each was written into a chunk
	out := make([]string, n)
	for i := range out {
		switch kind {
		case "words":
			out[i] = "how do I " + words(2+r.IntN(5)) + "?"
		case "identifier":
			out[i] = idents[r.IntN(len(idents))]
		default:
			out[i] = words(2+r.IntN(4)) + " " + idents[r.IntN(len(idents))]
		}
	}
	return out
}

// BenchmarkSearch at 100,000 chunks, k=10; p50 and p99 are per-search
// latencies over the run.
func BenchmarkSearch(b *testing.B) {
	c := corpusOf(100000)
	x := buildCorpus(c)
	for _, kind := range []string{"words", "identifier", "mixed", "words+filter1%"} {
		b.Run(kind, func(b *testing.B) {
			qs := queries(c, strings.TrimSuffix(kind, "+filter1%"), 1000)
			var filter func(uint64) bool
			if strings.HasSuffix(kind, "filter1%") {
				filter = func(id uint64) bool { return id%100 == 1 }
			}
			lat := make([]time.Duration, 0, 1<<16)
			hits := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				hits += len(x.Search(qs[i%len(qs)], 10, filter))
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			b.ReportMetric(float64(hits)/float64(len(lat)), "hits/op")
		})
	}
}
