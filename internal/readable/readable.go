// Package readable writes the readable copy of an account's export: one
// HTML file a person opens in any browser, without the portal and without
// the internet, holding the profile, the contacts, the group chats, the
// blocked addresses and the messages by day and by contact. It has no
// script, loads nothing (the portal's styles are inline, a profile
// picture is a data: URI of a raster image) and cannot be imported: the
// XEP-0227 file is for that.
//
// Writer takes the export's sections in the order the export reads them
// (the same methods as pie.Writer, so internal/xmpp/migrate streams one
// export to either) and streams the archive: the small sections are held
// until the archive starts, and of the archive only one day's messages
// are held at a time, at most maxDayMessages of them or maxDayBytes of
// text, so memory stays flat whatever the size of the archive (a day
// beyond the bound is written in several parts).
package readable

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
)

// Bounds of what Writer holds of one day of the archive.
const (
	maxDayMessages = 2000
	maxDayBytes    = 2 << 20
	// maxAvatarBytes bounds the profile picture written inline (decoded).
	maxAvatarBytes = 1 << 20
)

// Options are the copy's language and looks.
type Options struct {
	// Lang is the page's language (html lang); T translates the copy's
	// texts into it.
	Lang string
	T    func(key i18n.Key, args ...any) string
	// CSS is written inline in <style>: the portal's stylesheet.
	CSS string
	// Now is when the copy was made (shown, in UTC).
	Now time.Time
}

// Writer writes the readable copy of one account. Call its methods in
// the export's order, then Close; a copy abandoned half way stays
// unclosed (the download failed).
type Writer struct {
	w   *bufio.Writer
	opt Options
	err error

	host, user string
	own        string // bare address of the account
	offline    []*xmltree.Element
	roster     *pie.Roster
	names      map[string]string // bare address -> the name the user gave
	vcard      *xmltree.Element
	private    []*xmltree.Element
	blocked    []string
	pep        map[string][]pie.PEPItem
	started    bool // the head and the small sections are written

	day      string // the day being held (YYYY-MM-DD, UTC)
	dayOpen  bool   // the day's heading is written
	held     []message
	heldB    int
	messages int
	days     int
}

type message struct {
	contact string // bare address of the other side (or the room)
	stamp   time.Time
	mine    bool
	from    string // sender's nickname in a group chat
	body    string
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer, opt Options) *Writer {
	if opt.T == nil {
		opt.T = func(k i18n.Key, args ...any) string { return fmt.Sprint(append([]any{string(k)}, args...)...) }
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	return &Writer{w: bufio.NewWriterSize(w, 32<<10), opt: opt, names: map[string]string{}, pep: map[string][]pie.PEPItem{}}
}

func (w *Writer) t(k i18n.Key, args ...any) string { return w.opt.T(k, args...) }

// s writes HTML as it is; e writes text escaped.
func (w *Writer) s(parts ...string) {
	for _, p := range parts {
		w.w.WriteString(p)
	}
}
func (w *Writer) e(text string) { w.w.WriteString(html.EscapeString(text)) }

// StartHost notes the domain.
func (w *Writer) StartHost(jid string) error { w.host = jid; return w.err }

// StartUser notes the account.
func (w *Writer) StartUser(name string) error {
	w.user = name
	w.own = name + "@" + w.host
	return w.err
}

// OfflineMessages holds the messages that waited for the account.
func (w *Writer) OfflineMessages(msgs []*xmltree.Element) error {
	w.offline = msgs
	return w.err
}

// Roster holds the contacts (and their names, for the messages).
func (w *Writer) Roster(r *pie.Roster) error {
	w.roster = r
	if r != nil {
		for _, it := range r.Items {
			if it.Name != "" {
				w.names[bare(it.JID)] = it.Name
			}
		}
	}
	return w.err
}

// VCard holds the profile.
func (w *Writer) VCard(v *xmltree.Element) error { w.vcard = v; return w.err }

// Private holds the private XML (the old-style bookmarks are shown).
func (w *Writer) Private(elems []*xmltree.Element) error { w.private = elems; return w.err }

// Privacy holds the blocked addresses.
func (w *Writer) Privacy(p *pie.Privacy) error {
	w.blocked, _ = p.Blocklist()
	return w.err
}

// PEPConfig is not shown.
func (w *Writer) PEPConfig([]*pie.PEPNode) error { return w.err }

// StartPEPItems and EndPEPItems frame the items.
func (w *Writer) StartPEPItems() error { return w.err }
func (w *Writer) EndPEPItems() error   { return w.err }

// PEPItems holds the items the copy shows: avatar, nickname, vCard4,
// bookmarks.
func (w *Writer) PEPItems(node string, items []pie.PEPItem) error {
	switch node {
	case nsAvatarData, nsAvatarMeta, nsNick, nsVCard4, nsBookmarks2:
		w.pep[node] = items
	}
	return w.err
}

// Flush pushes what is written to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = err
	}
	return w.err
}

