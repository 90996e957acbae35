package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ReportFormat identifies the JSON report's schema; readers refuse others.
const ReportFormat = "infergate-bench/1"

// Report is a whole run: its parameters and one result per level. It is
// what --json writes and --compare reads.
type Report struct {
	Format      string        `json:"format"`
	Label       string        `json:"label,omitempty"`
	StartedAt   string        `json:"started_at"` // RFC 3339
	FinishedAt  string        `json:"finished_at"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Params      Params        `json:"params"`
	Client      ClientInfo    `json:"client"`
	Warmup      *WarmupResult `json:"warmup,omitempty"`
	Levels      []LevelResult `json:"levels"`
}

// Params are the run's parameters as given (the API key is never written;
// header values neither, as they may hold credentials).
type Params struct {
	URL          string    `json:"url"`
	Model        string    `json:"model,omitempty"`
	API          string    `json:"api"` // chat, completions or embeddings
	Stream       bool      `json:"stream"`
	Batch        int       `json:"batch,omitempty"`
	Mode         string    `json:"mode"` // closed or open
	Concurrency  []int     `json:"concurrency,omitempty"`
	Rate         []float64 `json:"rate,omitempty"`
	Burstiness   float64   `json:"burstiness,omitempty"`
	MaxInflight  int       `json:"max_inflight,omitempty"`
	Requests     int       `json:"requests,omitempty"` // 0: automatic per level
	Duration     string    `json:"duration,omitempty"`
	Warmup       int       `json:"warmup,omitempty"`
	Timeout      string    `json:"timeout"`
	InputTokens  string    `json:"input_tokens"`
	OutputTokens string    `json:"output_tokens"`
	// OutputFromDataset: output lengths came from the dataset's replies.
	OutputFromDataset bool     `json:"output_tokens_from_dataset,omitempty"`
	SystemTokens      int      `json:"system_tokens,omitempty"`
	Turns             int      `json:"turns"`
	Dataset           string   `json:"dataset,omitempty"`
	IgnoreEOS         bool     `json:"ignore_eos,omitempty"`
	Temperature       float64  `json:"temperature"`
	SLO               string   `json:"slo,omitempty"`
	Seed              uint64   `json:"seed"`
	APIKeySet         bool     `json:"api_key_set,omitempty"`
	HeaderNames       []string `json:"header_names,omitempty"`
	AllowRemote       bool     `json:"allow_remote,omitempty"`
}

// ClientInfo describes the machine that ran the harness, so that reports
// compared side by side can be checked to come from the same machine.
type ClientInfo struct {
	Hostname  string `json:"hostname,omitempty"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// WarmupResult says how the warmup requests fared; they are in no level.
type WarmupResult struct {
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	Errors   map[string]int `json:"errors,omitempty"`
}

// WriteJSON writes r to path, creating its folder.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(data, '\n'))
}

func writeFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Format != ReportFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, r.Format, ReportFormat)
	}
	return &r, nil
}

// fmtNum formats a figure with about three significant digits, which is
// all a benchmark's noise allows.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// metric is one row of the summary and compare tables.
type metric struct {
	name         string
	get          func(*LevelResult) float64
	lowerBetter  bool
	needsGoodput bool
}

func distRows(name string, d func(*LevelResult) *Dist) []metric {
	return []metric{
		{name: name + " mean ms", get: func(l *LevelResult) float64 { return d(l).Mean }, lowerBetter: true},
		{name: name + " p50 ms", get: func(l *LevelResult) float64 { return d(l).P50 }, lowerBetter: true},
		{name: name + " p90 ms", get: func(l *LevelResult) float64 { return d(l).P90 }, lowerBetter: true},
		{name: name + " p99 ms", get: func(l *LevelResult) float64 { return d(l).P99 }, lowerBetter: true},
	}
}

