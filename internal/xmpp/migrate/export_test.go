package migrate

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"
)

// The exporter's own list of private XML names holds only namespaces that
// clients use; ExportOptions.ExtraPrivate adds others (the tests' one),
// each once, after the known ones.
func TestExportPrivateNames(t *testing.T) {
	for _, n := range (ExportOptions{}).privateNames() {
		if strings.HasPrefix(n.Space, "urn:xmpp:pie:") || strings.Contains(n.Space, "test") {
			t.Errorf("production list asks for %s", n.Space)
		}
	}
	if slices.Contains(privateNames, testPrivate) {
		t.Errorf("privateNames holds the tests' namespace %s", testPrivate.Space)
	}
	extra := []xml.Name{testPrivate, {}, {Space: NSLegacyBM, Local: "storage"}, testPrivate}
	got := ExportOptions{ExtraPrivate: extra}.privateNames()
	want := append(slices.Clone(privateNames), testPrivate)
	if !slices.Equal(got, want) {
		t.Errorf("with ExtraPrivate: %v, want %v", got, want)
	}
	if len(privateNames) != len(want)-1 {
		t.Error("ExtraPrivate changed the package's list")
	}
}
