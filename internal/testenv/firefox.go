package testenv

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// DefaultFirefox is the browser StartFirefox runs when the environment
// variable PORTAL_TEST_FIREFOX is empty: Debian's Firefox ESR, the base of
// Tor Browser.
const DefaultFirefox = "/usr/bin/firefox-esr"

// SafestPrefs are the preferences by which Tor Browser's "Safest" security
// level changes what a page can do: no JavaScript, no SVG, no fonts from the
// page, audio and video only after a click.
var SafestPrefs = map[string]any{
	"javascript.enabled":             false,
	"svg.disabled":                   true,
	"gfx.downloadable_fonts.enabled": false,
	"media.autoplay.blocking_policy": 2,
}

// quietPrefs keep Firefox off the network on its own and out of the way:
// everything but loopback goes to a proxy on a closed port (loopback is never
// proxied), and the background services that would call home are off.
var quietPrefs = map[string]any{
	"network.proxy.type":                         1,
	"network.proxy.http":                         "127.0.0.1",
	"network.proxy.http_port":                    9,
	"network.proxy.ssl":                          "127.0.0.1",
	"network.proxy.ssl_port":                     9,
	"network.proxy.socks":                        "127.0.0.1",
	"network.proxy.socks_port":                   9,
	"network.proxy.socks_remote_dns":             true,
	"network.proxy.allow_hijacking_localhost":    false,
	"network.trr.mode":                           5,
	"network.captive-portal-service.enabled":     false,
	"network.connectivity-service.enabled":       false,
	"network.prefetch-next":                      false,
	"network.dns.disablePrefetch":                true,
	"network.http.speculative-parallel-limit":    0,
	"browser.safebrowsing.malware.enabled":       false,
	"browser.safebrowsing.phishing.enabled":      false,
	"browser.safebrowsing.downloads.enabled":     false,
	"browser.shell.checkDefaultBrowser":          false,
	"browser.startup.page":                       0,
	"browser.download.useDownloadDir":            true,
	"datareporting.policy.dataSubmissionEnabled": false,
	"datareporting.healthreport.uploadEnabled":   false,
	"toolkit.telemetry.enabled":                  false,
	"app.update.enabled":                         false,
	"extensions.update.enabled":                  false,
	"services.settings.server":                   "http://127.0.0.1:9/",
	"app.normandy.enabled":                       false,
	"dom.push.enabled":                           false,
	"geo.provider.network.url":                   "",
}

// FirefoxResponse is one response the browser received, as its network
// events report it.
type FirefoxResponse struct {
	URL    string
	Status int
	MIME   string
	Kind   string // the request's destination: document, image, audio, style, …
}

// Firefox is a headless Firefox ESR with the preferences of Tor Browser's
// "Safest" level (SafestPrefs), which a test drives like a person: it opens
// pages, types into fields and clicks with the mouse.
//
// The harness talks to Firefox over WebDriver BiDi, which Firefox serves
// itself (--remote-debugging-port; no geckodriver, which Debian does not
// package): page changes are input actions only (pointer and keys), and what
// the harness reads (text, values, whether a picture was decoded) it reads
// with script evaluated in a sandbox of its own, which the page cannot see
// and which runs with the page's scripts off. Page scripts never run.
//
// Only the test that started it may use it; a method that fails calls
// t.Fatal. A Firefox is not safe for concurrent use.
type Firefox struct {
	t       testing.TB
	cmd     *exec.Cmd
	profile string
	output  *browserOutput
	ws      *websocket.Conn
	ctxID   string // the browsing context (tab)
	exited  chan struct{}

	mu        sync.Mutex
	nextID    int
	pending   map[int]chan bidiReply
	loads     int // browsingContext.load events of the tab
	changed   chan struct{}
	responses []FirefoxResponse
	requests  []string
	docStatus int
	collected map[string]bool // downloads WaitDownload returned
	readErr   error
	dead      chan struct{}
}

