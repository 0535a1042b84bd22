package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/migrate"
	"github.com/xmpp-portal/portal/internal/pie"
)

// importReadTimeout replaces the server's read timeout while an upload of
// up to import.max_size arrives.
const importReadTimeout = 10 * time.Minute

type importForm struct {
	Address      string
	MaxMB        int64
	Subscribe    bool
	Moved        bool
	Error        string
	AddressError string
	FileError    string
}

// importRow is one line of the summary page.
type importRow struct {
	Kind   string // translated
	Item   string
	OK     bool
	Reason string
}

type importDone struct {
	Address  string
	OldJID   string
	Restored int
	Failed   int
	Rows     []importRow
	Problems []string
	Archive  int // archived messages in the file (not imported)
}

func (h *Handler) importShow(c echo.Context) error {
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	return h.render(c, "import", h.importForm(importForm{Subscribe: true}))
}

func (h *Handler) importForm(f importForm) importForm {
	f.MaxMB = (h.d.ImportMaxBytes + (1 << 20) - 1) >> 20
	return f
}

// importSubmit reads the multipart upload as a stream (nothing is written
// to disk: the file part goes straight into the bounded XEP-0227 parser),
// checks the credential budget, then restores the data into the new account
// (logins regulated per account) and shows the summary.
func (h *Handler) importSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	r := c.Request()
	_ = http.NewResponseController(c.Response()).SetReadDeadline(h.now().Add(importReadTimeout))
	// The body is read once, as a stream: h.lang must not parse it first.
	mr, err := r.MultipartReader()
	if err != nil {
		return i18n.Wrap(err, http.StatusBadRequest, i18n.K("error.bad_request"))
	}
	fields := map[string]string{}
	var doc *pie.Document
	var fileErr error
	gotFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if asMaxBytes(err) {
				return i18n.Wrap(err, http.StatusRequestEntityTooLarge, i18n.K("migrate.err.file_too_large"), h.importForm(importForm{}).MaxMB)
			}
			return i18n.Wrap(err, http.StatusBadRequest, i18n.K("error.bad_request"))
		}
		name := part.FormName()
		if name == "file" {
			if gotFile {
				part.Close()
				continue
			}
			gotFile = true
			doc, _, _, fileErr = h.d.Migrator.ParseFile(part)
			// Read what the parser left (a failed parse) so the fields after
			// the file still arrive; the body limit bounds this.
			if _, err := io.Copy(io.Discard, part); err != nil && asMaxBytes(err) {
				return i18n.Wrap(err, http.StatusRequestEntityTooLarge, i18n.K("migrate.err.file_too_large"), h.importForm(importForm{}).MaxMB)
			}
			part.Close()
			continue
		}
		if len(fields) < 16 {
			b, _ := io.ReadAll(io.LimitReader(part, 4096))
			fields[name] = string(b)
		}
		part.Close()
	}
	// The page language travels as a form field, too.
	if l := fields["lang"]; l != "" && c.QueryParam("lang") == "" {
		q := r.URL.Query()
		q.Set("lang", l)
		r.URL.RawQuery = q.Encode()
	}
	lang := h.lang(c)
	budget, err := h.checkBudget(c, abuse.Credential)
	if err != nil {
		return err
	}
	f := h.importForm(importForm{Address: keepTyped(fields["address"]), Subscribe: fields["subscribe"] != "", Moved: fields["moved"] != ""})
	switch {
	case !gotFile || (doc == nil && fileErr == nil):
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.file_missing"))
	case errors.Is(fileErr, migrate.ErrFileTooLarge):
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.file_too_large"), f.MaxMB)
	case fileErr != nil:
		h.d.Log.Info("import.refused", "reason", "file", "err", fileErr)
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.file_invalid"))
	}
	address := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(fields["address"]), "xmpp:"))
	if !strings.Contains(address, "@") {
		address += "@" + h.d.Policy.Domain()
	}
	local, domain, _ := strings.Cut(address, "@")
	if domain == h.d.Policy.Domain() {
		l, aerr := h.manageAddress(address)
		if aerr != nil {
			f.AddressError = aerr.Message(h.d.I18n, lang)
		}
		local = l
		address = l + "@" + domain
	} else if _, _, err := h.d.Migrator.Resolver.Config(r.Context(), address); err != nil {
		f.AddressError = h.d.I18n.T(lang, i18n.K("migrate.err.address"))
	}
	_ = local
	if f.FileError != "" || f.AddressError != "" {
		budget.Release(r.Context())
		return h.renderStatus(c, http.StatusUnprocessableEntity, "import", f)
	}
	_, fu := doc.User()
	fh, _ := doc.User()
	oldJID := fu.Name + "@" + fh.JID
	req := migrate.ImportRequest{Address: address, Password: fields["password"], Subscribe: f.Subscribe}
	if f.Moved {
		req.OldPassword = fields["old_password"]
		if req.OldPassword == "" {
			f.Error = h.d.I18n.T(lang, i18n.K("migrate.err.old_password_missing"))
			budget.Release(r.Context())
			return h.renderStatus(c, http.StatusUnprocessableEntity, "import", f)
		}
	}

	res, err := h.runImport(c, start, doc, req, address, oldJID)
	if err != nil {
		var oe *migrate.OldAccountError
		switch {
		case errors.Is(err, errBadCredentials):
			f.Error = h.d.I18n.T(lang, i18n.K("migrate.err.credentials"))
			return h.renderStatus(c, badCredentialsStatus, "import", f)
		case errors.As(err, &oe):
			f.Error = h.d.I18n.T(lang, i18n.K("migrate.err.old_credentials"))
			return h.renderStatus(c, badCredentialsStatus, "import", f)
		}
		return err
	}
	return h.render(c, "import_done", h.importSummary(lang, address, res, fu))
}

