package testenv

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// More of the Browser: the window's size, the first screen, reloading and
// going back, forms the browser refuses to send, and frames of the same
// origin (the sign-up form's captcha picture).

// Viewport gives the tab a window of width × height CSS pixels at scale 1;
// mobile makes it a phone's (the page's viewport meta tag applies, as on a
// phone). It lasts for the rest of the test.
func (b *Browser) Viewport(width, height int, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	ctx, cancel := b.action()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), opts...)); err != nil {
		b.t.Fatalf("browser: viewport %dx%d: %v", width, height, err)
	}
}

// InFirstScreen reports whether the element that matches the CSS selector
// is shown whole within the first screen of the page: between the top of
// the document and the height of the window, where it is without
// scrolling.
func (b *Browser) InFirstScreen(selector string) bool {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	in, err := callOnNode[bool](ctx, n, `function() {
		const r = this.getBoundingClientRect(), top = r.top + window.scrollY;
		return r.height > 0 && top >= 0 && top + r.height <= window.innerHeight;
	}`)
	if err != nil {
		b.t.Fatalf("browser: position of %q: %v", selector, err)
	}
	return in
}

// ScreenshotScreen writes a PNG image of what the window shows now (not the
// whole page, as Screenshot does) to path.
func (b *Browser) ScreenshotScreen(path string) {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	res, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(path, res.Data, 0o644); err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
}

// Reload reloads the page, as the reload button does, and waits until it
// has loaded.
func (b *Browser) Reload() {
	b.t.Helper()
	b.navigate("reload", chromedp.Reload())
}

// Back goes back one page in the tab's history, as the back button does,
// and waits until that page has loaded again (the harness's browser keeps
// no back-forward cache).
func (b *Browser) Back() {
	b.t.Helper()
	b.navigate("back", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if h.CurrentIndex < 1 || int(h.CurrentIndex) >= len(h.Entries) {
			return fmt.Errorf("no page to go back to (history entry %d of %d)", h.CurrentIndex, len(h.Entries))
		}
		_, err = cdp.Call(ctx, t, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
		return err
	}))
}

// ClickRefused clicks, with the mouse, the submit button that matches the
// CSS selector of a form the browser will not send (an empty required
// field, a value too short or not of its pattern), and returns the
// browser's message for the first field it refuses. It fails when the
// browser would send the form. What it proves is the browser's check: that
// no request reached the server, the test proves on the server's side.
func (b *Browser) ClickRefused(selector string) string {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	what, err := callOnNode[clickKind](ctx, n, clickKindJS)
	if err != nil {
		b.t.Fatalf("browser: click %q: %v", selector, err)
	}
	if what.Kind != "submit" || what.Invalid == "" {
		b.t.Fatalf("browser: click %q: the browser would send the form (%+v)", selector, what)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.NodeIDs{n.NodeID})); err != nil {
		b.t.Fatalf("browser: click %q: %v", selector, err)
	}
	return what.Invalid
}

// FrameAttr returns the attribute attr of the first element that matches
// the CSS selector sel in the document of the frame (an iframe of the same
// origin) that matches frame; "" when it has none.
func (b *Browser) FrameAttr(frame, sel, attr string) string {
	b.t.Helper()
	n := b.find(frame)
	ctx, cancel := b.action()
	defer cancel()
	v, err := callOnNode[string](ctx, n, `function() {
		const d = this.contentDocument, el = d && d.querySelector(`+jsString(sel)+`);
		return el ? String(el.getAttribute(`+jsString(attr)+`) ?? '') : '\u0000';
	}`)
	if err != nil {
		b.t.Fatalf("browser: frame %q: %v", frame, err)
	}
	if v == "\u0000" {
		b.t.Fatalf("browser: no element matches %q in the frame %q on %s", sel, frame, b.URL())
	}
	return v
}

// FrameImageLoaded reports whether the picture that matches sel in the
// frame has loaded and decoded (its natural width is not zero).
func (b *Browser) FrameImageLoaded(frame, sel string) bool {
	b.t.Helper()
	n := b.find(frame)
	ctx, cancel := b.action()
	defer cancel()
	ok, err := callOnNode[bool](ctx, n, `function() {
		const el = this.contentDocument && this.contentDocument.querySelector(`+jsString(sel)+`);
		return !!el && el.complete && el.naturalWidth > 0;
	}`)
	if err != nil {
		b.t.Fatalf("browser: frame %q: %v", frame, err)
	}
	return ok
}