// metrics lists the rows shown for a run: embeddings have no output
// tokens, and TTFT, TPOT and ITL are measured only on streamed responses.
func metrics(embed, stream bool) []metric {
	rows := []metric{
		{name: "requests/s", get: func(l *LevelResult) float64 { return l.RequestThroughput }},
	}
	if embed {
		rows = append(rows,
			metric{name: "embeddings/s", get: func(l *LevelResult) float64 { return l.EmbeddingsPerS }},
			metric{name: "input tok/s", get: func(l *LevelResult) float64 { return l.InputTokensPerS }},
		)
	} else {
		rows = append(rows,
			metric{name: "output tok/s", get: func(l *LevelResult) float64 { return l.OutputTokensPerS }},
			metric{name: "total tok/s", get: func(l *LevelResult) float64 { return l.TotalTokensPerS }},
		)
	}
	rows = append(rows,
		metric{name: "goodput req/s", get: func(l *LevelResult) float64 {
			if l.Goodput == nil {
				return 0
			}
			return l.Goodput.RequestsPerS
		}, needsGoodput: true},
		metric{name: "input tokens mean", get: func(l *LevelResult) float64 { return l.InputTokensMean }},
	)
	if !embed {
		rows = append(rows, metric{name: "output tokens mean", get: func(l *LevelResult) float64 { return l.OutputTokensMean }})
		if stream {
			// Without streaming the first token arrives with the whole
			// body: TTFT would repeat E2E.
			rows = append(rows, distRows("TTFT", func(l *LevelResult) *Dist { return &l.TTFT })...)
			rows = append(rows, distRows("TPOT", func(l *LevelResult) *Dist { return &l.TPOT })...)
			rows = append(rows, distRows("ITL", func(l *LevelResult) *Dist { return &l.ITL })...)
		}
	}
	rows = append(rows, distRows("E2E", func(l *LevelResult) *Dist { return &l.E2E })...)
	return rows
}

func isEmbed(r *Report) bool { return r.Params.API == "embeddings" }

func hasGoodput(r *Report) bool {
	for _, l := range r.Levels {
		if l.Goodput != nil {
			return true
		}
	}
	return false
}

