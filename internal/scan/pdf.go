package scan

import (
	"compress/zlib"
	"encoding/ascii85"
	"errors"
	"io"
	"slices"
)

// pdfForbidden are the PDF names whose presence refuses a file: the
// actions that run code or open other files, the containers of other
// files and of form scripts, and encryption, under which object streams
// cannot be read. /OpenAction and /AA alone are harmless (they open a page
// or a link); what they trigger is caught by its own name.
var pdfForbidden = map[string]string{
	"JavaScript":   "pdf-javascript",
	"Launch":       "pdf-launch",
	"EmbeddedFile": "pdf-embedded-file",
	"GoToE":        "pdf-embedded-file",
	"RichMedia":    "pdf-rich-media",
	"XFA":          "pdf-xfa",
	"ImportData":   "pdf-form-action",
	"SubmitForm":   "pdf-form-action",
	"Encrypt":      "pdf-encrypted",
}

// pdfForbiddenShort are forbidden names so short that they occur by
// chance in binary stream data (three bytes and a delimiter: about once
// in 20 MB): they count only among text, as in a dictionary. /JS is the
// script of an action, /EF the embedded file of a file specification (an
// empty /EmbeddedFiles tree, which some producers always write, is
// harmless).
var pdfForbiddenShort = map[string]string{
	"JS": "pdf-javascript",
	"EF": "pdf-embedded-file",
}

// textContext is how many bytes on each side of a short name must be
// text for it to count.
const textContext = 8

// pdfNames reads PDF bytes as tokens, only as far as names and a few
// keywords go: every name (with its #xx escapes decoded) is checked
// against pdfForbidden wherever it stands, in dictionaries, strings or
// stream data alike, so that no construct hides one. The names since the
// last endobj or endstream are the dictionary of a stream that starts:
// an object stream (/Type /ObjStm) holds compressed objects, so it is
// decoded and its names checked the same way, once the tokens reach its
// endstream: its data is what lies between, so that no byte of the file is
// decoded twice (a stream left without an end ends at the next stream or
// at the end of the file).
type pdfNames struct {
	src    io.ReaderAt // nil inside a decoded object stream
	size   int64
	off    int64  // offset of the next byte
	budget *int64 // decompressed bytes left, shared with the streams
	read   int64  // bytes of src read by the streams' decoders
	open   *openStream

	inName, inWord bool
	skipWord       bool // in a word that is no keyword
	name, word     []byte
	nameAfterText  bool   // the textContext bytes before the name were text
	textRun        int    // text bytes just before the current one
	pending        int    // text bytes still needed after a short name
	pendingReason  string // the short name's reason
	afterStreamCR  bool   // "stream" and a carriage return: a line feed may follow
	dict           []string
	err            error
}

// Byte classes of PDF's syntax, looked up for speed: white space,
// delimiters (together: the ends of tokens) and text (printable ASCII and
// line white space).
const (
	classEnd = 1 << iota
	classText
)

var byteClass = func() (t [256]byte) {
	for _, c := range []byte("\x00\t\n\f\r ()<>[]{}/%") {
		t[c] |= classEnd
	}
	for c := 0x20; c < 0x7f; c++ {
		t[c] |= classText
	}
	for _, c := range []byte("\t\n\f\r") {
		t[c] |= classText
	}
	return t
}()

func (p *pdfNames) write(b []byte) error {
	for _, c := range b {
		if p.skipWord {
			// The fast path through binary data: in a word that is
			// no keyword, only the word's end matters.
			class := byteClass[c]
			if class&classEnd == 0 {
				if class&classText != 0 {
					p.textRun++
				} else {
					p.textRun = 0
				}
				p.off++
				continue
			}
			p.skipWord = false
		}
		p.step(c)
		if p.err != nil {
			return p.err
		}
	}
	return nil
}

// keywords are the words pdfNames acts on.
var keywords = []string{"stream", "endstream", "endobj"}

func isKeywordPrefix(w []byte) bool {
	for _, k := range keywords {
		if len(w) <= len(k) && k[:len(w)] == string(w) {
			return true
		}
	}
	return false
}

func (p *pdfNames) close() error {
	p.step(' ') // ends a last token
	if p.err == nil {
		p.endStream(p.size)
	}
	if p.err == nil && p.pending > 0 {
		p.err = unsafe(p.pendingReason)
	}
	return p.err
}

