package testenv

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The accessibility check of a page: axe-core, the engine browsers' own
// tools use, run by the test driver.
//
// The pages stay without scripts: the harness evaluates axe-core over the
// DevTools protocol in an isolated world of the page (a JavaScript world of
// its own, as a browser extension has: the page's document, none of the
// page's globals), which neither the page's Content Security Policy nor the
// switch that keeps page scripts off applies to. Nothing is added to the
// page and nothing is requested from the network.

// axeSource is axe-core's axe.min.js, vendored with its licence and version
// in testdata/axe (README.md there says how to move to another release).
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// axeTimeout bounds one run of axe-core on a page: a hang limit, not a
// measurement (a run takes well under a second on the portal's pages).
const axeTimeout = 90 * time.Second

// AxeVersion is the version of the vendored axe-core ("4.14.1").
func AxeVersion() string {
	m := regexp.MustCompile(`^/\*! axe v(\S+)`).FindStringSubmatch(axeSource)
	if m == nil {
		return ""
	}
	return m[1]
}

// AxeReport is what axe-core found on one page.
type AxeReport struct {
	URL        string
	Violations []AxeRule // rules that failed: each is a problem to fix
	Incomplete []AxeRule // rules axe-core could not decide (a person looks)
	// MinContrast is the lowest contrast ratio of the text axe-core
	// measured on the page (its color-contrast rule, passed or failed),
	// with the element and the two colours; 0 when it measured none.
	MinContrast   float64
	MinContrastAt string
}

// AxeRule is one rule of axe-core with the elements it names.
type AxeRule struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []AxeNode `json:"nodes"`
}

// AxeNode is one element a rule names.
type AxeNode struct {
	Target         []any  `json:"target"` // CSS selectors, outermost first
	HTML           string `json:"html"`
	FailureSummary string `json:"failureSummary"`
}

// String is the rule, its help and each element, for a test's log.
func (r AxeRule) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s (%s): %s [%s]", r.ID, r.Impact, r.Help, r.HelpURL)
	for _, n := range r.Nodes {
		fmt.Fprintf(&s, "\n    %v %s", n.Target, n.HTML)
		if n.FailureSummary != "" {
			fmt.Fprintf(&s, "\n      %s", strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
		}
	}
	return s.String()
}

// axeRun is the script that runs axe-core on the document and returns what
// AxeReport holds. Frames are not entered: axe-core would need to run in
// each frame and speak to it with messages; a test opens a frame's page by
// itself instead. The contrast of every measured text comes from the data
// of the color-contrast rule.
const axeRun = `axe.run(document, {iframes: false, preload: false, rules: %s}).then(r => {
	const pick = rs => rs.map(x => ({id: x.id, impact: x.impact || '', help: x.help, helpUrl: x.helpUrl,
		nodes: x.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary || ''}))}));
	let min = 0, at = '';
	for (const x of r.passes.concat(r.violations)) {
		if (x.id !== 'color-contrast') continue;
		for (const n of x.nodes) {
			for (const c of n.any.concat(n.all, n.none)) {
				const d = c.data;
				if (d && typeof d.contrastRatio === 'number' && d.contrastRatio > 0 && (min === 0 || d.contrastRatio < min)) {
					min = d.contrastRatio;
					at = n.target.join(' ') + ': ' + d.fgColor + ' on ' + d.bgColor + ', ' + d.fontSize + ' ' + d.fontWeight;
				}
			}
		}
	}
	return {violations: pick(r.violations), incomplete: pick(r.incomplete), minContrast: min, minContrastAt: at};
})`

// axeTimers replaces the timers of the harness's world. With scripts off
// the browser runs no timer callback, not even one of a DevTools world, and
// axe-core waits for a timer of 0 ms between rules. Here a timer of at most
// 1 ms runs as a microtask (soon, in order); a longer one is one of
// axe-core's guards (a frame that does not answer, assets that do not
// load: neither is used here) and never fires: axeTimeout bounds the run.
const axeTimers = `(() => {
	let next = 0;
	const live = new Set();
	globalThis.setTimeout = (fn, ms, ...args) => {
		const id = ++next;
		if (!(ms > 1)) {
			live.add(id);
			queueMicrotask(() => { if (live.delete(id)) fn(...args); });
		}
		return id;
	};
	globalThis.clearTimeout = id => { live.delete(id); };
})()`

