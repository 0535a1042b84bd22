package app

import (
	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/views"
)

// operatorTexts are the operator's texts by language
// (site.storage_note_<lang>, site.upload_expiry_<lang>).
func operatorTexts(cfg *config.Config) map[string]views.OperatorTexts {
	m := map[string]views.OperatorTexts{}
	for lang, note := range cfg.Site.StorageNotes {
		t := m[lang]
		t.StorageNote = note
		m[lang] = t
	}
	for lang, exp := range cfg.Site.UploadExpiries {
		t := m[lang]
		t.UploadExpiry = exp
		m[lang] = t
	}
	return m
}

// textsLang is the language of site.storage_note and site.upload_expiry:
// site.texts_lang, else the default language.
func textsLang(cfg *config.Config) string {
	if cfg.Site.TextsLang != "" {
		return cfg.Site.TextsLang
	}
	return cfg.Site.DefaultLang
}
