package scan_test

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/ascii85"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"

	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/testkit"
)

// inspect runs Inspect on b and returns the reason of a refusal, "" when
// the file passes.
func inspect(t *testing.T, b []byte, contentType string) string {
	t.Helper()
	err := scan.Inspect(bytes.NewReader(b), int64(len(b)), contentType)
	var u *scan.Unsafe
	switch {
	case err == nil:
		return ""
	case errors.As(err, &u):
		return u.Reason
	}
	t.Fatalf("inspect: %v", err)
	return ""
}

// --- PDF files, written by hand as a malicious producer would.

// pdfDoc writes a PDF of the given objects (numbered from 1, the first
// being the catalog) with its cross-reference table and trailer.
func pdfDoc(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func pdfStream(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := zlib.NewWriterLevel(&out, zlib.BestSpeed)
	_, _ = w.Write(b)
	w.Close()
	return out.Bytes()
}

// objectStream is the content of an object stream holding objs, numbered
// from first, and its /N and /First.
func objectStream(first int, objs ...string) (data []byte, n, firstOffset int) {
	var head, body bytes.Buffer
	for i, o := range objs {
		fmt.Fprintf(&head, "%d %d ", first+i, body.Len())
		body.WriteString(o + "\n")
	}
	return append(head.Bytes(), body.Bytes()...), len(objs), head.Len()
}

// onePage is a catalog (with extra entries), its pages, one page and its
// text: a kilobyte, so that what follows is beyond the first 512 bytes
// that content sniffing reads.
func onePage(catalogExtra string) []string {
	text := []byte("BT /F1 12 Tf 72 720 Td (" + strings.Repeat("Certificate of professional qualification. ", 25) + ") Tj ET")
	return []string{
		"<< /Type /Catalog /Pages 2 0 R " + catalogExtra + " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
		pdfStream("", text),
	}
}

func withObjects(catalogExtra string, more ...string) []byte {
	return pdfDoc(append(onePage(catalogExtra), more...)...)
}

// withObjectStream puts objs (numbered from 5) in an object stream
// written with the given filters; encode applies them.
func withObjectStream(catalogExtra, filters string, encode func([]byte) []byte, objs ...string) []byte {
	data, n, first := objectStream(5, objs...)
	dict := fmt.Sprintf("/Type /ObjStm /N %d /First %d %s", n, first, filters)
	return pdfDoc(append(onePage(catalogExtra), pdfStream(dict, encode(data)))...)
}

const jsAction = "<< /S /JavaScript /JS (app.alert\\('hello'\\);) >>"

func asciiHex(b []byte) []byte { return []byte(hex.EncodeToString(b) + ">") }

func a85(b []byte) []byte {
	out := make([]byte, ascii85.MaxEncodedLen(len(b)))
	return append(out[:ascii85.Encode(out, b)], "~>"...)
}

// fpdfDoc is a document made by a real PDF library, changed by edit.
func fpdfDoc(t *testing.T, edit func(*fpdf.Fpdf)) []byte { return testkit.PDF(t, edit) }

// pngImage is a PNG of pseudo-random pixels.
func pngImage(t *testing.T) []byte { return testkit.PNG(t) }

func jpegImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk is a PNG chunk with its CRC.
func pngChunk(kind string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, kind...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(kind), data...)))
}

// withChunk puts a chunk right after a PNG's IHDR.
func withChunk(p, chunk []byte) []byte {
	at := 8 + 12 + 13
	return append(append(append([]byte{}, p[:at]...), chunk...), p[at:]...)
}

