package scan_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openimi/openimi/internal/scan"
)

// countingReaderAt counts the bytes Inspect reads from its source: the
// work of inspecting a file, measured without a clock.
type countingReaderAt struct {
	r    *bytes.Reader
	read atomic.Int64
}

func (c *countingReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.read.Add(int64(n))
	return n, err
}

// inspectCounting inspects b and returns the reason of a refusal ("" when
// it passes) and the bytes read from b.
func inspectCounting(t *testing.T, b []byte, contentType string) (string, int64) {
	t.Helper()
	src := &countingReaderAt{r: bytes.NewReader(b)}
	err := scan.Inspect(src, int64(len(b)), contentType)
	var u *scan.Unsafe
	switch {
	case err == nil:
		return "", src.read.Load()
	case errors.As(err, &u):
		return u.Reason, src.read.Load()
	}
	t.Fatalf("inspect: %v", err)
	return "", 0
}

// TestCraftedStreamsCostLinearWork: a PDF of many ASCIIHex and ASCII85
// streams without an end, each followed by bytes their decoders skip, made
// every stream be decoded to the end of the file (quadratic work: minutes
// at the attachment limit). Each stream now ends at its endstream, or at
// the next stream, so the bytes read stay within a small multiple of the
// file's size whatever its length, and every file gets a verdict.
func TestCraftedStreamsCostLinearWork(t *testing.T) {
	units := map[string]string{
		"ASCIIHex":           "/Filter/AHx stream\n" + strings.Repeat(" ", 2000),
		"ASCIIHex, object":   "/Type/ObjStm/Filter/ASCIIHexDecode stream\r\n" + strings.Repeat("\n", 2000),
		"ASCII85":            "/Filter/A85 stream\n" + strings.Repeat(" ", 2000),
		"ASCIIHex and Flate": "/Filter[/AHx/Fl]stream\n" + strings.Repeat(" ", 2000),
	}
	for name, unit := range units {
		for _, mb := range []int{1, 4} {
			body := []byte("%PDF-1.7\n")
			for len(body) < mb<<20 {
				body = append(body, unit...)
			}
			reason, read := inspectCounting(t, body, "application/pdf")
			size := int64(len(body))
			// Once through for the names, once more at most for the
			// streams' data, and the tail for an appended archive.
			if limit := 2*size + 1<<17; read > limit {
				t.Errorf("%s, %d MiB: %d bytes read for a file of %d (%.1f×), want at most %d", name, mb, read, size, float64(read)/float64(size), limit)
			}
			t.Logf("%s, %d MiB: verdict %q, %.2f bytes read per byte", name, mb, reason, float64(read)/float64(size))
		}
	}
}

// noiseImage is an image of random pixels: it compresses to data that is
// as random as a photograph's.
func noiseImage(rng *rand.Rand, w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i+8 <= len(img.Pix); i += 8 {
		binary.LittleEndian.PutUint64(img.Pix[i:], rng.Uint64())
	}
	return img
}

func noisyPNG(t *testing.T, rng *rand.Rand) []byte {
	t.Helper()
	var b bytes.Buffer
	// Noise does not compress: storing it is as random and faster.
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&b, noiseImage(rng, 300, 300)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func noisyJPEG(t *testing.T, rng *rand.Rand) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, noiseImage(rng, 400, 400), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// overwrite returns a copy of b with s written at off.
func overwrite(b []byte, off int, s string) []byte {
	out := bytes.Clone(b)
	copy(out[off:], s)
	return out
}

// insertAt returns b with parts inserted at off.
func insertAt(b []byte, off int, parts ...[]byte) []byte {
	out := append([]byte{}, b[:off]...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return append(out, b[off:]...)
}

// jpegSegment is a JPEG marker segment with its length.
func jpegSegment(marker byte, data []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0xff, marker}, uint16(len(data)+2)), data...)
}

// textChunk is a PNG chunk with its CRC.
func textChunk(kind string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, kind...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(kind), data...)))
}

