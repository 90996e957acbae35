package router

import "github.com/infergate/infergate/batcher"

// The batcher is the local engine the router is written for.
var _ Local = (*batcher.Batcher)(nil)
