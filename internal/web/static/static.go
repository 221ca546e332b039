// Package static serves OpenIMI's front-end assets (ECL styles and scripts,
// htmx, fonts, icons, logos) from files embedded in the binary.
//
// The files are built by `npm ci && node web/build.mjs` into
// internal/web/static/dist/ (git-ignored, except a README so that the embed
// compiles in a fresh clone). See docs/FRONTEND.md.
//
// Every file is served under two names below /static/:
//
//   - its content-hashed name, e.g. /static/app.3f2a9c1b04de.css, returned by
//     Assets.URL and cached by browsers for a year ("immutable");
//   - its plain name, e.g. /static/app.css, revalidated on every use
//     ("no-cache" + ETag). esbuild gives the fonts and images that app.css
//     references a hash of its own (InterVariable-AM3KRH5U.woff2, listed in
//     dist/manifest.json); those are immutable under their plain name too.
//     app.css refers to them by relative URL, which resolves to /static/<name>
//     whichever of its two names app.css was loaded by.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/static/"

// hashLen is the number of hex digits of the SHA-256 put into URLs.
const hashLen = 12

// buildHint tells the operator how to produce the assets.
const buildHint = `run "npm ci && node web/build.mjs" in the repository root, then rebuild the binary`

// Files that are in dist but are not assets.
var internalFiles = map[string]bool{
	"README.md":     true,
	".gitignore":    true,
	"manifest.json": true,
}

// Required are the files without which no page can render.
var Required = []string{"app.css", "app.js"}

// Assets is an immutable, in-memory set of static files with their hashes.
// It is safe for concurrent use.
type Assets struct {
	files  map[string]*file // by plain name, e.g. "logo/positive/logo-ec--en.svg"
	hashed map[string]*file // by hashed name, e.g. "logo/positive/logo-ec--en.0123456789ab.svg"
}

type file struct {
	name        string // plain name
	hashedName  string
	body        []byte
	gz          []byte // gzip-compressed body, nil when not worth it
	contentType string
	etag        string // strong ETag of body
	gzETag      string // strong ETag of gz
	integrity   string // "sha256-<base64>" for Subresource Integrity
	immutable   bool   // plain name already carries a content hash
}

// manifest is the part of dist/manifest.json (written by web/build.mjs)
// that this package reads.
type manifest struct {
	Hashed []string `json:"hashed"`
}

// Load returns the assets embedded in the binary. It fails, with a message
// saying how to build them, when the front-end build has not been run.
func Load() (*Assets, error) {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return New(sub)
}

