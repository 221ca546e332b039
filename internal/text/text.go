// Package text says what the free text people type may hold. A one-line
// value (a name, a title, an address) is shown inside sentences, table
// cells, e-mails, CSV files and PDFs, where nothing can contain it: it may
// hold no control character and no bidirectional control that would
// reorder the text shown after it. A longer text (a message, a comment, a
// description) keeps its line breaks and tabs; pages show it in a block of
// its own, which ends the effect of any bidirectional control in it.
package text

import "unicode/utf8"

// Line reports whether s may be a one-line value: valid UTF-8 without
// control characters (C0, DEL, C1, the line and paragraph separators) and
// without the bidirectional embeddings, overrides and isolates (U+202A to
// U+202E, U+2066 to U+2069), which an RTL name never needs: the Unicode
// bidirectional algorithm orders Arabic and Hebrew by itself. The marks
// U+200E and U+200F, which reorder nothing beyond themselves, and the
// zero-width joiners some scripts need, are allowed.
func Line(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if control(r) || bidiControl(r) {
			return false
		}
	}
	return true
}

// Block reports whether s may be a longer text: valid UTF-8 whose only
// control characters are tabs and line breaks.
func Block(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if control(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// control reports a C0 or C1 control character, DEL, or a Unicode line or
// paragraph separator.
func control(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// bidiControl reports an explicit bidirectional embedding, override,
// isolate or their terminators.
func bidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
