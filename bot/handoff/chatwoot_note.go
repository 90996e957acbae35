package handoff

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ChatwootMaxContentChars is Chatwoot's limit on a message's content
// (Message validates content length, maximum 150_000, counted in
// characters); a longer note is refused with 422.
const ChatwootMaxContentChars = 150_000

// Bounds on the parts of a note that come from the ticket, so that the
// transcript, the part an agent reads first, keeps most of the room.
const (
	maxNoteDetailChars  = 1000
	maxPassageTextChars = 300
)

// noteMarker is the first line of every handoff note. It carries the
// ticket id, so that a retried delivery can find the note it already
// posted (Chatwoot has no idempotency key). Only the first line counts,
// so a customer who types the marker into a message cannot fake it.
func noteMarker(ticketID string) string { return "infergate handoff · ticket " + ticketID }

// RenderNote renders the ticket as a Chatwoot private note in Markdown:
// who and why, the passages the bot used (title, URL, score, the start of
// the text) and the transcript with roles labelled, each message quoted so
// that what the customer typed cannot pass for the note's own structure.
// The note fits in maxChars characters (ChatwootMaxContentChars when 0 or
// less): the oldest messages are dropped first and a line says how many.
func RenderNote(t Ticket, maxChars int) string {
	if maxChars <= 0 {
		maxChars = ChatwootMaxContentChars
	}
	var head strings.Builder
	head.WriteString(noteMarker(t.ID) + "\n\n")
	fmt.Fprintf(&head, "**Bot:** %s · **Reason:** %s\n", t.Bot, t.Reason)
	if t.Detail != "" {
		fmt.Fprintf(&head, "**Detail:** %s\n", truncateChars(t.Detail, maxNoteDetailChars))
	}
	fmt.Fprintf(&head, "**Customer:** %s\n", describeUser(t.User))
	fmt.Fprintf(&head, "**Conversation:** %s · handed off %s\n", t.ConversationID, t.CreatedAt.UTC().Format(time.RFC3339))
	if len(t.Passages) > 0 {
		head.WriteString("\n**Passages the bot used**\n")
		for i, p := range t.Passages {
			head.WriteString(renderPassage(i+1, p))
		}
	}
	head.WriteString("\n**Transcript**\n")

	budget := maxChars - utf8.RuneCountInString(head.String())
	return truncateChars(head.String()+renderTranscript(t.Transcript, budget), maxChars)
}

func describeUser(u User) string {
	var parts []string
	if u.Name != "" {
		parts = append(parts, u.Name)
	}
	if u.Email != "" {
		parts = append(parts, "<"+u.Email+">")
	}
	switch {
	case u.ID == "":
		parts = append(parts, "anonymous")
	case u.Verified:
		parts = append(parts, "id "+u.ID+" (verified)")
	default:
		parts = append(parts, "id "+u.ID+" (not verified)")
	}
	return strings.Join(parts, " ")
}

func renderPassage(n int, p Passage) string {
	title := p.Title
	if title == "" {
		title = p.Document
	}
	line := fmt.Sprintf("%d. %s", n, title)
	if p.URL != "" {
		line = fmt.Sprintf("%d. [%s](%s)", n, title, p.URL)
	}
	line += fmt.Sprintf(" · %s · score %.3f\n", p.Document, p.Score)
	if text := strings.Join(strings.Fields(p.Text), " "); text != "" {
		line += "   > " + truncateChars(text, maxPassageTextChars) + "\n"
	}
	return line
}

func roleLabel(role string) string {
	switch role {
	case "user":
		return "Customer"
	case "assistant":
		return "Bot"
	case "agent":
		return "Agent"
	}
	return role
}

func renderMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n**%s**", roleLabel(m.Role))
	if !m.CreatedAt.IsZero() {
		b.WriteString(" · " + m.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
	}
	b.WriteString("\n")
	for line := range strings.SplitSeq(strings.TrimRight(m.Content, "\n"), "\n") {
		b.WriteString("> " + line + "\n")
	}
	return b.String()
}

// renderTranscript keeps the newest messages that fit in budget
// characters, dropping the oldest first, since what the customer asked
// last is what the agent must answer. When even the newest message alone
// does not fit, its beginning is kept.
func renderTranscript(msgs []Message, budget int) string {
	if len(msgs) == 0 {
		return ""
	}
	rendered := make([]string, len(msgs))
	for i, m := range msgs {
		rendered[i] = renderMessage(m)
	}
	kept, used := 0, 0
	for kept < len(msgs) {
		i := len(msgs) - 1 - kept
		n := utf8.RuneCountInString(rendered[i])
		// Keeping message i drops the i before it: leave room to say so.
		if used+n+omittedLen(i) > budget {
			break
		}
		used += n
		kept++
	}
	if kept == 0 {
		dropped := len(msgs) - 1
		room := max(budget-omittedLen(dropped), 0)
		return omittedLine(dropped) + truncateChars(rendered[dropped], room)
	}
	var b strings.Builder
	b.WriteString(omittedLine(len(msgs) - kept))
	for _, r := range rendered[len(msgs)-kept:] {
		b.WriteString(r)
	}
	return b.String()
}

// omittedLine says how many earlier messages were dropped; "" for none.
func omittedLen(n int) int { return utf8.RuneCountInString(omittedLine(n)) }

func omittedLine(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "\n_… 1 earlier message omitted (note length limit) …_\n"
	}
	return fmt.Sprintf("\n_… %d earlier messages omitted (note length limit) …_\n", n)
}

// truncateChars cuts s to at most n characters (runes, as Chatwoot counts),
// ending with "…" when it cut.
func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}
