#include <stdio.h>
#include "infergate.h"

// The abort flag lives in C memory so that ggml's compute threads can poll
// it without calling into Go.
static bool infergate_abort_cb(void * data) {
	return __atomic_load_n((int *) data, __ATOMIC_RELAXED) != 0;
}

void infergate_set_abort(struct llama_context * ctx, int * flag) {
	llama_set_abort_callback(ctx, infergate_abort_cb, flag);
}

void infergate_store_flag(int * flag, int v) {
	__atomic_store_n(flag, v, __ATOMIC_RELAXED);
}

// llama.cpp logs everything at INFO to stderr by default, and warns about
// harmless quirks of many model files; keep errors only, unless verbose
// logging is asked for.
static int infergate_log_min = GGML_LOG_LEVEL_ERROR;
static int infergate_last_level = GGML_LOG_LEVEL_WARN;

static void infergate_log_cb(enum ggml_log_level level, const char * text, void * user) {
	(void) user;
	if (level != GGML_LOG_LEVEL_CONT) {
		infergate_last_level = level;
	}
	if (infergate_last_level >= infergate_log_min) {
		fputs(text, stderr);
	}
}

void infergate_log_init(int verbose) {
	infergate_log_min = verbose ? GGML_LOG_LEVEL_DEBUG : GGML_LOG_LEVEL_ERROR;
	llama_log_set(infergate_log_cb, NULL);
	ggml_log_set(infergate_log_cb, NULL);
}
