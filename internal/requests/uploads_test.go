package requests_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/testkit"
)

// eicar is the EICAR anti-virus test file.
func eicar() []byte { return testkit.EICAR() }

// signatureScanner is a small scanner of the tests' own: it reads a file
// as a stream and reports it infected when it holds one of its signatures,
// even across two reads. It stands for any scan.Scanner.
type signatureScanner struct {
	signatures map[string][]byte
	scanned    int
}

func (s *signatureScanner) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	s.scanned++
	longest := 0
	for _, sig := range s.signatures {
		longest = max(longest, len(sig))
	}
	var carry []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		data := append(carry, buf[:n]...)
		for name, sig := range s.signatures {
			if bytes.Contains(data, sig) {
				return scan.Verdict{Infected: true, Signature: name}, nil
			}
		}
		carry = append([]byte{}, data[max(0, len(data)-longest+1):]...)
		if errors.Is(err, io.EOF) {
			return scan.Verdict{}, nil
		}
		if err != nil {
			return scan.Verdict{}, err
		}
		if ctx.Err() != nil {
			return scan.Verdict{}, fmt.Errorf("%w: %v", scan.ErrUnavailable, ctx.Err())
		}
	}
}

// uploadState is what an upload could leave behind: rows, events, audit
// entries, notifications, e-mails, files in the store and temporary files.
type uploadState struct {
	rows  map[string]int
	files []string
	spool []string
}

func (w *world) uploadState() uploadState {
	w.t.Helper()
	st := uploadState{rows: map[string]int{}}
	for _, table := range []string{"request_attachments", "case_events", "audit_log", "notifications", "outbox", "idempotency_keys"} {
		st.rows[table] = w.count(`SELECT COUNT(*) FROM ` + table)
	}
	_ = filepath.WalkDir(w.store.Dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			st.files = append(st.files, path)
		}
		return nil
	})
	st.spool, _ = filepath.Glob(filepath.Join(w.store.Dir, ".upload-*"))
	return st
}

func (a uploadState) same(b uploadState) bool {
	for k, v := range a.rows {
		if b.rows[k] != v {
			return false
		}
	}
	return slices.Equal(a.files, b.files) && slices.Equal(a.spool, b.spool)
}

func (a uploadState) String() string {
	return fmt.Sprintf("%v, %d stored, %d temporary", a.rows, len(a.files), len(a.spool))
}

// uploadWorld is a world with a request sent from Germany to Poland, the
// tests' scanner, and temporary files in a folder of the test's own.
func uploadWorld(t *testing.T) (*world, *requests.Request, *signatureScanner) {
	t.Setenv("TMPDIR", t.TempDir())
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	sc := &signatureScanner{signatures: map[string][]byte{"EICAR": eicar()}}
	w.svc.UseScanner(sc)
	return w, r, sc
}

