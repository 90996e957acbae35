// Command infergate serves chat and embedding models over an
// OpenAI-compatible HTTP API, with continuous batching over llama.cpp.
//
//	infergate serve [options]     run the server (infergate serve --help)
//	infergate ingest [options] PATH...  upload documents into a knowledge-base collection
//	infergate search [options] QUERY    search a collection
//	infergate restore [options]   restore a knowledge-base backup into a data directory
//	infergate bench [options]     load-test an OpenAI-compatible server
//	infergate models [list|pull]  show the model catalogue, download a model
//	infergate version             print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/infergate/infergate/bench"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	// SIGINT and SIGTERM start a graceful shutdown; a second one kills, as
	// stop restores the default handling.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const topUsage = `infergate: an OpenAI-compatible inference gateway over llama.cpp

Usage:
  infergate serve [options]             serve the API (see infergate serve --help)
  infergate ingest --collection NAME [options] PATH...
                                        upload files, folders and .jsonl documents into a
                                        knowledge-base collection (infergate ingest --help)
  infergate search --collection NAME [options] QUERY
                                        search a collection (infergate search --help)
  infergate restore --from BACKUP --data-dir DIR [--force]
                                        restore a backup written by POST /admin/backup, with
                                        the server stopped (infergate restore --help)
  infergate bench [options]             load-test an OpenAI-compatible server (infergate bench --help)
  infergate models [list] [options]     list the model catalogue (infergate models --help)
  infergate models pull URL --sha256 HEX [--out FILE]
                                        download a GGUF model with a checksum
  infergate version                     print the version
`

// run dispatches a subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, getenv)
	case "ingest":
		return runIngest(ctx, args[1:], stdout, stderr, getenv)
	case "search":
		return runSearch(ctx, args[1:], stdout, stderr, getenv)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr, getenv)
	case "bench":
		return bench.Main(ctx, args[1:], stdout, stderr)
	case "models":
		return runModels(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "infergate: unknown command %q\n\n%s", args[0], topUsage)
		return 2
	}
}

// versionString is the version with the VCS revision Go recorded, if any.
func versionString() string {
	s := "infergate " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					modified = "+dirty"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			s += " (" + rev + modified + ")"
		}
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
