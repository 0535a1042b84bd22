package views

import "testing"

// TestOperatorTexts: a page shows the operator's text of its language;
// without one, the text of site.storage_note marked with the language it is
// written in, never unmarked on a page of another language.
func TestOperatorTexts(t *testing.T) {
	s := Site{StorageNote: "Messages are kept for a week.", TextsLang: "en",
		Texts: map[string]OperatorTexts{"fr": {StorageNote: "Une semaine."}}}
	for _, c := range []struct {
		lang string
		want OperatorText
	}{
		{"en", OperatorText{Text: "Messages are kept for a week."}},
		{"de", OperatorText{Text: "Messages are kept for a week.", Lang: "en"}},
		{"fr", OperatorText{Text: "Une semaine."}},
	} {
		if got := s.StorageNoteIn(c.lang); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.lang, got, c.want)
		}
	}
	if got := s.UploadExpiryIn("de", "30 days"); got != (OperatorText{Text: "30 days", Lang: "en"}) {
		t.Errorf("upload expiry: %+v", got)
	}
	if got := (Site{}).StorageNoteIn("de"); got.Text != "" {
		t.Errorf("no note: %+v", got)
	}
}