// step reads one byte.
func (p *pdfNames) step(c byte) {
	class := byteClass[c]
	regular := class&classEnd == 0
	if p.afterStreamCR {
		p.afterStreamCR = false
		if c == '\n' {
			p.startStream(p.off + 1)
		} else {
			p.startStream(p.off)
		}
	}
	switch {
	case p.inName && regular:
		if len(p.name) < 512 {
			p.name = append(p.name, c)
		}
	case p.inWord && regular:
		if len(p.word) < 16 {
			p.word = append(p.word, c)
		}
		if !isKeywordPrefix(p.word) && p.pending == 0 {
			p.inWord, p.skipWord = false, true
		}
	default:
		if p.inName {
			p.endName()
		}
		if p.inWord {
			p.endWord(c)
		}
		switch {
		case c == '/':
			p.inName, p.name = true, p.name[:0]
			p.nameAfterText = p.textRun >= textContext || int64(p.textRun) == p.off
		case regular:
			p.word = append(p.word[:0], c)
			if isKeywordPrefix(p.word) || p.pending > 0 {
				p.inWord = true
			} else {
				p.skipWord = true
			}
		}
	}
	text := class&classText != 0
	if p.pending > 0 {
		if !text {
			p.pending = 0
		} else if p.pending--; p.pending == 0 {
			p.err = unsafe(p.pendingReason)
		}
	}
	if text {
		p.textRun++
	} else {
		p.textRun = 0
	}
	p.off++
}

// endName checks a complete name.
func (p *pdfNames) endName() {
	p.inName = false
	name := decodeName(p.name)
	if reason, ok := pdfForbidden[name]; ok {
		p.err = unsafe(reason)
		return
	}
	if reason, ok := pdfForbiddenShort[name]; ok && p.nameAfterText && p.pending == 0 {
		p.pending, p.pendingReason = textContext, reason
	}
	if len(p.dict) < 4096 {
		p.dict = append(p.dict, name)
	}
}

// endWord acts on the keywords that end a dictionary or start a stream.
func (p *pdfNames) endWord(next byte) {
	p.inWord = false
	switch string(p.word) {
	case "endobj":
		p.dict = p.dict[:0]
	case "endstream":
		p.dict = p.dict[:0]
		p.endStream(p.off - int64(len(p.word)))
	case "stream":
		p.endStream(p.off - int64(len(p.word)))
		if p.src == nil || p.err != nil {
			return
		}
		switch next {
		case '\n':
			p.startStream(p.off + 1)
		case '\r':
			p.afterStreamCR = true
		}
	}
}

