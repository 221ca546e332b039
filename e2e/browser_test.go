package e2e_test

// Shared helpers of the browser tests: one headless Chromium per test binary,
// an in-process OpenIMI server per test, a "tab" type that drives one
// isolated browser context, axe-core accessibility checks and screenshots.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// Environment variables of the browser tests.
const (
	envSkip        = "IMI_E2E_SKIP"        // "1": skip the browser tests when Chromium is missing
	envScreenshots = "IMI_E2E_SCREENSHOTS" // directory for the screenshots of checked pages
	envChromium    = "IMI_E2E_CHROMIUM"    // path of the browser (default: chromium from PATH)
)

// testPassword is the password of every account the tests create.
const testPassword = "correct-horse-battery-9"

// axeTags are the rules axe-core checks: WCAG 2.1 levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// stepTimeout bounds every single browser step, so that a missing element
// fails the test quickly instead of hanging until go test's deadline.
const stepTimeout = 15 * time.Second

// TestMain stops the shared browser after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	shutdownBrowser()
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// Repository and axe-core

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot is the directory holding go.mod, found by walking up from the
// test's working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("no go.mod found above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("e2e: %v", rootErr)
	}
	return rootDir
}

var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  error
)

// axeSource returns the text of node_modules/axe-core/axe.min.js.
func axeSource(t testing.TB) string {
	t.Helper()
	axeOnce.Do(func() {
		p := filepath.Join(repoRoot(t), "node_modules", "axe-core", "axe.min.js")
		b, err := os.ReadFile(p)
		if err != nil {
			axeErr = fmt.Errorf("%s is missing (%v): run ./scripts/test.sh, or `npm ci` in the repository root, which installs axe-core", p, err)
			return
		}
		axeSrc = string(b)
	})
	if axeErr != nil {
		t.Fatalf("e2e: %v", axeErr)
	}
	return axeSrc
}

// ---------------------------------------------------------------------------
// The browser

var (
	browserMu     sync.Mutex
	browserCtx    context.Context
	browserCancel []context.CancelFunc
	browserErr    error
	browserDir    string
)

// findChromium returns the path of the browser, or "".
func findChromium() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser returns the context of the shared headless Chromium, starting it
// on first use. Without Chromium the test fails (it is part of the test
// suite, and ./scripts/test.sh installs it), unless IMI_E2E_SKIP=1.
func browser(t *testing.T) context.Context {
	t.Helper()
	browserMu.Lock()
	defer browserMu.Unlock()
	if browserCtx != nil || browserErr != nil {
		if browserErr != nil {
			t.Fatalf("e2e: %v", browserErr)
		}
		return browserCtx
	}
	path := findChromium()
	if path == "" {
		if os.Getenv(envSkip) == "1" {
			t.Skipf("e2e: Chromium is not installed and %s=1: browser test skipped", envSkip)
		}
		t.Fatalf("e2e: Chromium is not installed: run ./scripts/test.sh, which installs it (apt-get install chromium), "+
			"or set %s to a Chrome/Chromium binary; set %s=1 to skip the browser tests", envChromium, envSkip)
	}
	dir, err := os.MkdirTemp("", "imi-e2e-chromium-")
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	browserDir = dir
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-GB"),
		chromedp.Flag("accept-lang", "en-GB,en"),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Start the browser now. The first Do must get the chromedp context
	// itself, not a child with a deadline: the browser and its first tab
	// live as long as the context of that first call. The first tab stays
	// open for the browser's lifetime; tests open their own.
	// A watchdog cancels the start if the browser does not answer.
	watchdog := time.AfterFunc(60*time.Second, cancelBrowser)
	err = chromedp.Do(ctx)
	if !watchdog.Stop() && err != nil {
		err = fmt.Errorf("no answer within 60 s: %w", err)
	}
	if err != nil {
		cancelBrowser()
		cancelAlloc()
		browserErr = fmt.Errorf("starting %s: %w", path, err)
		t.Fatalf("e2e: %v", browserErr)
	}
	browserCtx = ctx
	browserCancel = []context.CancelFunc{cancelBrowser, cancelAlloc}
	return browserCtx
}

