// Package deploy holds infergate's operations files: the Prometheus
// recording and alert rules (prometheus/), the Grafana dashboard
// (grafana/), the container images' conventions. The Go here reads them
// for the tests that keep them honest: every metric name an expression
// uses must be one that a running server exposes on /metrics.
package deploy

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed prometheus/*.yml grafana/*.json
var files embed.FS

// Expr is one PromQL expression of a rule file or the dashboard.
type Expr struct {
	Source string // file and rule or panel, for messages
	Query  string
}

// RuleFiles are the Prometheus rule files, by path inside deploy/.
func RuleFiles() []string {
	names, _ := fs.Glob(files, "prometheus/*.yml")
	return names
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Rules returns every rule's expression and the names the recording rules
// define.
func Rules() (exprs []Expr, recorded map[string]bool, err error) {
	recorded = map[string]bool{}
	for _, name := range RuleFiles() {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, nil, err
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				what := r.Alert
				if r.Record != "" {
					what = r.Record
					recorded[r.Record] = true
				}
				exprs = append(exprs, Expr{Source: fmt.Sprintf("%s: %s: %s", name, g.Name, what), Query: r.Expr})
			}
		}
	}
	return exprs, recorded, nil
}

// DashboardFile is the Grafana dashboard, by path inside deploy/.
const DashboardFile = "grafana/infergate.json"

// Dashboard returns the dashboard as parsed JSON.
func Dashboard() (map[string]any, error) {
	b, err := files.ReadFile(DashboardFile)
	if err != nil {
		return nil, err
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	return d, nil
}

// DashboardExprs returns the PromQL of every panel target, nested rows
// included, and the metric of each query variable (label_values(m, l)).
func DashboardExprs() ([]Expr, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	var out []Expr
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			pm, _ := p.(map[string]any)
			title, _ := pm["title"].(string)
			targets, _ := pm["targets"].([]any)
			for i, t := range targets {
				tm, _ := t.(map[string]any)
				if e, _ := tm["expr"].(string); e != "" {
					out = append(out, Expr{Source: fmt.Sprintf("%s: panel %q target %d", DashboardFile, title, i), Query: e})
				}
			}
			sub, _ := pm["panels"].([]any)
			walk(sub)
		}
	}
	panels, _ := d["panels"].([]any)
	walk(panels)
	templ, _ := d["templating"].(map[string]any)
	vars, _ := templ["list"].([]any)
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		if vm["type"] != "query" {
			continue
		}
		q := vm["query"]
		if qm, ok := q.(map[string]any); ok {
			q = qm["query"]
		}
		qs, _ := q.(string)
		m, ok := labelValuesMetric(qs)
		if !ok {
			return nil, fmt.Errorf("%s: variable %v: query %q is not label_values(metric, label)", DashboardFile, vm["name"], qs)
		}
		out = append(out, Expr{Source: fmt.Sprintf("%s: variable %v", DashboardFile, vm["name"]), Query: m})
	}
	return out, nil
}

// labelValuesMetric returns the series selector of Grafana's
// label_values(selector, label).
func labelValuesMetric(q string) (string, bool) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ")") {
		return "", false
	}
	args := q[len("label_values(") : len(q)-1]
	i := strings.LastIndex(args, ",")
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(args[:i]), true
}

// PromQL keywords that are not metric names where they stand without a
// following parenthesis: the binary set operators, modifiers and
// aggregation operators (which may take "by (...)" before their
// parenthesis), and the number literals.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "inf": true, "nan": true,
}

// labelLists are the keywords followed by a parenthesised list of label
// names, not of expressions.
var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects,
// sorted and without repeats. It is a lexer, not a parser: it skips
// strings, comments, label matchers ({...}), range and subquery durations
// ([...]), label lists (by, without, on, ignoring, group_left,
// group_right), numbers and durations, Grafana variables ($x, ${x},
// [[x]]), and function and aggregation names; every other identifier is a
// metric name. An error reports an unbalanced bracket or an unterminated
// string.
func MetricNames(q string) ([]string, error) {
	seen := map[string]bool{}
	i, n := 0, len(q)
	skipSpace := func(j int) int {
		for j < n && (q[j] == ' ' || q[j] == '\t' || q[j] == '\n' || q[j] == '\r') {
			j++
		}
		return j
	}
	// closeOf finds the bracket that closes the one at j, skipping strings.
	closeOf := func(j int, open, close byte) (int, error) {
		depth := 0
		for k := j; k < n; k++ {
			switch c := q[k]; {
			case c == '"' || c == '\'' || c == '`':
				end, err := stringEnd(q, k)
				if err != nil {
					return 0, err
				}
				k = end
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return k, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %q at %d in %q", open, j, q)
	}
	for i < n {
		c := q[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := stringEnd(q, i)
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '#':
			for i < n && q[i] != '\n' {
				i++
			}
		case c == '{':
			end, err := closeOf(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '[':
			end, err := closeOf(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '$':
			i++
			if i < n && q[i] == '{' {
				end, err := closeOf(i, '{', '}')
				if err != nil {
					return nil, err
				}
				i = end + 1
				continue
			}
			for i < n && isIdent(q[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < n && q[i+1] >= '0' && q[i+1] <= '9':
			// A number, a hex number or a duration (5m, 1h30m, 1e-3).
			for i < n && (isIdent(q[i], false) || q[i] == '.' ||
				(q[i] == '+' || q[i] == '-') && (q[i-1] == 'e' || q[i-1] == 'E')) {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < n && isIdent(q[j], false) {
				j++
			}
			word := q[i:j]
			next := skipSpace(j)
			switch {
			case labelLists[word]:
				if next < n && q[next] == '(' {
					end, err := closeOf(next, '(', ')')
					if err != nil {
						return nil, err
					}
					j = end + 1
				}
			case next < n && q[next] == '(':
				// A function or an aggregation: its arguments follow.
			case keywords[strings.ToLower(word)]:
			default:
				seen[word] = true
			}
			i = j
		default:
			i++
		}
	}
	names := make([]string, 0, len(seen))
	for s := range seen {
		names = append(names, s)
	}
	sort.Strings(names)
	return names, nil
}

func isIdent(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// stringEnd returns the index of the quote that ends the string literal
// starting at i (backslash escapes in "..." and '...'; none in `...`).
func stringEnd(q string, i int) (int, error) {
	quote := q[i]
	for k := i + 1; k < len(q); k++ {
		switch q[k] {
		case '\\':
			if quote != '`' {
				k++
			}
		case quote:
			return k, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d in %q", i, q)
}

// SeriesFamily maps the name of a series in an expression to the metric
// family that exposes it: a histogram's _bucket, _sum and _count series
// are its family's.
func SeriesFamily(name string, histograms map[string]bool) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && histograms[base] {
			return base
		}
	}
	return name
}

// External are the metrics the rules and the dashboard use that infergate
// does not expose: Prometheus' own up and ALERTS, and node_exporter's filesystem metrics for the data
// dir's disk (infergate exposes none).
var External = map[string]string{
	"up":                          "Prometheus: whether the scrape of a target succeeded",
	"ALERTS":                      "Prometheus: the alerts pending and firing",
	"node_filesystem_avail_bytes": "node_exporter: free bytes for unprivileged users",
	"node_filesystem_size_bytes":  "node_exporter: filesystem size",
	"node_filesystem_readonly":    "node_exporter: 1 if mounted read-only",
}

// Dockerfile is a parsed Dockerfile: its instructions in order, with
// line continuations joined and comments dropped.
type Dockerfile []Instruction

// Instruction is one Dockerfile instruction.
type Instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
}

// ParseDockerfile splits a Dockerfile into instructions.
func ParseDockerfile(text string) Dockerfile {
	var out Dockerfile
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trim := strings.TrimSpace(line)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trim, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(trim, "\\"); ok {
			cur.WriteString(s)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(trim)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, Instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// Stages returns the instructions of each build stage (from a FROM to the
// next), the last being the image that ships.
func (d Dockerfile) Stages() []Dockerfile {
	var st []Dockerfile
	for _, in := range d {
		if in.Cmd == "FROM" {
			st = append(st, nil)
		}
		if len(st) > 0 {
			st[len(st)-1] = append(st[len(st)-1], in)
		}
	}
	return st
}
