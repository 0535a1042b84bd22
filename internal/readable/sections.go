package readable

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmltree"
)

// Namespaces of the data the copy shows.
const (
	nsAvatarData = "urn:xmpp:avatar:data"
	nsAvatarMeta = "urn:xmpp:avatar:metadata"
	nsNick       = "http://jabber.org/protocol/nick"
	nsVCard4     = "urn:xmpp:vcard4"
	nsVCard4Data = "urn:ietf:params:xml:ns:vcard-4.0"
	nsBookmarks2 = "urn:xmpp:bookmarks:1"
	nsLegacyBM   = "storage:bookmarks"
)

// extraCSS is what the copy needs beyond the portal's stylesheet.
const extraCSS = `
.conversation ol { list-style: none; padding: 0; margin: 0; }
.conversation li { padding: 0.2rem 0; overflow-wrap: anywhere; }
.conversation time { color: var(--muted); font-size: 0.9rem; margin-right: 0.25rem; }
.conversation .body { white-space: pre-wrap; }
.avatar { width: 6rem; height: 6rem; object-fit: cover; border-radius: 50%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
@media print { .conversation { break-inside: avoid-page; } }
`

// head writes the document head and every section before the messages.
func (w *Writer) head() {
	if w.started {
		return
	}
	w.started = true
	w.s("<!doctype html>\n<html lang=\"")
	w.e(w.opt.Lang)
	w.s("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	w.s(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`, "\n")
	w.s("<title>")
	w.e(w.t(i18n.K("readable.title"), w.own))
	w.s("</title>\n<style>\n")
	// The stylesheet is the portal's own: it holds no "</style".
	w.s(strings.ReplaceAll(w.opt.CSS, "</", "<\\/"), extraCSS)
	w.s("</style>\n</head>\n<body>\n<main>\n<h1>")
	w.e(w.t(i18n.K("readable.heading")))
	w.s("</h1>\n<p class=\"address\">")
	w.e(w.own)
	w.s("</p>\n<p class=\"lead\">")
	w.e(w.t(i18n.K("readable.lead"), w.opt.Now.UTC().Format("2006-01-02 15:04")))
	w.s("</p>\n<nav><ul>")
	for _, l := range []struct {
		id  string
		key i18n.Key
	}{
		{"profile", i18n.K("readable.profile")}, {"contacts", i18n.K("readable.contacts")},
		{"groupchats", i18n.K("readable.groupchats")}, {"blocked", i18n.K("readable.blocked")},
		{"messages", i18n.K("readable.messages")},
	} {
		w.s(`<li><a href="#`, l.id, `">`)
		w.e(w.t(l.key))
		w.s("</a></li>")
	}
	w.s("</ul></nav>\n")
	w.profile()
	w.contacts()
	w.groupchats()
	w.blockedList()
	w.offlineMessages()
	w.s(`<section id="messages"><h2>`)
	w.e(w.t(i18n.K("readable.messages")))
	w.s("</h2>\n<p class=\"hint\">")
	w.e(w.t(i18n.K("readable.messages_hint")))
	w.s("</p>\n")
	// The held sections are written: let them go.
	w.roster, w.vcard, w.private, w.blocked, w.offline = nil, nil, nil, nil, nil
	w.pep = map[string][]pie.PEPItem{}
	_ = w.Flush()
}

// vcardFields are the vcard-temp fields the profile shows, in order.
var vcardFields = []struct {
	path []string
	key  i18n.Key
}{
	{[]string{"FN"}, i18n.K("readable.vcard.name")},
	{[]string{"NICKNAME"}, i18n.K("readable.vcard.nickname")},
	{[]string{"ORG", "ORGNAME"}, i18n.K("readable.vcard.org")},
	{[]string{"TITLE"}, i18n.K("readable.vcard.title")},
	{[]string{"EMAIL", "USERID"}, i18n.K("readable.vcard.email")},
	{[]string{"TEL", "NUMBER"}, i18n.K("readable.vcard.phone")},
	{[]string{"URL"}, i18n.K("readable.vcard.url")},
	{[]string{"BDAY"}, i18n.K("readable.vcard.birthday")},
	{[]string{"ADR", "LOCALITY"}, i18n.K("readable.vcard.locality")},
	{[]string{"DESC"}, i18n.K("readable.vcard.about")},
}

func (w *Writer) profile() {
	w.s(`<section id="profile" class="card"><h2>`)
	w.e(w.t(i18n.K("readable.profile")))
	w.s("</h2>\n")
	if src := w.avatar(); src != "" {
		w.s(`<p><img class="avatar" alt="`)
		w.e(w.t(i18n.K("readable.avatar")))
		w.s(`" src="`, src, "\"></p>\n")
	}
	var rows [][2]string
	if nick := firstText(w.pep[nsNick]); nick != "" {
		rows = append(rows, [2]string{w.t(i18n.K("readable.nick")), nick})
	}
	if w.vcard != nil {
		for _, f := range vcardFields {
			if v := childText(w.vcard, f.path...); v != "" {
				rows = append(rows, [2]string{w.t(f.key), v})
			}
		}
	} else if items := w.pep[nsVCard4]; len(items) > 0 && items[0].Payload != nil {
		v := items[0].Payload
		for _, f := range []struct {
			el  string
			key i18n.Key
		}{{"fn", i18n.K("readable.vcard.name")}, {"nickname", i18n.K("readable.vcard.nickname")}, {"email", i18n.K("readable.vcard.email")}, {"note", i18n.K("readable.vcard.about")}} {
			if c := v.Child(nsVCard4Data, f.el); c != nil {
				if t := strings.TrimSpace(c.Text()); t != "" {
					rows = append(rows, [2]string{w.t(f.key), t})
				}
			}
		}
	}
	if len(rows) == 0 {
		w.s("<p>")
		w.e(w.t(i18n.K("readable.no_profile")))
		w.s("</p>\n")
	} else {
		w.s("<dl>\n")
		for _, r := range rows {
			w.s("<dt>")
			w.e(r[0])
			w.s("</dt><dd>")
			w.e(r[1])
			w.s("</dd>\n")
		}
		w.s("</dl>\n")
	}
	w.s("</section>\n")
}

// avatar is the profile picture as a data: URI, from the avatar nodes or
// the vCard's PHOTO; only PNG, JPEG, GIF and WebP, at most
// maxAvatarBytes; "" for none.
func (w *Writer) avatar() string {
	var typ, b64 string
	if data := w.pep[nsAvatarData]; len(data) > 0 && data[0].Payload != nil {
		b64 = data[0].Payload.Text()
		typ = "image/png"
		if meta := w.pep[nsAvatarMeta]; len(meta) > 0 && meta[0].Payload != nil {
			if info := meta[0].Payload.Child(nsAvatarMeta, "info"); info != nil && info.AttrValue("type") != "" {
				typ = info.AttrValue("type")
			}
		}
	} else if w.vcard != nil {
		if p := w.vcard.Child(w.vcard.Name.Space, "PHOTO"); p != nil {
			typ, b64 = childText(p, "TYPE"), childText(p, "BINVAL")
		}
	}
	switch typ {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil || len(raw) == 0 || len(raw) > maxAvatarBytes {
		return ""
	}
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(raw)
}

func (w *Writer) contacts() {
	w.s(`<section id="contacts"><h2>`)
	w.e(w.t(i18n.K("readable.contacts")))
	w.s("</h2>\n")
	if w.roster == nil || len(w.roster.Items) == 0 {
		w.s("<p>")
		w.e(w.t(i18n.K("readable.no_contacts")))
		w.s("</p></section>\n")
		return
	}
	w.s("<table>\n<thead><tr><th scope=\"col\">")
	w.e(w.t(i18n.K("readable.col_name")))
	w.s("</th><th scope=\"col\">")
	w.e(w.t(i18n.K("readable.col_address")))
	w.s("</th><th scope=\"col\">")
	w.e(w.t(i18n.K("readable.col_groups")))
	w.s("</th><th scope=\"col\">")
	w.e(w.t(i18n.K("readable.col_sharing")))
	w.s("</th></tr></thead>\n<tbody>\n")
	for _, it := range w.roster.Items {
		w.s("<tr><td>")
		w.e(it.Name)
		w.s(`</td><td class="mono">`)
		w.e(it.JID)
		w.s("</td><td>")
		w.e(strings.Join(it.Groups, ", "))
		w.s("</td><td>")
		w.e(w.sharing(it))
		w.s("</td></tr>\n")
	}
	w.s("</tbody></table>\n</section>\n")
}

// sharing says a contact's subscription in words.
func (w *Writer) sharing(it pie.RosterItem) string {
	var s string
	switch it.Subscription {
	case "both":
		s = w.t(i18n.K("readable.sub.both"))
	case "to":
		s = w.t(i18n.K("readable.sub.to"))
	case "from":
		s = w.t(i18n.K("readable.sub.from"))
	default:
		s = w.t(i18n.K("readable.sub.none"))
	}
	if it.Ask == "subscribe" {
		s += "; " + w.t(i18n.K("readable.sub.asked"))
	}
	return s
}

func (w *Writer) groupchats() {
	type room struct{ jid, name, nick string }
	var rooms []room
	seen := map[string]bool{}
	for _, it := range w.pep[nsBookmarks2] {
		if it.ID == "" || seen[it.ID] || it.Payload == nil {
			continue
		}
		seen[it.ID] = true
		rooms = append(rooms, room{it.ID, it.Payload.AttrValue("name"), childText(it.Payload, "nick")})
	}
	for _, p := range w.private {
		if p.Name.Space != nsLegacyBM {
			continue
		}
		for _, c := range p.Elements() {
			j := c.AttrValue("jid")
			if c.Name.Local != "conference" || j == "" || seen[j] {
				continue
			}
			seen[j] = true
			rooms = append(rooms, room{j, c.AttrValue("name"), childText(c, "nick")})
		}
	}
	w.s(`<section id="groupchats"><h2>`)
	w.e(w.t(i18n.K("readable.groupchats")))
	w.s("</h2>\n")
	if len(rooms) == 0 {
		w.s("<p>")
		w.e(w.t(i18n.K("readable.no_groupchats")))
		w.s("</p></section>\n")
		return
	}
	w.s("<ul>\n")
	for _, r := range rooms {
		w.s("<li>")
		if r.name != "" {
			w.e(r.name)
			w.s(" ")
		}
		w.s(`<span class="mono">`)
		w.e(r.jid)
		w.s("</span>")
		if r.nick != "" {
			w.s(" ")
			w.e(w.t(i18n.K("readable.as_nick"), r.nick))
		}
		w.s("</li>\n")
	}
	w.s("</ul>\n<p class=\"hint\">")
	w.e(w.t(i18n.K("readable.groupchats_hint")))
	w.s("</p></section>\n")
}

func (w *Writer) blockedList() {
	w.s(`<section id="blocked"><h2>`)
	w.e(w.t(i18n.K("readable.blocked")))
	w.s("</h2>\n")
	if len(w.blocked) == 0 {
		w.s("<p>")
		w.e(w.t(i18n.K("readable.no_blocked")))
		w.s("</p></section>\n")
		return
	}
	w.s("<ul class=\"mono\">\n")
	for _, j := range w.blocked {
		w.s("<li>")
		w.e(j)
		w.s("</li>\n")
	}
	w.s("</ul></section>\n")
}

func (w *Writer) offlineMessages() {
	var msgs []message
	for _, el := range w.offline {
		stamp := ""
		if d := el.Child(pie.NSDelay, "delay"); d != nil {
			stamp = d.AttrValue("stamp")
		}
		if stamp == "" {
			stamp = w.opt.Now.UTC().Format(time.RFC3339)
		}
		if m, ok := w.message(el, stamp); ok {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return
	}
	w.s(`<section id="offline" class="card conversation"><h2>`)
	w.e(w.t(i18n.K("readable.offline")))
	w.s("</h2>\n<ol>\n")
	for _, m := range msgs {
		w.s(`<li><time datetime="`, m.stamp.Format(time.RFC3339), `">`, m.stamp.Format("2006-01-02 15:04"), `</time> <strong>`)
		w.e(w.display(m.contact))
		w.s(`</strong> <span class="body">`)
		w.e(m.body)
		w.s("</span></li>\n")
	}
	w.s("</ol></section>\n")
}

// display is a contact as the copy names it: the name the user gave, with
// the address.
func (w *Writer) display(addr string) string {
	if n := w.names[addr]; n != "" {
		return n + " (" + addr + ")"
	}
	return addr
}

// dayName is a day as a heading says it: the date and the weekday, in the
// copy's language.
func (w *Writer) dayName(t time.Time) string {
	return w.t(i18n.K("readable.day"), t.Format("2006-01-02"), w.t(weekdays[t.Weekday()]))
}

var weekdays = [7]i18n.Key{
	i18n.K("readable.sunday"), i18n.K("readable.monday"), i18n.K("readable.tuesday"), i18n.K("readable.wednesday"),
	i18n.K("readable.thursday"), i18n.K("readable.friday"), i18n.K("readable.saturday"),
}

// bare is an address without its resource.
func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// childText is the trimmed text at a path of children (any namespace).
func childText(e *xmltree.Element, path ...string) string {
	for _, p := range path {
		if e == nil {
			return ""
		}
		var next *xmltree.Element
		for _, c := range e.Elements() {
			if c.Name.Local == p {
				next = c
				break
			}
		}
		e = next
	}
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

func firstText(items []pie.PEPItem) string {
	if len(items) == 0 || items[0].Payload == nil {
		return ""
	}
	return strings.TrimSpace(items[0].Payload.Text())
}
