package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// DefaultChromium is the browser that StartBrowser runs when the environment
// variable PORTAL_TEST_CHROMIUM is empty.
const DefaultChromium = "/usr/bin/chromium"

// Time limits of the browser harness. Every step of a Browser method has its
// own limit, so a test never hangs.
const (
	startTimeout    = 30 * time.Second
	actionTimeout   = 20 * time.Second
	lookupTimeout   = 5 * time.Second
	downloadTimeout = 20 * time.Second
	cleanupTimeout  = 10 * time.Second
)

// Browser is a headless Chromium that a test drives like a person: it opens
// pages, types into fields and clicks with the mouse. JavaScript is off in the
// pages, so a test proves that the portal works without it.
//
// The harness itself still talks to the browser through the DevTools protocol.
// It changes a page only with input events (mouse, keyboard, text input) and
// DOM.focus. It reads state, such as the value of a field, with DevTools calls
// that the page cannot see. Page scripts never run.
//
// Only the test that started the Browser may use it. A method that fails
// calls t.Fatal on that test. A Browser is not safe for concurrent use.
type Browser struct {
	t testing.TB

	ctx    context.Context // the tab; it owns the browser process
	cancel context.CancelFunc

	dataDir string // the fresh --user-data-dir
	pgid    int    // the process group of chromium and its children
	output  *browserOutput

	mu          sync.Mutex
	requests    []string
	downloads   []*browserDownload
	downloadDir string
	status      int
}

// browserDownload is what the browser reported about one download.
type browserDownload struct {
	guid      string
	name      string // the suggested file name
	url       string
	state     browser.DownloadProgressState
	path      string // set when the download completed
	collected bool   // WaitDownload returned it
}

// browserConfig holds the settings of startBrowser. The zero value is the
// configuration of StartBrowser.
type browserConfig struct {
	// allowScripts keeps JavaScript on. Only the control case of the test
	// that proves that JavaScript is off uses it.
	allowScripts bool
}

// StartBrowser starts a headless Chromium for t with JavaScript turned off in
// every page. The environment variable PORTAL_TEST_CHROMIUM overrides the path
// of the browser (default /usr/bin/chromium). When the browser is missing, the
// test fails if the environment variable CI is set, and is skipped otherwise.
//
// The browser starts with a fresh profile directory, no proxy and the flags
// that stop it from reaching the network on its own. Host names other than
// localhost do not resolve, so a page can reach only IP addresses; Open
// accepts loopback addresses only. Downloads are refused until DownloadTo.
//
// The cleanup of t kills the browser and all its child processes and removes
// the profile directory, also when the test fails.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	return startBrowser(t, browserConfig{})
}

func startBrowser(t testing.TB, cfg browserConfig) *Browser {
	t.Helper()
	exe := browserBinary(t, "Chromium", "chromium", "PORTAL_TEST_CHROMIUM", DefaultChromium)

	dataDir, err := os.MkdirTemp("", "portal-chromium-")
	if err != nil {
		t.Fatalf("browser: profile directory: %v", err)
	}
	b := &Browser{t: t, dataDir: dataDir, output: new(browserOutput)}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(dataDir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		// No back-forward cache: going back loads the page again, as
		// for a page the browser does not keep (Cache-Control: no-store
		// on every page of the portal), and the harness sees its document.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,BackForwardCache"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-proxy-server", true),
		// No name resolves, so no page reaches another host by name.
		// The rule applies to IP literals too, so exclude loopback.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE [::1], EXCLUDE localhost"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.output),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{
				// Its own process group, so the cleanup can kill
				// every child with one signal.
				Setpgid: true,
				// Kill the browser when the test binary dies.
				Pdeathsig: syscall.SIGKILL,
			}
		}),
	)
	if !cfg.allowScripts {
		// The switch of Blink turns scripts off in every frame of every
		// tab, from the first document on.
		opts = append(opts, chromedp.Flag("blink-settings", "scriptEnabled=false"))
	}

	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	b.cancel = func() {
		cancel()
		allocCancel()
	}
	// Register the cleanup before the browser starts, so that it runs
	// whatever happens next.
	t.Cleanup(b.close)

	// The first run starts the browser and binds its life to ctx, so ctx
	// must have no deadline. The timer bounds the start instead.
	started := make(chan struct{})
	timer := time.AfterFunc(startTimeout, func() {
		select {
		case <-started:
		default:
			cancel()
		}
	})
	err = chromedp.Do(ctx)
	close(started)
	timer.Stop()
	if err != nil {
		t.Fatalf("browser: start %s: %v\n%s", exe, err, b.output.tail())
	}
	if c := chromedp.FromContext(ctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		b.pgid = c.Browser.Process().Pid
	}

	if err := chromedp.Listen(ctx, b.onTabEvent); err != nil {
		t.Fatalf("browser: listen to the tab: %v", err)
	}
	if err := chromedp.ListenBrowser(ctx, b.onBrowserEvent); err != nil {
		t.Fatalf("browser: listen to the browser: %v", err)
	}

	actx, acancel := context.WithTimeout(ctx, actionTimeout)
	defer acancel()
	if !cfg.allowScripts {
		// The same switch through DevTools, for this tab. Either one
		// alone is enough; the test proves the result.
		if _, err := chromedp.Call(actx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("browser: turn JavaScript off: %v", err)
		}
	}
	// Refuse downloads until DownloadTo, but report them, so that a click
	// that starts one gives a clear error.
	if _, err := chromedp.CallBrowser(actx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorDeny,
		EventsEnabled: new(true),
	}); err != nil {
		t.Fatalf("browser: refuse downloads: %v", err)
	}
	return b
}

