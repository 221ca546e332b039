package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/testkit"
)

// uploadLimit is the attachment limit of these tests' sites: 1 MiB.
const uploadLimit = 1 << 20

// eicarScanner is a small scanner of the tests' own (any scan.Scanner
// fits): it reads the whole file and finds the EICAR file in it.
type eicarScanner struct{}

func (eicarScanner) Scan(_ context.Context, r io.Reader) (scan.Verdict, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return scan.Verdict{}, err
	}
	if bytes.Contains(b, testkit.EICAR()) {
		return scan.Verdict{Infected: true, Signature: "EICAR"}, nil
	}
	return scan.Verdict{}, nil
}

// uploadSite is a site with a 1 MiB attachment limit, temporary files in
// a folder of the test's own, and a request sent from Germany to Poland.
func uploadSite(t *testing.T, extra ...string) (s *site, requestID, deToken, plToken string) {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	s, _, pl, deToken, plToken := requestSite(t, append([]string{"--max-attachment-bytes", fmt.Sprint(uploadLimit)}, extra...)...)
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `","subject":{"name":"Jan Kowalski","profession":"doctor"}}`
	var req struct{ ID string }
	if err := json.Unmarshal([]byte(s.api(t, "POST", "/api/v1/requests", deToken, body).body), &req); err != nil {
		t.Fatal(err)
	}
	if r := s.api(t, "POST", "/api/v1/requests/"+req.ID+"/actions/send", deToken, ""); r.code != http.StatusOK {
		t.Fatalf("send: %d %s", r.code, r.body)
	}
	return s, req.ID, deToken, plToken
}

// stored is what an upload may leave: rows, events, audit entries (but
// views: a refused upload shows the request's page again), files in the
// store, temporary files.
func (s *site) stored(t *testing.T) string {
	t.Helper()
	var out []string
	for _, table := range []string{"request_attachments", "case_events", "notifications", "outbox"} {
		out = append(out, fmt.Sprintf("%s=%d", table, s.count(t, `SELECT COUNT(*) FROM `+table)))
	}
	out = append(out, fmt.Sprintf("audit=%d", s.count(t, `SELECT COUNT(*) FROM audit_log WHERE event <> 'personal_data.viewed'`)))
	var files []string
	_ = filepath.WalkDir(filepath.Join(s.app.Config.DataDir, "attachments"), func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, filepath.Base(path))
		}
		return nil
	})
	spool, _ := filepath.Glob(filepath.Join(s.app.Config.DataDir, "attachments", ".upload-*"))
	slices.Sort(files)
	return strings.Join(out, " ") + fmt.Sprintf(" files=%v temporary=%d", files, len(spool))
}

// attachAPI sends body as a file; body may be a reader of unknown length
// (sent chunked).
func (s *site) attachAPI(t *testing.T, id, token, name string, body io.Reader, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/requests/"+id+"/attachments?name="+name, body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept-Language", "de")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.browser().do(req)
}

// multipartFile is an upload form of the browser: the CSRF token and a
// file.
func multipartFile(csrf, name string, content []byte) (*bytes.Buffer, string) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	return &form, mw.FormDataContentType()
}

// attachForm posts the upload form; chunked hides the length.
func (b *browser) attachForm(id, name string, content []byte, chunked bool) response {
	b.t.Helper()
	form, ct := multipartFile(b.csrf, name, content)
	var body io.Reader = form
	if chunked {
		body = io.MultiReader(form)
	}
	req, _ := http.NewRequest("POST", b.s.srv.URL+"/requests/"+id+"/attachments", body)
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

// rawUpload writes an upload on a bare connection, its Content-Length
// declared apart from the bytes sent, then reads the answer.
func (s *site) rawUpload(t *testing.T, id, token string, declared int, body []byte) (int, error) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/requests/%s/attachments?name=lie.txt HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		id, strings.TrimPrefix(s.srv.URL, "http://"), token, declared)
	_, _ = conn.Write(body)
	_ = conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// TestUploadLimitsHoldWhateverTheBodySays: the API (raw body) and the
