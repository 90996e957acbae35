// Small C helpers for the Go binding; see infergate.c.
#pragma once
#include <llama.h>

void infergate_set_abort(struct llama_context * ctx, int * flag);
void infergate_store_flag(int * flag, int v);
void infergate_log_init(int verbose);
