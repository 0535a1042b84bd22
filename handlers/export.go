package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/readable"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// exportWriteTimeout replaces the server's write timeout for a running
// export: a large archive takes longer than a page.
const exportWriteTimeout = 2 * time.Hour

// exportPage is the export form as the page shows it.
type exportPage struct {
	Address      string
	Error        string
	AddressError string
}

func (h *Handler) exportShow(c echo.Context) error {
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	return h.render(c, "export", exportPage{})
}

// exportSubmit checks origin (middleware), the credential budget, the form
// (exportForm.Validate: the address), then logs in as the user (the guard:
// regulated per account and padded in time like every credential form) and
// streams the XEP-0227 document. Nothing is written to disk or to the
// store.
func (h *Handler) exportSubmit(c echo.Context) error {
	start := h.now()
	if h.d.Migrator == nil {
		return h.notYet(c)
	}
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	var f exportForm
	f.Parse(r.PostForm)
	g := h.guard(c, flowExport, start)
	if err := g.take(1); err != nil {
		return err
	}
	lang := h.lang(c)
	page := exportPage{Address: keepTyped(f.Address)}
	if errs := f.Validate(h.d.Policy); len(errs) > 0 {
		g.release()
		page.AddressError = h.msg(lang, errs["address"])
		return h.renderStatus(c, http.StatusUnprocessableEntity, "export", page)
	}
	ex, err := guardLogin(g, f.Account, f.Password, unavailableKey(flowExport), func(ctx context.Context) (*migrate.Export, error) {
		return h.d.Migrator.OpenExport(ctx, f.Account.Local, f.Password)
	})
	if err != nil {
		if errors.Is(err, errBadCredentials) {
			page.Error = h.d.I18n.T(lang, i18n.K("manage.err.credentials"))
			return h.renderStatus(c, badCredentialsStatus, "export", page)
		}
		return err
	}
	defer ex.Close()
	g.pad()

	// From here on the answer is the file: the XEP-0227 file, named
	// user@host.xml as Prosody's prosody-migrator reads it, or the
	// readable copy, user@host.html.
	w := c.Response()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(h.now().Add(exportWriteTimeout))
	hd := w.Header()
	readableCopy := f.Format == exportReadable
	if readableCopy {
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Content-Disposition", attachment(ex.Address()+".html"))
	} else {
		hd.Set("Content-Type", "application/xml; charset=utf-8")
		hd.Set("Content-Disposition", attachment(ex.Address()+".xml"))
	}
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	h.d.Log.Info("export.started", "format", f.Format)
	fw := &flushWriter{w: w, rc: rc}
	var st migrate.ExportStats
	if readableCopy {
		st, err = ex.WriteReadable(r.Context(), fw, h.readableOptions(lang))
	} else {
		st, err = ex.WriteTo(r.Context(), fw)
	}
	if err != nil {
		// The document stays unclosed and the connection is cut, so the
		// browser reports the download as failed: never a silently
		// truncated file that looks whole.
		h.d.Log.Warn("export.failed", "archive_written", st.Archive, "err", err)
		h.d.Metrics.Transfer("export", "failed", "", fw.n)
		panic(http.ErrAbortHandler)
	}
	h.d.Log.Info("export.done", "roster", st.Roster, "pep_nodes", st.PEPNodes, "pep_items", st.PEPItems,
		"private", st.Private, "blocked", st.Blocked, "archive", st.Archive, "offline", st.Offline, "pages", st.Pages,
		"skipped", len(st.Skipped), "ms", h.now().Sub(start).Milliseconds(), "bytes", fw.n)
	h.d.Metrics.Transfer("export", "done", "", fw.n)
	return nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9@._+-]`)

// attachment is the Content-Disposition of a download named name (an
// address with its extension): the name itself as filename* (RFC 6266,
// UTF-8, so a name with non-ASCII letters stays the address that
// prosody-migrator expects), and as filename an ASCII form with every
// character that could upset a file system or the header replaced.
func attachment(name string) string {
	return `attachment; filename="` + unsafeFileChars.ReplaceAllString(name, "_") + `"; filename*=UTF-8''` + url.PathEscape(name)
}

// readableOptions are the readable copy's language, texts and styles.
func (h *Handler) readableOptions(lang string) readable.Options {
	opt := readable.Options{Lang: lang, Now: h.now(),
		T: func(k i18n.Key, args ...any) string { return h.d.I18n.T(lang, k, args...) }}
	if h.d.Assets != nil {
		opt.CSS = string(h.d.Assets.Body("portal.css"))
	}
	return opt
}

// flushWriter pushes every write to the client at once, so bytes reach the
// browser while the archive is still being paged.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	n  int64 // bytes written
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.n += int64(n)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
