package bot

import (
	"strings"
	"unicode"

	"github.com/infergate/infergate/bot/conversation"
)

// Handoff reasons: the low-cardinality values of the reason label and of
// conversation.Conversation.HandoffReason.
const (
	ReasonAskedForHuman    = "asked_for_human"   // the customer asked for a person
	ReasonSensitiveTopic   = "sensitive_topic"   // a configured sensitive topic
	ReasonUnanswerable     = "unanswerable"      // the answerability gate stopped the question
	ReasonModelCannotHelp  = "model_cannot_help" // the model answered CannotHelpMarker
	ReasonUnresolvedTurns  = "unresolved_turns"  // Escalation.MaxUnresolvedTurns reached
	ReasonNegativeFeedback = "negative_feedback" // the customer rated an answer down
)

// CannotHelpMarker is what the system prompt tells the model to answer,
// alone, when the passages do not hold the answer. An answer that contains
// it is never shown: the conversation is handed off
// (ReasonModelCannotHelp). A marker rather than a phrase, because "I don't
// know" also occurs inside good answers.
const CannotHelpMarker = "NO_ANSWER"

// DefaultHandoffPhrases ask for a person in English, Spanish, French,
// German, Portuguese and Italian. They are matched folded (case, accents
// and punctuation ignored) on word boundaries, so "Quiero hablar con una
// persona, por favor" matches "hablar con una persona".
var DefaultHandoffPhrases = []string{
	// English
	"talk to a human", "speak to a human", "talk to a person", "speak to a person",
	"talk to someone", "speak to someone", "talk to an agent", "speak to an agent",
	"real person", "human agent", "live agent", "live person", "customer service representative",
	// Spanish
	"hablar con una persona", "hablar con un humano", "hablar con alguien", "hablar con un agente",
	"hablar con un asesor", "persona real", "agente humano",
	// French
	"parler à un humain", "parler à une personne", "parler à quelqu'un", "parler à un conseiller",
	"parler à un agent", "vrai humain", "vraie personne",
	// German
	"mit einem menschen sprechen", "mit einer person sprechen", "mit einem mitarbeiter sprechen",
	"echten menschen", "menschlichen mitarbeiter",
	// Portuguese
	"falar com uma pessoa", "falar com um humano", "falar com alguém", "falar com um atendente",
	"atendente humano", "pessoa de verdade",
	// Italian
	"parlare con una persona", "parlare con un operatore", "parlare con un umano",
}

// accents folds the Latin letters with diacritics the default phrases'
// languages use to their base letters.
var accents = strings.NewReplacer(
	"á", "a", "à", "a", "â", "a", "ä", "a", "ã", "a", "å", "a",
	"é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i",
	"ó", "o", "ò", "o", "ô", "o", "ö", "o", "õ", "o",
	"ú", "u", "ù", "u", "û", "u", "ü", "u",
	"ç", "c", "ñ", "n", "ß", "ss", "œ", "oe", "æ", "ae",
)

// fold lowercases s, drops accents, turns every run of non-letters and
// non-digits into one space and trims it: the form phrases are compared
// in.
func fold(s string) string {
	s = accents.Replace(strings.ToLower(s))
	var b strings.Builder
	space := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// phraseSet matches folded phrases on word boundaries.
type phraseSet []string

func newPhraseSet(phrases []string) phraseSet {
	var s phraseSet
	for _, p := range phrases {
		if f := fold(p); f != "" {
			s = append(s, " "+f+" ")
		}
	}
	return s
}

// match returns the first phrase text contains, and whether one does.
func (s phraseSet) match(text string) (string, bool) {
	t := " " + fold(text) + " "
	for _, p := range s {
		if strings.Contains(t, p) {
			return strings.TrimSpace(p), true
		}
	}
	return "", false
}

// unresolvedTurns counts the bot's turns since the last one rated up that
// did not resolve anything: unanswered (no citations) or rated down.
// Escalation.MaxUnresolvedTurns compares with it.
func unresolvedTurns(turns []conversation.Turn) int {
	n := 0
	for i := len(turns) - 1; i >= 0; i-- {
		t := turns[i]
		if t.Role != conversation.RoleBot || t.Handoff {
			continue
		}
		if t.Feedback != nil && t.Feedback.Rating == conversation.RatingUp {
			break
		}
		if len(t.Citations) == 0 || t.Feedback != nil && t.Feedback.Rating == conversation.RatingDown {
			n++
		}
	}
	return n
}
