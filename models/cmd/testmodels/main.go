// Command testmodels copies the pinned test models into a cache folder,
// verifying their sizes and SHA-256 checksums; `make models` runs it. It is
// idempotent: files that already verify are left alone.
//
//	go run ./models/cmd/testmodels [-dir models/cache]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/infergate/infergate/models"
)

func main() {
	dir := flag.String("dir", "models/cache", "folder to keep the test models in")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	paths, err := models.EnsureTestModels(ctx, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testmodels:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}