func shutdownBrowser() {
	browserMu.Lock()
	defer browserMu.Unlock()
	for _, c := range browserCancel {
		c()
	}
	if browserDir != "" {
		// Chromium's children may still write for a moment after it exits.
		for range 50 {
			if err := os.RemoveAll(browserDir); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ---------------------------------------------------------------------------
// The server

// server is an OpenIMI running in-process on 127.0.0.1.
type server struct {
	URL string
	App *app.App
}

// testLogWriter sends the server's log to the test's log while the test
// runs, and drops it afterwards.
type testLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("server: %s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startServer opens a fresh database (SQLite, or a PostgreSQL schema when
// IMI_TEST_DATABASE is set) and serves the whole application on it.
func startServer(t *testing.T) *server {
	t.Helper()
	var c config.Config
	fs := config.FlagSet("serve", config.Common|config.Server, &c, io.Discard)
	args := []string{"--database", dbtest.Location(t), "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--sqlite-synchronous", "NORMAL", "--log-level", "warn"}
	if err := config.Load(fs, &c, args, func(string) string { return "" }); err != nil {
		t.Fatalf("config: %v", err)
	}
	lw := &testLogWriter{t: t}
	t.Cleanup(func() { lw.mu.Lock(); lw.done = true; lw.mu.Unlock() })
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.Open(ctx, &c, log)
	if err != nil {
		t.Fatalf("app.Open: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	h, err := a.Handler(prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("app.Handler: %v (build the front-end assets first: ./scripts/assets.sh)", err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{URL: ts.URL, App: a}
}

// createUser creates an account with testPassword.
func (s *server) createUser(t *testing.T, email, name string) auth.User {
	t.Helper()
	u, err := s.App.Auth.CreateUser(context.Background(), auth.NewUser{Email: email, Name: name, Password: testPassword})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// authority registers an authority as the operator.
func (s *server) authority(t *testing.T, in authorities.Input) *authorities.Authority {
	t.Helper()
	a, err := s.App.Authorities.Register(context.Background(), authorities.System(), in)
	if err != nil {
		t.Fatalf("register %s: %v", in.Name, err)
	}
	return a
}

// member creates a user of authority a with roles and a UI language, and
// returns its e-mail address.
func (s *server) member(t *testing.T, a *authorities.Authority, email, name, lang string, roles ...string) string {
	t.Helper()
	u := s.createUser(t, email, name)
	var rs []authorities.UserRole
	for _, r := range roles {
		rs = append(rs, authorities.UserRole{Role: r})
	}
	if err := s.App.Authorities.Assign(context.Background(), u.ID, a.ID, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Auth.SetLanguage(context.Background(), u.ID, lang); err != nil {
		t.Fatal(err)
	}
	return email
}

// ---------------------------------------------------------------------------
// Tabs

// tab is one browser tab in a browser context of its own (its own cookies),
// bound to one test and one server.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
	noJS  bool
	seen  map[string]string // problems reported already: key → page
}

// newTab opens a tab in a fresh browser context. Options: noJS disables
// script execution in the page.
func newTab(t *testing.T, s *server, noJS bool) *tab {
	t.Helper()
	parent := browser(t)
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, base: s.URL, shots: screenshotDir(t), noJS: noJS, seen: map[string]string{}}
	// The first action opens the tab, which lives as long as the context
	// of that action: give it ctx itself, not a child with a deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if noJS {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable JavaScript: %v", err)
		}
	}
	return tb
}

// screenshotDir is $IMI_E2E_SCREENSHOTS/<test name>, or a temporary
// directory.
func screenshotDir(t *testing.T) string {
	base := os.Getenv(envScreenshots)
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshots: %v", err)
	}
	return dir
}

// stepCtx bounds one browser step.
func (tb *tab) stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// do runs actions, failing the test with what was being done.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s (at %s): %v", what, tb.location(), err)
	}
}

// location is the tab's current URL, for messages.
func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// path is the path (and query) of the current URL.
func (tb *tab) path() string {
	return strings.TrimPrefix(tb.location(), tb.base)
}

// open navigates to a path of the server and waits for the page to load.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(tb.base+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// fill replaces the value of an input with text typed on the keyboard.
func (tb *tab) fill(sel, text string) {
	tb.t.Helper()
	tb.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// click clicks an element that submits a form or follows a link, and waits
// for the next page to load. It returns the HTTP status of that page.
func (tb *tab) click(sel string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		tb.t.Fatalf("click %s (at %s): not visible: %v", sel, tb.location(), err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("click %s (at %s): %v", sel, tb.location(), err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// html returns the outer HTML of the first element matching sel. It works
// without JavaScript.
func (tb *tab) html(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("read %s (at %s): %v", sel, tb.location(), err)
	}
	return s
}

// has reports whether an element matching sel is on the page.
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(sel), chromedp.AtLeast(0)))
	if err != nil {
		tb.t.Fatalf("look for %s (at %s): %v", sel, tb.location(), err)
	}
	return len(nodes) > 0
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// text returns the visible-ish text of the first element matching sel: its
// HTML without tags, entities decoded, white space collapsed. It works
// without JavaScript.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return htmlText(tb.html(sel))
}

func htmlText(s string) string {
	s = tagRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(s), " "))
}