// runImport does the import under the regulation of the new account (and
// of the old one when the moved notice is published).
func (h *Handler) runImport(c echo.Context, start time.Time, doc *pie.Document, req migrate.ImportRequest, address, oldJID string) (*migrate.ImportResult, error) {
	ctx := c.Request().Context()
	defer h.padFrom(ctx, start)
	if h.d.Regulator != nil {
		for _, bare := range []string{address, oldJID} {
			if bare == oldJID && req.OldPassword == "" {
				continue
			}
			locked, _, err := h.d.Regulator.Locked(ctx, bare)
			if err != nil {
				return nil, i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("error.store_unavailable"))
			}
			if locked {
				h.d.Log.Info("credentials.check", "flow", "import", "outcome", "locked")
				if bare == oldJID {
					return nil, &migrate.OldAccountError{Err: errBadCredentials}
				}
				return nil, errBadCredentials
			}
		}
	}
	if req.Password == "" {
		return nil, h.credentialFailed(ctx, "import", address, address)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	res, err := h.d.Migrator.Import(ictx, doc, req)
	var oe *migrate.OldAccountError
	switch {
	case err == nil:
		h.d.Log.Info("credentials.check", "flow", "import", "outcome", "ok")
		return res, nil
	case errors.As(err, &oe):
		if ferr := h.credentialFailed(ctx, "import-old", oldJID, oldJID); !errors.Is(ferr, errBadCredentials) {
			return nil, ferr
		}
		return nil, err
	case errors.Is(err, migrate.ErrAuth):
		return nil, h.credentialFailed(ctx, "import", address, address)
	default:
		h.d.Log.Warn("import.failed", "err", err)
		return nil, i18n.Wrap(err, http.StatusServiceUnavailable, i18n.K("migrate.err.unavailable"))
	}
}

var kindKeys = map[string]i18n.Key{
	migrate.KindContact:      i18n.K("migrate.kind.contact"),
	migrate.KindSubscription: i18n.K("migrate.kind.subscription"),
	migrate.KindVCard:        i18n.K("migrate.kind.vcard"),
	migrate.KindLegacyBM:     i18n.K("migrate.kind.legacy_bookmarks"),
	migrate.KindPrivate:      i18n.K("migrate.kind.private"),
	migrate.KindPEP:          i18n.K("migrate.kind.pep"),
	migrate.KindBookmark:     i18n.K("migrate.kind.bookmark"),
	migrate.KindAvatar:       i18n.K("migrate.kind.avatar"),
	migrate.KindNickname:     i18n.K("migrate.kind.nickname"),
	migrate.KindBlocked:      i18n.K("migrate.kind.blocked"),
	migrate.KindArchive:      i18n.K("migrate.kind.archive"),
	migrate.KindMoved:        i18n.K("migrate.kind.moved"),
}

func (h *Handler) importSummary(lang, address string, res *migrate.ImportResult, u *pie.User) importDone {
	d := importDone{Address: address, OldJID: res.OldJID, Archive: u.ArchiveCount}
	d.Restored, d.Failed = res.Summary.Counts()
	for _, o := range res.Summary.Items {
		k, ok := kindKeys[o.Kind]
		kind := o.Kind
		if ok {
			kind = h.d.I18n.T(lang, k)
		}
		d.Rows = append(d.Rows, importRow{Kind: kind, Item: o.Item, OK: o.OK, Reason: o.Reason})
	}
	for i, p := range res.Problems {
		if i >= 100 {
			d.Problems = append(d.Problems, "… "+strconv.Itoa(len(res.Problems)-i))
			break
		}
		d.Problems = append(d.Problems, p.String())
	}
	ok, failed := res.Summary.Counts()
	h.d.Log.Info("import.done", "restored", ok, "not_restored", failed, "file_problems", len(res.Problems))
	return d
}
