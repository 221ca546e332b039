package text

import "testing"

func TestLineAndBlock(t *testing.T) {
	for _, c := range []struct {
		s           string
		line, block bool
	}{
		{"Ärztekammer Berlin", true, true},
		{"وزارة الصحة", true, true},
		{"משרד הבריאות (ירושלים)", true, true},
		{"\u200fAnna\u200f", true, true},          // right-to-left marks
		{"می\u200cخواهم", true, true},             // a zero-width non-joiner, needed in Persian
		{"Ad\u200bmin", true, true},               // zero-width space: harmless, shown as nothing
		{"<script>alert(1)</script>", true, true}, // escaped where shown, not refused
		{"Line one\nline two\ttab\r\n", false, true},
		{"Anna\r\nBcc: x@evil.example", false, true},
		{"Anna\x00Nowak", false, false},
		{"Anna\x1b[31m", false, false},
		{"Anna\x7f", false, false},
		{"Anna\u0085", false, false},
		{"Anna\u2028Nowak", false, false},
		{"\u202egnp.exe", false, true},
		{"abc\u2068def", false, true},
		{"\xff\xfe", false, false},
	} {
		if got := Line(c.s); got != c.line {
			t.Errorf("Line(%q) = %v", c.s, got)
		}
		if got := Block(c.s); got != c.block {
			t.Errorf("Block(%q) = %v", c.s, got)
		}
	}
}
