package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/infergate/infergate/internal/testenv"
)

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		q    string
		want []string
	}{
		{`up`, []string{"up"}},
		{`up{job="infergate"} == 0`, []string{"up"}},
		{`rate(infergate_requests_total{status_class="5xx"}[5m])`, []string{"infergate_requests_total"}},
		{`sum by (model, le) (rate(x_bucket{le=~"1(\\.0)?"}[5m]))`, []string{"x_bucket"}},
		{`sum(rate(a_total[5m])) by (model) / on (model) group_left (kind) b`, []string{"a_total", "b"}},
		{`histogram_quantile(0.99, sum by (le) (model_le:h_bucket:rate5m{model=~"$model"}))`, []string{"model_le:h_bucket:rate5m"}},
		{`rate(c_total[$__rate_interval]) * 1e3 + 0x1F - 1.5e-3`, []string{"c_total"}},
		{`max_over_time(g[1h:5m] offset 1d) and bool g2 unless ignoring (instance) g3`, []string{"g", "g2", "g3"}},
		{`label_replace(m, "dst", "$1", "src", "(by|sum)")`, []string{"m"}},
		{`count(x) without (a) or vector(0)`, []string{"x"}},
		{`topk(3, sum by (upstream) (y)) > ${threshold}`, []string{"y"}},
		{"z # a comment naming not_a_metric\n+ w", []string{"w", "z"}},
		{`predict_linear(node_filesystem_avail_bytes{mountpoint="/x"}[6h], 24 * 3600) < 0`, []string{"node_filesystem_avail_bytes"}},
		{`sum by (le) (rate(h_bucket[5m])) @ end()`, []string{"h_bucket"}},
		{`time() - process_start_time_seconds`, []string{"process_start_time_seconds"}},
		{`vector(1)`, []string{}},
	} {
		got, err := MetricNames(c.q)
		if err != nil {
			t.Errorf("%q: %v", c.q, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v, want %v", c.q, got, c.want)
		}
	}
	for _, bad := range []string{`x{a="b}`, `x[5m`, `x{a="b"`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSeriesFamily(t *testing.T) {
	h := map[string]bool{"infergate_time_to_first_token_seconds": true}
	for in, want := range map[string]string{
		"infergate_time_to_first_token_seconds_bucket": "infergate_time_to_first_token_seconds",
		"infergate_time_to_first_token_seconds_count":  "infergate_time_to_first_token_seconds",
		"infergate_requests_total":                     "infergate_requests_total",
		"infergate_other_count":                        "infergate_other_count",
	} {
		if got := SeriesFamily(in, h); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// promtool finds promtool (Debian's prometheus package, which .ci/run
// installs).
func promtool(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(tb, "promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

// TestPromtool validates the rule files and runs their unit tests
// (prometheus/tests/*.yml: each alert fires where it should and stays
// quiet where it should not).
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	rules := RuleFiles()
	if len(rules) < 2 {
		t.Fatalf("rule files: %v", rules)
	}
	out, err := exec.Command(bin, append([]string{"check", "rules"}, rules...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	tests, _ := filepath.Glob("prometheus/tests/*.yml")
	if len(tests) == 0 {
		t.Fatal("no rule tests")
	}
	out, err = exec.Command(bin, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "SUCCESS"); n != len(tests) {
		t.Errorf("%d of %d test files passed:\n%s", n, len(tests), out)
	}
}

func TestPromtoolMissingFailsUnderCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	testenv.CheckMissing(t, func(tb testing.TB) { promtool(tb) })
}

// TestAlertsTested: every alert has a severity the README documents, a
// summary and a description, and a promtool test that expects it to fire
// (exp_alerts with labels) and one that expects it quiet.
func TestAlertsTested(t *testing.T) {
	type alertRule struct {
		Alert       string            `yaml:"alert"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	alerts := map[string]bool{}
	for _, name := range RuleFiles() {
		b, _ := os.ReadFile(name)
		var rf struct {
			Groups []struct {
				Rules []alertRule `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatal(err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				alerts[r.Alert] = true
				if s := r.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("%s: severity %q", r.Alert, s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: summary and description required", r.Alert)
				}
			}
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	tests, _ := filepath.Glob("prometheus/tests/*.yml")
	for _, name := range tests {
		b, _ := os.ReadFile(name)
		var tf struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	if len(alerts) < 15 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	for a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: tested firing %v, quiet %v; want both", a, fires[a], quiet[a])
		}
	}
}

// TestDashboard checks the dashboard's shape: the datasource and model
// variables, every panel and target on ${datasource}, unique ids, every
// expression lexed and naming at least one metric.
func TestDashboard(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	if d["uid"] != "infergate" || d["title"] == "" {
		t.Errorf("uid %v title %v", d["uid"], d["title"])
	}
	vars := map[string]map[string]any{}
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		vm := v.(map[string]any)
		vars[vm["name"].(string)] = vm
	}
	if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
		t.Errorf("datasource variable: %v", ds)
	}
	if m := vars["model"]; m == nil || m["type"] != "query" || m["includeAll"] != true {
		t.Errorf("model variable: %v", m)
	}
	ids := map[float64]bool{}
	var walk func([]any)
	walk = func(ps []any) {
		for _, p := range ps {
			pm := p.(map[string]any)
			id, _ := pm["id"].(float64)
			if ids[id] {
				t.Errorf("panel id %v twice", id)
			}
			ids[id] = true
			if _, ok := pm["gridPos"].(map[string]any); !ok {
				t.Errorf("panel %v: no gridPos", pm["title"])
			}
			if pm["type"] == "row" {
				walk(pm["panels"].([]any))
				continue
			}
			for _, ds := range append([]any{pm["datasource"]}, targetDatasources(pm)...) {
				if dm, _ := ds.(map[string]any); dm["uid"] != "${datasource}" {
					t.Errorf("panel %v: datasource %v, want ${datasource}", pm["title"], ds)
				}
			}
		}
	}
	walk(d["panels"].([]any))
	exprs, err := DashboardExprs()
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) < 30 {
		t.Errorf("only %d expressions", len(exprs))
	}
	usesModel := 0
	for _, e := range exprs {
		names, err := MetricNames(e.Query)
		if err != nil || len(names) == 0 {
			t.Errorf("%s: %q: %v %v", e.Source, e.Query, names, err)
		}
		if strings.Contains(e.Query, `model=~"$model"`) {
			usesModel++
		}
	}
	if usesModel < 15 {
		t.Errorf("only %d expressions filter on $model", usesModel)
	}
}

func targetDatasources(p map[string]any) []any {
	var out []any
	ts, _ := p["targets"].([]any)
	for _, tg := range ts {
		out = append(out, tg.(map[string]any)["datasource"])
	}
	return out
}

// TestRulesLexed: every rule expression lexes and names a metric.
func TestRulesLexed(t *testing.T) {
	exprs, recorded, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) == 0 || len(exprs) <= len(recorded) {
		t.Fatalf("%d expressions, %d recorded", len(exprs), len(recorded))
	}
	for _, e := range exprs {
		if names, err := MetricNames(e.Query); err != nil || len(names) == 0 {
			t.Errorf("%s: %v %v", e.Source, names, err)
		}
	}
}

// TestDockerfiles lints both images (no container engine runs in CI):
// multi-stage, a non-root USER in the shipped stage, a HEALTHCHECK on
// /healthz, the data dir as a VOLUME that the server is pointed at, no
// model files copied in, a portable CPU build, and the binary as the
// entry point.
func TestDockerfiles(t *testing.T) {
	for _, name := range []string{"Dockerfile", "Dockerfile.cuda"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", name))
			if err != nil {
				t.Fatal(err)
			}
			lintDockerfile(t, ParseDockerfile(string(b)))
		})
	}
	// The build context leaves the models out, so that COPY . . cannot
	// bring them into a build stage either.
	b, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"models/cache/", "data/", "bin/"} {
		if !regexp.MustCompile(`(?m)^/?` + regexp.QuoteMeta(want) + `\s*$`).Match(b) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

var modelFile = regexp.MustCompile(`(?i)\.gguf\b|models/cache|(^|\s)models/?(\s|$)`)

func lintDockerfile(t *testing.T, df Dockerfile) {
	t.Helper()
	stages := df.Stages()
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	portable := false
	for _, in := range df {
		switch in.Cmd {
		case "COPY", "ADD":
			if modelFile.MatchString(in.Args) {
				t.Errorf("line %d: %s %s copies model files; mount them", in.Line, in.Cmd, in.Args)
			}
		case "RUN":
			if strings.Contains(in.Args, "make build") && strings.Contains(in.Args, "PORTABLE=1") {
				portable = true
			}
		}
	}
	if !portable {
		t.Error("no RUN make build PORTABLE=1: the binary must run on any x86-64-v3 (AVX2) machine")
	}
	final := stages[len(stages)-1]
	var user, health, volume, entry string
	env := map[string]string{}
	for _, in := range final {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "HEALTHCHECK":
			health = in.Args
		case "VOLUME":
			volume = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		case "ENV":
			for _, kv := range strings.Fields(in.Args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					env[k] = v
				}
			}
		case "COPY":
			if !strings.Contains(in.Args, "--from=") {
				t.Errorf("line %d: the shipped stage copies %q from the build context; copy build outputs from a stage", in.Line, in.Args)
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("USER %q: want a non-root user in the shipped stage", user)
	}
	if !strings.Contains(health, "/healthz") || !strings.HasPrefix(health, "--") && !strings.HasPrefix(health, "CMD") {
		t.Errorf("HEALTHCHECK %q: want a check of /healthz", health)
	}
	if !strings.Contains(health, "--interval") || !strings.Contains(health, "--start-period") {
		t.Errorf("HEALTHCHECK %q: want --interval and --start-period (a model takes time to load)", health)
	}
	dataDir := env["INFERGATE_DATA_DIR"]
	if dataDir == "" || !strings.Contains(volume, dataDir) {
		t.Errorf("VOLUME %q, INFERGATE_DATA_DIR %q: want the data dir as a volume", volume, dataDir)
	}
	if !strings.Contains(entry, "/usr/local/bin/infergate") {
		t.Errorf("ENTRYPOINT %q", entry)
	}
}

func TestParseDockerfile(t *testing.T) {
	df := ParseDockerfile("# c\nFROM a AS b\nRUN x && \\\n  # inner\n  y\n\nfrom c\nUSER u\n")
	want := Dockerfile{{2, "FROM", "a AS b"}, {3, "RUN", "x &&  y"}, {7, "FROM", "c"}, {8, "USER", "u"}}
	if !reflect.DeepEqual(df, want) {
		t.Fatalf("%+v", df)
	}
	if st := df.Stages(); len(st) != 2 || len(st[1]) != 2 {
		t.Fatalf("%+v", st)
	}
}
