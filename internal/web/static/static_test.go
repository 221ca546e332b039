package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// bigCSS is compressible and large enough to be precompressed.
var bigCSS = "@font-face{font-family:Inter;src:url(\"./Inter-AM3KRH5U.woff2\") format(\"woff2\")}" +
	".ecl-icon{mask-image:url(./ecl-0123-VQRNDNVM.svg)}" +
	strings.Repeat(".ecl-button{color:red;padding:1rem}\n", 200)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"app.css":                       {Data: []byte(bigCSS)},
		"app.js":                        {Data: []byte("(()=>{window.htmx={}})();\n")},
		"app.js.map":                    {Data: []byte(`{"version":3}`)},
		"Inter-AM3KRH5U.woff2":          {Data: []byte("wOF2 not really")},
		"ecl-0123-VQRNDNVM.svg":         {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
		"icons.svg":                     {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><symbol id="global"/></svg>`)},
		"logo/positive/logo-ec--en.svg": {Data: []byte("<svg/>")},
		"img/photo.png":                 {Data: []byte("\x89PNG fake")},
		"old.woff":                      {Data: []byte("wOFF")},
		"LICENSE":                       {Data: []byte("EUPL-1.2")},
		"README.md":                     {Data: []byte("built by node web/build.mjs; do not edit")},
		".gitignore":                    {Data: []byte("*\n")},
		"manifest.json":                 {Data: []byte(`{"hashed":["Inter-AM3KRH5U.woff2","ecl-0123-VQRNDNVM.svg","not-there.gif"]}`)},
		".cache/x.js":                   {Data: []byte("hidden")},
		"logo/negative/logo-ec--fr.svg": {Data: []byte("<svg>fr</svg>")},
		"logo/negative/logo-ec--de.svg": {Data: []byte("<svg>de</svg>")},
		"logo/negative/logo-ec--mt.svg": {Data: []byte("<svg>mt</svg>")},
		"logo/logo-ec--mute.svg":        {Data: []byte("<svg>mute</svg>")},
	}
}

func newTestAssets(t *testing.T, fsys fs.FS) *Assets {
	t.Helper()
	a, err := New(fsys)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func hash12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashLen]
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestURLHashing(t *testing.T) {
	fsys := testFS()
	a := newTestAssets(t, fsys)

	cases := map[string]string{
		"app.css":                       "/static/app." + hash12(bigCSS) + ".css",
		"/app.css":                      "/static/app." + hash12(bigCSS) + ".css",
		"app.js":                        "/static/app." + hash12(string(fsys["app.js"].Data)) + ".js",
		"app.js.map":                    "/static/app.js." + hash12(`{"version":3}`) + ".map",
		"logo/positive/logo-ec--en.svg": "/static/logo/positive/logo-ec--en." + hash12("<svg/>") + ".svg",
		"LICENSE":                       "/static/LICENSE." + hash12("EUPL-1.2"),
		"missing.css":                   "",
		"":                              "",
		"logo":                          "",
		"README.md":                     "",
		"manifest.json":                 "",
		".gitignore":                    "",
		".cache/x.js":                   "",
	}
	for name, want := range cases {
		if got := a.URL(name); got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
	}
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{8,12}\.css$`).MatchString(a.URL("app.css")) {
		t.Errorf("URL(app.css) = %q: not of the form /static/app.<hex>.css", a.URL("app.css"))
	}

	// The URL changes with the content.
	fsys2 := testFS()
	fsys2["app.css"] = &fstest.MapFile{Data: []byte(bigCSS + "/* changed */")}
	b := newTestAssets(t, fsys2)
	if a.URL("app.css") == b.URL("app.css") {
		t.Error("URL(app.css) did not change when the content changed")
	}
	if a.URL("app.js") != b.URL("app.js") {
		t.Error("URL(app.js) changed although app.js did not")
	}

	if got := a.Integrity("app.js"); !strings.HasPrefix(got, "sha256-") || len(got) != len("sha256-")+44 {
		t.Errorf("Integrity(app.js) = %q", got)
	}
	if got := a.Integrity("nope.js"); got != "" {
		t.Errorf("Integrity(nope.js) = %q, want empty", got)
	}
	for _, n := range a.Names() {
		if n == "README.md" || n == "manifest.json" || strings.HasPrefix(n, ".") {
			t.Errorf("Names() lists internal file %q", n)
		}
	}
}

