package views

// OperatorTexts are the operator's own texts in one language
// (site.storage_note_<lang>, site.upload_expiry_<lang>).
type OperatorTexts struct {
	StorageNote  string
	UploadExpiry string
}

// OperatorText is one of the operator's texts as a page shows it: Lang is
// set when the text is in another language than the page (a German page
// showing the English note the operator wrote for every language), so the
// page marks it with lang="…" and screen readers read it in its own
// language. Empty Text: the operator wrote none.
type OperatorText struct {
	Text string
	Lang string
}

// StorageNoteIn is the storage note for a page in lang: the operator's
// text in lang, else the one of site.storage_note (in TextsLang).
func (s Site) StorageNoteIn(lang string) OperatorText {
	return s.operatorText(lang, s.Texts[lang].StorageNote, s.StorageNote)
}

// UploadExpiryIn is the upload expiry ("30 days") for a page in lang, as
// StorageNoteIn chooses.
func (s Site) UploadExpiryIn(lang string, fallback string) OperatorText {
	return s.operatorText(lang, s.Texts[lang].UploadExpiry, fallback)
}

func (s Site) operatorText(lang, own, base string) OperatorText {
	if own != "" {
		return OperatorText{Text: own}
	}
	if base == "" {
		return OperatorText{}
	}
	t := OperatorText{Text: base}
	if s.TextsLang != "" && s.TextsLang != lang {
		t.Lang = s.TextsLang
	}
	return t
}