// close stops the browser, kills every process of it and removes the profile
// directory.
func (b *Browser) close() {
	if b.t.Failed() {
		if out := b.output.tail(); out != "" {
			b.t.Logf("browser output (tail):\n%s", out)
		}
	}
	done := make(chan struct{})
	go func() {
		// The browser process runs under the tab context, so the
		// cancellation kills it and waits until it is gone. Its
		// children go to init, which reaps them.
		b.cancel()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(cleanupTimeout):
		b.t.Errorf("browser: stopping the browser took more than %s", cleanupTimeout)
	}

	// Child processes, such as the zygote and the renderers, can outlive the
	// main process for a moment. They are all in its process group, and all
	// of them carry the unique profile directory on their command line.
	deadline := time.Now().Add(cleanupTimeout)
	for {
		left := browserProcesses(b.pgid, b.dataDir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.t.Errorf("browser: processes %v of %s still run after %s", left, b.dataDir, cleanupTimeout)
			break
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A child can still write a file just before it dies, so retry.
	var err error
	for range 100 {
		if err = os.RemoveAll(b.dataDir); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		b.t.Errorf("browser: remove the profile directory: %v", err)
	}
}

// browserProcesses returns the processes that this harness started for one
// browser and that still run: the members of the process group pgid, and the
// processes with the profile directory dir, which only this browser uses, on
// their command line. Zombies do not count; they are dead already.
func browserProcesses(pgid int, dir string) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses:
		// state, ppid, pgrp, ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if pgrp, _ := strconv.Atoi(fields[2]); pgid > 0 && pgrp == pgid {
			pids = append(pids, pid)
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// onTabEvent records the requests of the tab. It runs in the event loop of
// chromedp, so it must be fast and must not call the browser.
func (b *Browser) onTabEvent(ev any) {
	if ev, ok := ev.(*network.EventRequestWillBeSent); ok && ev.Request != nil {
		b.mu.Lock()
		b.requests = append(b.requests, ev.Request.URL)
		b.mu.Unlock()
	}
}

// onBrowserEvent records the downloads.
func (b *Browser) onBrowserEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *browser.EventDownloadWillBegin:
		b.downloads = append(b.downloads, &browserDownload{guid: ev.GUID, name: ev.SuggestedFilename, url: ev.URL})
	case *browser.EventDownloadProgress:
		for _, d := range b.downloads {
			if d.guid == ev.GUID {
				d.state = ev.State
				if ev.FilePath != "" {
					d.path = ev.FilePath
				}
			}
		}
	}
}

// action returns a context for one step, bounded by actionTimeout.
func (b *Browser) action() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, actionTimeout)
}

// Open loads the page at rawURL and waits until it has loaded. The host of
// rawURL must be a loopback IP address, such as the one of an httptest.Server.
func (b *Browser) Open(rawURL string) {
	b.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		b.t.Fatalf("browser: open %q: %v", rawURL, err)
	}
	if ip := net.ParseIP(u.Hostname()); (u.Scheme != "http" && u.Scheme != "https") || ip == nil || !ip.IsLoopback() {
		b.t.Fatalf("browser: open %q: only http(s) URLs of a loopback IP address, such as 127.0.0.1, are allowed", rawURL)
	}
	b.navigate("open "+rawURL, chromedp.Navigate(rawURL))
}