func TestNewRequiresAppCSSAndJS(t *testing.T) {
	for _, missing := range []string{"app.css", "app.js"} {
		fsys := testFS()
		delete(fsys, missing)
		_, err := New(fsys)
		if err == nil {
			t.Fatalf("New without %s: no error", missing)
		}
		for _, want := range []string{missing, "npm ci && node web/build.mjs"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New without %s: error %q does not mention %q", missing, err, want)
			}
		}
	}

	// What a fresh clone embeds before the build.
	_, err := New(fstest.MapFS{
		"README.md":  {Data: []byte("built by node web/build.mjs; do not edit")},
		".gitignore": {Data: []byte("*\n")},
	})
	if err == nil || !strings.Contains(err.Error(), "npm ci && node web/build.mjs") {
		t.Errorf("New on unbuilt dist: err = %v", err)
	}
}

func TestNewRejectsBadManifest(t *testing.T) {
	fsys := testFS()
	fsys["manifest.json"] = &fstest.MapFile{Data: []byte("{not json")}
	if _, err := New(fsys); err == nil {
		t.Error("New accepted a malformed manifest.json")
	}
}

func TestCachingHeaders(t *testing.T) {
	a := newTestAssets(t, testFS())
	h := a.Handler()

	cases := []struct {
		target, cache string
	}{
		{a.URL("app.css"), "public, max-age=31536000, immutable"},
		{a.URL("logo/positive/logo-ec--en.svg"), "public, max-age=31536000, immutable"},
		{a.URL("Inter-AM3KRH5U.woff2"), "public, max-age=31536000, immutable"},
		{"/static/app.css", "no-cache"},
		{"/static/app.js", "no-cache"},
		{"/static/logo/positive/logo-ec--en.svg", "no-cache"},
		// Named with esbuild's hash (listed in manifest.json): immutable.
		{"/static/Inter-AM3KRH5U.woff2", "public, max-age=31536000, immutable"},
		{"/static/ecl-0123-VQRNDNVM.svg", "public, max-age=31536000, immutable"},
	}
	for _, c := range cases {
		res := get(t, h, http.MethodGet, c.target, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.target, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", c.target, got, c.cache)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", c.target, got)
		}
		etag := res.Header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
			t.Errorf("GET %s: ETag %q", c.target, etag)
		}
		// Revalidation.
		res2 := get(t, h, http.MethodGet, c.target, map[string]string{"If-None-Match": etag})
		if res2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", c.target, res2.StatusCode)
		}
		if b := readBody(t, res2); len(b) != 0 {
			t.Errorf("GET %s with If-None-Match: %d body bytes", c.target, len(b))
		}
	}

	// Same content under both names.
	hashed := readBody(t, get(t, h, http.MethodGet, a.URL("app.js"), nil))
	plain := readBody(t, get(t, h, http.MethodGet, "/static/app.js", nil))
	if !bytes.Equal(hashed, plain) || !bytes.Equal(plain, testFS()["app.js"].Data) {
		t.Error("hashed and plain URL of app.js serve different bodies")
	}
}

