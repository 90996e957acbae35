package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/infergate/infergate/models"
)

const modelsUsage = `Usage:
  infergate models [list] [--chat-model FILE] [--embed-model FILE] [--json]
      List the model catalogue the server would serve: id, kind, architecture,
      context, embedding size, file. Takes the same model options, environment
      variables and --config file as serve.

  infergate models pull URL --sha256 HEX [--out FILE | --dir DIR]
      Download a GGUF model over HTTP(S), resuming an interrupted download,
      verifying the SHA-256 and the GGUF header before the file appears.
`

func runModels(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "pull" {
		return runPull(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	var c serveConfig
	o := serveOptions(&c)
	var asJSON bool
	o.group("Output")
	o.Bool(&asJSON, "json", false, "print the catalogue as JSON")
	_, err := o.parse(args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, modelsUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "infergate models: %v\n\n%s", err, modelsUsage)
		return 2
	}
	var entries []models.Entry
	if c.chatModel != "" {
		entries = append(entries, models.Entry{ID: c.chatModelID, Path: c.chatModel, Kind: models.KindChat})
	}
	if c.embedModel != "" {
		entries = append(entries, models.Entry{ID: c.embedModelID, Path: c.embedModel, Kind: models.KindEmbedding})
	}
	cat, err := models.NewCatalog(entries)
	if err != nil {
		fmt.Fprintf(stderr, "infergate models: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cat.List()); err != nil {
			fmt.Fprintf(stderr, "infergate models: %v\n", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tARCH\tPARAMS\tCONTEXT\tEMBEDDING\tSIZE\tFILE")
	for _, m := range cat.List() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.ID, m.Kind, m.Meta.Architecture, humanCount(m.Meta.ParameterCount),
			m.Meta.ContextLength, m.Meta.EmbeddingLength, humanBytes(m.Size), m.Path)
	}
	_ = tw.Flush()
	return 0
}

func runPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := newOptions("pull")
	var sum, out, dir string
	o.group("Pull")
	o.String(&sum, "sha256", "", "expected SHA-256 of the file, hex (strongly recommended)")
	o.String(&out, "out", "", "destination file (default: DIR/<name in the URL>)")
	o.String(&dir, "dir", "models/cache", "destination folder when --out is not given")
	// The URL may come before or after the flags.
	var url string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		url, args = args[0], args[1:]
	}
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, errHelp) || err.Error() == "flag: help requested" {
			fmt.Fprint(stdout, modelsUsage)
			return 0
		}
		fmt.Fprintf(stderr, "infergate models pull: %v\n", err)
		return 2
	}
	if url == "" && o.fs.NArg() > 0 {
		url = o.fs.Arg(0)
	}
	if url == "" {
		fmt.Fprintf(stderr, "infergate models pull: missing URL\n\n%s", modelsUsage)
		return 2
	}
	if sum == "" {
		fmt.Fprintln(stderr, "warning: no --sha256 given; only the GGUF header will be checked")
	}
	if out == "" {
		name := filepath.Base(strings.SplitN(url, "?", 2)[0])
		if name == "" || name == "." || name == "/" {
			fmt.Fprintln(stderr, "infergate models pull: cannot name the file from the URL; give --out")
			return 2
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(stderr, "infergate models pull: %v\n", err)
			return 1
		}
		out = filepath.Join(dir, name)
	}
	if err := models.Pull(ctx, url, out, sum, stderr); err != nil {
		fmt.Fprintf(stderr, "infergate models pull: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	default:
		return fmt.Sprint(n)
	}
}