// New builds Assets from the files of fsys (the contents of dist/: app.css at
// its root). It reads every file, hashes it and precompresses text files.
func New(fsys fs.FS) (*Assets, error) {
	a := &Assets{files: map[string]*file{}, hashed: map[string]*file{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || internalFiles[name] {
			return nil
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		f, err := newFile(name, body)
		if err != nil {
			return err
		}
		a.files[name] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: reading assets: %w", err)
	}

	var missing []string
	for _, name := range Required {
		if _, ok := a.files[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("static: front-end assets not built (%s missing from internal/web/static/dist): %s",
			strings.Join(missing, ", "), buildHint)
	}

	if raw, err := fs.ReadFile(fsys, "manifest.json"); err == nil {
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("static: manifest.json: %w", err)
		}
		for _, name := range m.Hashed {
			if f, ok := a.files[name]; ok {
				f.immutable = true
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("static: manifest.json: %w", err)
	}

	for _, f := range a.files {
		if other, ok := a.hashed[f.hashedName]; ok {
			return nil, fmt.Errorf("static: %s and %s have the same hashed name %s", f.name, other.name, f.hashedName)
		}
		a.hashed[f.hashedName] = f
	}
	for _, f := range a.files {
		// A plain name that looks like another file's hashed name would be
		// ambiguous; refuse rather than serve the wrong file.
		if other, ok := a.hashed[f.name]; ok && other != f {
			return nil, fmt.Errorf("static: file name %s clashes with the hashed name of %s", f.name, other.name)
		}
	}
	return a, nil
}

func newFile(name string, body []byte) (*file, error) {
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	f := &file{
		name:        name,
		hashedName:  hashedName(name, hexSum[:hashLen]),
		body:        body,
		contentType: contentType(name),
		etag:        `"` + hexSum[:32] + `"`,
		integrity:   "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
	}
	if compressible(f.contentType) && len(body) >= 1024 {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(body); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		// Only keep it when it saves at least a tenth.
		if buf.Len() < len(body)-len(body)/10 {
			f.gz = buf.Bytes()
			f.gzETag = `"` + hexSum[:32] + `-gz"`
		}
	}
	return f, nil
}

// hashedName inserts the hash before the extension of the base name:
// "logo/x.svg" -> "logo/x.<hash>.svg", "app.js.map" -> "app.js.<hash>.map",
// "LICENSE" -> "LICENSE.<hash>".
func hashedName(name, hash string) string {
	dir, base := path.Split(name)
	ext := path.Ext(base)
	if ext == base { // ".hidden" or no extension
		ext = ""
	}
	return dir + strings.TrimSuffix(base, ext) + "." + hash + ext
}

var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".map":   "application/json; charset=utf-8",
	".json":  "application/json; charset=utf-8",
	".svg":   "image/svg+xml",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".ttf":   "font/ttf",
	".png":   "image/png",
	".gif":   "image/gif",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") ||
		strings.HasPrefix(ct, "application/json") ||
		strings.HasPrefix(ct, "image/svg+xml") ||
		strings.HasPrefix(ct, "image/x-icon")
}

// URL returns the content-hashed URL of the asset called name (its path
// inside dist, e.g. "app.css" or "logo/positive/logo-ec--en.svg"), such as
// "/static/app.3f2a9c1b04de.css". It returns "" for an unknown name: callers
// treat that as a programming error.
func (a *Assets) URL(name string) string {
	f, ok := a.files[strings.TrimPrefix(name, "/")]
	if !ok {
		return ""
	}
	return Prefix + f.hashedName
}

// Integrity returns the Subresource Integrity value ("sha256-...") of the
// asset called name, or "" for an unknown name.
func (a *Assets) Integrity(name string) string {
	f, ok := a.files[strings.TrimPrefix(name, "/")]
	if !ok {
		return ""
	}
	return f.integrity
}

// Names returns the plain names of all assets, sorted.
func (a *Assets) Names() []string {
	names := make([]string, 0, len(a.files))
	for n := range a.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

const (
	cacheImmutable   = "public, max-age=31536000, immutable"
	cacheRevalidate  = "no-cache"
	allowedMethods   = "GET, HEAD"
	notFoundResponse = "404 page not found"
)

// Handler serves the assets below Prefix ("/static/"); mount it with
// mux.Handle("/static/", assets.Handler()). It answers only GET and HEAD,
// serves gzip to clients that accept it, honours If-None-Match, and sets
// Cache-Control, Content-Type, ETag and X-Content-Type-Options: nosniff.
func (a *Assets) Handler() http.Handler {
	return http.HandlerFunc(a.serve)
}

func (a *Assets) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", allowedMethods)
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}

	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || name == "" {
		http.Error(w, notFoundResponse, http.StatusNotFound)
		return
	}
	cache := cacheImmutable
	f, ok := a.hashed[name]
	if !ok {
		f, ok = a.files[name]
		if !ok {
			http.Error(w, notFoundResponse, http.StatusNotFound)
			return
		}
		if !f.immutable {
			cache = cacheRevalidate
		}
	}

	body, etag := f.body, f.etag
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = f.gz, f.gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", cache)
	h.Set("ETag", etag)
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	// ServeContent handles HEAD, If-None-Match (304), Range and Content-Length.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip
// (explicitly or through "*") with a non-zero quality.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, found := strings.Cut(strings.TrimSpace(p), "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