func zipOf(t *testing.T, files map[string][]byte, order ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, name := range order {
		method := zip.Deflate
		if name == "mimetype" {
			method = zip.Store // as OpenDocument requires
		}
		f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write(files[name])
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(b []byte) []byte { return testkit.Gzip(b) }

// realPDF is a document made by a real PDF library, changed by edit.
func realPDF(t *testing.T, edit func(*fpdf.Fpdf)) []byte { return testkit.PDF(t, edit) }

func realPNG(t *testing.T) []byte { return testkit.PNG(t) }

// TestUploadsAreRefusedWithNothingStored sends every kind of dangerous
// file through Attach: each is refused with its message, and leaves no
// row, no event, no audit entry, no notification, no stored file and no
// temporary file. The clean files of each allowed kind are kept.
func TestUploadsAreRefusedWithNothingStored(t *testing.T) {
	w, r, sc := uploadWorld(t)
	const limit = 1 << 20 // newWorld's
	zeros := make([]byte, 10<<20)
	inner := zipOf(t, map[string][]byte{"zeros.bin": zeros}, "zeros.bin")
	nested := map[string][]byte{}
	var names []string
	for i := range 10 {
		name := fmt.Sprintf("layer%d.zip", i)
		nested[name], names = inner, append(names, name)
	}
	bomb := zipOf(t, nested, names...)
	docx := zipOf(t, map[string][]byte{"[Content_Types].xml": []byte(`<?xml version="1.0"?><Types/>`), "word/document.xml": []byte("<w:document/>")},
		"[Content_Types].xml", "word/document.xml")
	odt := zipOf(t, map[string][]byte{"mimetype": []byte("application/vnd.oasis.opendocument.text"), "content.xml": []byte("<office:document-content/>")},
		"mimetype", "content.xml")
	gif := append([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), zipOf(t, map[string][]byte{"Exploit.class": {0xca, 0xfe}}, "Exploit.class")...)
	jsPDF := realPDF(t, func(d *fpdf.Fpdf) { d.SetJavascript("app.alert('hello');") })

	cases := []struct {
		name string
		body []byte
		key  string // the refusal's message, "" when the file is kept
	}{
		{"plain text of exactly the limit", bytes.Repeat([]byte("a"), limit), ""},
		{"one byte over the limit", bytes.Repeat([]byte("a"), limit+1), "error_attachment_too_large"},
		{"nothing", nil, "error_attachment_empty"},

		{"a ZIP archive", zipOf(t, map[string][]byte{"a.txt": []byte("a")}, "a.txt"), "error_attachment_type"},
		{fmt.Sprintf("a nested ZIP bomb (%d bytes, %d MiB unpacked)", len(bomb), 10*len(zeros)>>20), bomb, "error_attachment_type"},
		{"a Word document (a ZIP)", docx, "error_attachment_type"},
		{"an OpenDocument text (a ZIP)", odt, "error_attachment_type"},
		{"a gzip bomb", gzipOf(zeros), "error_attachment_type"},
		{"a GIF with a JAR appended (GIFAR)", gif, "error_attachment_type"},
		{"an HTML page", []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"), "error_attachment_type"},
		{"an SVG image with a script", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "error_attachment_unsafe"},
		{"an XML SVG image", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "error_attachment_type"},
		{"HTML in UTF-16", []byte("\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00"), "error_attachment_type"},
		{"a Windows program", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 100)...), "error_attachment_type"},
		{"an ELF program", append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 100)...), "error_attachment_type"},

		{"a PNG with a script after the first 512 bytes", append(append(realPNG(t), make([]byte, 600)...), "<script>alert(1)</script>"...), "error_attachment_unsafe"},
		{"a PNG with a JAR appended", append(realPNG(t), zipOf(t, map[string][]byte{"Exploit.class": {0xca, 0xfe}}, "Exploit.class")...), "error_attachment_unsafe"},
		{"a PDF with JavaScript at its start", []byte("%PDF-1.4\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"), "error_attachment_unsafe"},
		{"a PDF with JavaScript after the first 512 bytes (fpdf)", jsPDF, "error_attachment_unsafe"},
		{"text with a script after the first 512 bytes", append(bytes.Repeat([]byte("Lorem ipsum "), 60), "<script>alert(1)</script>"...), "error_attachment_unsafe"},
		{"text with a NUL byte after the first 512 bytes", append(bytes.Repeat([]byte("Lorem ipsum "), 60), 0), "error_attachment_unsafe"},

		{"the EICAR test file", eicar(), "error_attachment_infected"},
		{"the EICAR test file after the first kilobyte of a text", append(bytes.Repeat([]byte("Lorem ipsum "), 100), eicar()...), "error_attachment_infected"},

		{"a PDF", pdf, ""},
		{"a PDF made by fpdf", realPDF(t, nil), ""},
		{"a PNG", realPNG(t), ""},
		{"text in Polish", []byte("Zaświadczenie o prawie wykonywania zawodu lekarza."), ""},
	}
	kept := 0
	for _, c := range cases {
		before := w.uploadState()
		got, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "upload.bin", Body: bytes.NewReader(c.body)}, "")
		after := w.uploadState()
		if c.key == "" {
			kept++
			if err != nil || len(got.Attachments) != kept {
				t.Errorf("%s: refused: %v", c.name, err)
				continue
			}
			a := got.Attachments[kept-1]
			_, body, err := w.svc.OpenAttachment(w.ctx, w.plHandler, r.ID, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			content, _ := io.ReadAll(body)
			body.Close()
			if !bytes.Equal(content, c.body) || a.Size != int64(len(c.body)) || len(after.spool) != 0 {
				t.Errorf("%s: kept as %+v, %d bytes read back, %d temporary files", c.name, a, len(content), len(after.spool))
			}
			continue
		}
		p, ok := problem.As(err)
		if !ok || p.Key != c.key {
			t.Errorf("%s: %v, want %s", c.name, err, c.key)
		}
		if !before.same(after) {
			t.Errorf("%s: the refusal left something:\nbefore %v\nafter  %v", c.name, before, after)
		}
	}
	// The scanner saw every file that passed the other checks, and only
	// those: the refused kinds never reached it.
	if sc.scanned != kept+2 {
		t.Errorf("the scanner read %d files, want %d", sc.scanned, kept+2)
	}
	t.Logf("%d uploads: %d refused, %d kept", len(cases), len(cases)-kept, kept)
}