// jar is a ZIP archive as a Java applet would be.
func jar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create("META-INF/MANIFEST.MF")
	_, _ = w.Write([]byte("Manifest-Version: 1.0\nMain-Class: Exploit\n"))
	w, _ = z.Create("Exploit.class")
	_, _ = w.Write([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52})
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestInspectionRefusesActiveContentAndPolyglots feeds each kind of file
// that is allowed, clean and then carrying what a viewer or a browser
// could run or what hides another file.
func TestInspectionRefusesActiveContentAndPolyglots(t *testing.T) {
	const (
		pdfType  = "application/pdf"
		pngType  = "image/png"
		jpegType = "image/jpeg"
		textType = "text/plain; charset=utf-8"
	)
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 256<<10)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	// Binary image data that happens to hold "/JS " (as compressed data
	// does about once in 20 MB): not a dictionary, not refused.
	binaryJS := cat(noise[:1000], []byte("/JS "), noise[1000:2000])
	longText := strings.Repeat("Zażółć gęślą jaźń — Ärztekammer — Ελληνικά — 日本語. ", 3000) // > 64 KiB, characters cut by chunks

	cases := []struct {
		name, contentType string
		body              []byte
		want              string // reason, "" when accepted
	}{
		// PDF: clean documents, from a real library and by hand.
		{"fpdf document", pdfType, fpdfDoc(t, nil), ""},
		{"fpdf document with a web link and an image", pdfType, fpdfDoc(t, func(p *fpdf.Fpdf) {
			p.LinkString(10, 10, 40, 10, "https://ec.europa.eu/internal_market/imi-net/")
			p.RegisterImageOptionsReader("seal", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(pngImage(t)))
			p.ImageOptions("seal", 10, 30, 30, 0, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		}), ""},
		{"an /OpenAction that opens the first page", pdfType, withObjects("/OpenAction [3 0 R /Fit]"), ""},
		{"an image stream whose bytes hold /JS", pdfType, withObjects("", pdfStream("/Type /XObject /Subtype /Image /Width 10 /Height 10 /Filter /DCTDecode", binaryJS)), ""},
		{"a clean object stream", pdfType, withObjectStream("/Outlines 5 0 R", "/Filter /FlateDecode", deflate, "<< /Type /Outlines /Count 0 >>"), ""},

		// PDF: actions and containers.
		{"fpdf document with JavaScript", pdfType, fpdfDoc(t, func(p *fpdf.Fpdf) { p.SetJavascript("app.alert('hello');") }), "pdf-javascript"},
		{"fpdf document with an attached file", pdfType, fpdfDoc(t, func(p *fpdf.Fpdf) {
			p.SetAttachments([]fpdf.Attachment{{Content: []byte("MZ"), Filename: "invoice.exe"}})
		}), "pdf-embedded-file"},
		{"fpdf document with a password", pdfType, fpdfDoc(t, func(p *fpdf.Fpdf) { p.SetProtection(fpdf.CnProtectPrint, "", "owner") }), "pdf-encrypted"},
		{"/OpenAction /JavaScript after the first kilobyte", pdfType, withObjects("/OpenAction 5 0 R", jsAction), "pdf-javascript"},
		{"/JS without /S /JavaScript", pdfType, withObjects("/OpenAction 5 0 R", "<< /JS (app.alert\\(1\\)) >>"), "pdf-javascript"},
		{"/JS at the very end", pdfType, []byte("%PDF-1.4\n<< /JS"), "pdf-javascript"},
		{"a name spelt with #xx escapes", pdfType, withObjects("/OpenAction 5 0 R", "<< /S /J#61va#53cript /JS (x) >>"), "pdf-javascript"},
		{"document-level JavaScript", pdfType, withObjects("/Names << /JavaScript 5 0 R >>", "<< /Names [(a) 6 0 R] >>"), "pdf-javascript"},
		{"an annotation's additional action", pdfType, withObjects("", "<< /Type /Annot /Subtype /Widget /AA << /Fo << /S /JavaScript /JS 6 0 R >> >> >>"), "pdf-javascript"},
		{"/Launch", pdfType, withObjects("/OpenAction 5 0 R", "<< /S /Launch /F (cmd.exe) >>"), "pdf-launch"},
		{"an empty /EmbeddedFiles tree (fpdf writes one)", pdfType, withObjects("/Names << /EmbeddedFiles 5 0 R >>", "<< /Names [] >>"), ""},
		{"a file specification with an embedded file", pdfType, withObjects("/Names << /EmbeddedFiles 5 0 R >>", "<< /Names [(a) 6 0 R] >>",
			"<< /Type /Filespec /F (invoice.exe) /EF << /F 7 0 R >> >>", pdfStream("", []byte("MZ"))), "pdf-embedded-file"},
		{"/RichMedia", pdfType, withObjects("", "<< /Type /Annot /Subtype /RichMedia >>"), "pdf-rich-media"},
		{"an XFA form", pdfType, withObjects("/AcroForm << /XFA 5 0 R >>", pdfStream("", []byte("<xdp:xdp/>"))), "pdf-xfa"},
		{"/SubmitForm", pdfType, withObjects("", "<< /S /SubmitForm /F (https://evil.example/) >>"), "pdf-form-action"},

		// PDF: JavaScript hidden in compressed object streams.
		{"JavaScript in a Flate object stream", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /FlateDecode", deflate, jsAction), "pdf-javascript"},
		{"/JS alone in an object stream", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /Fl", deflate, "<<\n/JS (app.alert\\(1\\))\n>>"), "pdf-javascript"},
		{"JavaScript under ASCIIHex and Flate", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter [/ASCIIHexDecode /FlateDecode]",
			func(b []byte) []byte { return asciiHex(deflate(b)) }, jsAction), "pdf-javascript"},
		{"JavaScript under ASCII85", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /A85", a85, jsAction), "pdf-javascript"},
		{"an object stream in LZW", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /LZWDecode", func(b []byte) []byte { return b }, jsAction), "pdf-uninspectable"},
		{"an object stream with a predictor", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>", deflate, jsAction), "pdf-uninspectable"},
		{"an object stream with an indirect filter", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter 9 0 R", deflate, jsAction), "pdf-uninspectable"},
		{"an object stream that does not inflate", pdfType, withObjectStream("/OpenAction 5 0 R", "/Filter /FlateDecode", func(b []byte) []byte { return noise[:len(b)] }, jsAction), "pdf-uninspectable"},
		{"a compression bomb", pdfType, withObjects("", pdfStream("/Filter /FlateDecode", deflate(make([]byte, 256<<20+1)))), "pdf-too-much-compressed-content"},

		// PDF polyglots.
		{"a PDF that is also a web page", pdfType, withObjects("", pdfStream("", []byte("<html><script>alert(document.cookie)</script></html>"))), "markup"},
		{"a PDF with a JAR appended", pdfType, cat(fpdfDoc(t, nil), jar(t)), "appended-archive"},

		// PNG.
		{"PNG", pngType, pngImage(t), ""},
		{"PNG with a text chunk", pngType, withChunk(pngImage(t), pngChunk("tEXt", []byte("Comment\x00Scanned at the Chamber"))), ""},
		{"HTML in a PNG's text chunk", pngType, withChunk(pngImage(t), pngChunk("tEXt", []byte("Comment\x00<script>alert(1)</script>"))), "markup"},
		{"a script after a PNG", pngType, cat(pngImage(t), []byte("<SCRIPT>alert(1)</SCRIPT>")), "markup"},
		{"SVG after a PNG", pngType, cat(pngImage(t), []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)), "markup"},
		{"data after a PNG's end", pngType, cat(pngImage(t), noise[:100]), "png-trailing-data"},
		{"a JAR after a PNG (GIFAR-style)", pngType, cat(pngImage(t), jar(t)), "png-trailing-data"},
		{"a truncated PNG", pngType, pngImage(t)[:200], "png-truncated"},

		// JPEG.
		{"JPEG", jpegType, jpegImage(t), ""},
		{"SVG in a JPEG comment", jpegType, cat(jpegImage(t)[:2], []byte{0xff, 0xfe, 0, 40}, []byte(`<svg onload=alert(1)>......................`)[:38], jpegImage(t)[2:]), "markup"},
		{"a JAR after a JPEG (GIFAR-style)", jpegType, cat(jpegImage(t), jar(t)), "appended-archive"},

		// Plain text.
		{"text", textType, []byte(longText), ""},
		{"text with a byte-order mark", textType, []byte("\ufeffCertificate\r\n\tNo. 17\f"), ""},
		{"a script after the first 512 bytes of text", textType, []byte(strings.Repeat("a", 600) + "<script>alert(1)</script>"), "markup"},
		{"an SVG image as text", textType, []byte(strings.Repeat(" ", 600) + `<svg><script>alert(1)</script></svg>`), "markup"},
		{"an executable after text", textType, cat([]byte(strings.Repeat("README ", 100)), []byte("\x7fELF\x02\x01\x01\x00")), "text-control"},
		{"terminal escapes", textType, []byte("Paid in full.\x1b[8mNot paid\x1b[0m"), "text-control"},
		{"text that is not UTF-8", textType, []byte(longText + "\xc3\x28"), "text-not-utf8"},
		{"text cut in a character", textType, []byte(longText + "\xe2\x82"), "text-not-utf8"},
	}
	for _, c := range cases {
		if got := inspect(t, c.body, c.contentType); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	t.Logf("%d files inspected", len(cases))
}

// FuzzInspect: any bytes of any allowed kind are inspected without a panic
// and give a verdict (never another error, reading from memory).
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		"%PDF-1.7\n1 0 obj << /Type /ObjStm /Filter /FlateDecode >>\nstream\nx\x9c\x03\x00\x00\x00\x00\x01\nendstream",
		"%PDF-1.4\n<< /Filter [/AHx /Fl] /Type /ObjStm >>\r\nstream\r\n78 9c>\nendstream\n/J#61vaScript /JS",
		"%PDF-1.4\n<< /Filter /A85 /Type /ObjStm >>stream\n87cURD]i,\"Ebo80~>endstream",
		"\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND\xaeB`\x82",
		"\xff\xd8\xff\xe0PK\x05\x06",
		"plain \xe2\x82",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ct := range []string{"application/pdf", "image/png", "image/jpeg", "text/plain; charset=utf-8"} {
			err := scan.Inspect(bytes.NewReader(b), int64(len(b)), ct)
			var u *scan.Unsafe
			if err != nil && !errors.As(err, &u) {
				t.Fatalf("%s: %v", ct, err)
			}
		}
	})
}
