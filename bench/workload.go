package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// words is the vocabulary of synthetic prompts. Each entry is a common
// English word that the BPE and SentencePiece vocabularies of mainstream
// models (Llama, Qwen, Mistral, GPT) encode as a single token when preceded
// by a space, so a prompt of N words is close to N tokens whatever the
// server's tokenizer. The true count comes back in the response's usage.
var words = strings.Fields(`
the of and to in is was for on are with as be at by this have from or one
had not but what all were when we there can an your which their said if do
will each about how up out them then she many some so these would other
into has more her two like him see time could no make than first been its
who now people my made over did down only way find use may water long
little very after words called just where most know get through back much
go good new write our me man too any day same right look think also around
another came come work three word must because does part even place well
such here take why things help put years different away again off went old
number great tell men say small every found still between name should home
big give air line set own under read last never us left end along while
might next sound below saw something thought both few those always looked
show large often together asked house world going want school important
until form food keep children feet land side without boy once animals life
enough took sometimes four head above kind began almost live page got earth
need far hand high year mother light parts country father let night
following picture being study second eyes soon times story boys since white
days ever paper hard near sentence better best across during today others
however sure means knew try told young miles sun ways thing whole hear
example heard several change answer room sea against top turned learn point
city play toward five using himself usually money seen car morning given
river table garden window music friend door green black voice winter
`)

// instruction closes every synthetic prompt long enough to carry it. It is
// at the end, not the start, so that prompts share no prefix the server
// could cache; it asks for a long reply so that outputs tend to reach
// max_tokens even on servers without ignore_eos.
const instruction = "\n\nWrite a long story that uses the words above."

// instructionTokens is instruction's approximate token count.
const instructionTokens = 12

// syntheticText returns text of roughly n tokens drawn from words. The
// first words are random, so two prompts almost never share a prefix.
func syntheticText(r *rand.Rand, n int, withInstruction bool) string {
	if withInstruction && n < 2*instructionTokens {
		withInstruction = false
	}
	nw := n
	if withInstruction {
		nw -= instructionTokens
	}
	var b strings.Builder
	b.Grow(nw * 7)
	for i := range nw {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	if withInstruction {
		b.WriteString(instruction)
	}
	return b.String()
}

// estimateTokens guesses a text's token count without the server's
// tokenizer (about four characters per token for English). It is used only
// when the server reports no usage, and is marked as such in the report.
func estimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return max(1, (utf8.RuneCountInString(s)+3)/4)
}

// message is one chat message on the wire.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// turn is one user message of a conversation and the output length to ask
// for in reply.
type turn struct {
	user      string
	estTokens int // requested (synthetic) or estimated (dataset) length of user
	maxTokens int
}

// conversation is what one session sends: a shared system prompt, then
// turns sent one after the other, each with the history so far (the real
// replies of the server), which exercises the server's prefix cache.
type conversation struct {
	system string
	turns  []turn
	inputs []string // embeddings: the batch of texts; turns is then unused
}

// datasetConv is one conversation of a JSONL dataset.
type datasetConv struct {
	system string
	users  []string
	replys []string // the recorded reply after each user message ("" if none)
}

// workload hands out conversations. It is safe for concurrent use.
type workload struct {
	cfg    *config
	system string // shared system prompt, "" for none

	mu      sync.Mutex
	seq     uint64 // conversations handed out, across warmup and all levels
	dataset []datasetConv
	order   []int // a seeded shuffle of dataset
}

func newWorkload(cfg *config, dataset []datasetConv) *workload {
	w := &workload{cfg: cfg, dataset: dataset}
	if cfg.SystemTokens > 0 {
		// Stream 0 is reserved for the system prompt, the same for every
		// request: that sharing is the point of --system-tokens.
		w.system = syntheticText(newRand(cfg.Seed, 0), cfg.SystemTokens, false)
	}
	if len(dataset) > 0 {
		w.order = newRand(cfg.Seed, 1).Perm(len(dataset))
	}
	return w
}

// next returns a new conversation. Its randomness depends only on the seed
// and its sequence number, so a rerun sends the same prompts. The counter
// spans all levels so that a later level never repeats an earlier level's
// prompts (which would turn into prefix-cache hits).
func (w *workload) next() conversation {
	w.mu.Lock()
	seq := w.seq
	w.seq++
	w.mu.Unlock()
	r := newRand(w.cfg.Seed, seq+2)
	c := w.cfg

	if c.Embed {
		conv := conversation{inputs: make([]string, c.Batch)}
		for i := range conv.inputs {
			if len(w.dataset) > 0 {
				d := w.dataset[w.order[(int(seq)*c.Batch+i)%len(w.order)]]
				conv.inputs[i] = d.users[0]
			} else {
				conv.inputs[i] = syntheticText(r, c.InputTokens.Sample(r), false)
			}
		}
		return conv
	}

	conv := conversation{system: w.system}
	if len(w.dataset) > 0 {
		d := w.dataset[w.order[int(seq%uint64(len(w.order)))]]
		if d.system != "" {
			conv.system = strings.TrimSpace(d.system + "\n\n" + w.system)
		}
		n := min(len(d.users), c.Turns)
		for i := range n {
			t := turn{user: d.users[i], estTokens: estimateTokens(d.users[i])}
			if c.OutputFromDataset && d.replys[i] != "" {
				t.maxTokens = estimateTokens(d.replys[i])
			} else {
				t.maxTokens = c.OutputTokens.Sample(r)
			}
			conv.turns = append(conv.turns, t)
		}
		return conv
	}
	for range c.Turns {
		n := c.InputTokens.Sample(r)
		conv.turns = append(conv.turns, turn{
			user:      syntheticText(r, n, true),
			estTokens: n,
			maxTokens: c.OutputTokens.Sample(r),
		})
	}
	return conv
}