// TestAScannerThatDoesNotAnswerRefusesEveryUpload: the ClamAV adapter
// pointed at an address where nothing listens. Uploads are refused as
// unavailable (fail closed), and nothing is kept.
func TestAScannerThatDoesNotAnswerRefusesEveryUpload(t *testing.T) {
	w, r, _ := uploadWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, setting := range []string{"tcp://" + addr, "unix://" + filepath.Join(t.TempDir(), "clamd.sock")} {
		sc, err := scan.New(setting)
		if err != nil {
			t.Fatal(err)
		}
		w.svc.UseScanner(sc)
		before := w.uploadState()
		_, err = w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "diploma.pdf", Body: bytes.NewReader(pdf)}, "")
		if p, ok := problem.As(err); !ok || p.Kind != problem.Unavailable || p.Key != "error_scanner_unavailable" || !errors.Is(err, scan.ErrUnavailable) {
			t.Fatalf("%s: %v", setting, err)
		}
		if after := w.uploadState(); !before.same(after) {
			t.Fatalf("%s: the refusal left something:\nbefore %v\nafter  %v", setting, before, after)
		}
	}
	// Without a scanner (the default), the same file is kept.
	w.svc.UseScanner(scan.None{})
	if _, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "diploma.pdf", Body: bytes.NewReader(pdf)}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestARealClamdRefusesTheEICARFile runs uploads through the clamd that
// scripts/clamav.sh started (IMI_TEST_CLAMAV).
func TestARealClamdRefusesTheEICARFile(t *testing.T) {
	setting := os.Getenv("IMI_TEST_CLAMAV")
	if setting == "" {
		t.Skip("IMI_TEST_CLAMAV is not set: no real clamd to scan uploads with " +
			"(run: export IMI_TEST_CLAMAV=\"$(./scripts/clamav.sh)\", as scripts/test.sh does)")
	}
	w, r, _ := uploadWorld(t)
	for _, addr := range strings.Split(setting, ",") {
		sc, err := scan.New(addr)
		if err != nil {
			t.Fatal(err)
		}
		w.svc.UseScanner(sc)
		before := w.uploadState()
		_, err = w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "eicar.com", Body: bytes.NewReader(eicar())}, "")
		if p, ok := problem.As(err); !ok || p.Key != "error_attachment_infected" {
			t.Fatalf("%s: EICAR: %v", addr, err)
		}
		if after := w.uploadState(); !before.same(after) {
			t.Fatalf("%s: the refusal left something:\nbefore %v\nafter  %v", addr, before, after)
		}
		if _, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "diploma.pdf", Body: bytes.NewReader(realPDF(t, nil))}, ""); err != nil {
			t.Fatalf("%s: a clean PDF: %v", addr, err)
		}
	}
}

