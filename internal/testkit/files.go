package testkit

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/go-pdf/fpdf"
)

// EICAR is the EICAR anti-virus test file, put together from pieces so
// that no file of the repository is itself one.
func EICAR() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*")
}

// PDF is a one-page document made by a real PDF library (fpdf), changed
// by edit when it is not nil (to add JavaScript, an attachment, a
// password…).
func PDF(t testing.TB, edit func(*fpdf.Fpdf)) []byte {
	t.Helper()
	doc := fpdf.New("P", "mm", "A4", "")
	doc.AddPage()
	doc.SetFont("Helvetica", "", 12)
	doc.Cell(40, 10, "Zaświadczenie — Bescheinigung — Certificate")
	if edit != nil {
		edit(doc)
	}
	var b bytes.Buffer
	if err := doc.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// PNG is a 64×48 image of fixed pseudo-random pixels (some kilobytes, as
// little compressible as a photograph), the same at every call.
func PNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	rng := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- test pixels, the same at every call on purpose
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32() >> 24)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Gzip is b compressed with gzip.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	_, _ = z.Write(b) // a bytes.Buffer does not fail
	_ = z.Close()
	return out.Bytes()
}