func TestContentTypes(t *testing.T) {
	a := newTestAssets(t, testFS())
	h := a.Handler()
	cases := map[string]string{
		"app.css":                       "text/css; charset=utf-8",
		"app.js":                        "text/javascript; charset=utf-8",
		"app.js.map":                    "application/json; charset=utf-8",
		"icons.svg":                     "image/svg+xml",
		"logo/positive/logo-ec--en.svg": "image/svg+xml",
		"Inter-AM3KRH5U.woff2":          "font/woff2",
		"old.woff":                      "font/woff",
		"img/photo.png":                 "image/png",
		"LICENSE":                       "application/octet-stream",
	}
	for name, want := range cases {
		for _, target := range []string{a.URL(name), Prefix + name} {
			res := get(t, h, http.MethodGet, target, nil)
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d", target, res.StatusCode)
				continue
			}
			if got := res.Header.Get("Content-Type"); got != want {
				t.Errorf("GET %s: Content-Type %q, want %q", target, got, want)
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	a := newTestAssets(t, testFS())
	h := a.Handler()
	wrongHash := strings.Replace(a.URL("app.css"), hash12(bigCSS), "000000000000", 1)
	for _, target := range []string{
		"/static/",
		"/static/nope.css",
		wrongHash,
		"/static/app.deadbeef.css",
		"/static/logo",
		"/static/logo/",
		"/static/logo/positive/",
		"/static/README.md",
		"/static/manifest.json",
		"/static/.gitignore",
		"/static/.cache/x.js",
		"/static/../static.go",
		"/static//app.css",
		"/static/APP.CSS",
		"/app.css",
		"/other/app.css",
	} {
		res := get(t, h, http.MethodGet, target, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, res.StatusCode)
		}
		if got := res.Header.Get("Cache-Control"); strings.Contains(got, "immutable") {
			t.Errorf("GET %s: 404 cached as %q", target, got)
		}
	}
}

func TestMethods(t *testing.T) {
	a := newTestAssets(t, testFS())
	h := a.Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		res := get(t, h, m, a.URL("app.css"), nil)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, res.StatusCode)
		}
		if got := res.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, got)
		}
	}

	res := get(t, h, http.MethodHead, a.URL("app.css"), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: status %d", res.StatusCode)
	}
	if b := readBody(t, res); len(b) != 0 {
		t.Errorf("HEAD: %d body bytes", len(b))
	}
	if got := res.Header.Get("Content-Length"); got != "" && got != "0" && got != strconv.Itoa(len(bigCSS)) {
		t.Errorf("HEAD: Content-Length %q", got)
	}
	if res.Header.Get("ETag") == "" || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD: headers %v", res.Header)
	}
}