// navigate runs steps that cause a navigation and waits until it completes. A
// navigation that ends in a download counts as complete.
func (b *Browser) navigate(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.mu.Lock()
	before := len(b.downloads)
	b.mu.Unlock()

	ctx, cancel := b.action()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err == nil {
		b.mu.Lock()
		b.status = 0
		if resp != nil {
			b.status = int(resp.Status)
		}
		b.mu.Unlock()
		return
	}
	var loadErr *chromedp.LoadError
	if !errors.As(err, &loadErr) {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	// A response with Content-Disposition: attachment aborts the
	// navigation. The event of the download comes from the browser, not
	// from the tab, so it can arrive a moment later.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b.mu.Lock()
		var d *browserDownload
		if len(b.downloads) > before {
			d = b.downloads[len(b.downloads)-1]
		}
		dir := b.downloadDir
		b.mu.Unlock()
		if d == nil {
			continue
		}
		if dir == "" {
			b.t.Fatalf("browser: %s: the page started a download of %q, but downloads are refused; call DownloadTo first", what, d.name)
		}
		b.mu.Lock()
		b.status = 0
		b.mu.Unlock()
		return
	}
	b.t.Fatalf("browser: %s: %v", what, err)
}

// find returns the first element that matches the CSS selector. It fails the
// test quickly when there is none: without JavaScript, a loaded page does not
// change, so waiting is pointless.
func (b *Browser) find(selector string) *chromedp.Node {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, lookupTimeout)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(selector)))
	if err != nil || len(nodes) == 0 {
		b.t.Fatalf("browser: no element matches %q on %s: %v", selector, b.URL(), err)
	}
	return nodes[0]
}

// callOnNode calls the JavaScript function fn with the element as this, through
// DevTools, and returns its result. Page scripts are off, but DevTools calls
// still run; the harness uses them only to read state.
func callOnNode[T any](ctx context.Context, n *chromedp.Node, fn string) (T, error) {
	return chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (T, error) {
		var zero T
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: n.NodeID})
		if err != nil {
			return zero, err
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
		return chromedp.CallFunctionOn[T](fn, func(p *runtime.CallFunctionOnParams) {
			p.ObjectID = obj.Object.ObjectID
		})(ctx, t)
	})
}

// Fill types value into the text field, password field or text area that
// matches the CSS selector, as a person would: it focuses the field, selects
// what is in it, and types over it. It fails when the field does not hold
// value afterwards, for example because of a maxlength.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	err := chromedp.Do(ctx,
		// Scrolls the field into view and waits until it is visible.
		chromedp.ScrollIntoView(chromedp.NodeIDs{n.NodeID}, chromedp.NodeVisible),
		chromedp.Focus(chromedp.NodeIDs{n.NodeID}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			// Ctrl+A selects the old text, so the new text replaces it.
			if err := pressKey(ctx, t, "a", "KeyA", 65, 2, "selectAll"); err != nil {
				return err
			}
			if value == "" {
				return pressKey(ctx, t, "Backspace", "Backspace", 8, 0, "deleteBackward")
			}
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: value})
			return err
		}),
	)
	if err != nil {
		b.t.Fatalf("browser: fill %q: %v", selector, err)
	}
	got, err := callOnNode[string](ctx, n, `function() { return this.value; }`)
	if err != nil {
		b.t.Fatalf("browser: fill %q: read the value back: %v", selector, err)
	}
	if got != value {
		b.t.Fatalf("browser: fill %q: the field holds %q after typing %q", selector, got, value)
	}
}

// pressKey presses and releases one key, with the editing command that the key
// does in the browser UI.
func pressKey(ctx context.Context, t *chromedp.Target, key, code string, vk, modifiers int64, command string) error {
	if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
		Type: input.DispatchKeyEventTypeRawKeyDown, Key: key, Code: code,
		WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk, Modifiers: modifiers,
		Commands: []string{command},
	}); err != nil {
		return err
	}
	_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
		Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: code,
		WindowsVirtualKeyCode: vk, NativeVirtualKeyCode: vk, Modifiers: modifiers,
	})
	return err
}

// Check makes sure that the checkbox or radio button that matches the CSS
// selector is checked. It clicks it with the mouse when it is not.
func (b *Browser) Check(selector string) { b.t.Helper(); b.setChecked(selector, true) }