func zlibbed(b []byte) []byte {
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// TestPhotosAreNotRefusedForChanceMarkup: compressed image data holds
// "<svg" or another word of markup by chance about once in 500 MB, which
// refused one 5 MB photo in a hundred. Markup now counts where a browser
// or a viewer reads text: the first kilobyte, PNG text chunks and data
// after IEND, JPEG comment and APPn segments, PDF text.
func TestPhotosAreNotRefusedForChanceMarkup(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 2026))
	var total int64
	for i := range 200 {
		kind, img := "image/png", noisyPNG(t, rng)
		if i%2 == 1 {
			kind, img = "image/jpeg", noisyJPEG(t, rng)
		}
		total += int64(len(img))
		if reason, _ := inspectCounting(t, img, kind); reason != "" {
			t.Errorf("random %s %d (%d bytes): refused, %q", kind, i, len(img), reason)
		}
	}
	t.Logf("200 random images, %d KiB on average, all accepted", total/200>>10)

	// The chance occurrence itself, put where it would fall.
	photo, picture := noisyJPEG(t, rng), noisyPNG(t, rng)
	sos := bytes.Index(photo, []byte{0xff, 0xda})
	if sos < 0 || sos > 1000 {
		t.Fatalf("start of scan at %d", sos)
	}
	binaryImage := append(bytes.Repeat([]byte{0xff}, 3000), "\xff<svg\xfe"...)
	binaryImage = append(binaryImage, bytes.Repeat([]byte{0x80}, 3000)...)
	pdf := fmt.Sprintf("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /XObject /Subtype /Image /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n%%%%EOF\n", len(binaryImage), binaryImage)

	// A padding segment or chunk puts what follows beyond the first
	// kilobyte, where only the structure makes it count.
	padJPEG := jpegSegment(0xe9, make([]byte, 2000))
	padPNG := textChunk("prVt", make([]byte, 2000))
	const script = "<script>alert(1)</script>"
	cases := []struct {
		name, kind string
		body       []byte
		want       string
	}{
		{"<svg in a JPEG's compressed data", "image/jpeg", overwrite(photo, sos+5000, "<svg"), ""},
		{"<script in a PNG's compressed data", "image/png", overwrite(picture, 5000, "<script"), ""},
		{"<svg in a PDF's image data", "application/pdf", []byte(pdf), ""},
		{"a script in a JPEG comment", "image/jpeg", insertAt(photo, 2, padJPEG, jpegSegment(0xfe, []byte(script))), "markup"},
		{"SVG in a JPEG's XMP", "image/jpeg", insertAt(photo, 2, padJPEG, jpegSegment(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<svg onload=alert(1)>"))), "markup"},
		{"a script in a PNG text chunk", "image/png", insertAt(picture, 33, padPNG, textChunk("tEXt", []byte("Comment\x00"+script))), "markup"},
		{"a script in a compressed PNG text chunk", "image/png", insertAt(picture, 33, padPNG, textChunk("zTXt", append([]byte("Comment\x00\x00"), zlibbed([]byte(script))...))), "markup"},
		{"a script in an international PNG text chunk", "image/png", insertAt(picture, 33, padPNG, textChunk("iTXt", append([]byte("Comment\x00\x01\x00en\x00Kommentar\x00"), zlibbed([]byte(script))...))), "markup"},
		{"a script after a PNG's end", "image/png", append(bytes.Clone(picture), script...), "markup"},
		{"a script in a PNG's first kilobyte", "image/png", overwrite(picture, 600, script), "markup"},
		{"a script in a JPEG's first kilobyte", "image/jpeg", overwrite(photo, sos+20, script), "markup"},
		{"a script in a PDF's text", "application/pdf", []byte("%PDF-1.7\n" + strings.Repeat("% padding\n", 200) + script), "markup"},
	}
	for _, c := range cases {
		if got, _ := inspectCounting(t, c.body, c.kind); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
