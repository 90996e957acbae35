package lexical

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		// Identifiers: whole first, then compound segments, then parts.
		{"ORD-2024-00817", []string{"ord-2024-00817", "ord", "2024", "00817"}},
		{"SKU-88213-BLK", []string{"sku-88213-blk", "sku", "88213", "blk"}},
		{"E1043", []string{"e1043", "1043"}},
		{"0x80070005", []string{"0x80070005", "80070005"}},
		{"0x8007000E", []string{"0x8007000e", "8007000e"}},
		{"v2.3.1", []string{"v2.3.1", "2.3.1", "v2", "2", "3", "1"}},
		{"billing@acme.example", []string{"billing@acme.example", "billing", "acme", "example"}},
		{"user+tag@example.com", []string{"user+tag@example.com", "user", "tag", "example", "com"}},
		{"https://docs.acme.example/api/v2/orders", []string{"https://docs.acme.example/api/v2/orders",
			"http", "doc", "acme", "example", "api", "v2", "2", "order"}},
		{"/var/log/infergate/app.log", []string{"var/log/infergate/app.log", "var", "log", "infergate", "app", "log"}},
		{"max_retry_count", []string{"max_retry_count", "max", "retry", "count"}},
		{"maxRetryCount", []string{"maxretrycount", "max", "retry", "count"}},
		{"HTTPServer", []string{"httpserver", "http", "server"}},
		{"getUserIDs", []string{"getuserids", "get", "user", "ids"}}, // under 4 bytes: not stemmed
		{"x86_64", []string{"x86_64", "x86", "86", "64"}},
		{"USB3", []string{"usb3", "usb", "3"}},
		{"iPhone", []string{"iphone", "phone"}},
		{"is_active", []string{"is_active", "active"}}, // stopword part dropped, whole kept
		{"a-b", []string{"a-b"}},
		{"3.14", []string{"3.14", "3", "14"}},
		// Punctuation around identifiers is not part of them.
		{"(ORD-2024-00817).", []string{"ord-2024-00817", "ord", "2024", "00817"}},
		{"Error E1043 occurred at 10:30 on 2024-05-01.", []string{"error", "e1043", "1043", "occurred",
			"10:30", "10", "30", "2024-05-01", "2024", "05", "01"}},
		// Ordinary sentences: stopwords dropped, plural s removed, possessive gone.
		{"How do I reset my password?", []string{"how", "do", "i", "reset", "my", "password"}},
		{"The customer's refunds weren't processed, see the FAQs.", []string{"customer", "refund", "werent", "processed", "see", "faq"}},
		{"It is a test of the policies and statuses", []string{"test", "policy", "statuse"}},
		{"The customer’s address", []string{"customer", "address"}},
		// Accents folded, precomposed or combining.
		{"Café crème: naïve façade — Müller", []string{"cafe", "creme", "naive", "facade", "muller"}},
		{"Cafe\u0301", []string{"cafe"}},
		{"Straße ŁÓDŹ Œuvre", []string{"strasse", "lodz", "oeuvre"}},
		{"ΣΟΦΟΣ", []string{"σοφοσ"}},
		// Ideographs are one term each.
		{"東京 tokyo", []string{"東", "京", "tokyo"}},
		{"", nil},
		{"!!! --- ... ", nil},
		{"--flag=value", []string{"flag=value", "flag", "value"}},
		{"bad\xffutf8", []string{"bad", "utf8", "utf", "8"}},
	} {
		if got := Analyze(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Analyze(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestAnalyzeLongTerms(t *testing.T) {
	long := strings.Repeat("ab", maxTermBytes) // one part over the limit
	if got := Analyze("x " + long + " y"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("over-long word: got %q", got)
	}
	// An over-long identifier loses its whole but keeps its parts.
	id := strings.Repeat("seg-", 40) + "end"
	got := Analyze(id)
	if len(got) != 41 || got[0] != "seg" || got[40] != "end" {
		t.Errorf("over-long identifier: got %d terms starting %q", len(got), got[:min(3, len(got))])
	}
}

func TestStem(t *testing.T) {
	for in, want := range map[string]string{
		"refunds": "refund", "policies": "policy", "status": "status", "address": "address",
		"goes": "goes", "has": "has", "boxes": "boxe", "series": "sery", "keys": "key", "days": "day",
	} {
		if got := string(stem([]byte(in))); got != want {
			t.Errorf("stem(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{"ORD-2024-00817 SKU-88213-BLK", "v2.3.1 0x80070005 E1043",
		"billing@acme.example https://a.example/b?c=d&e=f", "getUserIDs max_retry_count",
		"Café ŁÓDŹ Cafe\u0301 東京", "don't it's O'Brien’s", "\xff\xfe-._", "ǅemal İstanbul ΣΑΣ",
		"Done. See, the end- 42 007. Hello.World a.b I Is This", "The customer's refunds weren't processed, see the FAQs."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms := Analyze(s)
		for _, term := range terms {
			if term == "" || len(term) > maxTermBytes {
				t.Fatalf("term %q of length %d", term, len(term))
			}
			if !utf8.ValidString(term) {
				t.Fatalf("term %q is not valid UTF-8", term)
			}
			if strings.ToLower(term) != term {
				t.Fatalf("term %q is not lowercase", term)
			}
		}
		var general []string
		a := analyzer{general: true}
		a.run(s, func(t []byte) { general = append(general, string(t)) })
		if !slices.Equal(general, terms) {
			t.Fatalf("fast path %q, general path %q", terms, general)
		}
		if again := Analyze(s); !slices.Equal(again, terms) {
			t.Fatalf("not deterministic: %q then %q", terms, again)
		}
	})
}

func TestIsIdentifier(t *testing.T) {
	for _, tc := range []struct {
		term string
		want bool
	}{
		{"ord-2024-00817", true}, {"e1043", true}, {"0x80070005", true}, {"v2.3.1", true},
		{"billing@acme.example", true}, {"sync.max_bandwidth_kbps", true},
		{"refund", false}, {"2024", false}, {"dont", false}, {"café", false},
	} {
		if got := IsIdentifier(tc.term); got != tc.want {
			t.Errorf("IsIdentifier(%q) = %v, want %v", tc.term, got, tc.want)
		}
	}
	// Every whole identifier Analyze yields is one, and its first term.
	for _, s := range []string{"ORD-2024-00817", "E1043", "getUserIDs2", "X-Acme-Signature"} {
		if terms := Analyze(s); len(terms) == 0 || !IsIdentifier(terms[0]) {
			t.Errorf("Analyze(%q) = %v: the first term is not an identifier", s, terms)
		}
	}
}

func TestSearchTerms(t *testing.T) {
	x := New(Params{})
	x.Add(1, "order ORD-2024-00817 shipped")
	x.Add(2, "order 2024 from ORD shipped 00817")
	hits := x.SearchTerms([]string{"ord-2024-00817"}, 10, nil)
	if len(hits) != 1 || hits[0].ID != 1 {
		t.Fatalf("SearchTerms(whole identifier) = %v, want only document 1", hits)
	}
	if hits := x.Search("ORD-2024-00817", 10, nil); len(hits) != 2 || hits[0].ID != 1 {
		t.Fatalf("Search(identifier) = %v, want both, document 1 first", hits)
	}
	if hits := x.SearchTerms(nil, 10, nil); hits != nil {
		t.Fatalf("SearchTerms(nil) = %v", hits)
	}
}