func TestGzip(t *testing.T) {
	a := newTestAssets(t, testFS())
	h := a.Handler()

	res := get(t, h, http.MethodGet, a.URL("app.css"), map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if got := res.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	if got := res.Header.Get("Vary"); got != "Accept-Encoding" {
		t.Errorf("Vary %q", got)
	}
	gzETag := res.Header.Get("ETag")
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != bigCSS {
		t.Error("gzip body does not decompress to app.css")
	}

	res = get(t, h, http.MethodGet, a.URL("app.css"), nil)
	if res.Header.Get("Content-Encoding") != "" || string(readBody(t, res)) != bigCSS {
		t.Error("identity response wrong without Accept-Encoding")
	}
	if res.Header.Get("Vary") != "Accept-Encoding" {
		t.Error("identity response lacks Vary: Accept-Encoding")
	}
	if res.Header.Get("ETag") == gzETag {
		t.Error("gzip and identity responses share an ETag")
	}

	// Small and already-compressed files are never gzipped.
	for _, name := range []string{"app.js", "Inter-AM3KRH5U.woff2", "img/photo.png"} {
		res := get(t, h, http.MethodGet, a.URL(name), map[string]string{"Accept-Encoding": "gzip"})
		if res.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s served gzipped", name)
		}
	}

	for header, want := range map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"deflate, gzip":        true,
		"gzip;q=0":             false,
		"gzip; q=0.0":          false,
		"gzip;q=0.001":         true,
		"*":                    true,
		"*;q=0":                false,
		"br":                   false,
		"identity":             false,
		"gzip;q=0, *":          false,
		"br;q=1.0, *;q=0.5":    true,
		"x-gzip":               true,
		"compress, gzip ; q=1": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

var cssURL = regexp.MustCompile(`url\(\s*["']?([^"')]+)["']?\s*\)`)

// checkCSSReferences resolves every url() in app.css against the URL the
// page loads app.css from (hashed and plain) and requests it.
func checkCSSReferences(t *testing.T, a *Assets, css string) int {
	t.Helper()
	h := a.Handler()
	refs := cssURL.FindAllStringSubmatch(css, -1)
	for _, base := range []string{a.URL("app.css"), "/static/app.css"} {
		baseURL, err := url.Parse("https://imi.example" + base)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range refs {
			ref, err := url.Parse(m[1])
			if err != nil {
				t.Errorf("app.css: bad url(%s): %v", m[1], err)
				continue
			}
			if ref.Scheme != "" || ref.Host != "" {
				t.Errorf("app.css refers to another origin or a data: URI: %s", m[1])
				continue
			}
			u := baseURL.ResolveReference(ref)
			res := get(t, h, http.MethodGet, u.Path, nil)
			if res.StatusCode != http.StatusOK {
				t.Errorf("url(%s) in app.css (loaded from %s) resolves to %s: status %d", m[1], base, u.Path, res.StatusCode)
			}
		}
	}
	return len(refs)
}

func TestRelativeCSSReferencesResolve(t *testing.T) {
	a := newTestAssets(t, testFS())
	if n := checkCSSReferences(t, a, bigCSS); n != 2 {
		t.Errorf("found %d url() references, want 2", n)
	}
}

// TestEmbeddedDist checks the assets compiled into the binary, i.e. the
// output of node web/build.mjs.
func TestEmbeddedDist(t *testing.T) {
	if _, err := fs.Stat(embedded, "dist/app.css"); err != nil {
		t.Skip("front-end assets not built (internal/web/static/dist/app.css missing): run `npm ci && node web/build.mjs` to include this test")
	}
	a, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	h := a.Handler()

	for _, name := range []string{"app.css", "app.js", "icons.svg", "logo/positive/logo-ec--en.svg", "logo/negative/logo-ec--en.svg", "logo/logo-ec--mute.svg"} {
		u := a.URL(name)
		if u == "" {
			t.Errorf("URL(%q) is empty", name)
			continue
		}
		res := get(t, h, http.MethodGet, u, map[string]string{"Accept-Encoding": "gzip"})
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", u, res.StatusCode)
		}
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: not gzipped", u)
		}
	}

	css, err := fs.ReadFile(embedded, "dist/app.css")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkCSSReferences(t, a, string(css)); n == 0 {
		t.Error("app.css has no url() references: fonts missing?")
	}
	for _, want := range []string{".ecl-site-header", ".ecl-site-footer", ".ecl-button", ".imi-personal-data", ".htmx-indicator", "@font-face"} {
		if !strings.Contains(string(css), want) {
			t.Errorf("app.css lacks %s", want)
		}
	}
	if strings.Contains(string(css), "webtools.europa.eu") {
		t.Error("app.css still loads fonts from webtools.europa.eu")
	}

	js, err := fs.ReadFile(embedded, "dist/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"autoInit", "htmx", "DOMContentLoaded"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("app.js lacks %q", want)
		}
	}

	sprite, err := fs.ReadFile(embedded, "dist/icons.svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"global", "log-in", "logged-in", "search", "close", "corner-arrow", "hamburger", "external"} {
		if !bytes.Contains(sprite, []byte(`id="`+id+`"`)) {
			t.Errorf("icons.svg has no symbol %q", id)
		}
	}

	// Fonts referenced by app.css are named by esbuild's hash: immutable
	// under their plain name as well.
	for _, m := range cssURL.FindAllStringSubmatch(string(css), -1) {
		if !strings.HasSuffix(m[1], ".woff2") {
			continue
		}
		res := get(t, h, http.MethodGet, "/static/"+strings.TrimPrefix(m[1], "./"), nil)
		if got := res.Header.Get("Cache-Control"); got != cacheImmutable {
			t.Errorf("font %s: Cache-Control %q", m[1], got)
		}
		if got := res.Header.Get("Content-Type"); got != "font/woff2" {
			t.Errorf("font %s: Content-Type %q", m[1], got)
		}
	}
}