// lang is the lang attribute of the document element.
func (tb *tab) lang() string {
	tb.t.Helper()
	ctx, cancel := tb.stepCtx()
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil {
		tb.t.Fatalf("read html@lang (at %s): %v", tb.location(), err)
	}
	return res.Value
}

// wantPath fails the test unless the tab shows the given path.
func (tb *tab) wantPath(want string) {
	tb.t.Helper()
	if got := tb.path(); got != want {
		tb.t.Fatalf("page is %s, want %s; its text: %.600s", got, want, tb.text("main"))
	}
}

// screenshot saves a full-page PNG named NN-name-lang.png and returns its
// path.
func (tb *tab) screenshot(name string) string {
	tb.t.Helper()
	tb.n++
	file := filepath.Join(tb.shots, fmt.Sprintf("%02d-%s-%s.png", tb.n, name, tb.lang()))
	ctx, cancel := tb.stepCtx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	return file
}

// axeNode is one element that breaks a rule.
type axeNode struct {
	Target  []string `json:"target"`
	HTML    string   `json:"html"`
	Summary string   `json:"summary"`
}

// axeRule is one rule that the page breaks, or that axe could not decide.
type axeRule struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Count   int       `json:"count"`
	Nodes   []axeNode `json:"nodes"`
}

// axeResult is what axeRun returns.
type axeResult struct {
	Violations []axeRule `json:"violations"`
	Incomplete []axeRule `json:"incomplete"`
	Passes     int       `json:"passes"`
}

// axeRun is the script that runs axe-core on the page and returns its
// violations and undecided rules, with the first few elements of each.
const axeRun = `(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: %s}});
  const rules = list => list.map(v => ({
    id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl, count: v.nodes.length,
    nodes: v.nodes.slice(0, 4).map(n => ({
      target: n.target.map(x => Array.isArray(x) ? x.join(' >>> ') : String(x)),
      html: n.html,
      summary: n.failureSummary || [...n.any, ...n.all, ...n.none].map(c => c.message).join('; ')
    }))
  }));
  return {violations: rules(r.violations), incomplete: rules(r.incomplete), passes: r.passes.length};
})()`

// pageHealth is what healthRun finds wrong with a page apart from axe's
// rules.
type pageHealth struct {
	BrokenImages []string `json:"brokenImages"` // images that did not load
	FailedLoads  []string `json:"failedLoads"`  // sub-resources answered with an error status
	NoJSClass    bool     `json:"noJSClass"`    // <html> still has class no-js (app.js did not run)
	SerifText    []string `json:"serifText"`    // visible text in the browser's default serif font
}

const healthRun = `(() => {
  const vis = e => { const r = e.getBoundingClientRect(); return r.width > 1 && r.height > 1 && r.right > 0 && r.bottom > 0; };
  const brokenImages = [...document.images].filter(i => vis(i) && i.complete && i.naturalWidth === 0)
    .map(i => i.outerHTML.replace(/src="([^"]{60})[^"]*"/, 'src="$1…"'));
  // The browser asks for /favicon.ico by itself; the page does not.
  const failedLoads = performance.getEntriesByType('resource')
    .filter(e => e.responseStatus >= 400 && !e.name.endsWith('/favicon.ico')).map(e => e.responseStatus + ' ' + e.name);
  const serifText = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n && serifText.length < 5; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || !e || !vis(e)) continue;
    const f = getComputedStyle(e).fontFamily.toLowerCase();
    if (f.startsWith('"times') || f.startsWith('times') || f === 'serif') {
      const p = e.closest('[class]');
      serifText.push('<' + e.tagName.toLowerCase() + '> in ' + (p ? p.tagName.toLowerCase() + '.' + [...p.classList].join('.') : 'body') + ': ' + n.textContent.trim().slice(0, 60));
    }
  }
  return {brokenImages, failedLoads, noJSClass: document.documentElement.classList.contains('no-js'), serifText};
})()`

