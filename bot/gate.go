package bot

import (
	"github.com/infergate/infergate/bot/handoff"
	"github.com/infergate/infergate/index"
)

// The answerability gate decides, before anything is generated, whether
// the retrieved passages can answer the question. A small model given
// unrelated passages still writes a fluent answer and cites them; the
// gate is what keeps the bot from guessing.
//
// First the passages for the prompt are chosen (usable): those whose
// score in the bot's scale (similarity in hybrid and vector mode, BM25 in
// lexical mode) reaches Retrieval.MinScore, and every passage holding an
// identifier of the question verbatim (ExactRank > 0). Then the question
// is answerable when
//
//	len(usable) > 0
//	  and best fused score ≥ Answerability.MinFused        (hybrid mode only)
//	  and ( Answerability.ExactMatch and some usable passage has ExactRank > 0
//	        or best similarity ≥ Answerability.MinSimilarity  (hybrid, vector)
//	        or best BM25 ≥ Answerability.MinLexical           (lexical) )
//
// An exact match stands on its own because a customer who quotes an
// error code or a command is best served by the passage that holds it,
// however little the rest of the sentence resembles it.

// Gate verdict reasons (the reason label of infergate_bot_unanswered_total).
const (
	gateNoPassages    = "no_passages"
	gateLowFused      = "low_fused"
	gateLowSimilarity = "low_similarity"
	gateLowLexical    = "low_lexical"
)

// verdict is the gate's decision and the signals it was taken on.
type verdict struct {
	answerable bool
	reason     string // why not, when not answerable
	bestFused  float64
	bestSim    float64
	bestLex    float64
	exact      bool
}

// similarity is a hit's vector similarity: the score itself in vector
// mode, the vector ranking's score in a hybrid search.
func similarity(h index.Hit, mode index.Mode) float64 {
	if mode == index.ModeVector {
		return h.Score
	}
	return h.VectorScore
}

func lexicalScore(h index.Hit, mode index.Mode) float64 {
	if mode == index.ModeLexical {
		return h.Score
	}
	return h.LexicalScore
}

// usable keeps the hits that may go into the prompt, in rank order.
func usable(hits []index.Hit, r RetrievalConfig) []index.Hit {
	var out []index.Hit
	for _, h := range hits {
		s := similarity(h, r.Mode)
		if r.Mode == index.ModeLexical {
			s = lexicalScore(h, r.Mode)
		}
		if s >= r.MinScore || h.ExactRank > 0 {
			out = append(out, h)
		}
	}
	return out
}

// judge applies the gate to the usable passages.
func judge(passages []index.Hit, mode index.Mode, a AnswerabilityConfig) verdict {
	var v verdict
	for _, h := range passages {
		v.bestFused = max(v.bestFused, h.Score)
		v.bestSim = max(v.bestSim, similarity(h, mode))
		v.bestLex = max(v.bestLex, lexicalScore(h, mode))
		v.exact = v.exact || h.ExactRank > 0
	}
	switch {
	case len(passages) == 0:
		v.reason = gateNoPassages
	case mode == index.ModeHybrid && v.bestFused < a.MinFused:
		v.reason = gateLowFused
	case *a.ExactMatch && v.exact:
		v.answerable = true
	case mode == index.ModeLexical:
		v.answerable = v.bestLex >= a.MinLexical
		if !v.answerable {
			v.reason = gateLowLexical
		}
	default:
		v.answerable = v.bestSim >= a.MinSimilarity
		if !v.answerable {
			v.reason = gateLowSimilarity
		}
	}
	return v
}

// ticketPassages are the passages as a handoff ticket carries them.
func ticketPassages(hits []index.Hit) []handoff.Passage {
	out := make([]handoff.Passage, 0, len(hits))
	for _, h := range hits {
		out = append(out, handoff.Passage{Document: h.DocumentID, Title: h.Metadata.Title, URL: h.Metadata.URL, Text: h.Text, Score: h.Score})
	}
	return out
}