// TestNamesAreNeutralisedAndNeverAPath: the names attackers send become
// one harmless element with the extension of the content, and the store
// names files by their SHA-256 only.
func TestNamesAreNeutralisedAndNeverAPath(t *testing.T) {
	for name, want := range map[string]string{
		"../../etc/passwd":                "passwd.pdf",
		`..\..\x`:                         "x.pdf",
		"/etc/shadow":                     "shadow.pdf",
		`C:\Windows\System32\cmd.exe`:     "cmd.pdf",
		`\\server\share\x.pdf`:            "x.pdf",
		"%2e%2e%2fetc%2fpasswd":           "_2e_2e_2fetc_2fpasswd.pdf",
		"report\x00.exe":                  "report_.pdf",
		"a\r\nSet-Cookie: x":              "a__Set-Cookie_ x.pdf",
		`x"; filename="evil.html`:         "x__ filename__evil.pdf",
		"invoice\u202Efdp.exe":            "invoice_fdp.pdf",
		"\u2066evil\u2069 \u200Bx.pdf":    "_evil_ _x.pdf",
		"photo.png.exe":                   "photo.png.pdf",
		".htaccess":                       "htaccess.pdf",
		"....":                            "attachment.pdf",
		"":                                "attachment.pdf",
		"CON":                             "_CON.pdf",
		"con.txt":                         "_con.pdf",
		"NUL.tar.gz":                      "_NUL.tar.pdf",
		"COM1":                            "_COM1.pdf",
		"lpt9 .pdf":                       "_lpt9 .pdf",
		"CONSOLE":                         "CONSOLE.pdf",
		"Zas\u0301wiadczenie.pdf":         "Zaświadczenie.pdf", // as macOS sends it
		"Ärztekammer Köln (Kopie).pdf":    "Ärztekammer Köln (Kopie).pdf",
		"Δίπλωμα.pdf":                     "Δίπλωμα.pdf",
		"شهادة.pdf":                       "شهادة.pdf",
		"diploma 😀.pdf":                   "diploma _.pdf",
		strings.Repeat("a", 300) + ".pdf": strings.Repeat("a", 100) + ".pdf",
		strings.Repeat("ą", 300) + ".pdf": strings.Repeat("ą", 100) + ".pdf",
		strings.Repeat("../", 2000) + "x": "x.pdf",
	} {
		if got := requests.CleanName(name, "application/pdf"); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", name, got, want)
		}
	}

	// Through an upload: the row has the clean name, and the store holds
	// nothing but files named by their hash.
	w, r, _ := uploadWorld(t)
	for _, name := range []string{"../../../../../../tmp/x.pdf", `..\..\..\x.pdf`, "/etc/cron.d/evil", "\x00", "a/../../b"} {
		got, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: name, Body: bytes.NewReader(append(pdf, name...))}, "")
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if a := got.Attachments[len(got.Attachments)-1]; strings.ContainsAny(a.Name, `/\`+"\x00") || strings.HasPrefix(a.Name, ".") {
			t.Fatalf("%q kept as %q", name, a.Name)
		}
	}
	hashed := regexp.MustCompile(`^[0-9a-f]{2}/[0-9a-f]{64}$`)
	files := 0
	err := filepath.WalkDir(w.store.Dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(w.store.Dir, path)
		if !hashed.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("the store holds %s", rel)
		}
		files++
		return nil
	})
	if err != nil || files != 5 {
		t.Fatalf("%d files in the store: %v", files, err)
	}
	if _, err := os.Stat("/tmp/x.pdf"); err == nil {
		t.Fatal("a file escaped the store")
	}
}

// TestAFileReceivedWhenTheServerDiedIsRemoved: uploads are received beside
// the store, under the name of its temporary files, so that the
// housekeeping removes what a crash left there (personal data, not to
// linger in /tmp).
func TestAFileReceivedWhenTheServerDiedIsRemoved(t *testing.T) {
	w, r, _ := uploadWorld(t)
	if _, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: "diploma.pdf", Body: bytes.NewReader(pdf)}, ""); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(w.store.Dir, ".upload-received-123456")
	if err := os.WriteFile(left, []byte("Jan Kowalski's diploma"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Tidy(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a received file outlived the housekeeping: %v", err)
	}
	if list, _ := w.store.List(); len(list) != 1 {
		t.Fatalf("%d stored files", len(list))
	}
}
