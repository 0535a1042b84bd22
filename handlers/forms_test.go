package handlers

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
)

// The forms' checks, without a server or HTTP: Parse from url.Values, then
// Validate with the policy of the unit tests (example.test, passwords of at
// least 10 characters).

func formPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Rules{Domain: "example.test", MinUsername: 2, MaxUsername: 32, MinPassword: 10, Reserved: []string{"press"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// keys are the message keys of errs, by field.
func keys(errs fieldErrors) map[string]i18n.Key {
	m := map[string]i18n.Key{}
	for f, e := range errs {
		m[f] = e.Key
	}
	return m
}

func wantKeys(t *testing.T, errs fieldErrors, want map[string]i18n.Key) {
	t.Helper()
	if want == nil {
		want = map[string]i18n.Key{}
	}
	if got := keys(errs); !maps.Equal(got, want) {
		t.Errorf("errors %v, want %v", got, want)
	}
}

// form is url.Values from name, value pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// variant returns a builder of forms: base's fields with those of kv set
// over them (a table's valid form and its variations).
func variant(base ...string) func(kv ...string) url.Values {
	return func(kv ...string) url.Values { return form(append(slices.Clone(base), kv...)...) }
}

const (
	formPW  = "correct horse battery"
	formPW2 = "another horse battery"
)

func TestRegisterForm(t *testing.T) {
	p := formPolicy(t)
	ok := variant("username", "alice", "password", formPW, "password2", formPW, "captcha_id", "id1", "captcha", "123456")
	const pass = "AAAAAAAAAAAAAAAAAAAAAA" // a pass token's form; whether it is valid is the store's question
	tests := []struct {
		name  string
		form  url.Values
		want  map[string]i18n.Key
		local string
	}{
		{"valid", ok(), nil, "alice"},
		{"upper case and own domain", ok("username", " Alice@Example.test "), nil, "alice"},
		{"no captcha id", ok("captcha_id", ""), map[string]i18n.Key{"captcha": "register.err.captcha_missing"}, "alice"},
		{"blank captcha answer", ok("captcha", "  "), map[string]i18n.Key{"captcha": "register.err.captcha_missing"}, "alice"},
		{"a pass instead of a captcha", ok("captcha_id", "", "captcha", "", "pass", pass), nil, "alice"},
		{"a field that cannot be a pass still stands for one", ok("captcha_id", "", "captcha", "", "pass", "not a token"), nil, "alice"},
		{"reserved name, and the password is still checked", ok("username", "admin", "password2", "x"), map[string]i18n.Key{"username": "policy.username.reserved", "password2": "policy.password.mismatch"}, ""},
		{"operator's reserved name", ok("username", "Press"), map[string]i18n.Key{"username": "policy.username.reserved"}, ""},
		{"other domain", ok("username", "alice@other.test"), map[string]i18n.Key{"username": "policy.username.other_domain"}, ""},
		{"bad name", ok("username", "bad user"), map[string]i18n.Key{"username": "policy.username.invalid"}, ""},
		{"short password", ok("password", "short", "password2", "short"), map[string]i18n.Key{"password": "policy.password.too_short"}, "alice"},
		{"mismatch", ok("password2", formPW2), map[string]i18n.Key{"password2": "policy.password.mismatch"}, "alice"},
		{"short and mismatched", ok("password", "short", "password2", "shirt"), map[string]i18n.Key{"password": "policy.password.too_short", "password2": "policy.password.mismatch"}, "alice"},
		{"empty password: one refusal", ok("password", "", "password2", formPW), map[string]i18n.Key{"password": "policy.password.empty"}, "alice"},
		{"common password", ok("password", "password123", "password2", "password123"), map[string]i18n.Key{"password": "policy.password.common"}, "alice"},
		{"password is the name", ok("password", "alice12345678", "password2", "alice12345678"), map[string]i18n.Key{"password": "policy.password.username"}, "alice"},
		{"everything wrong at once", form("username", "admin", "password", "short", "password2", "other"), map[string]i18n.Key{
			"captcha": "register.err.captcha_missing", "username": "policy.username.reserved",
			"password": "policy.password.too_short", "password2": "policy.password.mismatch"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f registerForm
			f.Parse(tc.form)
			wantKeys(t, f.Validate(p), tc.want)
			if f.Local != tc.local {
				t.Errorf("Local = %q, want %q", f.Local, tc.local)
			}
		})
	}
}

func TestRegisterFormParse(t *testing.T) {
	var f registerForm
	f.Parse(form("username", strings.Repeat("a", 2000), "captcha_id", " id1 ", "captcha", " 12 34 ", "pass", " AAAAAAAAAAAAAAAAAAAAA_ "))
	if len(f.Username) != 1023 || f.CaptchaID != "id1" || f.Captcha != "12 34" || f.Pass != "AAAAAAAAAAAAAAAAAAAAA_" {
		t.Errorf("Parse: %d bytes of username, id %q, answer %q, pass %q", len(f.Username), f.CaptchaID, f.Captcha, f.Pass)
	}
	// A pass field is bounded: what cannot be a token is never looked up.
	for _, bad := range []string{strings.Repeat("A", 23), strings.Repeat("A", 1<<16), "AAAAAAAAAAAAAAAAAAAAA=", "pass:AAAAAAAAAAAAAAAAA"} {
		f = registerForm{}
		if f.Parse(form("pass", bad)); f.Pass != "x" {
			t.Errorf("pass %.30q parsed as %q, want the stand-in x", bad, f.Pass)
		}
	}
	f = registerForm{}
	if f.Parse(form("username", "bob")); f.Pass != "" {
		t.Errorf("no pass field parsed as %q", f.Pass)
	}
}

// TestRegisterFormInvite: the button pressed is one of two (anything else
// is the web form's); "Create it in my app" needs a captcha answer or a
// pass and nothing else, whatever the name and password fields hold; the
// first contact's box is ticked only by its value.
func TestRegisterFormInvite(t *testing.T) {
	for _, c := range []struct {
		action, want string
	}{{"invite", actionInvite}, {"register", actionRegister}, {"", actionRegister}, {"Invite", actionRegister}, {strings.Repeat("x", 5000), actionRegister}} {
		var f registerForm
		if f.Parse(form("action", c.action)); f.Action != c.want {
			t.Errorf("action %.20q parsed as %q, want %q", c.action, f.Action, c.want)
		}
	}
	var f registerForm
	f.Parse(form("action", "invite", "username", "a b <c>", "password", "x"))
	if errs := f.ValidateInvite(); len(errs) != 1 || errs["captcha"] == nil {
		t.Errorf("no captcha: %v", errs)
	}
	f.Parse(form("action", "invite", "username", "a b <c>", "captcha_id", "id", "captcha", "123456"))
	if errs := f.ValidateInvite(); len(errs) != 0 {
		t.Errorf("captcha given: %v", errs)
	}
	f = registerForm{}
	f.Parse(form("action", "invite", "pass", "AAAAAAAAAAAAAAAAAAAAA_"))
	if errs := f.ValidateInvite(); len(errs) != 0 {
		t.Errorf("pass given: %v", errs)
	}
	for v, want := range map[string]bool{"yes": true, "": false, "no": false, "on": false} {
		f = registerForm{}
		if f.Parse(form("first_contact", v)); f.Contact != want {
			t.Errorf("first_contact %q parsed as %v", v, f.Contact)
		}
	}
}

func TestRenewForm(t *testing.T) {
	for id, valid := range map[string]bool{
		"ABCDEFGHIJKLMNOPQRST": true, "abcdefghij0123456789": true,
		"": false, "ABCDEFGHIJKLMNOPQRS": false, "ABCDEFGHIJKLMNOPQRSTU": false, "ABCDEFGHIJKLMNOPQRS-": false,
		"../../../etc/passwd00": false, strings.Repeat("A", 4096): false,
	} {
		var f renewForm
		f.Parse(id)
		if errs := f.Validate(); (len(errs) == 0) != valid {
			t.Errorf("id %.30q: refusals %v, want valid %v", id, keys(errs), valid)
		}
	}
}

func TestPasswordForm(t *testing.T) {
	p := formPolicy(t)
	ok := variant("address", "bob", "current", "old Secret phrase 1", "password", formPW, "password2", formPW)
	tests := []struct {
		name    string
		form    url.Values
		want    map[string]i18n.Key
		account string
	}{
		{"valid", ok(), nil, "bob@example.test"},
		{"full address, any case", ok("address", "xmpp:Bob@EXAMPLE.test."), nil, "bob@example.test"},
		{"other domain", ok("address", "bob@other.test"), map[string]i18n.Key{"address": "policy.username.other_domain"}, ""},
		{"empty address", ok("address", ""), map[string]i18n.Key{"address": "policy.username.empty"}, ""},
		{"reserved name", ok("address", "admin"), map[string]i18n.Key{"address": "manage.err.reserved"}, ""},
		{"no current password", ok("current", ""), map[string]i18n.Key{"current": "manage.err.current_missing"}, "bob@example.test"},
		{"new too short", ok("password", "short", "password2", "short"), map[string]i18n.Key{"password": "policy.password.too_short"}, "bob@example.test"},
		{"new twice differs", ok("password2", formPW2), map[string]i18n.Key{"password": "policy.password.mismatch"}, "bob@example.test"},
		{"new is the name", ok("password", "bob12345678", "password2", "bob12345678"), map[string]i18n.Key{"password": "policy.password.username"}, "bob@example.test"},
		{"same as current", ok("current", formPW), map[string]i18n.Key{"password": "password.err.same"}, "bob@example.test"},
		{"everything missing", form(), map[string]i18n.Key{"address": "policy.username.empty", "current": "manage.err.current_missing", "password": "policy.password.empty"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f passwordForm
			f.Parse(tc.form)
			wantKeys(t, f.Validate(p), tc.want)
			if got := bare(f.Account); got != tc.account {
				t.Errorf("Account = %q, want %q", got, tc.account)
			}
		})
	}
}

func bare(a policy.Address) string {
	if a.IsZero() {
		return ""
	}
	return a.String()
}

func TestDeleteForm(t *testing.T) {
	p := formPolicy(t)
	ok := variant("address", "bob", "password", "old Secret phrase 1", "confirm", "bob", "understand", "yes")
	tests := []struct {
		name string
		form url.Values
		want map[string]i18n.Key
	}{
		{"valid", ok(), nil},
		{"confirmation in another spelling", ok("confirm", "BOB@example.test"), nil},
		{"no confirmation", ok("confirm", ""), map[string]i18n.Key{"confirm": "delete.err.confirm"}},
		{"other account typed again", ok("confirm", "alice"), map[string]i18n.Key{"confirm": "delete.err.confirm"}},
		{"confirmation on another domain", ok("confirm", "bob@other.test"), map[string]i18n.Key{"confirm": "delete.err.confirm"}},
		{"bad address: no confirmation check", ok("address", "bob@other.test", "confirm", "x"), map[string]i18n.Key{"address": "policy.username.other_domain"}},
		{"reserved name", ok("address", "press", "confirm", "press"), map[string]i18n.Key{"address": "manage.err.reserved"}},
		{"no password", ok("password", ""), map[string]i18n.Key{"password": "manage.err.current_missing"}},
		{"box not ticked", ok("understand", ""), map[string]i18n.Key{"understand": "delete.err.understand"}},
		{"box with another value", ok("understand", "on"), map[string]i18n.Key{"understand": "delete.err.understand"}},
		{"everything missing", form(), map[string]i18n.Key{"address": "policy.username.empty", "password": "manage.err.current_missing", "understand": "delete.err.understand"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f deleteForm
			f.Parse(tc.form)
			wantKeys(t, f.Validate(p), tc.want)
		})
	}
}

func TestExportForm(t *testing.T) {
	p := formPolicy(t)
	tests := []struct {
		name    string
		form    url.Values
		want    map[string]i18n.Key
		account string
	}{
		{"valid", form("address", "Bob", "password", "x"), nil, "bob@example.test"},
		{"no password is the guard's question", form("address", "bob"), nil, "bob@example.test"},
		{"other domain", form("address", "bob@other.test", "password", "x"), map[string]i18n.Key{"address": "policy.username.other_domain"}, ""},
		{"reserved", form("address", "ADMIN", "password", "x"), map[string]i18n.Key{"address": "manage.err.reserved"}, ""},
		{"invalid", form("address", "a b", "password", "x"), map[string]i18n.Key{"address": "policy.username.invalid"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f exportForm
			f.Parse(tc.form)
			wantKeys(t, f.Validate(p), tc.want)
			if got := bare(f.Account); got != tc.account {
				t.Errorf("Account = %q, want %q", got, tc.account)
			}
		})
	}
}

func TestImportForm(t *testing.T) {
	p := formPolicy(t)
	tests := []struct {
		name    string
		form    url.Values
		file    bool
		want    map[string]i18n.Key
		account string
	}{
		{"own domain", form("address", "NewHome", "password", "x"), true, nil, "newhome@example.test"},
		{"other domain", form("address", "new@Elsewhere.example.", "password", "x"), true, nil, "new@elsewhere.example"},
		{"reserved on this domain", form("address", "admin"), true, map[string]i18n.Key{"address": "manage.err.reserved"}, ""},
		{"reserved name elsewhere is fine", form("address", "admin@elsewhere.example"), true, nil, "admin@elsewhere.example"},
		{"invalid", form("address", "a b@elsewhere.example"), true, map[string]i18n.Key{"address": "migrate.err.address"}, ""},
		{"empty", form(), true, map[string]i18n.Key{"address": "migrate.err.address"}, ""},
		{"no file", form("address", "newhome"), false, map[string]i18n.Key{"file": "migrate.err.file_missing"}, "newhome@example.test"},
		{"moved with the old password", form("address", "newhome", "moved", "1", "old_password", "x"), true, nil, "newhome@example.test"},
		{"moved without the old password", form("address", "newhome", "moved", "1"), true, map[string]i18n.Key{"old_password": "migrate.err.old_password_missing"}, "newhome@example.test"},
		{"everything missing", form("moved", "1"), false, map[string]i18n.Key{"address": "migrate.err.address", "file": "migrate.err.file_missing", "old_password": "migrate.err.old_password_missing"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f importForm
			f.Parse(tc.form, tc.file)
			wantKeys(t, f.Validate(p), tc.want)
			if got := bare(f.Account); got != tc.account {
				t.Errorf("Account = %q, want %q", got, tc.account)
			}
		})
	}
	var f importForm
	f.Parse(form("subscribe", "1", "moved", "1", "password", "a", "old_password", "b"), true)
	if !f.Subscribe || !f.Moved || f.Password != "a" || f.OldPassword != "b" || !f.HasFile {
		t.Errorf("Parse: %+v", f)
	}
}

func TestImportFormOwner(t *testing.T) {
	p := formPolicy(t)
	tests := []struct {
		name, owner string
		want        map[string]i18n.Key
		old         string
	}{
		{"another server", "old@Old.example", nil, "old@old.example"},
		{"this server", "olduser@example.test", nil, "olduser@example.test"},
		{"invalid", "not an address@", map[string]i18n.Key{"file": "migrate.err.file_invalid"}, ""},
		{"reserved on this server", "Admin@example.test", map[string]i18n.Key{"file": "manage.err.reserved"}, ""},
		{"the account itself, another spelling", "NewHome@EXAMPLE.test", map[string]i18n.Key{"moved": "migrate.err.moved_self"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := importForm{Moved: true}
			f.Parse(form("address", "newhome", "moved", "1", "old_password", "x"), true)
			if errs := f.Validate(p); len(errs) > 0 {
				t.Fatalf("Validate: %v", keys(errs))
			}
			old, errs := f.ValidateOwner(p, tc.owner)
			wantKeys(t, errs, tc.want)
			if tc.want == nil && old.String() != tc.old {
				t.Errorf("old account %q, want %q", old, tc.old)
			}
		})
	}
}
