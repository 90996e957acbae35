package hnsw

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakefileRunsRaceSkippedTests: make test runs the suite under -race,
// where the tests that count allocations skip themselves (the race detector
// allocates). Unless the test target also runs them without -race, they
// never run at all; this finds every test here that consults raceEnabled
// and checks that a non-race pass of the Makefile's test target selects it.
func TestMakefileRunsRaceSkippedTests(t *testing.T) {
	skipped := raceSkippedTests(t)
	if len(skipped) == 0 {
		t.Fatal("no test consults raceEnabled; this test has nothing to check")
	}
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []*regexp.Regexp
	for _, line := range recipe(string(mk), "test") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "$(GO)" || f[1] != "test" || strings.Contains(line, "-race") || !hasPackage(f, "./index/hnsw") {
			continue
		}
		for i, arg := range f {
			if arg == "-run" && i+1 < len(f) {
				// go test matches the part before the first slash against
				// top-level test names.
				top, _, _ := strings.Cut(strings.Trim(f[i+1], `'"`), "/")
				re, err := regexp.Compile(top)
				if err != nil {
					t.Fatalf("Makefile: bad -run pattern in %q: %v", line, err)
				}
				patterns = append(patterns, re)
			}
		}
	}
	if len(patterns) == 0 {
		t.Fatal("the Makefile's test target has no non-race `$(GO) test -run ... ./index/hnsw/` pass")
	}
	for _, name := range skipped {
		ok := false
		for _, re := range patterns {
			ok = ok || re.MatchString(name)
		}
		if !ok {
			t.Errorf("%s skips under -race, and no non-race pass in the Makefile's test target runs it", name)
		}
	}
}

// raceSkippedTests names the Test functions of this package that mention
// raceEnabled, i.e. that behave differently under the race detector.
func raceSkippedTests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			uses := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && id.Name == "raceEnabled" {
					uses = true
				}
				return !uses
			})
			if uses {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names
}

// recipe returns the command lines of a Makefile target, continuation
// lines joined.
func recipe(makefile, target string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(strings.ReplaceAll(makefile, "\\\n", " "), "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			out = append(out, strings.TrimSpace(line))
		case in && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#"):
			return out
		}
	}
	return out
}

// hasPackage reports whether a go test command line names pkg (with or
// without a trailing slash or /...).
func hasPackage(fields []string, pkg string) bool {
	for _, f := range fields {
		if strings.TrimSuffix(strings.TrimSuffix(f, "..."), "/") == pkg {
			return true
		}
	}
	return false
}
