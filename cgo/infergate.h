// Small C helpers for the Go binding: infergate.c (abort flag, logging) and
// shim.cpp (every llama.cpp call that can throw, behind try/catch).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <llama.h>

#ifdef __cplusplus
extern "C" {
#endif

void infergate_set_abort(struct llama_context * ctx, int * flag);
void infergate_store_flag(int * flag, int v);
void infergate_log_init(int verbose);

// Returned by the wrappers below when llama.cpp threw; err holds the message.
#define INFERGATE_EXCEPTION (INT32_MIN + 1)

// A sampler chain and an optional grammar (see shim.cpp). _new takes
// ownership of chain on success only; it returns NULL with err set when the
// grammar is refused.
typedef struct infergate_sampler infergate_sampler;
infergate_sampler * infergate_sampler_new(const struct llama_vocab * vocab, struct llama_sampler * chain,
                                          const char * grammar, const char * root, char * err, size_t err_len);
void    infergate_sampler_free(infergate_sampler * s);
int32_t infergate_sampler_sample(infergate_sampler * s, struct llama_context * ctx, int32_t idx, char * err, size_t err_len);
int     infergate_sampler_accept(infergate_sampler * s, llama_token t, char * err, size_t err_len);
int     infergate_sampler_reset(infergate_sampler * s, char * err, size_t err_len);

int32_t infergate_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len, llama_token * tokens,
                           int32_t n_max, bool add_special, bool parse_special, char * err, size_t err_len);
int32_t infergate_token_to_piece(const struct llama_vocab * vocab, llama_token t, char * buf, int32_t length,
                                 bool special, char * err, size_t err_len);
int32_t infergate_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens, char * text,
                             int32_t text_len_max, bool remove_special, bool unparse_special, char * err, size_t err_len);
int32_t infergate_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg, bool add_ass,
                                      char * buf, int32_t length, char * err, size_t err_len);

#ifdef __cplusplus
}
#endif
