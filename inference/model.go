// Package inference is the llama.cpp engine seen from Go: loading a model and
// reading what it is, tokenizing and templating, a Generator that decodes
// batches of tokens for many sequences at once, and an Embedder. It holds no
// scheduling policy (that is the batcher's job) and knows nothing of HTTP.
package inference

import (
	"errors"
	"fmt"

	llama "github.com/infergate/infergate/cgo"
	"github.com/infergate/infergate/models"
)

// Token is a vocabulary id.
type Token = llama.Token

// Message is one chat turn given to the chat template.
type Message = llama.ChatMessage

// FallbackTemplate is the built-in template used when a model carries no
// chat template of its own (base models such as stories260K): ChatML, the
// most widely understood format.
const FallbackTemplate = "chatml"

// Options choose how a model is loaded.
type Options struct {
	GPULayers int // layers to offload; -1 all
	// ChatTemplate overrides the model's template: a template text or a
	// llama.cpp built-in name ("chatml", "llama3", ...).
	ChatTemplate string
}

// Info describes a loaded model.
type Info struct {
	Path          string
	Architecture  string
	Description   string
	ContextTrain  int
	EmbeddingSize int
	VocabSize     int
	Layers        int
	Params        uint64
	SizeBytes     uint64
	ChatTemplate  string // the template in use (model's, override, or FallbackTemplate)
	HasDecoder    bool   // can generate text
	Embedding     bool   // an embedding model: it pools token states
	Recurrent     bool   // KV memory cannot be partially trimmed
}

// Model is a loaded model. Safe for concurrent read-only use (tokenize,
// template, info); generation goes through a Generator or Embedder.
type Model struct {
	m    *llama.Model
	info Info
}

// ErrModelFile reports a model file that cannot be used; it wraps the reason.
var ErrModelFile = errors.New("unusable model file")

// Load reads a GGUF model. The file is checked before llama.cpp sees it, so
// a missing, truncated or non-GGUF file gives a precise error.
func Load(path string, opts Options) (*Model, error) {
	if err := validate(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelFile, err)
	}
	lm, err := llama.LoadModel(path, llama.ModelParams{GPULayers: opts.GPULayers})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelFile, err)
	}
	arch, _ := lm.Meta("general.architecture")
	// Embedding models (BERT and kin) declare how they pool token states;
	// llama.cpp reports them as decoders all the same.
	_, pools := lm.Meta(arch + ".pooling_type")
	tmpl := opts.ChatTemplate
	if tmpl == "" {
		tmpl = lm.ChatTemplate()
	}
	if tmpl == "" {
		tmpl = FallbackTemplate
	}
	m := &Model{m: lm, info: Info{
		Path:          path,
		Architecture:  arch,
		Description:   lm.Description(),
		ContextTrain:  lm.ContextTrain(),
		EmbeddingSize: lm.EmbeddingSize(),
		VocabSize:     lm.VocabSize(),
		Layers:        lm.Layers(),
		Params:        lm.Params(),
		SizeBytes:     lm.Size(),
		ChatTemplate:  tmpl,
		HasDecoder:    lm.HasDecoder() && !lm.HasEncoder() && !pools,
		Embedding:     pools,
		Recurrent:     lm.IsRecurrent(),
	}}
	// A template llama.cpp cannot apply would fail every chat request;
	// find out now.
	if _, err := m.ApplyTemplate([]Message{{Role: "user", Content: "hi"}}); err != nil {
		lm.Close()
		return nil, fmt.Errorf("model %s: chat template: %w (set a chat template override, e.g. \"chatml\")", path, err)
	}
	return m, nil
}

// validate reads the GGUF header and tensor table in Go, so a bad file
// gets a precise error instead of whatever llama.cpp makes of it.
func validate(path string) error {
	_, err := models.ReadFile(path)
	return err
}

// Close frees the model. Generators and Embedders over it must be closed first.
func (m *Model) Close() {
	m.m.Close()
	llama.ReleaseFreeMemory()
}

// Info describes the model.
func (m *Model) Info() Info { return m.info }

// Tokenize turns user text into tokens, with the BOS token when the model
// wants one. Special-token text in it stays plain text, so a user cannot
// inject control tokens.
func (m *Model) Tokenize(text string) ([]Token, error) { return m.m.Tokenize(text, true, false) }

// TokenizeTemplated tokenizes the output of ApplyTemplate, where special
// tokens such as <|im_start|> must become the tokens themselves.
func (m *Model) TokenizeTemplated(text string) ([]Token, error) {
	return m.m.Tokenize(text, true, true)
}

// Detokenize turns tokens back into text.
func (m *Model) Detokenize(tokens []Token) (string, error) {
	return m.m.Detokenize(tokens, false, false)
}

// ApplyTemplate formats a conversation with the model's chat template,
// ending with the assistant's turn opening.
func (m *Model) ApplyTemplate(msgs []Message) (string, error) {
	return llama.ApplyChatTemplate(m.info.ChatTemplate, msgs, true)
}

// IsEOG reports a token that ends generation.
func (m *Model) IsEOG(t Token) bool { return m.m.IsEOG(t) }
