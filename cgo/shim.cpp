// The C++ side of the binding: every llama.cpp call that can throw runs
// here inside try/catch, because a C++ exception that unwinds into cgo's C
// frames ends the process (std::terminate) and with it every conversation
// on the server. A caught exception becomes a return code and a message.

#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <vector>

#include "infergate.h"

namespace {

void set_err(char * err, size_t err_len, const char * msg) {
	if (err == nullptr || err_len == 0) {
		return;
	}
	std::strncpy(err, msg, err_len - 1);
	err[err_len - 1] = '\0';
}

// guarded runs f, and turns an exception it throws into fail, with the
// exception's message in err.
template <typename R, typename F>
R guarded(char * err, size_t err_len, R fail, F f) {
	try {
		return f();
	} catch (const std::exception & e) {
		set_err(err, err_len, e.what());
	} catch (...) {
		set_err(err, err_len, "unknown C++ exception");
	}
	return fail;
}

} // namespace

// A sequence's sampler: the chain (penalties, top-k, ..., the draw) and,
// kept apart from it, the grammar, so that the grammar is applied only when
// the chain's pick breaks it (as llama-server's common_sampler does) rather
// than to the whole vocabulary at every token.
struct infergate_sampler {
	struct llama_sampler *         chain   = nullptr;
	struct llama_sampler *         grammar = nullptr;
	std::vector<llama_token_data>  cur;
};

