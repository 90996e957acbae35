package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/infergate/infergate/bot"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/upstream"
)

// options is a flag set whose every flag can also come from an
// INFERGATE_* environment variable and from a YAML file. Precedence:
// command line, then environment, then file, then default.
type options struct {
	fs     *flag.FlagSet
	groups []*optGroup
	byName map[string]*option
}

type optGroup struct {
	title string
	opts  []*option
}

type option struct {
	name, env, usage string
	isList           bool
}

func newOptions(name string) *options {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, help by usage
	return &options{fs: fs, byName: map[string]*option{}}
}

func envName(flagName string) string {
	return "INFERGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (o *options) group(title string) {
	o.groups = append(o.groups, &optGroup{title: title})
}

func (o *options) add(name, usage string, list bool) {
	opt := &option{name: name, env: envName(name), usage: usage, isList: list}
	g := o.groups[len(o.groups)-1]
	g.opts = append(g.opts, opt)
	o.byName[name] = opt
}

func (o *options) String(p *string, name, def, usage string) {
	o.fs.StringVar(p, name, def, usage)
	o.add(name, usage, false)
}

func (o *options) Int(p *int, name string, def int, usage string) {
	o.fs.IntVar(p, name, def, usage)
	o.add(name, usage, false)
}

func (o *options) Bool(p *bool, name string, def bool, usage string) {
	o.fs.BoolVar(p, name, def, usage)
	o.add(name, usage, false)
}

func (o *options) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	o.fs.DurationVar(p, name, def, usage)
	o.add(name, usage, false)
}

// List is a repeatable flag; each use (and each environment or file value)
// may also hold a comma-separated list.
func (o *options) List(p *[]string, name, usage string) {
	o.fs.Var((*listValue)(p), name, usage)
	o.add(name, usage, true)
}

type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// fileConfig is the YAML configuration file: any option by its flag name
// (dashes or underscores), plus structured API keys.
type fileConfig struct {
	Keys []fileKey `yaml:"keys"`
	// Upstreams are the cloud APIs that take the overflow, or serve the
	// models that have no local file; Routing says when (router.Config).
	Upstreams []upstream.Config `yaml:"upstreams"`
	Routing   router.Config     `yaml:"routing"`
	// Bots are the support bots served under /v1/bots/{name}.
	Bots    []bot.Config   `yaml:"bots"`
	Options map[string]any `yaml:",inline"`
}

// fileKey is one API key in the file: the key itself or its sha256 (hex),
// with optional per-key limits, a monthly cloud budget of its own, and
// local_only to keep its requests off cloud APIs.
type fileKey struct {
	Name             string  `yaml:"name"`
	Key              string  `yaml:"key"`
	SHA256           string  `yaml:"sha256"`
	RPM              int     `yaml:"rpm"`
	TPM              int     `yaml:"tpm"`
	MonthlyBudgetUSD float64 `yaml:"monthly_budget_usd"`
	LocalOnly        bool    `yaml:"local_only"`
}

var errHelp = errors.New("help requested")

// parse reads args, then fills every option not given on the command line
// from the environment, then from the YAML file named by --config (or
// $INFERGATE_CONFIG). It returns the file's structured part, if any.
func (o *options) parse(args []string, getenv func(string) string) (*fileConfig, error) {
	rest, fc, err := o.parseArgs(args, getenv)
	if err == nil && len(rest) > 0 {
		return nil, fmt.Errorf("unexpected argument %q", rest[0])
	}
	return fc, err
}

// parseArgs is parse for commands that also take arguments (paths, a
// query): they may come before, between or after the flags, and all that
// follows "--" is arguments. It returns them in order.
func (o *options) parseArgs(args []string, getenv func(string) string) ([]string, *fileConfig, error) {
	var rest []string
	for {
		if err := o.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, errHelp
			}
			return nil, nil, err
		}
		left := o.fs.Args()
		if len(left) == 0 {
			break
		}
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			rest = append(rest, left...)
			break
		}
		rest, args = append(rest, left[0]), left[1:]
	}
	fc, err := o.applyEnvAndFile(getenv)
	return rest, fc, err
}

// applyEnvAndFile fills the options not given on the command line.
func (o *options) applyEnvAndFile(getenv func(string) string) (*fileConfig, error) {
	set := map[string]bool{}
	o.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, opt := range o.byName {
		if set[name] {
			continue
		}
		if v := getenv(opt.env); v != "" {
			if err := o.fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("$%s: %w", opt.env, err)
			}
			set[name] = true
		}
	}
	var path string
	if f := o.fs.Lookup("config"); f != nil {
		path = f.Value.String()
	}
	if path == "" {
		return &fileConfig{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var fc fileConfig
	if err := yaml.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(fc.Options))
	for k := range fc.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		opt, ok := o.byName[name]
		if !ok || name == "config" {
			return nil, fmt.Errorf("config file %s: unknown option %q", path, k)
		}
		if set[name] {
			continue
		}
		values := []any{fc.Options[k]}
		if seq, ok := fc.Options[k].([]any); ok && opt.isList {
			values = seq
		}
		for _, v := range values {
			if err := o.fs.Set(name, fmt.Sprint(v)); err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", path, k, err)
			}
		}
	}
	return &fc, nil
}

// usage writes every option with its default and environment variable.
func (o *options) usage(w io.Writer) {
	for _, g := range o.groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, opt := range g.opts {
			f := o.fs.Lookup(opt.name)
			typ, usage := flag.UnquoteUsage(f)
			if opt.isList {
				typ = "list"
			}
			head := "  --" + opt.name
			if typ != "" {
				head += " " + typ
			}
			fmt.Fprintln(w, head)
			def := f.DefValue
			switch {
			case def == "" || (typ == "" && def == "false"):
				fmt.Fprintf(w, "        %s\n        [env %s]\n", usage, opt.env)
			default:
				fmt.Fprintf(w, "        %s\n        [default %s] [env %s]\n", usage, def, opt.env)
			}
		}
	}
}
