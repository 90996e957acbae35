package extract

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sec is a section as tests write it: its heading path and body text.
type sec struct {
	path []string
	body string
}

type extractCase struct {
	name  string
	in    string
	title string
	text  string
	secs  []sec
}

func runCases(t *testing.T, f Format, cases []extractCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Extract(c.in, f)
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d.Title != c.title {
				t.Errorf("Title = %q, want %q", d.Title, c.title)
			}
			if d.Text != c.text {
				t.Errorf("Text = %q\nwant   %q", d.Text, c.text)
			}
			checkInvariants(t, d)
			var got []sec
			for _, s := range d.Sections {
				got = append(got, sec{s.Headings, d.Text[s.Start:s.End]})
			}
			if !slices.EqualFunc(got, c.secs, func(a, b sec) bool {
				return a.body == b.body && slices.Equal(a.path, b.path)
			}) {
				t.Errorf("Sections = %q\nwant       %q", got, c.secs)
			}
		})
	}
}

// checkInvariants holds for every successful Extract.
func checkInvariants(t testing.TB, d Document) {
	t.Helper()
	if d.Text == "" || !utf8.ValidString(d.Text) || !utf8.ValidString(d.Title) {
		t.Fatalf("Text empty or not UTF-8: %q (title %q)", d.Text, d.Title)
	}
	if len(d.Sections) == 0 {
		t.Fatalf("no sections")
	}
	prev := 0
	for i, s := range d.Sections {
		if s.Start < prev || s.End <= s.Start || s.End > len(d.Text) {
			t.Fatalf("section %d [%d,%d) out of order or bounds (prev end %d, len %d)", i, s.Start, s.End, prev, len(d.Text))
		}
		body := d.Text[s.Start:s.End]
		if strings.TrimSpace(body) != body {
			t.Fatalf("section %d not trimmed: %q", i, body)
		}
		for _, h := range s.Headings {
			if h == "" || !utf8.ValidString(h) {
				t.Fatalf("section %d: bad heading %q", i, s.Headings)
			}
		}
		prev = s.End
	}
}

func TestText(t *testing.T) {
	runCases(t, FormatText, []extractCase{
		{name: "kept as is", in: "Hello  world.\n\nSecond   para.", text: "Hello  world.\n\nSecond   para.",
			secs: []sec{{nil, "Hello  world.\n\nSecond   para."}}},
		{name: "CRLF and CR", in: "a\r\nb\rc\r\n", text: "a\nb\nc\n", secs: []sec{{nil, "a\nb\nc"}}},
		{name: "surrounding space outside the section", in: "\n\n  text \n", text: "\n\n  text \n", secs: []sec{{nil, "text"}}},
		{name: "BOM dropped", in: "\uFEFFhi", text: "hi", secs: []sec{{nil, "hi"}}},
		{name: "headings are not parsed", in: "# not a heading\nbody", text: "# not a heading\nbody",
			secs: []sec{{nil, "# not a heading\nbody"}}},
		{name: "form feed kept", in: "page 1\fpage 2", text: "page 1\fpage 2", secs: []sec{{nil, "page 1\fpage 2"}}},
	})
}

