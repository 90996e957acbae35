package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runCmd runs the infergate command line in-process.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, noEnv)
	return out.String(), errb.String(), code
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var kbFiles = map[string]string{
	"billing/refunds.md": "# Refunds\n\nAnnual plans are refunded within five business days to the card you paid with.\n\n## Partial refunds\n\nUnused months are refunded when you downgrade.\n",
	"account/password.html": "<html><head><title>Reset your password</title></head><body><h1>Reset your password</h1>" +
		"<p>Choose Forgot password on the login page; the emailed reset link expires after one hour.</p></body></html>",
	"shipping.txt": "Parcels ship within three to seven days inside the EU, and the tracking number arrives by email.",
	"faq.jsonl": `{"id":"faq/cancel","text":"To cancel your subscription open Settings, then Billing, then Cancel plan.","metadata":{"category":"billing"}}` + "\n\n" +
		`{"id":"faq/languages","markdown":"# Languages\n\nThe app is available in English, German and French.","metadata":{"tags":["app"]}}` + "\n",
	"manual.pdf":       "%PDF-1.4 not ingested",
	".drafts/wip.md":   "# Work in progress\n\nNot ingested.",
	"nested/deep/x.md": "# Keyboard shortcuts\n\nPress Ctrl+K to open the command palette.",
}

// kbQueries are the searches whose results must survive restarts and
// restores, with the document each must rank first.
var kbQueries = []struct{ query, want string }{
	{"how do I get my money back for a yearly plan", "billing/refunds.md"},
	{"I forgot my password", "account/password.html"},
	{"when will my parcel arrive", "shipping.txt"},
	{"cancel subscription", "faq/cancel"},
	{"command palette shortcut", "nested/deep/x.md"},
}

type cliHit struct {
	DocumentID string  `json:"document_id"`
	ChunkID    uint64  `json:"chunk_id"`
	Score      float64 `json:"score"`
}

// searchAll runs every kbQuery through `infergate search --json`.
func searchAll(t *testing.T, base string) [][]cliHit {
	t.Helper()
	var all [][]cliHit
	for _, q := range kbQueries {
		out, errs, code := runCmd(t, "search", "--url", base, "--api-key", "sk-user", "--collection", "support", "--k", "3", "--json", q.query)
		if code != 0 {
			t.Fatalf("search %q: exit %d: %s", q.query, code, errs)
		}
		var res struct{ Data []cliHit }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("search %q: %v: %s", q.query, err, out)
		}
		if len(res.Data) == 0 || res.Data[0].DocumentID != q.want {
			t.Errorf("search %q: %+v, want %s first", q.query, res.Data, q.want)
		}
		all = append(all, res.Data)
	}
	return all
}

func sameResults(t *testing.T, what string, got, want [][]cliHit) {
	t.Helper()
	for i := range want {
		same := len(got[i]) == len(want[i])
		for j := 0; same && j < len(want[i]); j++ {
			g, w := got[i][j], want[i][j]
			same = g.DocumentID == w.DocumentID && g.ChunkID == w.ChunkID && math.Abs(g.Score-w.Score) <= 1e-6
		}
		if !same {
			t.Errorf("%s: search %q gave %+v, before %+v", what, kbQueries[i].query, got[i], want[i])
		}
	}
}

