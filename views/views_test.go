package views

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewField(t *testing.T) {
	f, err := NewField("id", "address", "label", "Address", "value", "bob", "error", "wrong", "hint", "name@x", "maxlength", 1023, "optional", true, "suffix", "@x", "autocomplete", "off")
	if err != nil {
		t.Fatal(err)
	}
	want := Field{ID: "address", Label: "Address", Value: "bob", Error: "wrong", Hint: "name@x", HintID: "address-hint", MaxLength: 1023, Optional: true, Suffix: "@x", Autocomplete: "off"}
	if f != want {
		t.Errorf("NewField = %+v, want %+v", f, want)
	}
	for _, tc := range []struct {
		f    Field
		want string
	}{
		{Field{ID: "a", Error: "e", Hint: "h", HintID: "a-hint"}, "a-error a-hint"},
		{Field{ID: "a", Error: "e"}, "a-error"},
		{Field{ID: "a", Hint: "h", HintID: "moved-hint"}, "moved-hint"},
		{Field{ID: "a"}, ""},
	} {
		if got := tc.f.DescribedBy(); got != tc.want {
			t.Errorf("%+v: DescribedBy = %q, want %q", tc.f, got, tc.want)
		}
	}
	for _, bad := range [][]any{
		{"id", "a"},                                 // no label
		{"label", "A"},                              // no id
		{"id", "a", "label", "A", "hint"},           // odd
		{"id", "a", "label", "A", "maxlen", 3},      // unknown name
		{"id", "a", "label", "A", "maxlength", "3"}, // wrong type
		{"id", "a", "label", "A", 7, "x"},           // name not a string
	} {
		if _, err := NewField(bad...); err == nil {
			t.Errorf("NewField(%v): no error", bad)
		}
	}
}

// TestFieldPartials renders the partials through a page: the refusal is tied
// to its input, a field without one has no aria-invalid, passwords are never
// given a value.
func TestFieldPartials(t *testing.T) {
	r, err := New(func(string) func(string, ...any) string {
		return func(key string, _ ...any) string { return "[" + key + "]" }
	}, []string{"en"}, func(name string) string { return "/assets/" + name })
	if err != nil {
		t.Fatal(err)
	}
	data := passwordData{Address: "bob", AddressError: "not here", NewError: "too short", MinPassword: 10}
	var buf bytes.Buffer
	if err := r.Render(&buf, "password", Page{Lang: "en", Site: Site{Name: "X", Domain: "example.test"}, Data: data}); err != nil {
		t.Fatal(err)
	}
	body := buf.String()
	for _, want := range []string{
		`<label for="address">[manage.address]</label>`,
		`<input type="text" id="address" name="address" value="bob" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="3071" required aria-describedby="address-error address-hint" aria-invalid="true">`,
		`<p class="field-error" id="address-error"><span class="sr-only">[form.error_title] </span>not here</p>`,
		`<p class="hint" id="address-hint">[manage.address_hint]</p>`,
		`<input type="password" id="current" name="current" autocomplete="current-password" maxlength="4096" required>`,
		`<input type="password" id="password" name="password" autocomplete="new-password" maxlength="4096" required aria-describedby="password-error password-hint" aria-invalid="true">`,
		`<p class="field-error" id="password-error"><span class="sr-only">[form.error_title] </span>too short</p>`,
		`<input type="password" id="password2" name="password2" autocomplete="new-password" maxlength="4096" required>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks\n%s\nin:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="current-error"`) {
		t.Error("an error paragraph for a field without a refusal")
	}
}

// passwordData is the password page's data as the field test needs it
// (handlers.passwordPage has the same fields and method).
type passwordData struct {
	Address, Error, AddressError, CurrentError, NewError string
	MinPassword                                          int
}

func (p passwordData) Summary(heading string) Summary {
	return NewSummary(heading, p.Error, "address", p.AddressError, "current", p.CurrentError, "password", p.NewError)
}
