package handlers

import (
	"net/url"
	"strings"

	"github.com/xmpp-portal/portal/internal/captchastore"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
)

// One form struct per flow: Parse reads the fields of a form already read
// (url.Values; for /import the fields before the file), Validate checks them
// with the policy and returns every refusal by field. Neither does I/O, so
// each handler reads: parse form, budget (the guard), validate, act; and
// forms_test.go tests the checks without a server.
//
// A form keeps what was posted as it was posted; re-filling a page bounds it
// with keepTyped. Passwords are parsed to be checked and passed on, never
// shown.

// fieldErrors are a form's refusals, keyed by the name of the field (the
// input) they belong to. Empty: the form may go on.
type fieldErrors map[string]*i18n.Error

// add records e for field unless field already has a refusal.
func (fe fieldErrors) add(field string, e *i18n.Error) {
	if e != nil && fe[field] == nil {
		fe[field] = e
	}
}

// keepTyped bounds what is echoed back into a form to 1023 bytes.
func keepTyped(s string) string {
	if len(s) > 1023 {
		return s[:1023]
	}
	return s
}

// registerForm is the sign-up form.
type registerForm struct {
	Username  string // bounded by keepTyped, as it is checked and re-filled
	Password  string
	Password2 string
	CaptchaID string // trimmed
	Captcha   string // the answer, trimmed
	// Pass is the token of a solved captcha carried over from the form's
	// last try (captchastore.Passes), trimmed; a field that cannot be a
	// token (captchastore.ValidPassToken) is kept as "x", never looked up.
	Pass string
	// Action is the button pressed: actionRegister (also when the field is
	// missing or unknown) or actionInvite, "Create it in my app".
	Action string
	// Contact: the first contact's box is ticked.
	Contact bool

	// Local is the normalised local part, set by Validate when the
	// username is accepted.
	Local string
}

func (f *registerForm) Parse(v url.Values) {
	f.Username = keepTyped(v.Get("username"))
	f.Password, f.Password2 = v.Get("password"), v.Get("password2")
	f.CaptchaID, f.Captcha = strings.TrimSpace(v.Get("captcha_id")), strings.TrimSpace(v.Get("captcha"))
	if p := strings.TrimSpace(v.Get("pass")); p != "" {
		f.Pass = "x"
		if captchastore.ValidPassToken(p) {
			f.Pass = p
		}
	}
	f.Action = actionRegister
	if v.Get("action") == actionInvite {
		f.Action = actionInvite
	}
	f.Contact = v.Get("first_contact") == "yes"
}

// ValidateInvite checks the form sent with "Create it in my app": only that
// a captcha was answered or a pass given. The name and the password are
// the app's to choose; what was typed in their fields is not looked at.
func (f *registerForm) ValidateInvite() fieldErrors {
	errs := fieldErrors{}
	if f.Pass == "" && (f.CaptchaID == "" || f.Captcha == "") {
		errs.add("captcha", i18n.NewError(i18n.K("register.err.captcha_missing")))
	}
	return errs
}

// Validate checks the whole form at once, so that one answer reports every
// problem: the username by the sign-up rules (syntax, length, reserved
// names), the password by its rules (under "password"), the repetition
// (under "password2") and that a captcha was answered, unless a pass was
// given (whether the answer is right, or the pass valid, is the store's
// question). The password is checked against the username only when the
// username is accepted.
func (f *registerForm) Validate(p *policy.Policy) fieldErrors {
	errs := fieldErrors{}
	if f.Pass == "" && (f.CaptchaID == "" || f.Captcha == "") {
		errs.add("captcha", i18n.NewError(i18n.K("register.err.captcha_missing")))
	}
	local, uerr := p.Username(f.Username)
	errs.add("username", uerr)
	if uerr == nil {
		f.Local = local
	}
	errs.add("password", p.Password(f.Password, f.Password, f.Local))
	if f.Password2 != f.Password && f.Password != "" {
		errs.add("password2", i18n.NewError(i18n.K("policy.password.mismatch")))
	}
	return errs
}

// renewForm is the "new picture" form of the captcha's frame
// (captchaframe.go): the captcha id, from the path.
type renewForm struct {
	ID string
}

func (f *renewForm) Parse(id string) { f.ID = id }

// Validate accepts only an id the captcha store can have made.
func (f *renewForm) Validate() fieldErrors {
	errs := fieldErrors{}
	if !captchastore.ValidID(f.ID) {
		errs.add("id", i18n.NewError(i18n.K("error.not_found")))
	}
	return errs
}

// passwordForm is the password change form.
type passwordForm struct {
	Address   string
	Current   string
	Password  string // the new one
	Password2 string

	// Account is the address, set by Validate when it is accepted.
	Account policy.Address
}

func (f *passwordForm) Parse(v url.Values) {
	f.Address, f.Current = v.Get("address"), v.Get("current")
	f.Password, f.Password2 = v.Get("password"), v.Get("password2")
}