// WriteSummary prints the run as a table with one column per level, which
// keeps a sweep readable however many metrics there are.
func (r *Report) WriteSummary(w io.Writer) {
	p := r.Params
	head := fmt.Sprintf("%s %s", p.API, p.URL)
	if p.Model != "" {
		head += " model=" + p.Model
	}
	if p.API != "embeddings" {
		head += fmt.Sprintf(" stream=%t in=%s out=%s", p.Stream, p.InputTokens, p.OutputTokens)
		if p.Turns > 1 {
			head += fmt.Sprintf(" turns=%d", p.Turns)
		}
	} else {
		head += fmt.Sprintf(" batch=%d in=%s", p.Batch, p.InputTokens)
	}
	if p.Dataset != "" {
		head += " dataset=" + filepath.Base(p.Dataset)
	}
	if r.Label != "" {
		head = r.Label + ": " + head
	}
	fmt.Fprintln(w, head)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: figures cover what had finished")
	}
	if len(r.Levels) == 0 {
		fmt.Fprintln(w, "no level completed")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Numbers align right; names are padded here to one width so that
	// they read left-aligned.
	const nameWidth = 18
	row := func(name string, cells []string) {
		fmt.Fprintf(tw, "%-*s\t%s\t\n", nameWidth, name, strings.Join(cells, "\t"))
	}
	each := func(f func(*LevelResult) string) []string {
		out := make([]string, len(r.Levels))
		for i := range r.Levels {
			out[i] = f(&r.Levels[i])
		}
		return out
	}
	row("level", each(func(l *LevelResult) string { return l.Label }))
	row("ok/failed", each(func(l *LevelResult) string { return fmt.Sprintf("%d/%d", l.Completed, l.Failed) }))
	row("duration s", each(func(l *LevelResult) string { return fmtNum(l.DurationS) }))
	good := hasGoodput(r)
	for _, m := range metrics(isEmbed(r), p.Stream) {
		if m.needsGoodput && !good {
			continue
		}
		row(m.name, each(func(l *LevelResult) string { return fmtNum(m.get(l)) }))
	}
	if good {
		row("within SLO %", each(func(l *LevelResult) string {
			if l.Goodput == nil {
				return "-"
			}
			return fmtNum(100 * l.Goodput.Fraction)
		}))
	}
	if anyLevel(r, func(l *LevelResult) bool { return len(l.Routes) > 0 }) {
		row("routes", each(func(l *LevelResult) string { return routeCell(l.Routes) }))
	}
	if anyLevel(r, func(l *LevelResult) bool { return l.LateStarts > 0 }) {
		row("late starts", each(func(l *LevelResult) string { return strconv.Itoa(l.LateStarts) }))
	}
	if anyLevel(r, func(l *LevelResult) bool { return l.Completed > 0 && l.UsageReported < l.Completed }) {
		row("usage reported %", each(func(l *LevelResult) string {
			if l.Completed == 0 {
				return "-"
			}
			return fmtNum(100 * float64(l.UsageReported) / float64(l.Completed))
		}))
	}
	row("errors", each(func(l *LevelResult) string { return errorCell(l.Errors) }))
	tw.Flush()

	// One example message per error kind, which is usually all it takes to
	// see what went wrong (a wrong model name, a full queue).
	seen := map[string]bool{}
	for _, l := range r.Levels {
		for _, k := range slices.Sorted(maps.Keys(l.ErrorMsgs)) {
			if !seen[k] {
				seen[k] = true
				fmt.Fprintf(w, "  %s: %s\n", k, l.ErrorMsgs[k])
			}
		}
	}
	if anyLevel(r, func(l *LevelResult) bool { return len(l.Turns) > 0 }) {
		lat := "TTFT"
		if !p.Stream {
			lat = "E2E" // without streaming, the first token comes with the body
		}
		fmt.Fprintf(w, "by turn (%s mean ms / input tokens mean):\n", lat)
		for _, l := range r.Levels {
			var cells []string
			for _, t := range l.Turns {
				cells = append(cells, fmt.Sprintf("#%d %s/%s", t.Turn, fmtNum(t.TTFTMeanMs), fmtNum(t.InputTokensMean)))
			}
			fmt.Fprintf(w, "  %s: %s\n", l.Label, strings.Join(cells, "  "))
		}
	}
}

func anyLevel(r *Report, f func(*LevelResult) bool) bool {
	for i := range r.Levels {
		if f(&r.Levels[i]) {
			return true
		}
	}
	return false
}

func routeCell(routes map[string]RouteShare) string {
	if len(routes) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(routes)) {
		parts = append(parts, fmt.Sprintf("%s:%.0f%%", k, 100*routes[k].Share))
	}
	return strings.Join(parts, " ")
}

func errorCell(errs map[string]int) string {
	if len(errs) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}

