package handlers

import (
	"strconv"
	"strings"

	"github.com/xmpp-portal/portal/internal/i18n"
	"github.com/xmpp-portal/portal/internal/policy"
	"github.com/xmpp-portal/portal/internal/xmpp/migrate"
)

// The import's result page in words: what came back, kind by kind, in
// sentences ("22 contacts restored", "your profile picture", "4 group
// chats"); whom the new account asked to share presence again; what could
// not be restored and why, in words; and apart from both what was never
// meant to be restored (the new account itself among the old contacts, the
// old account's moved statement, the message archive no server accepts).

// importDone is the result page.
type importDone struct {
	Address string
	OldJID  string
	// Restored are the sentences of what came back.
	Restored []string
	// Asked are the contacts asked to share presence again, in the order
	// of the file; AskedMoved: the requests carried the moved notice.
	Asked      []string
	AskedMoved bool
	// Moved: the old account's moved statement was published; MovedError
	// says why it was not (empty: not asked for).
	Moved      bool
	MovedError string
	// NotRestored lists what could not be restored, with the reason.
	NotRestored []importRow
	// Notes say what was left as it was meant to be (archive, the account
	// itself, …).
	Notes []string
	// Problems are what the reader skipped in the file.
	Problems []string
	Archive  int // archived messages in the file (not imported)
}

// importRow is one thing that could not be restored.
type importRow struct {
	Kind   string // translated
	Item   string // an address, a node or a namespace
	Reason string // translated
}

func (h *Handler) importSummary(lang, address string, old policy.Address, res *migrate.ImportResult, up *migrate.Upload) importDone {
	t := func(k i18n.Key, args ...any) string { return h.d.I18n.T(lang, k, args...) }
	d := importDone{Address: address, Archive: up.ArchiveCount()}
	if !old.IsZero() {
		d.OldJID = old.String()
	}
	var contacts, blocked, settings int
	var vcard, avatar, nick bool
	for _, o := range res.Summary.Items {
		if o.Left {
			if n := h.importNote(lang, o); n != "" {
				d.Notes = append(d.Notes, n)
			}
			continue
		}
		if !o.OK {
			d.NotRestored = append(d.NotRestored, importRow{Kind: h.kindName(lang, o.Kind), Item: o.Item, Reason: h.importReason(lang, o.Reason)})
			if o.Kind == migrate.KindMoved {
				d.MovedError = h.importReason(lang, o.Reason)
			}
			continue
		}
		switch o.Kind {
		case migrate.KindContact:
			contacts++
		case migrate.KindSubscription:
			d.Asked = append(d.Asked, o.Item)
		case migrate.KindVCard:
			vcard = true
		case migrate.KindAvatar:
			avatar = true
		case migrate.KindNickname:
			nick = true
		case migrate.KindBlocked:
			blocked++
		case migrate.KindPrivate, migrate.KindPEP:
			settings++
		case migrate.KindMoved:
			d.Moved = true
		}
	}
	d.AskedMoved = d.Moved && len(d.Asked) > 0
	if contacts > 0 {
		d.Restored = append(d.Restored, plural(t, contacts, i18n.K("import_done.contacts_one"), i18n.K("import_done.contacts")))
	}
	if vcard {
		d.Restored = append(d.Restored, t(i18n.K("import_done.vcard")))
	}
	if avatar {
		d.Restored = append(d.Restored, t(i18n.K("import_done.avatar")))
	}
	if nick {
		d.Restored = append(d.Restored, t(i18n.K("import_done.nickname")))
	}
	if n := res.Summary.GroupChats(); n > 0 {
		d.Restored = append(d.Restored, plural(t, n, i18n.K("import_done.groupchats_one"), i18n.K("import_done.groupchats")))
	}
	if blocked > 0 {
		d.Restored = append(d.Restored, plural(t, blocked, i18n.K("import_done.blocked_one"), i18n.K("import_done.blocked")))
	}
	if settings > 0 {
		d.Restored = append(d.Restored, plural(t, settings, i18n.K("import_done.settings_one"), i18n.K("import_done.settings")))
	}
	for i, p := range res.Problems {
		if i >= 100 {
			d.Problems = append(d.Problems, "… "+strconv.Itoa(len(res.Problems)-i))
			break
		}
		d.Problems = append(d.Problems, p.String())
	}
	restored, failed := res.Summary.Counts()
	h.d.Log.Info("import.done", "restored", restored, "not_restored", failed, "asked", len(d.Asked), "file_problems", len(res.Problems))
	return d
}

// plural is the message of n things: one's key for 1, many's for the rest.
func plural(t func(i18n.Key, ...any) string, n int, one, many i18n.Key) string {
	if n == 1 {
		return t(one)
	}
	return t(many, n)
}

// kindName is an item's kind as the page says it.
func (h *Handler) kindName(lang, kind string) string {
	if k, ok := kindKeys[kind]; ok {
		return h.d.I18n.T(lang, k)
	}
	return kind
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

// importReason says why an item was not restored: the import's own reasons
// and the server's conditions in words, anything else as the server's
// word.
func (h *Handler) importReason(lang, reason string) string {
	t := func(k i18n.Key, args ...any) string { return h.d.I18n.T(lang, k, args...) }
	switch reason {
	case migrate.ReasonInvalid:
		return t(i18n.K("import_done.why.invalid"))
	case migrate.ReasonPrivacyRule:
		return t(i18n.K("import_done.why.privacy_rule"))
	case migrate.ReasonEmptyItem:
		return t(i18n.K("import_done.why.empty"))
	case migrate.ReasonConnection:
		return t(i18n.K("import_done.why.connection"))
	case migrate.ReasonUnexpected:
		return t(i18n.K("import_done.why.unexpected"))
	case "feature-not-implemented", "service-unavailable", "item-not-found":
		return t(i18n.K("import_done.why.not_offered"))
	case "forbidden", "not-allowed", "not-authorized":
		return t(i18n.K("import_done.why.not_allowed"))
	case "not-acceptable", "bad-request", "jid-malformed", "precondition-not-met", "conflict":
		return t(i18n.K("import_done.why.refused"), reason)
	case "resource-constraint", "policy-violation":
		return t(i18n.K("import_done.why.limits"))
	}
	return t(i18n.K("import_done.why.other"), reason)
}

// importNote says in words why an item was left as it was meant to be;
// "" for none worth saying.
func (h *Handler) importNote(lang string, o migrate.Outcome) string {
	t := func(k i18n.Key, args ...any) string { return h.d.I18n.T(lang, k, args...) }
	n, _ := strconv.Atoi(strings.Fields(o.Item + " 0")[0])
	switch o.Reason {
	case migrate.ReasonSelf:
		return t(i18n.K("import_done.note.self"), o.Item)
	case migrate.ReasonOldAccount:
		return t(i18n.K("import_done.note.old_moved"))
	case migrate.ReasonOffline:
		return t(i18n.K("import_done.note.offline"), n)
	case migrate.ReasonArchive:
		return "" // the page's own paragraph (importDone.Archive)
	}
	return ""
}
