package handlers

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// Defaults of the import's own bounds (Deps fields left zero).
const (
	// DefaultImportConcurrency is how many imports run at once.
	DefaultImportConcurrency = 2
	// DefaultImportMinRate is the least average upload rate, in bytes per
	// second, after importRateGrace (64 KiB/s: a 50 MB file in 13 minutes).
	DefaultImportMinRate = 64 << 10
)

const (
	// importRateGrace is how long an upload may run before its average
	// rate is held against the minimum rate.
	importRateGrace = 20 * time.Second
	// importIdle is the longest pause between two reads of the file.
	importIdle = 30 * time.Second
	// importTimeout bounds the import once the file is read (the writes to
	// the account, bounded in number by the import limits).
	importTimeout = 10 * time.Minute
	// importMaxFields and importMaxField bound the form fields before the
	// file.
	importMaxFields = 16
	importMaxField  = 4096
)

// importPage is the import form as the page shows it.
type importPage struct {
	Address      string
	MaxMB        int64
	Subscribe    bool
	Moved        bool
	Error        string
	AddressError string
	FileError    string
}

func (h *Handler) importShow(c echo.Context) error {
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	return h.render(c, "import", h.importPage(importPage{Subscribe: true}))
}

func (h *Handler) importPage(p importPage) importPage {
	p.MaxMB = (h.d.ImportMaxBytes + (1 << 20) - 1) >> 20
	return p
}

// importSubmit takes the upload as a stream, in this order, so that no
// byte of the file is read before the checks that guard it:
//
//  1. the form fields, which the form sends before the file (bounded in
//     number and size); a file before them is refused;
//  2. the credential budget, one unit per password (guard.take);
//  3. the form (importForm.Validate): the address of the new account (the
//     one address parser; reserved names refused; on another domain, one
//     whose server the portal may reach), a file, the old password when
//     moving;
//  4. a free import slot (at most ImportConcurrency at once);
//  5. the lock of the new account;
//  6. the file, read as a stream into the bounded XEP-0227 reader, at a
//     minimum rate, never written to disk;
//  7. the old account named in the file (the same parser, reserved names
//     refused) and its lock, when moving;
//  8. one login to each account; one answer for any failed check;
//  9. only then the moved statement and the import.
func (h *Handler) importSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return newPageError(http.StatusUnsupportedMediaType, i18n.K("error.bad_request"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return wrapPage(err, http.StatusBadRequest, i18n.K("error.bad_request"))
	}
	fields, file, err := readImportFields(mr)
	if err != nil {
		return err
	}
	// The file part is never closed: Close would read the rest of it, and
	// a refused file must not be read.
	// The page language travels as a form field; h.lang reads it here.
	r.PostForm = fields
	var f importForm
	f.Parse(fields, file != nil)
	lang := h.lang(c)
	moved := f.Moved
	page := h.importPage(importPage{Address: keepTyped(f.Address), Subscribe: f.Subscribe, Moved: moved})
	refuse := func(status int) error { return h.renderStatus(c, status, "import", page) }
	// refusals puts errs on the page: the old account's problems ("moved",
	// "old_password") in the banner.
	refusals := func(errs fieldErrors) {
		page.AddressError, page.FileError = h.msg(lang, errs["address"]), h.msg(lang, errs["file"])
		page.Error = h.msg(lang, errs["old_password"])
		if e := errs["moved"]; e != nil {
			page.Error = h.msg(lang, e)
		}
	}

	g := h.guard(c, flowImport, start)
	units := 1
	if moved {
		units = 2
	}
	if err := g.take(units); err != nil {
		return err
	}
	errs := f.Validate(h.d.Policy)
	if errs["address"] == nil && !h.d.Policy.IsOwn(f.Account) {
		if _, _, err := h.d.Migrator.Resolver.Config(r.Context(), f.Account.String()); err != nil {
			errs.add("address", i18n.NewError(i18n.K("migrate.err.address")))
		}
	}
	if len(errs) > 0 {
		g.release()
		refusals(errs)
		return refuse(http.StatusUnprocessableEntity)
	}
	addr := f.Account

	release, ok := h.importSlot()
	if !ok {
		g.release()
		h.d.Log.Info("import.refused", "reason", "busy")
		h.d.Metrics.Transfer("import", "refused", "busy", 0)
		c.Response().Header().Set("Retry-After", "60")
		return newPageError(http.StatusServiceUnavailable, i18n.K("migrate.err.busy"))
	}
	defer release()

	credErr := func(err error) error {
		if errors.Is(err, errBadCredentials) {
			key := i18n.K("migrate.err.credentials")
			if moved {
				key = i18n.K("migrate.err.credentials_moved")
			}
			page.Error = h.d.I18n.T(lang, key)
			return refuse(badCredentialsStatus)
		}
		return err
	}
	if err := g.locked(addr); err != nil {
		return credErr(err)
	}

	upload := h.uploadReader(c, file)
	up, err := h.d.Migrator.ReadUpload(upload, func(name string) bool {
		a, e := h.d.Policy.ParseAddress(name + "@" + addr.Domain)
		return e == nil && a.Key() == addr.Key()
	})
	if err != nil {
		g.release()
		if upload.slow && !errors.Is(err, errTooSlow) {
			err = errors.Join(errTooSlow, err)
		}
		return h.importFileError(c, page, lang, err)
	}

	var old policy.Address
	if moved {
		var errs fieldErrors
		old, errs = f.ValidateOwner(h.d.Policy, up.Owner())
		if len(errs) > 0 {
			g.release()
			refusals(errs)
			return refuse(http.StatusUnprocessableEntity)
		}
		if err := g.locked(old); err != nil {
			return credErr(err)
		}
	}

	// Both passwords are proven before anything is written.
	target, err := guardLogin(g, addr, f.Password, unavailableKey(flowImport), func(ctx context.Context) (*migrate.Session, error) {
		return h.d.Migrator.Login(ctx, addr.String(), f.Password)
	})
	if err != nil {
		return credErr(err)
	}
	defer target.Close()
	var source *migrate.Session
	if moved {
		source, err = guardLogin(g, old, f.OldPassword, unavailableKey(flowImport), func(ctx context.Context) (*migrate.Session, error) {
			return h.d.Migrator.Login(ctx, old.String(), f.OldPassword)
		})
		if err != nil {
			return credErr(err)
		}
		defer source.Close()
	}
	g.pad()

	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(importTimeout + time.Minute))
	ctx, cancel := context.WithTimeout(r.Context(), importTimeout)
	defer cancel()
	opt := migrate.ImportOptions{Subscribe: f.Subscribe}
	var movedErr error
	if moved {
		if movedErr = source.PublishMoved(ctx, addr.String()); movedErr == nil {
			opt.MovedFrom = old.String()
		}
	}
	res := target.Import(ctx, up, opt)
	if moved {
		res.Summary.Prepend(migrate.KindMoved, old.String(), movedErr)
	}
	h.d.Metrics.Transfer("import", "done", "", upload.n)
	return h.render(c, "import_done", h.importSummary(lang, addr.String(), old, res, up))
}