type bidiReply struct {
	Type    string          `json:"type"`
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// bidiListening is Firefox's line naming its WebDriver BiDi port.
var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on ws://(?:127\.0\.0\.1|localhost):(\d+)`)

// StartFirefox starts a headless Firefox for t with SafestPrefs in a fresh
// profile. The environment variable PORTAL_TEST_FIREFOX overrides the path
// of the browser (default /usr/bin/firefox-esr, Debian's firefox-esr
// package). Under -short the test is skipped; when the browser is missing,
// the test fails if the environment variable CI is set, and is skipped
// otherwise. Only loopback addresses are reached: every other request goes
// to a closed proxy port. The cleanup of t stops the browser, kills its
// processes and removes the profile, also when the test fails.
func StartFirefox(t testing.TB) *Firefox {
	t.Helper()
	exe := browserBinary(t, "Firefox", "firefox-esr", "PORTAL_TEST_FIREFOX", DefaultFirefox)
	profile, err := os.MkdirTemp("", "portal-firefox-")
	if err != nil {
		t.Fatalf("firefox: profile directory: %v", err)
	}
	downloads := filepath.Join(profile, "downloads")
	if err := os.Mkdir(downloads, 0o700); err != nil {
		t.Fatalf("firefox: download directory: %v", err)
	}
	// Downloads go to the profile's own directory, without asking.
	saveTo := map[string]any{"browser.download.folderList": 2, "browser.download.dir": downloads,
		"browser.download.always_ask_before_handling_new_types": false}
	var js strings.Builder
	for _, prefs := range []map[string]any{quietPrefs, saveTo, SafestPrefs} {
		keys := make([]string, 0, len(prefs))
		for k := range prefs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := json.Marshal(prefs[k])
			fmt.Fprintf(&js, "user_pref(%q, %s);\n", k, v)
		}
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(js.String()), 0o600); err != nil {
		t.Fatalf("firefox: user.js: %v", err)
	}

	f := &Firefox{t: t, profile: profile, output: new(browserOutput), exited: make(chan struct{}),
		pending: map[int]chan bidiReply{}, changed: make(chan struct{}), dead: make(chan struct{}), collected: map[string]bool{}}
	f.cmd = exec.Command(exe, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port", "0", "--remote-allow-origins", "http://127.0.0.1",
		"about:blank")
	f.cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_DISABLE_AUTO_SAFE_MODE=1")
	// Its own process group, so that the cleanup kills every child with one
	// signal, and killed with the test binary.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	f.cmd.Stdout, f.cmd.Stderr = pw, pw
	if err := f.cmd.Start(); err != nil {
		os.RemoveAll(profile)
		t.Fatalf("firefox: start %s: %v", exe, err)
	}
	t.Cleanup(f.close)
	go func() {
		f.cmd.Wait()
		pw.Close()
		close(f.exited)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			f.output.Write([]byte(line + "\n"))
			if m := bidiListening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var endpoint string
	select {
	case endpoint = <-found:
	case <-f.exited:
		t.Fatalf("firefox: exited before it served WebDriver BiDi\n%s", f.output.tail())
	case <-time.After(startTimeout):
		t.Fatalf("firefox: no WebDriver BiDi endpoint within %s\n%s", startTimeout, f.output.tail())
	}
	f.ws, err = websocket.Dial("ws://127.0.0.1:"+endpoint+"/session", "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("firefox: WebDriver BiDi at %s: %v", endpoint, err)
	}
	go f.read()

	f.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	f.call("browsingContext.getTree", map[string]any{}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox: no tab")
	}
	f.ctxID = tree.Contexts[0].Context
	f.call("session.subscribe", map[string]any{"events": []string{
		"browsingContext.load", "network.beforeRequestSent", "network.responseCompleted"}}, nil)
	return f
}

// read receives every message: replies go to their callers, events are
// recorded.
func (f *Firefox) read() {
	defer close(f.dead)
	for {
		var m bidiReply
		if err := websocket.JSON.Receive(f.ws, &m); err != nil {
			f.mu.Lock()
			f.readErr = err
			f.mu.Unlock()
			return
		}
		if m.ID != nil {
			f.mu.Lock()
			ch := f.pending[*m.ID]
			delete(f.pending, *m.ID)
			f.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		f.onEvent(m.Method, m.Params)
	}
}

func (f *Firefox) onEvent(method string, params json.RawMessage) {
	var ev struct {
		Context string `json:"context"`
		Request struct {
			URL         string `json:"url"`
			Destination string `json:"destination"`
		} `json:"request"`
		Response struct {
			URL      string `json:"url"`
			Status   int    `json:"status"`
			MimeType string `json:"mimeType"`
		} `json:"response"`
		Navigation *string `json:"navigation"`
	}
	if json.Unmarshal(params, &ev) != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch method {
	case "browsingContext.load":
		if ev.Context == f.ctxID {
			f.loads++
		}
	case "network.beforeRequestSent":
		f.requests = append(f.requests, ev.Request.URL)
	case "network.responseCompleted":
		r := FirefoxResponse{URL: ev.Response.URL, Status: ev.Response.Status, MIME: ev.Response.MimeType, Kind: ev.Request.Destination}
		f.responses = append(f.responses, r)
		if r.Kind == "document" && ev.Context == f.ctxID {
			f.docStatus = r.Status
		}
	default:
		return
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// pageTimeout bounds the wait for a page to load (a navigation, a form
// sent): the server's answer is part of it, and a whole import or a sign-up
// on a machine under load takes longer than a browser action. Only a hang
// reaches it.
const pageTimeout = 2 * time.Minute

// call sends one command and decodes its result into out (nil: ignored);
// an error reply or no reply within actionTimeout fails the test.
func (f *Firefox) call(method string, params any, out any) {
	f.t.Helper()
	f.callWithin(actionTimeout, method, params, out)
}

func (f *Firefox) callWithin(limit time.Duration, method string, params any, out any) {
	f.t.Helper()
	if err := f.try(limit, method, params, out); err != nil {
		f.t.Fatalf("firefox: %s: %v\n%s", method, err, f.output.tail())
	}
}

func (f *Firefox) try(limit time.Duration, method string, params any, out any) error {
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	ch := make(chan bidiReply, 1)
	f.pending[id] = ch
	f.mu.Unlock()
	if err := websocket.JSON.Send(f.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return err
	}
	select {
	case m := <-ch:
		if m.Type == "error" || m.Error != "" {
			return fmt.Errorf("%s: %s", m.Error, m.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-f.dead:
		f.mu.Lock()
		defer f.mu.Unlock()
		return fmt.Errorf("connection lost: %v", f.readErr)
	case <-time.After(limit):
		return fmt.Errorf("no answer within %s", limit)
	}
}

// close ends the session and the browser, kills every process of it and
// removes the profile.
func (f *Firefox) close() {
	if f.t.Failed() {
		if out := f.output.tail(); out != "" {
			f.t.Logf("firefox output (tail):\n%s", out)
		}
	}
	if f.ws != nil {
		_ = f.try(actionTimeout, "browser.close", map[string]any{}, nil)
		f.ws.Close()
	}
	select {
	case <-f.exited:
	case <-time.After(cleanupTimeout):
	}
	// Every process of the browser is in the group of the first one.
	if p := f.cmd.Process; p != nil {
		syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	select {
	case <-f.exited:
	case <-time.After(cleanupTimeout):
		f.t.Errorf("firefox: still running %s after the kill", cleanupTimeout)
	}
	deadline := time.Now().Add(cleanupTimeout)
	for {
		left := firefoxProcesses(f.cmd.Process.Pid)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			f.t.Errorf("firefox: processes %v still run after %s", left, cleanupTimeout)
			break
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var err error
	for range 100 {
		if err = os.RemoveAll(f.profile); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		f.t.Errorf("firefox: remove the profile: %v", err)
	}
}

// firefoxProcesses are the live processes of process group pgid (Firefox's
// content and utility processes stay in the group of the first one).
func firefoxProcesses(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil || pgid <= 0 {
		return nil
	}
	var pids []int
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name (in parentheses): state, ppid, pgrp.
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if i < 0 || len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// PID returns the process id of the browser's first process, the leader of
// the process group of all of them.
func (f *Firefox) PID() int { return f.cmd.Process.Pid }

// Open loads rawURL (a loopback address only) and waits until the page and
// what it embeds have loaded.
func (f *Firefox) Open(rawURL string) {
	f.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		f.t.Fatalf("firefox: open %q: %v", rawURL, err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		f.t.Fatalf("firefox: open %q: only loopback addresses", rawURL)
	}
	f.callWithin(pageTimeout, "browsingContext.navigate", map[string]any{"context": f.ctxID, "url": rawURL, "wait": "complete"}, nil)
}

// element returns the shared reference of the first element matching the
// CSS selector; the test fails when there is none.
func (f *Firefox) element(selector string) map[string]any {
	f.t.Helper()
	var res struct {
		Nodes []struct {
			SharedID string `json:"sharedId"`
		} `json:"nodes"`
	}
	f.call("browsingContext.locateNodes", map[string]any{"context": f.ctxID, "locator": map[string]any{"type": "css", "value": selector}, "maxNodeCount": 1}, &res)
	if len(res.Nodes) == 0 {
		f.t.Fatalf("firefox: no element %s on %s", selector, f.URL())
	}
	return map[string]any{"sharedId": res.Nodes[0].SharedID}
}

// Has reports whether an element matches the CSS selector.
func (f *Firefox) Has(selector string) bool {
	f.t.Helper()
	var res struct {
		Nodes []json.RawMessage `json:"nodes"`
	}
	f.call("browsingContext.locateNodes", map[string]any{"context": f.ctxID, "locator": map[string]any{"type": "css", "value": selector}, "maxNodeCount": 1}, &res)
	return len(res.Nodes) > 0
}

// click scrolls the element into view, as a person scrolls to it, moves
// the mouse onto it and presses the left button.
//
// Between the scroll and the click the page can still move (seen under
// load on the import form after choosing a file: the button's centre was
// below the viewport when the click came, or the click landed on the field
// above it): the click waits until the element's centre is in the viewport,
// the element itself is there (not another one over it) and two looks in
// a row agree, and a move the browser refuses as out of the viewport is
// tried again after settling, clickTries times in all.
func (f *Firefox) click(selector string) {
	f.t.Helper()
	el := f.element(selector)
	actions := map[string]any{"context": f.ctxID, "actions": []any{map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
		"actions": []any{
			map[string]any{"type": "pointerMove", "x": 0, "y": 0, "origin": map[string]any{"type": "element", "element": el}},
			map[string]any{"type": "pointerDown", "button": 0},
			map[string]any{"type": "pointerUp", "button": 0},
		}}}}
	var err error
	for range clickTries {
		f.settle(selector)
		if err = f.try(actionTimeout, "input.performActions", actions, nil); err == nil || !strings.Contains(err.Error(), "out of bounds") {
			break
		}
	}
	if err != nil {
		f.t.Fatalf("firefox: clicking %s: %v\n%s", selector, err, f.output.tail())
	}
}

// settle scrolls the element matching selector into the middle of the
// viewport and waits until it stays there, under its own centre, for two
// looks in a row (settleLooks looks at most).
func (f *Firefox) settle(selector string) {
	f.t.Helper()
	el := "document.querySelector(" + quoteJS(selector) + ")"
	look := `(function(e){
	const r = e.getBoundingClientRect(), x = r.left + r.width/2, y = r.top + r.height/2;
	if (!(x >= 0 && y >= 0 && x < innerWidth && y < innerHeight)) {
		e.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
		return 'outside';
	}
	const h = document.elementFromPoint(x, y);
	if (!h || (h !== e && !e.contains(h))) return 'covered';
	return Math.round(x) + ',' + Math.round(y) + ',' + Math.round(scrollX) + ',' + Math.round(scrollY);
})(` + el + `)`
	f.eval(el + ".scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'}), ''")
	prev, last := "", ""
	for range settleLooks {
		last = f.eval(look)
		if last != "outside" && last != "covered" && last == prev {
			return
		}
		prev = last
		time.Sleep(settlePause)
	}
	f.t.Fatalf("firefox: %s did not settle in the viewport in %d looks (last: %s)", selector, settleLooks, last)
}

// clickTries bounds click's tries; settleLooks and settlePause bound
// settle's wait (a bound on a loop, not a timing assertion: each look is
// a round trip to the browser, slower under load).
const (
	clickTries  = 3
	settleLooks = 100
	settlePause = 10 * time.Millisecond
)

// Click clicks the element matching selector. When the click starts a
// navigation (a link, a submit button), Click waits until the new page has
// loaded; use ClickStay for a click that leaves the page as it is.
func (f *Firefox) Click(selector string) {
	f.t.Helper()
	f.mu.Lock()
	before := f.loads
	f.mu.Unlock()
	f.click(selector)
	deadline := time.After(pageTimeout)
	for {
		f.mu.Lock()
		loaded, ch := f.loads > before, f.changed
		f.mu.Unlock()
		if loaded {
			return
		}
		select {
		case <-ch:
		case <-f.dead:
			f.t.Fatalf("firefox: connection lost after clicking %s", selector)
		case <-deadline:
			f.t.Fatalf("firefox: clicking %s loaded no page within %s; the focus on %s, fields the browser refuses: [%s], scrolled to %s; the last requests: %v",
				selector, pageTimeout, f.eval("document.activeElement ? (document.activeElement.id || document.activeElement.tagName) : 'nothing'"),
				f.eval("Array.from(document.querySelectorAll('input:invalid')).map(e => e.id || e.name).join(' ')"),
				f.eval("String(window.scrollY)"), f.lastRequests(5))
		}
	}
}

// lastRequests are the URLs of the last n requests, for a failure message.
func (f *Firefox) lastRequests(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests[max(0, len(f.requests)-n):]...)
}

// ClickStay clicks the element matching selector (a checkbox, say).
func (f *Firefox) ClickStay(selector string) {
	f.t.Helper()
	f.click(selector)
}

// Fill clicks into the field matching selector, removes what it holds and
// types value, key by key.
//
// The field has the focus before the keys are sent (a click that left it
// elsewhere is followed by focusing the field). A page may still move the
// focus once after it loaded (autofocus, run at the browser's next
// rendering step: the error summary takes it), which can come between the
// click and the keys: the field is then clicked and typed into again, at
// most fillTries times in all.
func (f *Firefox) Fill(selector, value string) {
	f.t.Helper()
	const ctrl, backspace = "\uE009", "\uE003"
	keys := []any{
		map[string]any{"type": "keyDown", "value": ctrl}, map[string]any{"type": "keyDown", "value": "a"},
		map[string]any{"type": "keyUp", "value": "a"}, map[string]any{"type": "keyUp", "value": ctrl},
		map[string]any{"type": "keyDown", "value": backspace}, map[string]any{"type": "keyUp", "value": backspace},
	}
	for _, r := range value {
		keys = append(keys, map[string]any{"type": "keyDown", "value": string(r)}, map[string]any{"type": "keyUp", "value": string(r)})
	}
	var got string
	for range fillTries {
		f.click(selector)
		// The click may leave the focus where it was (seen in Firefox ESR
		// 153 on a form with a frame, the keys then went to the field
		// typed into before): the field is focused as a user's Tab would.
		f.eval("(function(e){ if (document.activeElement !== e) e.focus(); return '' })(document.querySelector(" + quoteJS(selector) + "))")
		f.call("input.performActions", map[string]any{"context": f.ctxID, "actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": keys}}}, nil)
		if got = f.Value(selector); got == value {
			return
		}
	}
	f.t.Fatalf("firefox: %s holds %q after typing %q (%d tries)", selector, got, value, fillTries)
}

// fillTries bounds Fill's tries: the focus moves once at most by itself.
const fillTries = 3

// eval evaluates expression in the harness's sandbox (the page's scripts
// are off and cannot see it) and returns its value, a string.
func (f *Firefox) eval(expression string) string {
	f.t.Helper()
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	f.call("script.evaluate", map[string]any{"expression": expression, "awaitPromise": false,
		"target": map[string]any{"context": f.ctxID, "sandbox": "portal-harness"}}, &res)
	if res.ExceptionDetails != nil {
		f.t.Fatalf("firefox: harness expression failed: %s", res.ExceptionDetails.Text)
	}
	var s string
	if res.Result.Type == "string" {
		json.Unmarshal(res.Result.Value, &s)
	}
	return s
}

// quoteJS is s as a JavaScript string literal.
func quoteJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Value returns the current value of the form field matching selector.
func (f *Firefox) Value(selector string) string {
	f.t.Helper()
	return f.eval("String(document.querySelector(" + quoteJS(selector) + ")?.value ?? '')")
}

// Attr returns the attribute name of the element matching selector.
func (f *Firefox) Attr(selector, name string) string {
	f.t.Helper()
	return f.eval("String(document.querySelector(" + quoteJS(selector) + ")?.getAttribute(" + quoteJS(name) + ") ?? '')")
}

// Text returns the text of the page as it is rendered (innerText: hidden
// elements left out).
func (f *Firefox) Text() string {
	f.t.Helper()
	return f.eval("document.body ? document.body.innerText : ''")
}

// HTML returns the page's markup as the browser holds it.
func (f *Firefox) HTML() string {
	f.t.Helper()
	return f.eval("document.documentElement.outerHTML")
}

// Heading returns the text of the page's first h1 ("" without one).
func (f *Firefox) Heading() string {
	f.t.Helper()
	return f.eval("document.querySelector('h1')?.innerText ?? ''")
}

// Title returns the document's title.
func (f *Firefox) Title() string {
	f.t.Helper()
	return f.eval("document.title")
}

// ImageSize returns the size the first picture matching selector, in the
// page or in a frame of the page from the same site, was decoded to
// (naturalWidth × naturalHeight): 0×0 when there is none, or it did not
// load or could not be shown (an SVG picture with svg.disabled, for one).
func (f *Firefox) ImageSize(selector string) (w, h int) {
	f.t.Helper()
	s := f.eval(`(() => {
		const find = d => {
			const i = d.querySelector(` + quoteJS(selector) + `);
			if (i) return i;
			for (const fr of d.querySelectorAll('iframe')) {
				try { const r = fr.contentDocument && find(fr.contentDocument); if (r) return r; } catch (e) {}
			}
			return null;
		};
		const i = find(document);
		return i && i.complete ? i.naturalWidth + 'x' + i.naturalHeight : '0x0';
	})()`)
	fmt.Sscanf(s, "%dx%d", &w, &h)
	return w, h
}

// Fonts returns the font families the page's text is set in (computed
// style of the body and of headings).
func (f *Firefox) Fonts() string {
	f.t.Helper()
	return f.eval("[...new Set(['body','h1','h2','button','input'].map(s => document.querySelector(s)).filter(Boolean).map(e => getComputedStyle(e).fontFamily))].join(' | ')")
}

// URL returns the address of the page shown.
func (f *Firefox) URL() string {
	f.t.Helper()
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
			URL     string `json:"url"`
		} `json:"contexts"`
	}
	f.call("browsingContext.getTree", map[string]any{"root": f.ctxID}, &tree)
	if len(tree.Contexts) == 0 {
		return ""
	}
	return tree.Contexts[0].URL
}

// Status returns the HTTP status of the last page loaded into the tab.
func (f *Firefox) Status() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.docStatus
}

// Responses returns every response received so far.
func (f *Firefox) Responses() []FirefoxResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FirefoxResponse(nil), f.responses...)
}

