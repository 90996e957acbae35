package conversation

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		n    Redactions
	}{
		// E-mail addresses.
		{"email", "write to jane.doe+tag@example.co.uk please", "write to [email] please", Redactions{Emails: 1}},
		{"email upper case, sentence end", "Mail JOHN@EXAMPLE.COM.", "Mail [email].", Redactions{Emails: 1}},
		{"email with digits is one address", "a.4111111111111111@x.io", "[email]", Redactions{Emails: 1}},
		{"two emails", "a@b.cc, c@d.ee", "[email], [email]", Redactions{Emails: 2}},
		{"no dotted domain", "user@localhost", "user@localhost", Redactions{}},
		{"one-letter tld", "a@b.c", "a@b.c", Redactions{}},
		{"handle", "ping @support", "ping @support", Redactions{}},

		// Card numbers.
		{"card spaced", "card 4111 1111 1111 1111 exp 12/25", "card [card] exp 12/25", Redactions{Cards: 1}},
		{"card dashed", "5555-5555-5555-4444", "[card]", Redactions{Cards: 1}},
		{"card contiguous", "6011111111111117.", "[card].", Redactions{Cards: 1}},
		{"amex 15 digits, 4-6-5", "3782 822463 10005", "[card]", Redactions{Cards: 1}},
		{"visa 13 digits", "4222222222222", "[card]", Redactions{Cards: 1}},
		{"card glued to letters", "INV4111111111111111x", "INV[card]x", Redactions{Cards: 1}},
		{"card after a date", "on 2024-01-15 4111111111111111", "on 2024-01-15 [card]", Redactions{Cards: 1}},
		{"two cards in one sequence", "4111111111111111 5555555555554444", "[card] [card]", Redactions{Cards: 2}},
		{"fails luhn", "4111 1111 1111 1112", "4111 1111 1111 1112", Redactions{}},
		{"20 digits", "tracking 12345678901234567890", "tracking 12345678901234567890", Redactions{}},
		{"16 digits failing luhn", "ref 1234567890123456", "ref 1234567890123456", Redactions{}},
		{"double space is no join", "4111  1111  1111  1111", "4111  1111  1111  1111", Redactions{}},
		{"16 digits after a plus are a card", "+4111111111111111", "+[card]", Redactions{Cards: 1}},
		{"ups tracking", "1Z999AA10123456784", "1Z999AA10123456784", Redactions{}},

		// Phone numbers.
		{"us international", "call +1 (415) 555-2671 now", "call [phone] now", Redactions{Phones: 1}},
		{"uk trunk in parentheses", "+44 (0)20 7946 0958", "[phone]", Redactions{Phones: 1}},
		{"uk spaced", "+44 20 7946 0958", "[phone]", Redactions{Phones: 1}},
		{"e164 contiguous", "+4915112345678", "[phone]", Redactions{Phones: 1}},
		{"00 prefix", "0049 151 1234567", "[phone]", Redactions{Phones: 1}},
		{"german national", "Tel: 030 1234567", "Tel: [phone]", Redactions{Phones: 1}},
		{"german mobile dashed", "0151-12345678", "[phone]", Redactions{Phones: 1}},
		{"national contiguous", "ruf 01511234567 an", "ruf [phone] an", Redactions{Phones: 1}},
		{"french pairs", "06 12 34 56 78", "[phone]", Redactions{Phones: 1}},
		{"us dashes", "415-555-2671", "[phone]", Redactions{Phones: 1}},
		{"us dots", "415.555.2671", "[phone]", Redactions{Phones: 1}},
		{"us parentheses", "(415) 555-2671", "[phone]", Redactions{Phones: 1}},
		{"us local 7 digits", "555-2671", "[phone]", Redactions{Phones: 1}},
		{"two phones", "030 1234567 or 040 7654321", "[phone] or [phone]", Redactions{Phones: 2}},
		{"after colon", "tel:+442079460958", "tel:[phone]", Redactions{Phones: 1}},
		{"in parentheses", "(+44 20 7946 0958)", "([phone])", Redactions{Phones: 1}},

		// Not phones.
		{"order number", "order ORD-2024-00817 shipped", "order ORD-2024-00817 shipped", Redactions{}},
		{"reference beginning with a year", "order 2024-00817", "order 2024-00817", Redactions{}},
		{"iso date", "since 2024-01-15", "since 2024-01-15", Redactions{}},
		{"european date", "am 15.01.2024", "am 15.01.2024", Redactions{}},
		{"us date dashed", "12-25-2024", "12-25-2024", Redactions{}},
		{"date and time", "2024-01-15 10:30:45", "2024-01-15 10:30:45", Redactions{}},
		{"version", "v2.14.1087", "v2.14.1087", Redactions{}},
		{"version words", "version 10.15.7", "version 10.15.7", Redactions{}},
		{"ipv4", "host 192.168.100.200", "host 192.168.100.200", Redactions{}},
		{"decimal", "pi is 3.14159265", "pi is 3.14159265", Redactions{}},
		{"thousands spaced", "1 234 567 EUR", "1 234 567 EUR", Redactions{}},
		{"thousands dotted", "1.234.567 EUR", "1.234.567 EUR", Redactions{}},
		{"ticket hash", "ticket #12345678", "ticket #12345678", Redactions{}},
		{"bare digits", "account 12345678", "account 12345678", Redactions{}},
		{"identifier", "id_0301234567", "id_0301234567", Redactions{}},
		{"glued after", "0301234567abc", "0301234567abc", Redactions{}},
		{"slash path", "SKU/0301234567", "SKU/0301234567", Redactions{}},
		{"six digits", "030 123", "030 123", Redactions{}},
		{"sixteen digits", "+49 151 1234 5678 9012", "+49 151 1234 5678 9012", Redactions{}},
		{"spaced single digits", "1 2 3 4 5 6 7", "1 2 3 4 5 6 7", Redactions{}},

		// Together.
		{"all three", "I'm jo@x.org, +1 415 555 2671, card 4111-1111-1111-1111.",
			"I'm [email], [phone], card [card].", Redactions{Emails: 1, Phones: 1, Cards: 1}},
		{"placeholders stay", "[email] [phone] [card]", "[email] [phone] [card]", Redactions{}},
		{"empty", "", "", Redactions{}},
		{"non-ascii around", "Téléphone : 06 12 34 56 78 — merci", "Téléphone : [phone] — merci", Redactions{Phones: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n := Redact(tc.in)
			if got != tc.want || n != tc.n {
				t.Errorf("Redact(%q)\n got %q %+v\nwant %q %+v", tc.in, got, n, tc.want, tc.n)
			}
			if again, n2 := Redact(got); again != got || n2 != (Redactions{}) {
				t.Errorf("Redact is not idempotent on %q: %q %+v", got, again, n2)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for _, tc := range []struct {
		digits string
		want   bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"378282246310005", true},
		{"0", true},
		{"18", true},
		{"19", false},
	} {
		if got := luhn(tc.digits, digitGroups(tc.digits)); got != tc.want {
			t.Errorf("luhn(%s) = %v, want %v", tc.digits, got, tc.want)
		}
	}
}

// luhnValidRun reports the first run of 16 digits in s, contiguous or in
// groups joined by one space or dash, that passes the Luhn check: what a
// card number left in the output would look like. It checks every run of
// whole digit groups, independently of redactCards' own scan.
func luhnValidRun(s string) (string, bool) {
	groups := digitGroups(s)
	for i := range groups {
		digits := 0
		for j := i; j < len(groups); j++ {
			if j > i && !(groups[j].start == groups[j-1].end+1 && strings.ContainsRune(" -", rune(s[groups[j-1].end]))) {
				break
			}
			digits += groups[j].end - groups[j].start
			if digits == 16 && luhn(s, groups[i:j+1]) {
				return s[groups[i].start:groups[j].end], true
			}
			if digits >= 16 {
				break
			}
		}
	}
	return "", false
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"card 4111 1111 1111 1111 exp 12/25", "+1 (415) 555-2671", "jane@example.com",
		"ORD-2024-00817", "2024-01-15 4111111111111111", "a@b.cc.0301234567", "0301234567/+4930123456",
		"4111111111111111-0301234567", "(030)-a@b.cc", "+44 (0)20 7946 0958", "1.234.567", "[phone]0301234567",
		"4111 1111 1111 1111 4111111111111111", "x@0301234567.de", "06 12 34 56 78", "192.168.100.200",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, n := Redact(in)
		if again, n2 := Redact(out); again != out || n2 != (Redactions{}) {
			t.Fatalf("not idempotent:\n in %q\nout %q\nagain %q %+v", in, out, again, n2)
		}
		if run, ok := luhnValidRun(out); ok {
			t.Fatalf("a Luhn-valid 16-digit run %q survives in %q (from %q)", run, out, in)
		}
		if n == (Redactions{}) && out != in {
			t.Fatalf("nothing counted but the text changed: %q → %q", in, out)
		}
		if got := strings.Count(out, PlaceholderCard) - strings.Count(in, PlaceholderCard); got != n.Cards {
			t.Fatalf("counted %d cards, %d placeholders appeared: %q → %q", n.Cards, got, in, out)
		}
	})
}