// chatRequest is the body of /v1/chat/completions and /v1/completions;
// exactly one of Messages and Prompt is set.
type chatRequest struct {
	Model         string         `json:"model,omitempty"`
	Messages      []message      `json:"messages,omitempty"`
	Prompt        string         `json:"prompt,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
	// IgnoreEOS is not OpenAI's, but vLLM and llama-server honour it, and
	// it is the only way to get exact output lengths from them.
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// embedRequest is the body of /v1/embeddings.
type embedRequest struct {
	Model          string   `json:"model,omitempty"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

// buildBody returns the request body for the next turn, given the messages
// exchanged so far in the conversation (history ends with an assistant
// message, or is empty).
func buildBody(cfg *config, system string, history []message, t turn) ([]byte, error) {
	req := chatRequest{
		Model:     cfg.Model,
		MaxTokens: t.maxTokens,
		Stream:    cfg.Stream,
		IgnoreEOS: cfg.IgnoreEOS,
	}
	if cfg.Temperature >= 0 {
		temp := cfg.Temperature
		req.Temperature = &temp
	}
	if cfg.Stream {
		req.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if cfg.API == "chat" {
		if system != "" {
			req.Messages = append(req.Messages, message{Role: "system", Content: system})
		}
		req.Messages = append(req.Messages, history...)
		req.Messages = append(req.Messages, message{Role: "user", Content: t.user})
	} else {
		req.Prompt = flattenPrompt(system, history, t.user)
	}
	return json.Marshal(req)
}

// flattenPrompt renders a conversation as plain text for /v1/completions,
// which has no roles. A lone user message goes through unchanged so that a
// single-turn completions benchmark sends exactly the synthetic text.
func flattenPrompt(system string, history []message, user string) string {
	if system == "" && len(history) == 0 {
		return user
	}
	var b strings.Builder
	if system != "" {
		b.WriteString(system)
		b.WriteString("\n\n")
	}
	for _, m := range history {
		if m.Role == "assistant" {
			b.WriteString("Assistant: ")
		} else {
			b.WriteString("User: ")
		}
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	b.WriteString("User: ")
	b.WriteString(user)
	b.WriteString("\nAssistant:")
	return b.String()
}

// maxDatasetLine bounds one JSONL line; real conversation datasets stay far
// below it.
const maxDatasetLine = 16 << 20

// loadDataset reads a JSONL file of conversations. Each line is one of
//
//	{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}
//	{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}   (ShareGPT)
//	{"prompt": "..."}
//
// where content may also be an array of {"type":"text","text":...} parts.
// Lines without a user message are skipped; blank lines are ignored.
func loadDataset(path string) ([]datasetConv, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxDatasetLine)
	var out []datasetConv
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		conv, err := parseDatasetLine([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if len(conv.users) > 0 {
			out = append(out, conv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no conversation with a user message", path)
	}
	return out, nil
}

func parseDatasetLine(line []byte) (datasetConv, error) {
	var raw struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Conversations []struct {
			From  string `json:"from"`
			Value string `json:"value"`
		} `json:"conversations"`
		Prompt *string `json:"prompt"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return datasetConv{}, err
	}
	var conv datasetConv
	add := func(role, text string) {
		switch role {
		case "system", "developer":
			if len(conv.users) == 0 {
				conv.system = strings.TrimSpace(conv.system + "\n" + text)
			}
		case "user", "human":
			// Two user messages in a row become one turn: the harness
			// needs a server reply between user messages.
			if k := len(conv.users); k > 0 && conv.replys[k-1] == "" {
				conv.users[k-1] += "\n" + text
				return
			}
			conv.users = append(conv.users, text)
			conv.replys = append(conv.replys, "")
		case "assistant", "gpt", "chatgpt", "bard", "model", "bot":
			if k := len(conv.users); k > 0 {
				conv.replys[k-1] += text
			}
		}
	}
	switch {
	case len(raw.Messages) > 0:
		for _, m := range raw.Messages {
			text, err := contentText(m.Content)
			if err != nil {
				return datasetConv{}, err
			}
			add(strings.ToLower(m.Role), text)
		}
	case len(raw.Conversations) > 0:
		for _, m := range raw.Conversations {
			add(strings.ToLower(m.From), m.Value)
		}
	case raw.Prompt != nil:
		add("user", *raw.Prompt)
	default:
		return datasetConv{}, errors.New(`want "messages", "conversations" or "prompt"`)
	}
	return conv, nil
}

// contentText accepts OpenAI's two shapes of message content: a string,
// or an array of parts of which the text parts are kept.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content is neither a string nor an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}