// NonLocalRequests returns the requests to anything but loopback addresses
// (none may reach the network: they go to a closed proxy port).
func (f *Firefox) NonLocalRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		u, err := url.Parse(r)
		if err == nil {
			switch u.Scheme {
			case "data", "about", "blob", "moz-extension", "resource", "chrome":
				continue
			}
			if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// SetFile chooses the file at path in the file input matching selector, as
// a person does in the file dialog.
func (f *Firefox) SetFile(selector, path string) {
	f.t.Helper()
	f.call("input.setFiles", map[string]any{"context": f.ctxID, "element": f.element(selector), "files": []string{path}}, nil)
	if n := f.eval("String(document.querySelector(" + quoteJS(selector) + ").files.length)"); n != "1" {
		f.t.Fatalf("firefox: %s holds %s files after setting %s", selector, n, path)
	}
}

// WaitDownload waits until a new download has completed in the profile's
// download directory (no part file left) and returns its path; each
// download is returned once.
func (f *Firefox) WaitDownload() string {
	f.t.Helper()
	dir := filepath.Join(f.profile, "downloads")
	deadline := time.Now().Add(downloadTimeout)
	for {
		entries, _ := os.ReadDir(dir)
		var done []string
		partial := false
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if strings.HasSuffix(e.Name(), ".part") {
				partial = true
			} else if info, err := e.Info(); err == nil && info.Size() > 0 && !f.collected[p] {
				done = append(done, p)
			}
		}
		if !partial && len(done) == 1 {
			f.collected[done[0]] = true
			return done[0]
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("firefox: no finished download in %s within %s: %v", dir, downloadTimeout, entries)
		}
		select {
		case <-f.exited:
			f.t.Fatal("firefox: exited while downloading")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Screenshot writes a PNG of the visible part of the page to path.
func (f *Firefox) Screenshot(path string) {
	f.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	f.call("browsingContext.captureScreenshot", map[string]any{"context": f.ctxID, "origin": "document"}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		f.t.Fatalf("firefox: screenshot: %v", errors.Join(err, errors.New("not a PNG")))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}