// StartArchive writes everything before the messages.
func (w *Writer) StartArchive() error {
	w.head()
	return w.err
}

// ArchiveResult adds one archived message: it is written when its day is
// complete, or when the day's bound is reached.
func (w *Writer) ArchiveResult(r *pie.ArchiveResult) error {
	if w.err != nil {
		return w.err
	}
	m, ok := w.message(r.Message, r.Stamp)
	if !ok {
		return nil
	}
	day := m.stamp.Format("2006-01-02")
	if day != w.day || len(w.held) >= maxDayMessages || w.heldB >= maxDayBytes {
		w.flushDay(day != w.day)
		w.day = day
	}
	w.held = append(w.held, m)
	w.heldB += len(m.body) + len(m.from) + 64
	w.messages++
	return w.err
}

// EndArchive writes the last day.
func (w *Writer) EndArchive() error {
	w.flushDay(true)
	if w.messages == 0 {
		w.s(`<p>`)
		w.e(w.t(i18n.K("readable.no_messages")))
		w.s(`</p>`, "\n")
	}
	w.s("</section>\n")
	return w.err
}

// EndUser and EndHost close nothing of their own.
func (w *Writer) EndUser() error { return w.err }
func (w *Writer) EndHost() error { return w.err }

// Close ends the document and flushes.
func (w *Writer) Close() error {
	if !w.started {
		w.head()
		w.s("</section>\n")
	}
	w.s(`<footer class="site"><p>`)
	w.e(w.t(i18n.K("readable.footer"), w.messages, w.days))
	w.s("</p></footer>\n</body>\n</html>\n")
	return w.Flush()
}

// message turns an archived message into what the copy shows; ok is false
// for one without a body (receipts, chat states, …) or a stamp.
func (w *Writer) message(el *xmltree.Element, stamp string) (message, bool) {
	if el == nil {
		return message{}, false
	}
	body := el.Child(pie.NSClient, "body")
	if body == nil {
		body = el.Child("", "body")
	}
	if body == nil || strings.TrimSpace(body.Text()) == "" {
		return message{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return message{}, false
	}
	m := message{stamp: ts.UTC(), body: body.Text()}
	from, to := el.AttrValue("from"), el.AttrValue("to")
	if el.AttrValue("type") == "groupchat" {
		m.contact = bare(from)
		if _, nick, ok := strings.Cut(from, "/"); ok {
			m.from = nick
		}
		return m, true
	}
	if bare(from) == w.own || from == "" {
		m.mine, m.contact = true, bare(to)
	} else {
		m.contact = bare(from)
	}
	return m, true
}

// flushDay writes the held messages of the day, grouped by contact in the
// order each first wrote; newDay starts the day's heading next time.
func (w *Writer) flushDay(closeDay bool) {
	if len(w.held) > 0 {
		if !w.dayOpen {
			w.days++
			w.s(`<h3 id="day-`, w.day, `">`)
			w.e(w.dayName(w.held[0].stamp))
			w.s("</h3>\n")
			w.dayOpen = true
		}
		var order []string
		by := map[string][]message{}
		for _, m := range w.held {
			if _, ok := by[m.contact]; !ok {
				order = append(order, m.contact)
			}
			by[m.contact] = append(by[m.contact], m)
		}
		for _, c := range order {
			w.s(`<section class="card conversation"><h4>`)
			w.e(w.t(i18n.K("readable.with"), w.display(c)))
			w.s("</h4>\n<ol>\n")
			for _, m := range by[c] {
				w.s(`<li><time datetime="`, m.stamp.Format(time.RFC3339), `">`, m.stamp.Format("15:04"), `</time> <strong>`)
				switch {
				case m.mine:
					w.e(w.t(i18n.K("readable.me")))
				case m.from != "":
					w.e(m.from)
				default:
					w.e(w.display(c))
				}
				w.s(`</strong> <span class="body">`)
				w.e(m.body)
				w.s("</span></li>\n")
			}
			w.s("</ol></section>\n")
		}
		w.held, w.heldB = w.held[:0], 0
		_ = w.Flush()
	}
	if closeDay {
		w.dayOpen = false
	}
}
