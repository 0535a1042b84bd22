package testenv

import (
	"context"
	"path/filepath"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
)

// SetFile chooses the file at path in the file input matched by selector,
// as a person picking it in the file dialog would.
func (b *Browser) SetFile(selector, path string) {
	b.t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		b.t.Fatalf("browser: set file: %v", err)
	}
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{abs}, NodeID: n.NodeID})
		return err
	}))
	if err != nil {
		b.t.Fatalf("browser: set file %q: %v", selector, err)
	}
}