// WriteCompare prints runs a and b side by side, level by level (levels
// are matched by label, e.g. c=16), with the ratio b/a. Parameters that
// differ are listed first, since they can explain any difference.
func WriteCompare(w io.Writer, a, b *Report, nameA, nameB string) {
	fmt.Fprintf(w, "A: %s\nB: %s\n", describe(a, nameA), describe(b, nameB))
	if diffs := paramDiffs(a, b); len(diffs) > 0 {
		fmt.Fprintln(w, "parameters differ:")
		for _, d := range diffs {
			fmt.Fprintln(w, "  "+d)
		}
	}
	if a.Client.Hostname != b.Client.Hostname || a.Client.CPUs != b.Client.CPUs {
		fmt.Fprintf(w, "note: runs come from different client machines (%s/%d CPUs vs %s/%d CPUs)\n",
			a.Client.Hostname, a.Client.CPUs, b.Client.Hostname, b.Client.CPUs)
	}
	fmt.Fprintln(w, "B/A above 1 is better for throughput rows, below 1 for latency rows ('ms').")
	byLabel := map[string]*LevelResult{}
	for i := range b.Levels {
		byLabel[b.Levels[i].Label] = &b.Levels[i]
	}
	embed := isEmbed(a) && isEmbed(b)
	good := hasGoodput(a) && hasGoodput(b)
	matched := map[string]bool{}
	for i := range a.Levels {
		la := &a.Levels[i]
		lb, ok := byLabel[la.Label]
		if !ok {
			continue
		}
		matched[la.Label] = true
		fmt.Fprintf(w, "\nlevel %s\n", la.Label)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		const nameWidth = 18
		fmt.Fprintf(tw, "%-*s\tA\tB\tB/A\t\n", nameWidth, "metric")
		fmt.Fprintf(tw, "%-*s\t%d/%d\t%d/%d\t\t\n", nameWidth, "ok/failed", la.Completed, la.Failed, lb.Completed, lb.Failed)
		for _, m := range metrics(embed, a.Params.Stream && b.Params.Stream) {
			if m.needsGoodput && !good {
				continue
			}
			va, vb := m.get(la), m.get(lb)
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t\n", nameWidth, m.name, fmtNum(va), fmtNum(vb), ratio(va, vb))
		}
		tw.Flush()
	}
	var onlyA, onlyB []string
	for _, l := range a.Levels {
		if !matched[l.Label] {
			onlyA = append(onlyA, l.Label)
		}
	}
	for _, l := range b.Levels {
		if !matched[l.Label] {
			onlyB = append(onlyB, l.Label)
		}
	}
	if len(onlyA) > 0 {
		fmt.Fprintf(w, "\nonly in A: %s\n", strings.Join(onlyA, " "))
	}
	if len(onlyB) > 0 {
		fmt.Fprintf(w, "only in B: %s\n", strings.Join(onlyB, " "))
	}
	if len(matched) == 0 {
		fmt.Fprintln(w, "\nno level in common")
	}
}

func describe(r *Report, name string) string {
	s := name
	if r.Label != "" {
		s += " (" + r.Label + ")"
	}
	s += " " + r.Params.URL
	if r.Params.Model != "" {
		s += " model=" + r.Params.Model
	}
	if r.StartedAt != "" {
		s += " at " + r.StartedAt
	}
	return s
}

// ratio renders b/a; undefined when a is zero.
func ratio(a, b float64) string {
	if a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", b/a)
}

// paramDiffs lists the workload parameters that differ between a and b
// (the URL and model are expected to differ, so they are not listed).
func paramDiffs(a, b *Report) []string {
	pa, pb := a.Params, b.Params
	fields := []struct {
		name string
		a, b any
	}{
		{"api", pa.API, pb.API},
		{"stream", pa.Stream, pb.Stream},
		{"batch", pa.Batch, pb.Batch},
		{"mode", pa.Mode, pb.Mode},
		{"burstiness", pa.Burstiness, pb.Burstiness},
		{"requests", pa.Requests, pb.Requests},
		{"duration", pa.Duration, pb.Duration},
		{"input_tokens", pa.InputTokens, pb.InputTokens},
		{"output_tokens", pa.OutputTokens, pb.OutputTokens},
		{"system_tokens", pa.SystemTokens, pb.SystemTokens},
		{"turns", pa.Turns, pb.Turns},
		{"dataset", pa.Dataset, pb.Dataset},
		{"ignore_eos", pa.IgnoreEOS, pb.IgnoreEOS},
		{"temperature", pa.Temperature, pb.Temperature},
		{"slo", pa.SLO, pb.SLO},
		{"seed", pa.Seed, pb.Seed},
	}
	var out []string
	for _, f := range fields {
		if sa, sb := fmt.Sprint(f.a), fmt.Sprint(f.b); sa != sb {
			out = append(out, fmt.Sprintf("%s: %s vs %s", f.name, sa, sb))
		}
	}
	return out
}
