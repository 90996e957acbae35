package bot

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrConfig is wrapped by Config.Validate's errors (a *ConfigError).
	ErrConfig = errors.New("bot: invalid config")
	// ErrPromptTooLong: the system prompt, scope and question alone do not
	// fit the model's context with room for an answer.
	ErrPromptTooLong = errors.New("bot: prompt does not fit the model's context")
	// ErrEmptyMessage: a message with no text.
	ErrEmptyMessage = errors.New("bot: empty message")
	// ErrInvalidHistory: an OpenAI client's message list the bot cannot
	// answer (a *ClientHistoryError).
	ErrInvalidHistory = errors.New("bot: invalid message history")
)

// ConfigError names the config field at fault; it wraps ErrConfig.
type ConfigError struct {
	Bot   string
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("bot %q: %s: %s", e.Bot, e.Field, e.Msg)
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

// GenerationError is a generation that failed after it started; it wraps
// the generator's error (llm.Result.Err).
type GenerationError struct {
	Route string
	Err   error
}

func (e *GenerationError) Error() string {
	return fmt.Sprintf("bot: generation on %s failed: %v", e.Route, e.Err)
}

func (e *GenerationError) Unwrap() error { return e.Err }