// decodeName resolves a name's #xx escapes (/J#61vaScript is /JavaScript).
func decodeName(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			if h, ok := unhex(raw[i+1]); ok {
				if l, ok := unhex(raw[i+2]); ok {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
		}
		out = append(out, raw[i])
	}
	return string(out)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Filter names, full and abbreviated, that Inspect can decode.
var decodable = map[string]bool{"FlateDecode": true, "Fl": true, "ASCIIHexDecode": true, "AHx": true, "ASCII85Decode": true, "A85": true}

var filterNames = []string{"FlateDecode", "Fl", "ASCIIHexDecode", "AHx", "ASCII85Decode", "A85", "LZWDecode", "LZW",
	"RunLengthDecode", "RL", "DCTDecode", "DCT", "JPXDecode", "JBIG2Decode", "CCITTFaxDecode", "CCF", "Crypt"}

// openStream is a stream to decode when its end is known.
type openStream struct {
	off     int64 // where its data starts
	filters []string
	objStm  bool
}

// startStream looks at the stream whose data starts at off, with the names
// of its dictionary: a stream that may hold objects is decoded (at its
// end, see endStream) and its names checked; an object stream that cannot
// be decoded is refused. Images and cross-reference streams hold no
// objects.
func (p *pdfNames) startStream(off int64) {
	dict := p.dict
	p.dict = nil
	objStm := slices.Contains(dict, "ObjStm")
	if !objStm && (slices.Contains(dict, "Image") || slices.Contains(dict, "XRef")) {
		return
	}
	var filters []string
	hasFilter := false
	for i, n := range dict {
		if n == "Filter" {
			hasFilter, filters = true, nil
			for _, f := range dict[i+1:] {
				if !slices.Contains(filterNames, f) {
					break
				}
				filters = append(filters, f)
			}
		}
	}
	ok := !slices.Contains(dict, "Predictor") && (len(filters) > 0 || !hasFilter)
	for _, f := range filters {
		ok = ok && decodable[f]
	}
	if !ok || len(filters) == 0 {
		// Not compressed (its names are read as they stream past), or
		// compressed in a way only an image would be.
		if !ok && objStm {
			p.err = unsafe("pdf-uninspectable")
		}
		return
	}
	p.open = &openStream{off: off, filters: filters, objStm: objStm}
}

// endStream decodes the open stream, whose data ends at end, and checks
// its names. Its decoders read nothing outside its data: the streams do
// not overlap, so that all of them together read the file at most once,
// whatever bytes their decoders skip.
func (p *pdfNames) endStream(end int64) {
	s := p.open
	p.open = nil
	if s == nil || p.err != nil {
		return
	}
	var r io.Reader = &countingReader{r: io.NewSectionReader(p.src, s.off, max(end-s.off, 0)), n: &p.read, limit: p.size}
	for _, f := range s.filters {
		var err error
		if r, err = decoder(f, r); err != nil {
			if s.objStm {
				p.err = unsafe("pdf-uninspectable")
			}
			return
		}
	}
	inner := &pdfNames{budget: p.budget}
	n, err := io.Copy(writerFunc(inner.write), io.LimitReader(r, *p.budget+1))
	*p.budget -= n
	switch {
	case *p.budget < 0:
		p.err = unsafe("pdf-too-much-compressed-content")
	case p.read > p.size:
		// Cannot happen while the streams do not overlap; a guard
		// against quadratic work should that change.
		p.err = unsafe("pdf-too-much-work")
	case inner.err != nil:
		p.err = inner.err
	case inner.close() != nil:
		p.err = inner.err
	case err != nil && s.objStm:
		p.err = unsafe("pdf-uninspectable")
	}
}

// countingReader adds the bytes read from r to *n, and fails once *n is
// over limit.
type countingReader struct {
	r     io.Reader
	n     *int64
	limit int64
}

var errTooMuchWork = errors.New("inspect: too many bytes read")

func (c *countingReader) Read(b []byte) (int, error) {
	if *c.n > c.limit {
		return 0, errTooMuchWork
	}
	n, err := c.r.Read(b)
	*c.n += int64(n)
	return n, err
}

type writerFunc func([]byte) error

func (f writerFunc) Write(b []byte) (int, error) {
	if err := f(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// decoder undoes one filter.
func decoder(filter string, r io.Reader) (io.Reader, error) {
	switch filter {
	case "FlateDecode", "Fl":
		return zlib.NewReader(r)
	case "ASCIIHexDecode", "AHx":
		return &hexDecoder{r: r}, nil
	default: // ASCII85Decode, A85
		return ascii85.NewDecoder(&untilEOD{r: r}), nil
	}
}

// hexDecoder reads ASCIIHexDecode data: hex digits, white space ignored,
// up to '>'; an odd last digit is followed by 0.
type hexDecoder struct {
	r     io.Reader
	buf   [512]byte
	hi    byte
	hasHi bool
	done  bool
}

func (h *hexDecoder) Read(out []byte) (int, error) {
	if len(out) == 0 {
		return 0, nil
	}
	n := 0
	for n == 0 {
		if h.done {
			if h.hasHi {
				out[0], h.hasHi = h.hi<<4, false
				return 1, nil
			}
			return 0, io.EOF
		}
		m, err := h.r.Read(h.buf[:min(len(h.buf), len(out))])
		for _, c := range h.buf[:m] {
			if c == '>' {
				h.done = true
				break
			}
			d, ok := unhex(c)
			switch {
			case !ok:
			case !h.hasHi:
				h.hi, h.hasHi = d, true
			default:
				out[n], h.hasHi = h.hi<<4|d, false
				n++
			}
		}
		if err != nil {
			h.done = true
		}
	}
	return n, nil
}

// untilEOD passes ASCII85 data up to its end marker "~>".
type untilEOD struct {
	r    io.Reader
	done bool
}

func (u *untilEOD) Read(b []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n, err := u.r.Read(b)
	for i, c := range b[:n] {
		if c == '~' {
			u.done = true
			return i, nil
		}
	}
	return n, err
}