// FrameOverflow returns by how many CSS pixels the document of the frame
// that matches frame is taller or wider than the frame shows (0: it fits,
// no scrolling inside the frame).
func (b *Browser) FrameOverflow(frame string) int {
	b.t.Helper()
	n := b.find(frame)
	ctx, cancel := b.action()
	defer cancel()
	over, err := callOnNode[int](ctx, n, `function() {
		const e = this.contentDocument && this.contentDocument.documentElement;
		if (!e) return -1;
		return Math.max(0, e.scrollHeight - e.clientHeight, e.scrollWidth - e.clientWidth);
	}`)
	if err != nil || over < 0 {
		b.t.Fatalf("browser: frame %q: %v", frame, err)
	}
	return over
}

// ClickInFrame clicks, with the mouse, the element that matches the CSS
// selector sel in the document of the frame (an iframe of the same origin)
// that matches frame, and, when the click sends a form or follows a link in
// the frame, waits until the frame has loaded its next document. The page
// around the frame is not loaded again: that is the point of a frame.
//
// To tell the frame's next document from the one clicked in, the harness
// marks the old document object with a property of its own before the
// click; page scripts, which are off, could not see it.
func (b *Browser) ClickInFrame(frame, sel string) {
	b.t.Helper()
	n := b.find(frame)
	ctx, cancel := b.action()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.NodeIDs{n.NodeID}, chromedp.NodeVisible)); err != nil {
		b.t.Fatalf("browser: frame %q: %v", frame, err)
	}
	type target struct {
		X, Y     float64
		Kind     string
		Invalid  string
		NotFound bool
	}
	at, err := callOnNode[target](ctx, n, `function() {
		const d = this.contentDocument, el = d && d.querySelector(`+jsString(sel)+`);
		if (!el) return {notFound: true};
		el.scrollIntoView({block: 'center'});
		const f = this.getBoundingClientRect(), r = el.getBoundingClientRect();
		const kind = (`+clickKindJS+`).call(el);
		d.__portalHarnessOld = true;
		return {x: f.left + this.clientLeft + r.left + r.width / 2, y: f.top + this.clientTop + r.top + r.height / 2, kind: kind.kind, invalid: kind.invalid};
	}`)
	switch {
	case err != nil:
		b.t.Fatalf("browser: frame %q: %v", frame, err)
	case at.NotFound:
		b.t.Fatalf("browser: no element matches %q in the frame %q on %s", sel, frame, b.URL())
	case at.Kind == "submit" && at.Invalid != "":
		b.t.Fatalf("browser: click %q in the frame: the browser would not send the form: %s", sel, at.Invalid)
	}
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{
				Type: typ, X: at.X, Y: at.Y, Button: input.MouseButtonLeft, ClickCount: 1,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		b.t.Fatalf("browser: click %q in the frame: %v", sel, err)
	}
	if at.Kind == "" {
		return
	}
	// The next document, loaded with its pictures. Polled: a hang limit
	// (actionTimeout), not a measurement.
	for {
		// The frame's element is looked up again: its node can be replaced
		// while the frame loads.
		var done bool
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(frame), chromedp.AtLeast(0)))
		if err == nil && len(nodes) > 0 {
			done, err = callOnNode[bool](ctx, nodes[0], `function() {
				const d = this.contentDocument;
				return !!d && !d.__portalHarnessOld && d.URL !== 'about:blank' && d.readyState === 'complete';
			}`)
		}
		if err == nil && done {
			return
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("browser: click %q in the frame %q: the frame did not load a new document within %s (%v)", sel, frame, actionTimeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	out := []byte{'"'}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			out = append(out, []byte(`\u`+string("0123456789abcdef"[r>>12&15])+string("0123456789abcdef"[r>>8&15])+string("0123456789abcdef"[r>>4&15])+string("0123456789abcdef"[r&15]))...)
		default:
			out = append(out, string(r)...)
		}
	}
	return string(append(out, '"'))
}