// Validate checks the address (an account on this domain that may be
// managed here), that the current password is given, and the new one by
// the sign-up rules, different from the current one.
func (f *passwordForm) Validate(p *policy.Policy) fieldErrors {
	errs := fieldErrors{}
	addr, aerr := p.Account(f.Address)
	errs.add("address", aerr)
	f.Account = addr
	if f.Current == "" {
		errs.add("current", i18n.NewError(i18n.K("manage.err.current_missing")))
	}
	if perr := p.Password(f.Password, f.Password2, addr.Local); perr != nil {
		errs.add("password", perr)
	} else if f.Password == f.Current {
		errs.add("password", i18n.NewError(i18n.K("password.err.same")))
	}
	return errs
}

// deleteForm is the account deletion form.
type deleteForm struct {
	Address    string
	Password   string
	Confirm    string // the address typed again
	Understand bool   // the "cannot be undone" box

	// Account is the address, set by Validate when it is accepted.
	Account policy.Address
}

func (f *deleteForm) Parse(v url.Values) {
	f.Address, f.Password, f.Confirm = v.Get("address"), v.Get("password"), v.Get("confirm")
	f.Understand = v.Get("understand") == "yes"
}

// Validate checks the address (an account on this domain that may be
// managed here), the same account typed again, a password given and the
// box ticked.
func (f *deleteForm) Validate(p *policy.Policy) fieldErrors {
	errs := fieldErrors{}
	addr, aerr := p.Account(f.Address)
	if aerr != nil {
		errs.add("address", aerr)
	} else if again, cerr := p.OwnAddress(f.Confirm); cerr != nil || again != addr {
		errs.add("confirm", i18n.NewError(i18n.K("delete.err.confirm")))
	}
	f.Account = addr
	if f.Password == "" {
		errs.add("password", i18n.NewError(i18n.K("manage.err.current_missing")))
	}
	if !f.Understand {
		errs.add("understand", i18n.NewError(i18n.K("delete.err.understand")))
	}
	return errs
}

// exportForm is the export form. An empty password is not a field error:
// the guard counts it as a failed check of the account.
type exportForm struct {
	Address  string
	Password string
	// Format is the button pressed: exportFile (the XEP-0227 file, also
	// when the field is missing or unknown) or exportReadable.
	Format string

	// Account is the address, set by Validate when it is accepted.
	Account policy.Address
}

// The export's formats (exportForm.Format).
const (
	exportFile     = "file"
	exportReadable = "readable"
)

func (f *exportForm) Parse(v url.Values) {
	f.Address, f.Password = v.Get("address"), v.Get("password")
	f.Format = exportFile
	if v.Get("format") == exportReadable {
		f.Format = exportReadable
	}
}

// Validate checks the address: an account on this domain that may be
// managed here.
func (f *exportForm) Validate(p *policy.Policy) fieldErrors {
	errs := fieldErrors{}
	addr, aerr := p.Account(f.Address)
	errs.add("address", aerr)
	f.Account = addr
	return errs
}

// importForm is the import form's fields, which the form sends before the
// file, and whether a file part followed them.
type importForm struct {
	Address     string // the account imported into
	Password    string
	Subscribe   bool
	Moved       bool // publish a moved notice on the old account (XEP-0283)
	OldPassword string
	HasFile     bool

	// Account is the address, set by Validate when it is accepted.
	Account policy.Address
}

func (f *importForm) Parse(v url.Values, hasFile bool) {
	f.Address, f.Password, f.OldPassword = v.Get("address"), v.Get("password"), v.Get("old_password")
	f.Subscribe, f.Moved = v.Get("subscribe") != "", v.Get("moved") != ""
	f.HasFile = hasFile
}

// Validate checks the address with the one address parser (on this domain
// an account that may be managed here, reserved names refused; elsewhere
// any valid address: whether the portal may reach its server is the
// handler's question), that a file was sent and, when moving, that the old
// account's password is given (under "old_password"). Account is set
// whenever the address parsed.
func (f *importForm) Validate(p *policy.Policy) fieldErrors {
	errs := fieldErrors{}
	addr, e := p.ParseAddress(f.Address)
	switch {
	case e != nil:
		errs.add("address", i18n.NewError(i18n.K("migrate.err.address")))
	case p.IsOwn(addr):
		addr, e = p.Account(f.Address)
		errs.add("address", e)
	}
	f.Account = addr
	if !f.HasFile {
		errs.add("file", i18n.NewError(i18n.K("migrate.err.file_missing")))
	}
	if f.Moved && f.OldPassword == "" {
		errs.add("old_password", i18n.NewError(i18n.K("migrate.err.old_password_missing")))
	}
	return errs
}

// ValidateOwner checks, when moving, the old account named in the file
// (owner): a valid address, not a reserved name of this domain, not the
// account imported into. It returns the old account and the refusals, under
// "file" (the file names an account that cannot be moved from) or "moved"
// (moving an account into itself).
func (f *importForm) ValidateOwner(p *policy.Policy, owner string) (policy.Address, fieldErrors) {
	errs := fieldErrors{}
	old, e := p.ParseAddress(owner)
	switch {
	case e != nil:
		errs.add("file", i18n.NewError(i18n.K("migrate.err.file_invalid")))
	case p.IsOwn(old) && p.IsReserved(old.Local):
		errs.add("file", i18n.NewError(i18n.K("manage.err.reserved")))
	case old.Key() == f.Account.Key():
		errs.add("moved", i18n.NewError(i18n.K("migrate.err.moved_self")))
	}
	return old, errs
}