// readImportFields reads the form fields up to the file part, which it
// returns unread (nil when the form has none). Fields are bounded in number
// and size; a field after the file, or a second file, is never read, nor is
// the file when the form has no field before it.
func readImportFields(mr *multipart.Reader) (url.Values, *multipart.Part, error) {
	fields := url.Values{}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fields, nil, nil
		}
		if err != nil {
			if asMaxBytes(err) {
				return nil, nil, wrapPage(err, http.StatusRequestEntityTooLarge, i18n.K("error.body_too_large"))
			}
			return nil, nil, wrapPage(err, http.StatusBadRequest, i18n.K("error.bad_request"))
		}
		if part.FormName() == "file" {
			return fields, part, nil
		}
		if n >= importMaxFields {
			return nil, nil, newPageError(http.StatusBadRequest, i18n.K("error.bad_request"))
		}
		// Not closed: Close reads the rest of the part (NextPart skips what
		// is left of a field within the limit; an over-long one ends here).
		b, err := io.ReadAll(io.LimitReader(part, importMaxField+1))
		if err != nil || len(b) > importMaxField {
			return nil, nil, newPageError(http.StatusBadRequest, i18n.K("error.bad_request"))
		}
		fields.Set(part.FormName(), string(b))
	}
}

// importSlot takes one of the ImportConcurrency slots, without waiting.
func (h *Handler) importSlot() (release func(), ok bool) {
	select {
	case h.imports <- struct{}{}:
		return func() { <-h.imports }, true
	default:
		return nil, false
	}
}

// errTooSlow: the upload fell below the minimum rate.
var errTooSlow = errors.New("handlers: upload slower than the minimum rate")

// rateReader reads an upload at a minimum rate: every read gets importIdle
// more on the connection's read deadline, and after importRateGrace the
// average rate since the first read must stay at least min bytes per second.
// Rates are measured with the handler's clock; the deadline is wall time,
// as the socket's is.
type rateReader struct {
	r     io.Reader
	rc    *http.ResponseController
	now   func() time.Time
	start time.Time
	n     int64
	min   int64
	// slow is set once the upload fell below the rate: the XML reader may
	// report the text it had buffered before the error, so the refusal is
	// told by this, not by the error it returns.
	slow bool
}