// Axe runs axe-core with its default rules (WCAG 2.0, 2.1 and 2.2 at levels
// A and AA and its best practices) on the page the browser shows, and
// returns what it found. It fails the test when axe-core cannot run.
//
// disable names rules not to run, for a document that is not a page of its
// own: the page of a frame has no heading or landmarks of its own, its page
// has them ("page-has-heading-one", "landmark-one-main", "region").
func (b *Browser) Axe(disable ...string) AxeReport {
	b.t.Helper()
	rules := map[string]map[string]bool{}
	for _, id := range disable {
		rules[id] = map[string]bool{"enabled": false}
	}
	rulesJSON, err := json.Marshal(rules)
	if err != nil {
		b.t.Fatalf("browser: axe-core rules: %v", err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, axeTimeout)
	defer cancel()
	type result struct {
		Violations    []AxeRule `json:"violations"`
		Incomplete    []AxeRule `json:"incomplete"`
		MinContrast   float64   `json:"minContrast"`
		MinContrastAt string    `json:"minContrastAt"`
	}
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (result, error) {
		var zero result
		tree, err := cdp.Call(ctx, t, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return zero, err
		}
		// A world of the harness's own in the page's main frame, new for
		// each run, so it always sees the document shown now.
		world, err := cdp.Call(ctx, t, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
			FrameID: tree.FrameTree.Frame.ID, WorldName: "portal-harness-axe",
		})
		if err != nil {
			return zero, err
		}
		eval := func(expr string, await bool) (*runtime.EvaluateResult, error) {
			r, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{
				Expression: expr, ContextID: world.ExecutionContextID,
				ReturnByValue: new(true), AwaitPromise: new(await), Silent: new(true),
			})
			if err == nil && r.ExceptionDetails != nil {
				err = fmt.Errorf("%s", exceptionText(r.ExceptionDetails))
			}
			return &r, err
		}
		if _, err := eval(axeTimers, false); err != nil {
			return zero, fmt.Errorf("timers: %w", err)
		}
		if _, err := eval(axeSource+"\n;void 0", false); err != nil {
			return zero, fmt.Errorf("load axe-core: %w", err)
		}
		r, err := eval(fmt.Sprintf(axeRun, rulesJSON), true)
		if err != nil {
			return zero, fmt.Errorf("axe.run: %w", err)
		}
		var out result
		if r.Result == nil {
			return zero, fmt.Errorf("axe.run: no result")
		}
		if err := json.Unmarshal(r.Result.Value, &out); err != nil {
			return zero, fmt.Errorf("axe.run: result: %w", err)
		}
		return out, nil
	})
	if err != nil {
		b.t.Fatalf("browser: axe-core on %s: %v", b.URL(), err)
	}
	return AxeReport{URL: b.URL(), Violations: res.Violations, Incomplete: res.Incomplete,
		MinContrast: res.MinContrast, MinContrastAt: res.MinContrastAt}
}

// exceptionText is the message of an exception thrown in an evaluation.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

// ColorScheme makes the pages see the visitor's preferred colour scheme
// ("light" or "dark", as prefers-color-scheme; "" the browser's own). It
// lasts for the rest of the test.
func (b *Browser) ColorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, p); err != nil {
		b.t.Fatalf("browser: colour scheme %q: %v", scheme, err)
	}
}

// Count returns how many elements match the CSS selector (0 when none).
func (b *Browser) Count(selector string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, lookupTimeout)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(selector), chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatalf("browser: count %q on %s: %v", selector, b.URL(), err)
	}
	return len(nodes)
}

// PressTab presses the Tab key once, as a keyboard user moves to the next
// thing on the page, and returns the element that has the focus then, as
// its start tag with its text (`<a href="#main" class="skip-link">Skip to
// content`).
func (b *Browser) PressTab() string {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		b.t.Fatalf("browser: press Tab: %v", err)
	}
	return b.Focused()
}

// Focused returns the element that has the focus, as PressTab does; ""
// when it is the page itself.
func (b *Browser) Focused() string {
	b.t.Helper()
	n := b.find("html")
	ctx, cancel := b.action()
	defer cancel()
	s, err := callOnNode[string](ctx, n, `function() {
		const el = this.ownerDocument.activeElement;
		if (!el || el === this.ownerDocument.body) return '';
		const tag = el.outerHTML.slice(0, el.outerHTML.indexOf('>') + 1);
		return tag + (el.textContent || '').trim().slice(0, 80);
	}`)
	if err != nil {
		b.t.Fatalf("browser: focused element: %v", err)
	}
	return s
}

// SetAttribute sets the attribute name of the element that matches the
// CSS selector to value, through DevTools. It is for a test that makes the
// browser send what the portal's own pages never would: a form without
// the browser's checks (novalidate), as an old browser sends it, or a form
// sent to another route. Everything else a test does goes through input
// events, as a person's actions do.
func (b *Browser) SetAttribute(selector, name, value string) {
	b.t.Helper()
	n := b.find(selector)
	ctx, cancel := b.action()
	defer cancel()
	if _, err := chromedp.Call(ctx, dom.SetAttributeValue, dom.SetAttributeValueParams{NodeID: n.NodeID, Name: name, Value: value}); err != nil {
		b.t.Fatalf("browser: set %s on %q: %v", name, selector, err)
	}
}
