package scan

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"unicode/utf8"
)

// Unsafe is why Inspect refuses a file.
type Unsafe struct {
	// Reason is a short code for the log and the tests, such as
	// "markup" or "pdf-javascript"; users see one translated message.
	Reason string
}

func (e *Unsafe) Error() string { return "unsafe file: " + e.Reason }

func unsafe(reason string) error { return &Unsafe{Reason: reason} }

// maxInflated bounds what Inspect decompresses from one PDF's streams or
// one PNG's text chunks: a file that needs more is refused rather than inspected for minutes (a
// compression bomb).
const maxInflated = 256 << 20

// sniffWindow is where HTML markup makes a file a web page whatever its
// kind: browsers sniff the first 512 bytes (WHATWG MIME Sniffing), and some
// older ones more.
const sniffWindow = 1 << 10

// Inspect reads a file of size bytes, whose kind was sniffed from its
// first bytes as contentType, and returns an *Unsafe error when it holds
// something a browser or a viewer could run, or hides another file:
//
//   - any kind: a ZIP archive at its end (GIFAR-style: a JAR read from the
//     end of an image);
//   - HTML, SVG or script markup (a file that is also a web page): in
//     plain text anywhere; in the other kinds where it can be read as
//     text — the first kilobyte (what browsers sniff), PNG text chunks
//     and data after the image, JPEG comment and APPn (Exif, XMP)
//     segments, PDF text outside binary data — and not in compressed
//     data, where one of the words occurs by chance about once in 500 MB
//     (one 5 MB photo in a hundred);
//   - PNG: chunks that do not end exactly with IEND (data after the image);
//   - plain text: anything but valid UTF-8 without control characters;
//   - PDF: JavaScript, launch, embedded file, rich media, XFA, import and
//     submit actions, and encryption (which hides the rest), as names in
//     the file and in its compressed object streams, the names' #xx
//     escapes decoded; an object stream that cannot be decoded.
//
// The PDF check is a filter of names, not a PDF parser: downloads are
// never shown inline whatever it lets through (see api.ServeAttachment).
// Other errors are failures to read r.
func Inspect(r io.ReaderAt, size int64, contentType string) error {
	kind, _, _ := mime.ParseMediaType(contentType)
	var checks []checker
	switch kind {
	case "text/plain":
		checks = []checker{&markup{words: textMarkup}, &text{}}
	case "application/pdf":
		budget := int64(maxInflated)
		checks = []checker{&markup{words: binaryMarkup, context: textContext}, &pdfNames{src: r, size: size, budget: &budget}}
	case "image/png", "image/jpeg":
		// Their structure is walked below.
	default:
		checks = []checker{&markup{words: binaryMarkup}}
	}
	if kind != "text/plain" {
		if err := markupIn(r, 0, min(size, sniffWindow)); err != nil {
			return err
		}
	}
	if err := streamThrough(r, size, checks); err != nil {
		return err
	}
	switch kind {
	case "image/png":
		if err := checkPNG(r, size); err != nil {
			return err
		}
	case "image/jpeg":
		if err := checkJPEG(r, size); err != nil {
			return err
		}
	}
	return checkAppendedArchive(r, size)
}

