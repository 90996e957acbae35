package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// kbClient calls a server's knowledge-base endpoints, for ingest and
// search.
type kbClient struct {
	base string // scheme://host[:port], without /v1
	key  string
	http *http.Client
}

func newKBClient(rawURL, key string) (*kbClient, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http(s)://host[:port]", rawURL)
	}
	base := strings.TrimSuffix(u.String(), "/v1")
	// No overall timeout: an upsert of large documents embeds them all
	// before it answers. Requests end with their context.
	return &kbClient{base: base, key: key, http: &http.Client{}}, nil
}

// apiError is a server's error response.
type apiError struct {
	Status     int
	Message    string `json:"message"`
	Type       string `json:"type"`
	Param      string `json:"param"`
	Code       string `json:"code"`
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.Param, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, cmp.Or(e.Code, e.Type), e.Message)
}

// call sends body (nil for none) and returns the response body; a
// response other than 2xx is an *apiError.
func (c *kbClient) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	e := &apiError{Status: resp.StatusCode}
	var wrapped struct {
		Error *apiError `json:"error"`
	}
	wrapped.Error = e
	if json.Unmarshal(b, &wrapped) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, e
}

func collectionPath(name string) string { return "/v1/collections/" + url.PathEscape(name) }

const searchUsage = `Usage: infergate search --collection NAME [options] QUERY...

Searches a knowledge-base collection of a running server and prints the
results best first: rank, score, document id, heading path and a one-line
snippet of the passage (or, with --json, the server's response as it is).
`

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var rawURL, key, coll, mode, filter string
	var k int
	var asJSON, group bool
	o := newOptions("search")
	o.group("Search")
	o.String(&rawURL, "url", "http://127.0.0.1:8080", "the server's base `URL`")
	o.String(&key, "api-key", "", "API key to send (Authorization: Bearer)")
	o.String(&coll, "collection", "", "collection to search (required)")
	o.Int(&k, "k", 5, "results to return (1-100)")
	o.String(&mode, "mode", "hybrid", "hybrid, vector or lexical")
	o.String(&filter, "filter", "", `metadata filter as JSON, e.g. '{"category":"billing","tags":["refund"]}'`)
	o.Bool(&group, "group-by-document", false, "only the best passage of each document")
	o.Bool(&asJSON, "json", false, "print the server's JSON response")
	words, _, err := o.parseArgs(args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, searchUsage)
		o.usage(stdout)
		return 0
	}
	query := strings.Join(words, " ")
	switch {
	case err != nil:
	case coll == "":
		err = errors.New("--collection is required")
	case strings.TrimSpace(query) == "":
		err = errors.New("no query given")
	case filter != "" && !json.Valid([]byte(filter)):
		err = fmt.Errorf("--filter %q is not JSON", filter)
	}
	if err != nil {
		fmt.Fprintf(stderr, "infergate search: %v\n(see infergate search --help)\n", err)
		return 2
	}
	c, err := newKBClient(rawURL, key)
	if err != nil {
		fmt.Fprintf(stderr, "infergate search: %v\n", err)
		return 2
	}
	req := map[string]any{"query": query, "k": k, "mode": mode}
	if filter != "" {
		req["filter"] = json.RawMessage(filter)
	}
	if group {
		req["group_by_document"] = true
	}
	body, _ := json.Marshal(req) // plain values always encode
	resp, err := c.call(ctx, http.MethodPost, collectionPath(coll)+"/search", body)
	if err != nil {
		fmt.Fprintf(stderr, "infergate search: %v\n", err)
		return 1
	}
	if asJSON {
		fmt.Fprintln(stdout, string(resp))
		return 0
	}
	var res struct {
		Data []struct {
			DocumentID string   `json:"document_id"`
			Score      float64  `json:"score"`
			Text       string   `json:"text"`
			Heading    []string `json:"heading"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp, &res); err != nil {
		fmt.Fprintf(stderr, "infergate search: the server's response: %v\n", err)
		return 1
	}
	if len(res.Data) == 0 {
		fmt.Fprintln(stdout, "no results")
		return 0
	}
	for i, h := range res.Data {
		line := fmt.Sprintf("%2d. %.4f  %s", i+1, h.Score, h.DocumentID)
		if len(h.Heading) > 0 {
			line += "  (" + strings.Join(h.Heading, " › ") + ")"
		}
		fmt.Fprintf(stdout, "%s\n    %s\n", line, snippet(h.Text, 100))
	}
	return 0
}

// snippet is text on one line, whitespace collapsed, cut to at most n
// runes at a word boundary.
func snippet(text string, n int) string {
	s := strings.Join(strings.FieldsFunc(text, unicode.IsSpace), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}