extern "C" {

infergate_sampler * infergate_sampler_new(const struct llama_vocab * vocab, struct llama_sampler * chain,
                                          const char * grammar, const char * root, char * err, size_t err_len) {
	infergate_sampler * s = nullptr;
	try {
		s = new infergate_sampler;
		s->chain = chain;
		s->cur.resize(llama_vocab_n_tokens(vocab));
		if (grammar != nullptr) {
			s->grammar = llama_sampler_init_grammar(vocab, grammar, root);
			if (s->grammar == nullptr) {
				set_err(err, err_len, "the grammar does not parse, has left recursion, or lacks its root rule");
				s->chain = nullptr; // the caller still owns it
				delete s;
				return nullptr;
			}
		}
		return s;
	} catch (const std::exception & e) {
		set_err(err, err_len, e.what());
	} catch (...) {
		set_err(err, err_len, "unknown C++ exception");
	}
	if (s != nullptr) {
		s->chain = nullptr;
		if (s->grammar != nullptr) {
			llama_sampler_free(s->grammar);
		}
		delete s;
	}
	return nullptr;
}

void infergate_sampler_free(infergate_sampler * s) {
	if (s == nullptr) {
		return;
	}
	llama_sampler_free(s->chain);
	if (s->grammar != nullptr) {
		llama_sampler_free(s->grammar);
	}
	delete s;
}

static void fill_candidates(infergate_sampler * s, const float * logits, llama_token_data_array * arr) {
	const size_t n = s->cur.size();
	for (size_t i = 0; i < n; i++) {
		s->cur[i] = llama_token_data{(llama_token) i, logits[i], 0.0f};
	}
	*arr = llama_token_data_array{s->cur.data(), n, -1, false};
}

// grammar_allows reports whether the grammar's next step admits token t.
// Accepting a token the grammar rejects throws, and accepting an
// end-of-generation token before the grammar is complete aborts the process
// (GGML_ABORT in llama_grammar_accept_impl): so nothing reaches accept
// without passing this check.
static bool grammar_allows(infergate_sampler * s, llama_token t) {
	llama_token_data one{t, 1.0f, 0.0f};
	llama_token_data_array arr{&one, 1, -1, false};
	llama_sampler_apply(s->grammar, &arr);
	return !std::isinf(one.logit);
}

int32_t infergate_sampler_sample(infergate_sampler * s, struct llama_context * ctx, int32_t idx, char * err, size_t err_len) {
	return guarded(err, err_len, (int32_t) -1, [&]() -> int32_t {
		const float * logits = llama_get_logits_ith(ctx, idx);
		if (logits == nullptr) {
			set_err(err, err_len, "no logits for this batch index");
			return -1;
		}
		llama_token_data_array arr;
		fill_candidates(s, logits, &arr);
		llama_sampler_apply(s->chain, &arr);
		if (arr.selected < 0 || (size_t) arr.selected >= arr.size) {
			set_err(err, err_len, "the sampler chain selected no token");
			return -1;
		}
		llama_token t = arr.data[arr.selected].id;
		if (s->grammar != nullptr && !grammar_allows(s, t)) {
			// The free pick breaks the grammar: draw again from the
			// tokens it allows. The chain's state (its RNG) moves on
			// twice for this token, as in llama-server.
			fill_candidates(s, logits, &arr);
			llama_sampler_apply(s->grammar, &arr);
			// With every candidate at -inf the draw asserts (abort) in
			// llama_sampler_dist_apply: check before the chain runs.
			bool any = false;
			for (size_t i = 0; i < arr.size && !any; i++) {
				any = !std::isinf(arr.data[i].logit);
			}
			if (!any) {
				set_err(err, err_len, "the grammar admits no token of this model's vocabulary here");
				return -1;
			}
			llama_sampler_apply(s->chain, &arr);
			if (arr.selected < 0 || (size_t) arr.selected >= arr.size || std::isinf(arr.data[arr.selected].logit)) {
				set_err(err, err_len, "the sampler chain picked a token the grammar forbids");
				return -1;
			}
			t = arr.data[arr.selected].id;
		}
		if (s->grammar != nullptr) {
			llama_sampler_accept(s->grammar, t);
		}
		llama_sampler_accept(s->chain, t);
		return t;
	});
}

int infergate_sampler_accept(infergate_sampler * s, llama_token t, char * err, size_t err_len) {
	return guarded(err, err_len, -1, [&] {
		if (s->grammar != nullptr) {
			if (!grammar_allows(s, t)) {
				set_err(err, err_len, "the grammar does not allow this token here");
				return -1;
			}
			llama_sampler_accept(s->grammar, t);
		}
		llama_sampler_accept(s->chain, t);
		return 0;
	});
}

int infergate_sampler_reset(infergate_sampler * s, char * err, size_t err_len) {
	return guarded(err, err_len, -1, [&] {
		llama_sampler_reset(s->chain);
		if (s->grammar != nullptr) {
			llama_sampler_reset(s->grammar);
		}
		return 0;
	});
}

int32_t infergate_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len, llama_token * tokens,
                           int32_t n_max, bool add_special, bool parse_special, char * err, size_t err_len) {
	return guarded(err, err_len, (int32_t) INFERGATE_EXCEPTION, [&] {
		return llama_tokenize(vocab, text, text_len, tokens, n_max, add_special, parse_special);
	});
}

int32_t infergate_token_to_piece(const struct llama_vocab * vocab, llama_token t, char * buf, int32_t length,
                                 bool special, char * err, size_t err_len) {
	return guarded(err, err_len, (int32_t) INFERGATE_EXCEPTION, [&] {
		return llama_token_to_piece(vocab, t, buf, length, 0, special);
	});
}

int32_t infergate_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens, char * text,
                             int32_t text_len_max, bool remove_special, bool unparse_special, char * err, size_t err_len) {
	return guarded(err, err_len, (int32_t) INFERGATE_EXCEPTION, [&] {
		return llama_detokenize(vocab, tokens, n_tokens, text, text_len_max, remove_special, unparse_special);
	});
}

int32_t infergate_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg, bool add_ass,
                                      char * buf, int32_t length, char * err, size_t err_len) {
	return guarded(err, err_len, (int32_t) INFERGATE_EXCEPTION, [&] {
		return llama_chat_apply_template(tmpl, chat, n_msg, add_ass, buf, length);
	});
}

} // extern "C"
