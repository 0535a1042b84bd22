package captchastore

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/xmpp-portal/portal/internal/store"
)

// TestNormalize: spaces of any kind are dropped and every Unicode decimal
// digit becomes its ASCII digit; anything else, or too long an answer, is
// refused.
func TestNormalize(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // "" with ok false: refused
		ok       bool
	}{
		{"ASCII", "314159", "314159", true},
		{"spaces between", " 314 159 ", "314159", true},
		{"tabs and newline", "31\t41\n59\r", "314159", true},
		{"no-break space", "314\u00a0159", "314159", true},
		{"ideographic space", "314\u3000159", "314159", true},
		{"narrow no-break space", "314\u202f159", "314159", true},
		{"fullwidth", "３１４１５９", "314159", true},
		{"fullwidth with ideographic spaces", "３１４　１５９", "314159", true},
		{"Arabic-Indic", "٣١٤١٥٩", "314159", true},
		{"Extended Arabic-Indic (Persian)", "۳۱۴۱۵۹", "314159", true},
		{"Devanagari", "३१४१५९", "314159", true},
		{"Bengali", "৩১৪১৫৯", "314159", true},
		{"Thai", "๓๑๔๑๕๙", "314159", true},
		{"mathematical bold", "𝟑𝟏𝟒𝟏𝟓𝟗", "314159", true},
		{"mathematical monospace", "𝟹𝟷𝟺𝟷𝟻𝟿", "314159", true},
		{"mixed scripts", "3１٤१5𝟗", "314159", true},
		{"all ten fullwidth", "０１２３４５６７８９", "0123456789", true},
		{"all ten Arabic-Indic", "٠١٢٣٤٥٦٧٨٩", "0123456789", true},
		{"empty", "", "", true},
		{"only spaces", "   ", "", true},
		{"letter", "31415a", "", false},
		{"minus", "314-159", "", false},
		{"superscript two (No, not Nd)", "31415²", "", false},
		{"circled one (No)", "31415①", "", false},
		{"roman numeral (Nl)", "31415Ⅸ", "", false},
		{"Chinese numeral (Lo)", "31415九", "", false},
		{"zero width space (Cf)", "314\u200b159", "", false},
		{"invalid UTF-8", "314\xff159", "", false},
		{"NUL", "314\x00159", "", false},
		{"longest accepted", strings.Repeat("𝟗 ", maxAnswer/5) + strings.Repeat(" ", maxAnswer-maxAnswer/5*5), strings.Repeat("9", maxAnswer/5), true},
		{"a byte too long", strings.Repeat(" ", maxAnswer) + "1", "", false},
		{"huge", strings.Repeat("1", 1<<20), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := normalize(tc.in)
			if ok != tc.ok || (ok && string(got) != tc.want) {
				t.Errorf("normalize(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestDigitValueEveryNd: every rune of category Nd maps to a value, the
// values of a run rise 0, 1, …, 9, and nothing outside Nd maps.
func TestDigitValueEveryNd(t *testing.T) {
	count := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		v, ok := digitValue(r)
		if ok != unicode.Is(unicode.Nd, r) {
			t.Fatalf("digitValue(%U) ok = %v, unicode.IsDigit = %v", r, ok, !ok)
		}
		if !ok {
			continue
		}
		count++
		if v > 9 {
			t.Fatalf("digitValue(%U) = %d", r, v)
		}
		if v > 0 {
			if prev, ok := digitValue(r - 1); !ok || prev != v-1 {
				t.Fatalf("digitValue(%U) = %d but digitValue(%U) = %d, %v", r, v, r-1, prev, ok)
			}
		}
		if r >= '0' && r <= '9' && v != byte(r-'0') {
			t.Fatalf("digitValue(%q) = %d", r, v)
		}
	}
	if count%10 != 0 || count < 600 {
		t.Fatalf("%d Nd runes: want a few hundred, a multiple of ten", count)
	}
}

// TestVerifyNormalizes: Verify accepts the stored digits typed in other
// scripts and with spaces, compared after normalisation.
func TestVerifyNormalizes(t *testing.T) {
	st := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	c := NewCaptchas(st, Options{})
	fullwidth := func(a []byte) string {
		var b strings.Builder
		for i, d := range a {
			if i == 3 {
				b.WriteRune('\u3000')
			}
			b.WriteRune('０' + rune(d))
		}
		return b.String()
	}
	arabic := func(a []byte) string {
		var b strings.Builder
		for _, d := range a {
			b.WriteRune('٠' + rune(d))
			b.WriteByte(' ')
		}
		return b.String()
	}
	for name, typed := range map[string]func([]byte) string{"fullwidth": fullwidth, "Arabic-Indic": arabic} {
		t.Run(name, func(t *testing.T) {
			id, err := c.New()
			if err != nil {
				t.Fatal(err)
			}
			digits, err := c.digits(id)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := c.Verify(context.Background(), id, typed(digits))
			if err != nil || !ok {
				t.Fatalf("Verify(%q) = %v, %v; want true", typed(digits), ok, err)
			}
		})
	}
}