// check saves a screenshot of the page, looks for broken images and failed
// loads, and runs axe-core on it (WCAG 2.1 A and AA). Each problem fails
// the test with what a developer needs to fix it; the test goes on, so that
// one run lists every problem.
func (tb *tab) check(name string) {
	tb.t.Helper()
	shot := tb.screenshot(name)
	where := fmt.Sprintf("page %q (%s, lang %s; screenshot %s)", name, tb.path(), tb.lang(), shot)
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()

	// Chrome still evaluates DevTools expressions when the page's own
	// scripts are disabled, so these checks work without JavaScript too.
	h, err := chromedp.Run(ctx, chromedp.Evaluate[pageHealth](healthRun))
	if err != nil {
		tb.t.Fatalf("check %s: %v", where, err)
	}
	for _, img := range h.BrokenImages {
		tb.t.Errorf("broken image on %s: %s", where, img)
	}
	for _, f := range h.FailedLoads {
		tb.t.Errorf("failed load on %s: %s", where, f)
	}
	if h.NoJSClass != tb.noJS {
		if tb.noJS {
			tb.t.Errorf("on %s, JavaScript is disabled but <html> lost its no-js class", where)
		} else {
			tb.t.Errorf("on %s, <html> still has class no-js: app.js did not run (CSP nonce? missing asset?)", where)
		}
	}
	for _, s := range h.SerifText {
		// A style note, not a failure: plain text the CSS gives no font.
		if tb.firstTime("serif|"+s, name) {
			tb.t.Logf("style: text in the browser's default serif font on %s: %s", where, s)
		}
	}

	if tb.noJS {
		// axe's promise never settles: its timers do not run while the
		// page's scripts are disabled.
		return
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err != nil {
		tb.t.Fatalf("axe on %s: %v", where, err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource(tb.t))); err != nil {
			tb.t.Fatalf("axe on %s: inject axe.min.js: %v", where, err)
		}
	}
	tags := `['` + strings.Join(axeTags, `', '`) + `']`
	res, err := chromedp.Run(ctx, chromedp.Evaluate[axeResult](fmt.Sprintf(axeRun, tags), chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("axe on %s: %v", where, err)
	}
	if res.Passes == 0 {
		tb.t.Errorf("axe on %s: no rule passed, so axe did not really check the page", where)
	}
	// axe leaves text with a 1:1 contrast ratio "incomplete" (it might be
	// hidden on purpose); on these pages it is invisible text: a violation.
	for _, r := range res.Incomplete {
		if r.ID != "color-contrast" {
			continue
		}
		var invisible []axeNode
		for _, n := range r.Nodes {
			if strings.Contains(n.Summary, "1:1 contrast ratio") {
				invisible = append(invisible, n)
			}
		}
		if len(invisible) > 0 {
			r.Nodes, r.Count = invisible, len(invisible)
			r.Help += " (axe: incomplete; text with a 1:1 contrast ratio is invisible)"
			res.Violations = append(res.Violations, r)
		}
	}
	// A violation seen on an earlier page (the same rule on the same
	// elements, as in the page header) is named again only briefly.
	var fresh []axeRule
	for _, v := range res.Violations {
		if first, ok := tb.seen[ruleKey(v)]; ok {
			tb.t.Errorf("axe: on %s, rule %s again (%d element(s)): the same violation as on page %q above", where, v.ID, v.Count, first)
			continue
		}
		tb.seen[ruleKey(v)] = name
		fresh = append(fresh, v)
	}
	if len(fresh) > 0 {
		tb.t.Error(describeRules(fmt.Sprintf("axe: %d accessibility violation(s) on %s:", len(fresh), where), fresh))
	}
	var review []axeRule
	for _, r := range res.Incomplete {
		if r.ID != "color-contrast" && tb.firstTime("review|"+ruleKey(r), name) {
			review = append(review, r)
		}
	}
	if testing.Verbose() && len(review) > 0 {
		tb.t.Log(describeRules(fmt.Sprintf("axe: %d rule(s) need a manual review on %s:", len(review), where), review))
	}
}

// firstTime records a problem and reports whether the tab met it first on
// this page.
func (tb *tab) firstTime(key, page string) bool {
	if _, ok := tb.seen[key]; ok {
		return false
	}
	tb.seen[key] = page
	return true
}

var (
	hrefRE    = regexp.MustCompile(`(href|action|value)="[^"]*"`)
	contentRE = regexp.MustCompile(`>[^<]*<`)
)

// ruleKey identifies a rule broken by the same elements on several pages:
// elements that differ only in their URL (like "/language?next=/profile")
// or in their text (another language) count as the same.
func ruleKey(r axeRule) string {
	k := r.ID
	for _, n := range r.Nodes {
		k += "|" + contentRE.ReplaceAllString(hrefRE.ReplaceAllString(n.HTML, ""), "><")
	}
	return k
}

func describeRules(title string, rules []axeRule) string {
	var b strings.Builder
	b.WriteString(title)
	for _, v := range rules {
		fmt.Fprintf(&b, "\n  - rule %s [%s]: %s (%d element(s)) %s", v.ID, v.Impact, v.Help, v.Count, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n      at %s\n         %s", strings.Join(n.Target, ", "), oneLine(n.HTML, 300))
			if n.Summary != "" {
				fmt.Fprintf(&b, "\n         %s", oneLine(n.Summary, 400))
			}
		}
	}
	return b.String()
}

func oneLine(s string, max int) string {
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// ---------------------------------------------------------------------------
// Sign-in steps

// totpCode computes the current code of an authenticator holding secret.
func totpCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("TOTP code: %v", err)
	}
	return code
}