// Uncheck makes sure that the checkbox that matches the CSS selector is not
// checked. It clicks it with the mouse when it is.
func (b *Browser) Uncheck(selector string) { b.t.Helper(); b.setChecked(selector, false) }

func (b *Browser) setChecked(selector string, want bool) {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	const checked = `function() { return !!this.checked; }`
	got, err := callOnNode[bool](ctx, n, checked)
	if err != nil {
		b.t.Fatalf("browser: check %q: %v", selector, err)
	}
	if got == want {
		return
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.NodeIDs{n.NodeID})); err != nil {
		b.t.Fatalf("browser: click %q: %v", selector, err)
	}
	if got, err = callOnNode[bool](ctx, n, checked); err != nil || got != want {
		b.t.Fatalf("browser: %q is checked=%v after the click, want %v (err %v)", selector, got, want, err)
	}
}

// clickKindJS tells what a click on the element does without JavaScript:
// "submit" sends a form, "link" follows a link, "" does neither. For a submit
// it also reports the first field that fails the HTML constraints (such as
// required), because the browser then refuses to send the form.
const clickKindJS = `function() {
	const el = this.closest('a[href], button, input[type=submit], input[type=image]') || this;
	if (el.matches('a[href]')) return {kind: 'link', invalid: ''};
	const submit = el.matches('input[type=submit], input[type=image]') || (el.tagName === 'BUTTON' && el.type === 'submit');
	if (!submit || !el.form || el.disabled) return {kind: '', invalid: ''};
	let invalid = '';
	if (!el.form.noValidate && !el.formNoValidate) {
		for (const f of el.form.elements) {
			if (f.willValidate && !f.validity.valid) { invalid = (f.name || f.id || f.tagName) + ': ' + f.validationMessage; break; }
		}
	}
	return {kind: 'submit', invalid: invalid};
}`

// clickKind is the result of clickKindJS.
type clickKind struct {
	Kind    string `json:"kind"`
	Invalid string `json:"invalid"`
}

// Click clicks the element that matches the CSS selector with the mouse, at
// the center of its box. When the element is a submit button of a form or a
// link, Click waits until the next page has loaded, or until the download
// that the response started has begun. It fails at once when the browser
// would refuse to send the form, for example for an empty required field.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	what, err := callOnNode[clickKind](ctx, n, clickKindJS)
	if err != nil {
		b.t.Fatalf("browser: click %q: %v", selector, err)
	}
	click := chromedp.Click(chromedp.NodeIDs{n.NodeID})
	switch {
	case what.Kind == "submit" && what.Invalid != "":
		b.t.Fatalf("browser: click %q: the browser would not send the form, a field is invalid: %s", selector, what.Invalid)
	case what.Kind != "":
		b.navigate("click "+selector, click)
	default:
		if err := chromedp.Do(ctx, click); err != nil {
			b.t.Fatalf("browser: click %q: %v", selector, err)
		}
	}
}

// Value returns the current value of the form field that matches the CSS
// selector.
func (b *Browser) Value(selector string) string {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	v, err := callOnNode[string](ctx, n, `function() { return String(this.value ?? ''); }`)
	if err != nil {
		b.t.Fatalf("browser: value of %q: %v", selector, err)
	}
	return v
}

// Text returns the text of the page body as a person sees it (innerText).
func (b *Browser) Text() string {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	// Right after a navigation, chromedp may still hold the node of the
	// document before it for a moment; the read is tried again, within the
	// step's limit.
	for err != nil && strings.Contains(err.Error(), "No node with given id") && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	}
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", b.URL(), err)
	}
	return s
}

// HTML returns the outer HTML of the document element, as the browser has
// parsed it.
func (b *Browser) HTML() string {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	// DOM.getOuterHTML needs a node id. Do not call DOM.getDocument for it:
	// that invalidates the node ids that chromedp holds, and its queries
	// then hang.
	s, err := chromedp.Run(ctx, chromedp.QueryAfter(chromedp.CSS("html"),
		func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (string, error) {
			res, err := cdp.Call(ctx, t, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: nodes[0].NodeID})
			return res.OuterHTML, err
		}))
	if err != nil {
		b.t.Fatalf("browser: HTML of the page: %v", err)
	}
	return s
}