// TestKnowledgeBaseCLI: ingest a folder into a served MiniLM, search it,
// re-ingest (nothing changes), restart on the same data directory, back up
// over HTTP, restore into a new data directory and serve that: the same
// results every time.
func TestKnowledgeBaseCLI(t *testing.T) {
	_, emb := testModels(t)
	dir := t.TempDir()
	docs := filepath.Join(dir, "docs")
	writeFiles(t, docs, kbFiles)
	serveArgs := func(data string) []string {
		return []string{"--addr", "127.0.0.1:0", "--data-dir", data, "--chat-model", "", "--embed-model", emb, "--threads", "1",
			"--api-key", "sk-user", "--admin-key", "sk-admin", "--shutdown-timeout", "5s"}
	}
	data := filepath.Join(dir, "data")
	srv := startServe(t, serveArgs(data)...)
	base := "http://" + srv.addr

	out, errs, code := runCmd(t, "ingest", "--url", base, "--admin-key", "sk-admin", "--collection", "support", "--create",
		"--batch", "2", "--concurrency", "2", docs)
	if code != 0 || !strings.Contains(out, "6 documents: 6 created, 0 updated, 0 unchanged, 0 failed") {
		t.Fatalf("ingest: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "created collection support") || !strings.Contains(errs, "skipping 1 files") {
		t.Errorf("ingest stderr: %s", errs)
	}
	before := searchAll(t, base)

	out, _, code = runCmd(t, "search", "--url", base, "--api-key", "sk-user", "--collection", "support", "--filter", `{"category":"billing"}`, "money", "back")
	if code != 0 || !strings.Contains(out, " 1. ") || strings.Contains(out, "shipping.txt") || !strings.Contains(out, "faq/cancel") {
		t.Errorf("plain search output:\n%s", out)
	}

	out, errs, code = runCmd(t, "ingest", "--url", base, "--admin-key", "sk-admin", "--collection", "support", docs)
	if code != 0 || !strings.Contains(out, "6 documents: 0 created, 0 updated, 6 unchanged, 0 failed") || !strings.Contains(out, "(0 embedded)") {
		t.Fatalf("re-ingest: exit %d\n%s%s", code, out, errs)
	}
	sameResults(t, "after re-ingesting", searchAll(t, base), before)

	// Refused documents are reported by id; the rest of their batch goes in.
	bad := filepath.Join(dir, "bad")
	writeFiles(t, bad, map[string]string{
		"batch.jsonl": `{"id":"ok-1","text":"fine"}` + "\n" + `{"id":"empty"}` + "\n" + `{"id":"bin","text":"\u0000\u0001"}` + "\n" +
			"not json\n" + `{"id":"ok-2","text":"also fine","metadata":{"tags":"x"}}` + "\n" + `{"id":"ok-3","text":"fine too"}` + "\n",
	})
	out, errs, code = runCmd(t, "ingest", "--url", base, "--admin-key", "sk-admin", "--collection", "scratch", "--create", "--batch", "10", bad)
	if code != 1 || !strings.Contains(out, "6 documents: 2 created, 0 updated, 0 unchanged, 4 failed") {
		t.Errorf("bad ingest: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"failed: empty (", "the document is empty", "failed: bin (", "failed: (no id) (" + filepath.Join(bad, "batch.jsonl") + ":4)",
		"failed: ok-2 (", "metadata.tags"} {
		if !strings.Contains(errs, want) {
			t.Errorf("bad ingest: stderr lacks %q:\n%s", want, errs)
		}
	}
	if _, errs, code = runCmd(t, "ingest", "--url", base, "--admin-key", "sk-admin", "--collection", "nope", docs); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Errorf("unknown collection: exit %d: %s", code, errs)
	}
	if _, errs, code = runCmd(t, "ingest", "--url", base, "--api-key", "sk-user", "--collection", "support", docs); code != 1 || !strings.Contains(errs, "API key") {
		t.Errorf("ingest without the admin key: exit %d: %s", code, errs)
	}

	req, _ := http.NewRequest("POST", base+"/admin/backup", strings.NewReader(`{"name":"nightly"}`))
	req.Header.Set("Authorization", "Bearer sk-admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var backup struct{ Path string }
	err = json.NewDecoder(resp.Body).Decode(&backup)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || backup.Path == "" {
		t.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	srv.stop(t)

	srv = startServe(t, serveArgs(data)...)
	sameResults(t, "after a restart", searchAll(t, "http://"+srv.addr), before)
	if !strings.Contains(srv.logs.String(), `"graph_from_snapshot":true`) {
		t.Errorf("the restart rebuilt the graph instead of loading its snapshot:\n%s", srv.logs.String())
	}
	// A running server's store is not replaced, even with --force.
	if _, errs, code := runCmd(t, "restore", "--from", backup.Path, "--data-dir", data, "--force"); code != 1 || !strings.Contains(errs, "in use") {
		t.Errorf("restore over a live store: exit %d: %s", code, errs)
	}
	srv.stop(t)

	restored := filepath.Join(dir, "restored")
	out, errs, code = runCmd(t, "restore", "--from", backup.Path, "--data-dir", restored)
	if code != 0 || !strings.Contains(out, "2 collections (scratch, support)") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code = runCmd(t, "restore", "--from", backup.Path, "--data-dir", restored); code != 1 || !strings.Contains(errs, "--force") {
		t.Errorf("restore over a store without --force: exit %d: %s", code, errs)
	}
	if out, errs, code = runCmd(t, "restore", "--from", backup.Path, "--data-dir", restored, "--force"); code != 0 || !strings.Contains(out, "store.old-") {
		t.Errorf("restore --force: exit %d\n%s%s", code, out, errs)
	}
	if old, _ := filepath.Glob(filepath.Join(restored, "store.old-*")); len(old) != 1 {
		t.Errorf("the replaced store was not kept: %v", old)
	}
	if _, errs, code = runCmd(t, "restore", "--from", docs, "--data-dir", filepath.Join(dir, "x")); code != 1 || !strings.Contains(errs, "not a backup") {
		t.Errorf("restore from a non-backup: exit %d: %s", code, errs)
	}

	srv = startServe(t, serveArgs(restored)...)
	sameResults(t, "after a restore", searchAll(t, "http://"+srv.addr), before)
	srv.stop(t)
}

func TestCollectSources(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, kbFiles)
	sources, skipped, err := collectSources([]string{dir, filepath.Join(dir, "shipping.txt")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sources {
		got = append(got, s.id+":"+s.format)
	}
	want := []string{"account/password.html:html", "billing/refunds.md:markdown", "faq.jsonl:jsonl", "nested/deep/x.md:markdown",
		"shipping.txt:text", "shipping.txt:text"}
	if !slices.Equal(got, want) || skipped != 1 {
		t.Errorf("got %v (%d skipped), want %v (1 skipped)", got, skipped, want)
	}
	if n, err := countDocuments(sources); err != nil || n != 7 {
		t.Errorf("%d documents, %v; want 7", n, err)
	}
	if _, _, err := collectSources([]string{filepath.Join(dir, "manual.pdf")}); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("a PDF named directly: %v", err)
	}
}

func TestDocumentIndex(t *testing.T) {
	for param, want := range map[string]int{"documents[3].text": 3, "documents[12]": 12, "documents": -1, "filter.x": -1, "documents[x]": -1} {
		i, ok := documentIndex(param)
		if !ok {
			i = -1
		}
		if i != want {
			t.Errorf("documentIndex(%q) = %d, want %d", param, i, want)
		}
	}
}

func TestParseArgsInterleaved(t *testing.T) {
	o := newOptions("t")
	o.group("G")
	var k int
	var asJSON bool
	o.Int(&k, "k", 1, "")
	o.Bool(&asJSON, "json", false, "")
	rest, _, err := o.parseArgs([]string{"how", "--k", "3", "do", "--json", "I", "--", "--k"}, func(name string) string {
		return map[string]string{"INFERGATE_K": "9"}[name]
	})
	if err != nil || k != 3 || !asJSON || fmt.Sprint(rest) != "[how do I --k]" {
		t.Errorf("%v %d %v %q", err, k, asJSON, rest)
	}
}

func TestKBCommandsUsage(t *testing.T) {
	out, _, code := runCmd(t, "help")
	for _, want := range []string{"infergate ingest", "infergate search", "infergate restore"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, cmd := range []string{"ingest", "search", "restore"} {
		if out, _, code := runCmd(t, cmd, "--help"); code != 0 || !strings.Contains(out, "Usage: infergate "+cmd) || !strings.Contains(out, "[env INFERGATE_") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
		if _, errs, code := runCmd(t, cmd); code != 2 || !strings.Contains(errs, "required") && !strings.Contains(errs, "no PATH") {
			t.Errorf("%s without arguments: exit %d: %s", cmd, code, errs)
		}
	}
}