func TestMarkdown(t *testing.T) {
	runCases(t, FormatMarkdown, []extractCase{
		{
			name:  "ATX path",
			in:    "# Refunds\n\nIntro.\n\n## Card payments\n\nFive days.\n\n### Amex\nTen days.\n\n## Cash\nAt the desk.\n",
			title: "Refunds",
			text:  "# Refunds\n\nIntro.\n\n## Card payments\n\nFive days.\n\n### Amex\nTen days.\n\n## Cash\nAt the desk.\n",
			secs: []sec{
				{[]string{"Refunds"}, "Intro."},
				{[]string{"Refunds", "Card payments"}, "Five days."},
				{[]string{"Refunds", "Card payments", "Amex"}, "Ten days."},
				{[]string{"Refunds", "Cash"}, "At the desk."},
			},
		},
		{
			name: "text before the first heading, skipped levels",
			in:   "Preface.\n### Deep\nx\n# Top\ny",
			text: "Preface.\n### Deep\nx\n# Top\ny", title: "Top",
			secs: []sec{{nil, "Preface."}, {[]string{"Deep"}, "x"}, {[]string{"Top"}, "y"}},
		},
		{
			name: "setext",
			in:   "Guide\n=====\n\nIntro\n\nSetup\n-----\nSteps.\n",
			text: "Guide\n=====\n\nIntro\n\nSetup\n-----\nSteps.\n", title: "Guide",
			secs: []sec{{[]string{"Guide"}, "Intro"}, {[]string{"Guide", "Setup"}, "Steps."}},
		},
		{
			name: "underline under a two-line paragraph is a break, not a heading",
			in:   "one\ntwo\n---\nthree",
			text: "one\ntwo\n---\nthree",
			secs: []sec{{nil, "one\ntwo\n---\nthree"}},
		},
		{
			name: "list item then dashes is a thematic break",
			in:   "- item\n---\nafter",
			text: "- item\n---\nafter",
			secs: []sec{{nil, "- item\n---\nafter"}},
		},
		{
			name: "fenced code is not scanned",
			in:   "# A\n```sh\n# comment\n```\n~~~~\n## also not\n~~~\n~~~~\n## B\nz",
			text: "# A\n```sh\n# comment\n```\n~~~~\n## also not\n~~~\n~~~~\n## B\nz", title: "A",
			secs: []sec{{[]string{"A"}, "```sh\n# comment\n```\n~~~~\n## also not\n~~~\n~~~~"}, {[]string{"A", "B"}, "z"}},
		},
		{
			name: "unclosed fence runs to the end",
			in:   "x\n```\n# no\n",
			text: "x\n```\n# no\n",
			secs: []sec{{nil, "x\n```\n# no"}},
		},
		{
			name: "not headings: indented, no space, seven hashes",
			in:   "    # code\n#hashtag\n####### seven\n",
			text: "    # code\n#hashtag\n####### seven\n",
			secs: []sec{{nil, "# code\n#hashtag\n####### seven"}},
		},
		{
			name: "closing hashes, inline markup in the path",
			in:   "## Install [the CLI](https://x.dev) `v2` ##\nbody\n## C\\# notes {#c-notes}\nmore\n# #\nempty",
			text: "## Install [the CLI](https://x.dev) `v2` ##\nbody\n## C\\# notes {#c-notes}\nmore\n# #\nempty",
			secs: []sec{{[]string{"Install the CLI v2"}, "body"}, {[]string{"C# notes"}, "more"}, {nil, "empty"}},
		},
		{
			name:  "YAML front matter dropped, its title used without an h1",
			in:    "---\ntitle: \"Shipping\"\ntags: [a]\n---\n## Times\nTwo days.",
			text:  "## Times\nTwo days.",
			title: "Shipping",
			secs:  []sec{{[]string{"Times"}, "Two days."}},
		},
		{
			name:  "TOML front matter",
			in:    "+++\ntitle = 'T'\n+++\nbody",
			text:  "body",
			title: "T",
			secs:  []sec{{nil, "body"}},
		},
		{
			name: "unclosed front matter is text",
			in:   "---\nnot front matter",
			text: "---\nnot front matter",
			secs: []sec{{nil, "---\nnot front matter"}},
		},
		{
			name:  "CRLF",
			in:    "# T\r\nbody\r\n",
			text:  "# T\nbody\n",
			title: "T",
			secs:  []sec{{[]string{"T"}, "body"}},
		},
		{
			name: "heading with no body makes no section",
			in:   "# A\n## B\ntext",
			text: "# A\n## B\ntext", title: "A",
			secs: []sec{{[]string{"A", "B"}, "text"}},
		},
	})
}