// URL returns the URL of the current page.
func (b *Browser) URL() string {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	h, err := chromedp.Call(ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		b.t.Fatalf("browser: URL of the page: %v", err)
	}
	if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return ""
	}
	return h.Entries[h.CurrentIndex].URL
}

// Status returns the HTTP status of the document that the last Open or
// navigating Click loaded, or 0 when that ended in a download.
func (b *Browser) Status() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// Screenshot writes a PNG image of the whole page to path.
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	res, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		CaptureBeyondViewport: new(true),
		FromSurface:           new(true),
	})
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(path, res.Data, 0o644); err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
}

// DownloadTo lets the browser save downloads in dir, which it creates. A
// Click on a submit button whose response is an attachment then succeeds, and
// WaitDownload finds the file.
func (b *Browser) DownloadTo(dir string) {
	b.t.Helper()
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		b.t.Fatalf("browser: download directory: %v", err)
	}
	ctx, cancel := b.action()
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorAllow,
		DownloadPath:  dir,
		EventsEnabled: new(true),
	}); err != nil {
		b.t.Fatalf("browser: allow downloads: %v", err)
	}
	b.mu.Lock()
	b.downloadDir = dir
	b.mu.Unlock()
}

// WaitDownload waits until the download with the suggested file name name has
// completed, and returns the path of the file. An empty name means the last
// download that WaitDownload has not returned yet. It fails after 20 seconds,
// or when the download failed.
func (b *Browser) WaitDownload(name string) string {
	b.t.Helper()
	deadline := time.Now().Add(downloadTimeout)
	for {
		b.mu.Lock()
		var d *browserDownload
		for i := len(b.downloads) - 1; i >= 0; i-- {
			c := b.downloads[i]
			if (name == "" && !c.collected) || (name != "" && c.name == name) {
				d = c
				break
			}
		}
		var state browser.DownloadProgressState
		var path string
		if d != nil {
			state, path = d.state, d.path
			if path == "" && b.downloadDir != "" {
				path = filepath.Join(b.downloadDir, d.name)
			}
		}
		seen := b.downloadsLocked()
		b.mu.Unlock()

		switch state {
		case browser.DownloadProgressStateCompleted:
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
				b.mu.Lock()
				d.collected = true
				b.mu.Unlock()
				return path
			}
		case browser.DownloadProgressStateCanceled:
			b.t.Fatalf("browser: the download of %q was canceled (downloads seen: %s)", d.name, seen)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: no completed download %q after %s (downloads seen: %s)", name, downloadTimeout, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Browser) downloadsLocked() string {
	if len(b.downloads) == 0 {
		return "none"
	}
	var s []string
	for _, d := range b.downloads {
		s = append(s, fmt.Sprintf("%q %s", d.name, d.state))
	}
	return strings.Join(s, ", ")
}

// Cookies returns every cookie that the browser holds, for any site, as
// "name=value; Domain=d; Path=p". A privacy test expects none.
func (b *Browser) Cookies() []string {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("browser: cookies: %v", err)
	}
	var out []string
	for _, c := range res.Cookies {
		out = append(out, fmt.Sprintf("%s=%s; Domain=%s; Path=%s", c.Name, c.Value, c.Domain, c.Path))
	}
	return out
}

// Requests returns the URL of every request that the pages of the browser
// made, in order: documents, form posts, images, styles, the favicon, and
// requests that failed. It sees the requests of the tab that the harness
// drives, which with JavaScript off are all requests that pages can make.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// NonLocalRequests returns the requests of Requests that went to a host that
// is not a loopback IP address. data: and about: URLs are not requests to a
// host and do not count.
func (b *Browser) NonLocalRequests() []string {
	var out []string
	for _, r := range b.Requests() {
		u, err := url.Parse(r)
		if err == nil && (u.Scheme == "data" || u.Scheme == "about") {
			continue
		}
		if err == nil {
			if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// browserOutput keeps the output of the browser for the log of a failed test.
type browserOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *browserOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 1<<20 {
		l.buf.Reset()
	}
	return l.buf.Write(p)
}

// tail returns the end of the output, without the noise about the missing
// D-Bus of a container.
func (l *browserOutput) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for line := range strings.Lines(l.buf.String()) {
		if !strings.Contains(line, "dbus") && !strings.Contains(line, "D-Bus") {
			lines = append(lines, line)
		}
	}
	s := strings.Join(lines, "")
	if len(s) > 4096 {
		s = s[len(s)-4096:]
	}
	return s
}