// browser (multipart form) take a file of exactly the limit and refuse one
// byte more, with a translated message and nothing stored — whether the
// length is declared, absent (chunked), understated or overstated, and
// whether the body claims to be compressed.
func TestUploadLimitsHoldWhateverTheBodySays(t *testing.T) {
	s, id, deToken, _ := uploadSite(t)
	de := s.app.Catalog.Localizer("de")
	atLimit := bytes.Repeat([]byte("a"), uploadLimit)
	overLimit := bytes.Repeat([]byte("a"), uploadLimit+1)
	tooLarge := de.T("error_attachment_too_large", "Max", 1)

	// Each refusal is checked against the state just before it.
	check := func(what string, send func() response, code int, message string) {
		t.Helper()
		before := s.stored(t)
		r := send()
		if r.code != code || !strings.Contains(r.body, message) {
			t.Errorf("%s: %d %.300s, want %d with %q", what, r.code, r.body, code, message)
		}
		if after := s.stored(t); after != before {
			t.Errorf("%s left something: %s, was %s", what, after, before)
		}
	}

	// The API, length declared.
	if r := s.attachAPI(t, id, deToken, "full.txt", bytes.NewReader(atLimit)); r.code != http.StatusCreated {
		t.Fatalf("exactly the limit: %d %s", r.code, r.body)
	}
	check("one byte over, declared", func() response { return s.attachAPI(t, id, deToken, "over.txt", bytes.NewReader(overLimit)) }, 413, tooLarge)
	// The API, chunked: the length is found out while reading.
	if r := s.attachAPI(t, id, deToken, "full.txt", io.MultiReader(bytes.NewReader(atLimit))); r.code != http.StatusCreated {
		t.Fatalf("exactly the limit, chunked: %d %s", r.code, r.body)
	}
	check("one byte over, chunked", func() response {
		return s.attachAPI(t, id, deToken, "over.txt", io.MultiReader(bytes.NewReader(overLimit)))
	}, 413, tooLarge)
	check("ten times over, chunked", func() response {
		return s.attachAPI(t, id, deToken, "over.txt", io.MultiReader(bytes.NewReader(bytes.Repeat(overLimit, 10))))
	}, 413, tooLarge)
	// Compressed bodies are never inflated: 64 MiB of zeros in 64 KiB
	// of gzip are a gzip file, which is no kind of attachment.
	bomb := testkit.Gzip(make([]byte, 64<<20))
	check(fmt.Sprintf("a gzip bomb of %d bytes as Content-Encoding", len(bomb)), func() response {
		return s.attachAPI(t, id, deToken, "bomb.txt", bytes.NewReader(bomb), "Content-Encoding", "gzip")
	}, 400, de.T("error_attachment_type"))

	// A body longer than its declared length: only the declared bytes
	// are read, so never more than the limit is kept.
	before := s.count(t, `SELECT COUNT(*) FROM request_attachments`)
	if code, err := s.rawUpload(t, id, deToken, uploadLimit, bytes.Repeat([]byte("b"), uploadLimit+4096)); err != nil || code != http.StatusCreated {
		t.Fatalf("understated length: %d %v", code, err)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM request_attachments WHERE size > $1`, uploadLimit); n != 0 || s.count(t, `SELECT COUNT(*) FROM request_attachments`) != before+1 {
		t.Fatal("more than the limit was kept")
	}
	// A body shorter than its declared length, the connection then
	// closed: refused, nothing kept.
	was := s.stored(t)
	code, err := s.rawUpload(t, id, deToken, uploadLimit, []byte("%PDF-1.4 cut short"))
	t.Logf("overstated length, body cut short: %d %v", code, err)
	if err == nil && code != http.StatusBadRequest {
		t.Errorf("overstated length: %d", code)
	}
	if now := s.stored(t); now != was {
		t.Errorf("a body cut short left something: %s, was %s", now, was)
	}

	// The browser: a multipart form around the file.
	b := s.enrol()
	b.lang = "pl"
	pl := s.app.Catalog.Localizer("pl")
	b.get("/requests/" + id)
	if r := b.attachForm(id, "full.txt", atLimit, false); r.code != http.StatusSeeOther {
		t.Fatalf("browser, exactly the limit: %d", r.code)
	}
	b.get("/requests/" + id)
	check("browser, one byte over", func() response { return b.attachForm(id, "over.txt", overLimit, false) }, 413,
		html.EscapeString(pl.T("error_attachment_too_large", "Max", 1)))
	check("browser, one byte over, chunked", func() response { return b.attachForm(id, "over.txt", overLimit, true) }, 413,
		html.EscapeString(pl.T("error_attachment_too_large", "Max", 1)))
	// A form larger than the file and its fields could be: refused before
	// it is read when declared, while read when chunked.
	check("browser, a form twice the limit", func() response { return b.attachForm(id, "big.txt", bytes.Repeat(overLimit, 2), false) }, 413,
		html.EscapeString(pl.T("error_attachment_too_large", "Max", 1)))
	check("browser, a form twice the limit, chunked", func() response { return b.attachForm(id, "big.txt", bytes.Repeat(overLimit, 2), true) }, 413,
		html.EscapeString(pl.T("error_too_large")))
	check("browser, a gzip bomb", func() response { return b.attachForm(id, "bomb.txt.gz", bomb, false) }, 400,
		html.EscapeString(pl.T("error_attachment_type")))
}

// TestDangerousFilesAreRefusedOverHTTP sends polyglots, scripts, archives
// and the EICAR file through both doors, with the tests' scanner.
func TestDangerousFilesAreRefusedOverHTTP(t *testing.T) {
	s, id, deToken, _ := uploadSite(t)
	s.app.Requests.UseScanner(eicarScanner{})
	de, pl := s.app.Catalog.Localizer("de"), s.app.Catalog.Localizer("pl")
	pngHead := "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55"
	files := []struct {
		name, body, key string
	}{
		{"photo.png", pngHead + strings.Repeat("\x00", 600) + "<script>alert(document.cookie)</script>", "error_attachment_unsafe"},
		{"logo.svg", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`, "error_attachment_unsafe"},
		{"scan.pdf", "%PDF-1.7\n" + strings.Repeat("%padding\n", 80) + "1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj", "error_attachment_unsafe"},
		{"page.html", "<!DOCTYPE html><script>alert(1)</script>", "error_attachment_type"},
		{"archive.zip", "PK\x03\x04" + strings.Repeat("\x00", 40), "error_attachment_type"},
		{"eicar.txt", string(testkit.EICAR()), "error_attachment_infected"},
	}
	b := s.enrol()
	b.lang = "pl"
	for _, f := range files {
		b.get("/requests/" + id)
		before := s.stored(t)
		r := s.attachAPI(t, id, deToken, f.name, strings.NewReader(f.body))
		e := apiError(t, r)
		if r.code != http.StatusBadRequest || len(e.Fields) != 1 || e.Fields[0].Field != "file" || e.Fields[0].Code != f.key || e.Fields[0].Message != de.T(f.key) {
			t.Errorf("API, %s: %d %s", f.name, r.code, r.body)
		}
		r = b.attachForm(id, f.name, []byte(f.body), false)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="f-file-error"`) || !strings.Contains(r.body, html.EscapeString(pl.T(f.key))) {
			t.Errorf("browser, %s: %d", f.name, r.code)
		}
		if after := s.stored(t); after != before {
			t.Errorf("%s left something: %s, was %s", f.name, after, before)
		}
	}
}

// TestAnUnreachableScannerRefusesUploads: --clamav names a daemon that
// does not answer. Both doors answer 503 with Retry-After and a
// translated message, and nothing is kept.
func TestAnUnreachableScannerRefusesUploads(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, id, deToken, _ := uploadSite(t, "--clamav", "tcp://"+addr)
	b := s.enrol()
	b.lang = "pl"
	b.get("/requests/" + id)
	before := s.stored(t)
	r := s.attachAPI(t, id, deToken, "diploma.pdf", strings.NewReader("%PDF-1.4\n%%EOF\n"))
	if e := apiError(t, r); r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || e.Code != "error_scanner_unavailable" ||
		e.Message != s.app.Catalog.Localizer("de").T("error_scanner_unavailable") {
		t.Fatalf("API: %d %v %s", r.code, r.header, r.body)
	}
	r = b.attachForm(id, "diploma.pdf", []byte("%PDF-1.4\n%%EOF\n"), false)
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, html.EscapeString(s.app.Catalog.Localizer("pl").T("error_scanner_unavailable"))) {
		t.Fatalf("browser: %d %v", r.code, r.header)
	}
	if after := s.stored(t); after != before {
		t.Fatalf("a refused upload left something: %s, was %s", after, before)
	}
}

// TestARealClamdBehindTheSite: --clamav set to the daemon that
// scripts/clamav.sh started (IMI_TEST_CLAMAV).
func TestARealClamdBehindTheSite(t *testing.T) {
	setting := os.Getenv("IMI_TEST_CLAMAV")
	if setting == "" {
		t.Skip("IMI_TEST_CLAMAV is not set: no real clamd behind the site " +
			"(run: export IMI_TEST_CLAMAV=\"$(./scripts/clamav.sh)\", as scripts/test.sh does)")
	}
	s, id, deToken, _ := uploadSite(t, "--clamav", strings.Split(setting, ",")[0])
	before := s.stored(t)
	if r := s.attachAPI(t, id, deToken, "eicar.com", bytes.NewReader(testkit.EICAR())); r.code != http.StatusBadRequest || apiError(t, r).Fields[0].Code != "error_attachment_infected" {
		t.Fatalf("EICAR: %d %s", r.code, r.body)
	}
	if after := s.stored(t); after != before {
		t.Fatalf("a refused upload left something: %s, was %s", after, before)
	}
	if r := s.attachAPI(t, id, deToken, "notes.txt", strings.NewReader("Checked with the chamber on 3 March.")); r.code != http.StatusCreated {
		t.Fatalf("a clean file: %d %s", r.code, r.body)
	}
}

// TestDownloadsAreNeverRendered: every attachment comes back as a
// download of its sniffed type, with nosniff and a sandboxing CSP, by the
// API and the browser; a stored type that is not an allowed one (a row
// from elsewhere) is sent as bytes.
func TestDownloadsAreNeverRendered(t *testing.T) {
	s, id, deToken, plToken := uploadSite(t)
	uploads := map[string]string{
		"Zaświadczenie.pdf": "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
		`"quoted".txt`:      "Notes about the diploma.",
		"scan.png":          "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55\x00\x00\x00\x00IEND\xaeB`\x82",
	}
	var list struct {
		Attachments []struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			ContentType string `json:"content_type"`
		}
	}
	for name, body := range uploads {
		r := s.attachAPI(t, id, deToken, strings.ReplaceAll(name, `"`, "%22"), strings.NewReader(body))
		if r.code != http.StatusCreated {
			t.Fatalf("%s: %d %s", name, r.code, r.body)
		}
		_ = json.Unmarshal([]byte(r.body), &list)
	}
	// A row whose type says HTML (never written by an upload).
	if err := s.app.DB.InTx(context.Background(), func(tx db.Querier) error {
		_, err := tx.ExecContext(context.Background(), `UPDATE request_attachments SET content_type = 'text/html; charset=utf-8' WHERE name = '_quoted_.txt'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b := s.enrol() // the requester's side, in the browser
	for _, a := range list.Attachments {
		for door, r := range map[string]response{
			"API":     s.api(t, "GET", "/api/v1/requests/"+id+"/attachments/"+a.ID, plToken, ""),
			"browser": b.get("/requests/" + id + "/attachments/" + a.ID),
		} {
			h := r.header
			kind, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
			want := a.ContentType
			if a.Name == "_quoted_.txt" {
				want = "application/octet-stream"
			}
			if r.code != http.StatusOK || err != nil || kind != "attachment" || params["filename"] != a.Name ||
				h.Get("Content-Type") != want || strings.Contains(h.Get("Content-Type"), "html") ||
				h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
				h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s, %s: %d %v", door, a.Name, r.code, h)
			}
		}
	}
}

// TestImportFilesAreBoundedAndNeverInflated: the CSV and JSON files of
// authorities and registers, through the API and the browser, past the
// 64 MiB limit (declared, or found while reading) and gzip-encoded: each
// refused, nothing imported.
func TestImportFilesAreBoundedAndNeverInflated(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "HR", Name: "Ministarstvo gospodarstva", Language: "hr", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}, ExternalID: "HR-MINGO"})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	tok := s.token(t)
	const limit = 64 << 20
	csv := "external_id,country,name,language,areas\n" + strings.Repeat("HR-HLK,HR,Hrvatska liječnička komora,hr,pq\n", limit/40)
	hr := s.app.Catalog.Localizer("hr")
	counts := func() string {
		return fmt.Sprint(s.count(t, `SELECT COUNT(*) FROM authorities`), s.count(t, `SELECT COUNT(*) FROM registers`))
	}
	before := counts()
	for _, path := range []string{"/api/v1/authorities/import?format=csv", "/api/v1/registers/import?format=csv"} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(csv)
			if chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest("POST", s.srv.URL+path, body)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept-Language", "hr")
			r := s.browser().do(req)
			if e := apiError(t, r); r.code != http.StatusRequestEntityTooLarge || e.Message != hr.T("error_too_large") {
				t.Errorf("%s (%d bytes, chunked %v): %d %s", path, len(csv), chunked, r.code, r.body)
			}
		}
		// Compressed: read as it is, a CSV it is not.
		r := s.api(t, "POST", path, tok, string(testkit.Gzip([]byte(csv[:4096]))), "Content-Encoding", "gzip", "Content-Type", "text/csv")
		if r.code != http.StatusBadRequest {
			t.Errorf("%s, gzip: %d %.200s", path, r.code, r.body)
		}
	}
	b := s.enrol()
	b.lang = "hr"
	for _, path := range []string{"/authorities/import", "/registers/import"} {
		b.get(path)
		form, ct := multipartFile(b.csrf, "authorities.csv", []byte(csv))
		req, _ := http.NewRequest("POST", s.srv.URL+path, form)
		req.Header.Set("Content-Type", ct)
		if r := b.do(req); r.code != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, html.EscapeString(hr.T("error_too_large"))) {
			t.Errorf("browser %s: %d", path, r.code)
		}
	}
	if after := counts(); after != before {
		t.Fatalf("authorities and registers: %s, were %s", after, before)
	}
}