// streamThrough passes the whole file through checks.
func streamThrough(r io.ReaderAt, size int64, checks []checker) error {
	if len(checks) == 0 {
		return nil
	}
	buf := make([]byte, 64<<10)
	sr := io.NewSectionReader(r, 0, size)
	for {
		n, err := sr.Read(buf)
		for _, c := range checks {
			if cerr := c.write(buf[:n]); cerr != nil {
				return cerr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
	}
	for _, c := range checks {
		if err := c.close(); err != nil {
			return err
		}
	}
	return nil
}

// markupIn looks for binaryMarkup in n bytes of r from off.
func markupIn(r io.ReaderAt, off, n int64) error {
	m := &markup{words: binaryMarkup}
	if err := feed(m, io.NewSectionReader(r, off, n)); err != nil {
		return err
	}
	return m.close()
}

// feed writes what r holds to m: an *Unsafe error when m finds markup,
// another when r fails.
func feed(m *markup, r io.Reader) error {
	_, err := io.Copy(writerFunc(m.write), r)
	var u *Unsafe
	if err != nil && !errors.As(err, &u) {
		return fmt.Errorf("inspect: %w", err)
	}
	return err
}

// checker looks at a file as it streams past.
type checker interface {
	write(p []byte) error
	close() error
}

// binaryMarkup is markup no image or PDF has a reason to hold; XML alone
// is allowed (XMP metadata).
var binaryMarkup = []string{"<script", "<html", "<svg", "<iframe", "<object", "<embed", "<body", "<!doctype", "<?php", "<frame", "<applet", "<form"}

// textMarkup is what a plain text file may not hold: a browser or a viewer
// would make a page of it.
var textMarkup = append([]string{"<?xml", "<img", "<style", "<meta", "<link", "<base", "<a "}, binaryMarkup...)

// markup finds any of words, in any case. With a context, a word counts
// only among text, as in a page: the context bytes on each side of it
// (fewer at the ends of the file) must be printable ASCII or line white
// space, which they are by chance in binary data about once in 4 million.
type markup struct {
	words   []string
	context int
	buf     []byte // the context bytes before next, then bytes not yet looked at
	next    int    // where in buf to look next
}

func (m *markup) write(p []byte) error {
	m.buf = append(m.buf, p...)
	return m.scan(false)
}

func (m *markup) close() error { return m.scan(true) }

// scan looks at buf from next; but for the last time, a '<' too near the
// end to be judged waits for more bytes.
func (m *markup) scan(last bool) error {
	longest := 0
	for _, w := range m.words {
		longest = max(longest, len(w))
	}
	data, i := m.buf, m.next
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '<')
		if j < 0 {
			i = len(data)
			break
		}
		i += j
		if !last && len(data)-i < longest+m.context {
			break
		}
		if m.matchAt(data, i) {
			return unsafe("markup")
		}
		i++
	}
	from := max(0, i-m.context)
	m.buf = append(m.buf[:0], data[from:]...)
	m.next = i - from
	return nil
}

// matchAt reports whether one of the words starts at data[i], among text
// if a context is asked for. Fewer context bytes than asked for are there
// only at the ends of the file.
func (m *markup) matchAt(data []byte, i int) bool {
	for _, w := range m.words {
		if !hasPrefixFold(data[i:], w) {
			continue
		}
		if m.context == 0 {
			return true
		}
		end := i + len(w)
		if allText(data[max(0, i-m.context):i]) && allText(data[end:min(len(data), end+m.context)]) {
			return true
		}
	}
	return false
}