func TestHTML(t *testing.T) {
	runCases(t, FormatHTML, []extractCase{
		{
			name: "title, headings, paragraphs, entities, links",
			in: `<!doctype html><html><head><title> Help   Centre </title><style>p{}</style><script>var x</script></head>
<body><h1>Refunds &amp; returns</h1><p>We refund <a href="/x">card   payments</a>
in five&nbsp;days.</p><div>Cash: at the desk.</div><h2>Card payments</h2><section><p>Amex takes ten.</p></section></body></html>`,
			title: "Help Centre",
			text:  "# Refunds & returns\n\nWe refund card payments in five days.\n\nCash: at the desk.\n\n## Card payments\n\nAmex takes ten.",
			secs: []sec{
				{[]string{"Refunds & returns"}, "We refund card payments in five days.\n\nCash: at the desk."},
				{[]string{"Refunds & returns", "Card payments"}, "Amex takes ten."},
			},
		},
		{
			name:  "title from the first h1",
			in:    "<h2>Sub</h2><p>a</p><h1>Main</h1><p>b</p><h1>Other</h1>",
			title: "Main",
			text:  "## Sub\n\na\n\n# Main\n\nb\n\n# Other",
			secs:  []sec{{[]string{"Sub"}, "a"}, {[]string{"Main"}, "b"}},
		},
		{
			name: "chrome and hidden elements dropped",
			in: `<body><header><a>Home</a></header><nav>Menu</nav><aside>Ads</aside><form>Search <input></form>
<noscript>enable js</noscript><template>t</template><svg><text>s</text></svg><iframe src=x></iframe>
<main><article><header><h1>Kept</h1></header><p>Body.</p><p hidden>h</p><p aria-hidden="true">a</p>
<p style="display: none">d</p><div role="navigation">r</div><button>Copy</button><footer>By Ann</footer></article></main>
<footer>Site footer</footer></body>`,
			title: "Kept",
			text:  "# Kept\n\nBody.\n\nBy Ann",
			secs:  []sec{{[]string{"Kept"}, "Body.\n\nBy Ann"}},
		},
		{
			name: "lists",
			in:   "<p>Steps:</p><ol><li>Open</li><li>Pay <b>now</b><ul><li>card</li><li><p>cash</p><p>or cheque</p></li></ul></li></ol><ol start=7><li>seven</li><li></li><li>nine</li></ol><ul><li>x</li></ul>",
			text: "Steps:\n\n1. Open\n2. Pay now\n  - card\n  - cash\n    or cheque\n\n7. seven\n9. nine\n\n- x",
			secs: []sec{{nil, "Steps:\n\n1. Open\n2. Pay now\n  - card\n  - cash\n    or cheque\n\n7. seven\n9. nine\n\n- x"}},
		},
		{
			name: "tables",
			in:   "<table><caption>Fees</caption><thead><tr><th>Plan</th><th>Price</th></tr></thead><tbody><tr><td>Basic</td><td>5 <i>EUR</i></td></tr><tr><td></td><td></td></tr><tr><td>Pro</td><td></td><td>new</td></tr></tbody></table><p>after</p>",
			text: "Fees\nPlan | Price\nBasic | 5 EUR\nPro |  | new\n\nafter",
			secs: []sec{{nil, "Fees\nPlan | Price\nBasic | 5 EUR\nPro |  | new\n\nafter"}},
		},
		{
			name: "br: one a line, two a paragraph",
			in:   "<p>a<br>b<br><br>c</p>",
			text: "a\nb\n\nc",
			secs: []sec{{nil, "a\nb\n\nc"}},
		},
		{
			name: "pre keeps whitespace",
			in:   "<p>x</p><pre>\n  if a {\n\tb()\n  }\n\n</pre><p>y</p>",
			text: "x\n\n  if a {\n\tb()\n  }\n\ny",
			secs: []sec{{nil, "x\n\n  if a {\n\tb()\n  }\n\ny"}},
		},
		{
			name: "whitespace collapsed, inline elements join",
			in:   "<div>  one\n\t two <span>three</span><em>four</em>  </div>",
			text: "one two threefour",
			secs: []sec{{nil, "one two threefour"}},
		},
		{
			name: "headings in lists and cells are text",
			in:   "<ul><li><h3>Q?</h3>A.</li></ul><table><tr><td><h2>cell</h2></td></tr></table>",
			text: "- Q?\n  A.\n\ncell",
			secs: []sec{{nil, "- Q?\n  A.\n\ncell"}},
		},
		{
			name: "control characters from references become spaces",
			in:   "<p>a&#1;b&#0;c</p>",
			text: "a b\uFFFDc",
			secs: []sec{{nil, "a b\uFFFDc"}},
		},
		{
			name: "fragment without html/body",
			in:   "Hello <b>world</b>",
			text: "Hello world",
			secs: []sec{{nil, "Hello world"}},
		},
	})
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		f    Format
		want error
	}{
		{"empty text", "", FormatText, ErrEmpty},
		{"blank text", " \n\t\n", FormatText, ErrEmpty},
		{"NUL", "a\x00b", FormatText, ErrNotText},
		{"escape byte", "a\x1b[0m", FormatMarkdown, ErrNotText},
		{"invalid UTF-8", "caf\xe9", FormatHTML, ErrNotText},
		{"headings only", "# A\n## B\n", FormatMarkdown, ErrEmpty},
		{"only front matter", "---\ntitle: x\n---\n", FormatMarkdown, ErrEmpty},
		{"HTML without markup", "just words", FormatHTML, ErrUnparseable},
		{"HTML with only chrome", "<nav>menu</nav><script>x()</script>", FormatHTML, ErrEmpty},
		{"HTML with only a title", "<title>T</title>", FormatHTML, ErrEmpty},
		{"unknown format", "x", Format(9), ErrUnparseable},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Extract(c.in, c.f)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestLinear feeds inputs built to be slow, deep or to blow up: they must
// finish quickly, without overflowing the stack, and not grow the text
// much. The HTML parser refuses nesting deeper than 512 elements.
func TestLinear(t *testing.T) {
	const n = 200_000
	for _, c := range []struct {
		name string
		in   string
		f    Format
	}{
		{"nested divs", strings.Repeat("<div>", n) + "x", FormatHTML},
		{"nested lists", strings.Repeat("<ul><li>a", n/10), FormatHTML},
		{"nested lists under the parser's limit", strings.Repeat("<ul><li>a", 250), FormatHTML},
		{"formatting elements", strings.Repeat("<b><i>", n/2) + strings.Repeat("<p>y", n/20), FormatHTML},
		{"brackets in a heading", "# " + strings.Repeat("[", n) + "\nbody", FormatMarkdown},
		{"many headings", strings.Repeat("# h\nb\n", n/4), FormatMarkdown},
		{"many fences", strings.Repeat("```\n", n/4), FormatMarkdown},
		{"long text", strings.Repeat("word ", n), FormatText},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			d, err := Extract(c.in, c.f)
			switch {
			case err == nil:
				checkInvariants(t, d)
			case !errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrEmpty):
				t.Errorf("err = %v", err)
			}
			if len(d.Text) > 4*len(c.in) {
				t.Errorf("Text grew to %d bytes from %d", len(d.Text), len(c.in))
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	seeds := []string{
		"", "plain text\n\nsecond", "# T\n\nbody\n## S\nx", "a\n===\nb", "```\n# x\n```\n# y\nz",
		"---\ntitle: t\n---\n# h\nb", "<title>x</title><h1>a</h1><p>b</p><ul><li>c</li></ul>",
		"<table><tr><td>a</td><td>b</td></tr></table>", "<pre>x\n\ny</pre><br><br>", "<nav>x</nav>",
		"<ol start=-5><li>a<ol><li>b</ol></ol>", "<h2>  </h2><h3>x</h3>&#1;&nbsp;",
	}
	for _, s := range seeds {
		for fm := range 3 {
			f.Add(s, uint8(fm))
		}
	}
	f.Fuzz(func(t *testing.T, in string, fm uint8) {
		format := Format(fm % 3)
		d, err := Extract(in, format)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrNotText) && !errors.Is(err, ErrUnparseable) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkInvariants(t, d)
		d2, _ := Extract(in, format)
		if d2.Text != d.Text || d2.Title != d.Title || len(d2.Sections) != len(d.Sections) {
			t.Fatalf("not deterministic")
		}
	})
}