// submitSignIn fills the sign-in form and submits it.
func (tb *tab) submitSignIn(email, password string) {
	tb.t.Helper()
	tb.fill("#f-email", email)
	tb.fill("#f-password", password)
	tb.click(`form[action="/sign-in"] button[type=submit]`)
}

var codeRE = regexp.MustCompile(`<code>([^<]+)</code>`)

// enrol completes the enrolment page with a code computed from the secret
// it shows, checks the recovery codes page and returns the codes. check
// runs axe and saves screenshots of both pages when true.
func (tb *tab) enrol(check bool) []string {
	tb.t.Helper()
	tb.wantPath("/sign-in/enrol")
	if check {
		tb.check("enrol")
	}
	secret := strings.ReplaceAll(tb.text("#totp-secret"), " ", "")
	if secret == "" {
		tb.t.Fatal("the enrolment page shows no secret in #totp-secret")
	}
	tb.fill("#f-code", totpCode(tb.t, secret))
	tb.click(`form[action="/sign-in/enrol"] button[type=submit]`)
	if !tb.has("#recovery-codes") {
		tb.t.Fatalf("after the enrolment code, no #recovery-codes on %s; text: %.600s", tb.path(), tb.text("main"))
	}
	var codes []string
	for _, m := range codeRE.FindAllStringSubmatch(tb.html("#recovery-codes"), -1) {
		codes = append(codes, strings.TrimSpace(html.UnescapeString(m[1])))
	}
	if len(codes) == 0 {
		tb.t.Fatal("the recovery codes page lists no codes")
	}
	if check {
		tb.check("recovery-codes")
	}
	return codes
}

// continueHome follows the recovery page's continue link to the home page.
func (tb *tab) continueHome() {
	tb.t.Helper()
	tb.click("main a.ecl-button")
	tb.wantPath("/")
}

// signInAndEnrol signs a new user in for the first time and lands on the
// home page; it returns the recovery codes.
func (tb *tab) signInAndEnrol(email string) []string {
	tb.t.Helper()
	tb.open("/sign-in")
	tb.submitSignIn(email, testPassword)
	codes := tb.enrol(false)
	tb.continueHome()
	return codes
}

// signOutSel is the sign-out button in the page header.
const signOutSel = `form[action="/sign-out"] button[type=submit]`

// signOut presses the header's sign-out button.
func (tb *tab) signOut() {
	tb.t.Helper()
	tb.click(signOutSel)
	tb.wantPath("/sign-in")
}

// chooseLanguage opens the language page and presses a language's button.
func (tb *tab) chooseLanguage(code, next string) {
	tb.t.Helper()
	tb.open("/language?next=" + next)
	tb.click(fmt.Sprintf(`button[name=lang][value=%q]`, code))
	if got := tb.lang(); got != code {
		tb.t.Fatalf("after choosing %q on the language page, html@lang is %q (at %s)", code, got, tb.path())
	}
}