func (u *rateReader) Read(p []byte) (int, error) {
	if u.rc != nil {
		_ = u.rc.SetReadDeadline(time.Now().Add(importIdle))
	}
	n, err := u.r.Read(p)
	u.n += int64(n)
	if el := u.now().Sub(u.start); el > importRateGrace && float64(u.n) < float64(u.min)*el.Seconds() {
		u.slow = true
		return n, errTooSlow
	}
	return n, err
}

func (h *Handler) uploadReader(c echo.Context, file io.Reader) *rateReader {
	min := h.d.ImportMinRate
	if min <= 0 {
		min = DefaultImportMinRate
	}
	return &rateReader{r: file, rc: http.NewResponseController(c.Response()), now: h.now, start: h.now(), min: min}
}

// importFileError renders the refusal of a file that could not be read.
func (h *Handler) importFileError(c echo.Context, f importPage, lang string, err error) error {
	var le *migrate.LimitError
	var ue *migrate.UsersError
	var fe *migrate.FileError
	status := http.StatusUnprocessableEntity
	h.d.Metrics.Transfer("import", "refused", importRefusal(err), 0)
	switch {
	case errors.Is(err, errTooSlow):
		h.d.Log.Info("import.refused", "reason", "slow_upload")
		return wrapPage(err, http.StatusRequestTimeout, i18n.K("migrate.err.slow_upload"))
	case asMaxBytes(err):
		h.d.Log.Info("import.refused", "reason", "file_too_large")
		return wrapPage(err, http.StatusRequestEntityTooLarge, i18n.K("migrate.err.file_too_large"), f.MaxMB)
	case errors.As(err, &le) && le.Kind == migrate.LimitData:
		h.d.Log.Info("import.refused", "reason", "limit", "kind", le.Kind, "max", le.Max)
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.too_much_data"))
		status = http.StatusRequestEntityTooLarge
	case errors.As(err, &le):
		h.d.Log.Info("import.refused", "reason", "limit", "kind", le.Kind, "max", le.Max)
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.too_many"), le.Max, h.d.I18n.T(lang, i18n.Key("migrate.limit."+le.Kind)))
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, migrate.ErrFileTooLarge):
		h.d.Log.Info("import.refused", "reason", "file_too_large")
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.file_too_large"), f.MaxMB)
		status = http.StatusRequestEntityTooLarge
	case errors.As(err, &ue):
		h.d.Log.Info("import.refused", "reason", "several_users", "users", ue.Count)
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.several_users"), ue.Count, strings.Join(ue.Users, ", "))
	case errors.As(err, &fe):
		h.d.Log.Info("import.refused", "reason", "file", "found", fe.Kind)
		f.FileError = h.fileRefusal(lang, fe)
	default:
		h.d.Log.Info("import.refused", "reason", "file", "err", err)
		f.FileError = h.d.I18n.T(lang, i18n.K("migrate.err.file_invalid"))
	}
	return h.renderStatus(c, status, "import", f)
}

// importRefusal is the metrics' reason of a file refused (importFileError).
func importRefusal(err error) string {
	var le *migrate.LimitError
	var ue *migrate.UsersError
	switch {
	case errors.Is(err, errTooSlow):
		return "slow_upload"
	case asMaxBytes(err), errors.Is(err, migrate.ErrFileTooLarge):
		return "file_too_large"
	case errors.As(err, &le):
		return "limit"
	case errors.As(err, &ue):
		return "several_users"
	}
	return "file"
}

// fileRefusal says what an uploaded file holds instead of an export.
func (h *Handler) fileRefusal(lang string, fe *migrate.FileError) string {
	t := func(k i18n.Key, args ...any) string { return h.d.I18n.T(lang, k, args...) }
	switch fe.Kind {
	case migrate.FileEmpty:
		return t(i18n.K("import.err.empty"))
	case migrate.FileRoot:
		return t(i18n.K("import.err.root"), fe.Found)
	case migrate.FileTruncated:
		return t(i18n.K("import.err.truncated"))
	case migrate.FileSyntax:
		return t(i18n.K("import.err.syntax"), fe.Line)
	case migrate.FileIndex:
		return t(i18n.K("import.err.index"), strings.Join(fe.Files, ", "))
	case migrate.FileNoUser:
		return t(i18n.K("import.err.no_user"))
	}
	return t(i18n.K("migrate.err.file_invalid"))
}