func allText(b []byte) bool {
	for _, c := range b {
		if byteClass[c]&classText == 0 {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with the lower-case ASCII word,
// in any case.
func hasPrefixFold(b []byte, word string) bool {
	if len(b) < len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

// text checks that a file is UTF-8 without control characters other than
// tab, line feed, form feed and carriage return: no binary after a text
// beginning, no terminal escapes.
type text struct{ carry []byte }

func (t *text) write(p []byte) error {
	data := append(t.carry, p...)
	cut := len(data)
	// A character cut by the end of the chunk waits for the next one.
	for k := 1; k <= utf8.UTFMax-1 && k <= len(data); k++ {
		if utf8.RuneStart(data[len(data)-k]) {
			if !utf8.FullRune(data[len(data)-k:]) {
				cut = len(data) - k
			}
			break
		}
	}
	if !utf8.Valid(data[:cut]) {
		return unsafe("text-not-utf8")
	}
	for _, c := range data[:cut] {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7f {
			return unsafe("text-control")
		}
	}
	t.carry = append(t.carry[:0], data[cut:]...)
	return nil
}

func (t *text) close() error {
	if len(t.carry) > 0 {
		return unsafe("text-not-utf8")
	}
	return nil
}

// checkPNG walks the chunks: they must end with IEND at the end of the
// file. Its text chunks and data after IEND must hold no markup.
func checkPNG(r io.ReaderAt, size int64) error {
	br := bufio.NewReader(io.NewSectionReader(r, 8, size-8))
	budget := int64(maxInflated)
	var head [8]byte
	for off := int64(8); ; {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return unsafe("png-truncated")
		}
		n := int64(binary.BigEndian.Uint32(head[:4]))
		if n > 1<<31-1 || off+12+n > size {
			return unsafe("png-truncated")
		}
		data := off + 8
		off += 12 + n
		switch kind := string(head[4:]); kind {
		case "IEND":
			if off != size {
				if err := markupIn(r, off, size-off); err != nil {
					return err
				}
				return unsafe("png-trailing-data")
			}
			return nil
		case "tEXt", "zTXt", "iTXt":
			if err := checkPNGText(io.NewSectionReader(r, data, n), kind, &budget); err != nil {
				return err
			}
		}
		if _, err := br.Discard(int(n) + 4); err != nil {
			return unsafe("png-truncated")
		}
	}
}

// checkPNGText looks for markup in a text chunk's data: its keyword and
// other header fields, and its text, inflated (under budget) when it is
// compressed.
func checkPNGText(r io.Reader, kind string, budget *int64) error {
	br := bufio.NewReader(r)
	m := &markup{words: binaryMarkup}
	compressed := false
	switch kind {
	case "zTXt": // keyword, NUL, method, compressed text
		if err := feedField(br, m); err != nil {
			return err
		}
		_, _ = br.ReadByte()
		compressed = true
	case "iTXt": // keyword, NUL, flag, method, language, NUL, translated keyword, NUL, text
		if err := feedField(br, m); err != nil {
			return err
		}
		flag, _ := br.ReadByte()
		_, _ = br.ReadByte()
		compressed = flag == 1
		for range 2 {
			if err := feedField(br, m); err != nil {
				return err
			}
		}
	}
	if !compressed {
		if err := feed(m, br); err != nil {
			return err
		}
		return m.close()
	}
	zr, err := zlib.NewReader(br)
	if err != nil {
		return m.close() // no viewer shows it
	}
	n, err := io.Copy(writerFunc(m.write), io.LimitReader(zr, *budget+1))
	*budget -= n
	var u *Unsafe
	switch {
	case errors.As(err, &u):
		return err
	case *budget < 0:
		return unsafe("png-too-much-compressed-text")
	}
	return m.close() // what inflated before an error was checked
}

// feedField writes br's bytes up to the next NUL to m; data that ends
// without one is checked to its end.
func feedField(br *bufio.Reader, m *markup) error {
	for {
		b, err := br.ReadSlice(0)
		if werr := m.write(b); werr != nil {
			return werr
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("inspect: %w", err)
		}
	}
}

// checkJPEG looks for markup in the segments that hold text or metadata,
// comments and APPn (Exif, XMP, ICC profiles), walking the segments from
// the start of the image to its first scan: what follows is compressed
// image data. A structure it cannot follow has the rest of the file
// checked.
func checkJPEG(r io.ReaderAt, size int64) error {
	br := bufio.NewReader(io.NewSectionReader(r, 0, size))
	off := int64(0)
	next := func() (byte, bool) {
		c, err := br.ReadByte()
		off++
		return c, err == nil
	}
	if a, ok := next(); !ok || a != 0xff {
		return markupIn(r, 0, size)
	}
	if b, ok := next(); !ok || b != 0xd8 {
		return markupIn(r, 0, size)
	}
	for {
		start := off
		c, ok := next()
		if !ok || c != 0xff {
			return markupIn(r, start, size-start)
		}
		for ok && c == 0xff { // fill bytes
			c, ok = next()
		}
		switch {
		case !ok:
			return markupIn(r, start, size-start)
		case c == 0xda || c == 0xd9: // start of scan, end of image
			return nil
		case 0xd0 <= c && c <= 0xd7 || c == 0x01: // no length
			continue
		}
		hi, ok1 := next()
		lo, ok2 := next()
		n := (int64(hi)<<8 | int64(lo)) - 2
		if !ok1 || !ok2 || n < 0 || off+n > size {
			return markupIn(r, start, size-start)
		}
		if c == 0xfe || 0xe0 <= c && c <= 0xef {
			if err := markupIn(r, off, n); err != nil {
				return err
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return markupIn(r, start, size-start)
		}
		off += n
	}
}

// checkAppendedArchive looks for a ZIP end-of-central-directory record
// where ZIP readers (and Java) look for one: in the last 64 KiB and 22
// bytes. A document or an image has no reason to end with one.
func checkAppendedArchive(r io.ReaderAt, size int64) error {
	n := min(size, 1<<16+22)
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("inspect: %w", err)
	}
	if bytes.Contains(tail, []byte("PK\x05\x06")) {
		return unsafe("appended-archive")
	}
	return nil
}
