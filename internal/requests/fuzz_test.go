package requests

import (
	"bytes"
	"strings"
	"testing"
)

// Uploaded files are any bytes under any name. The inspection lets
// through only documents and images a browser will not run, and the name
// kept is one element, without control, path or shell characters, at
// most 100 characters, with the extension of the content found.
func FuzzUploadInspection(f *testing.F) {
	f.Add([]byte("%PDF-1.7\n1 0 obj << /JavaScript (app.alert(1)) >>"), "../../etc/passwd")
	f.Add([]byte("\x89PNG\r\n\x1a\n<html><script>alert(1)</script>"), "photo.png\x00.html")
	f.Add([]byte("<svg onload=alert(1)>"), "image.svg")
	f.Add([]byte("plain words"), "\u202etxt.exe")
	// The EICAR test file, built from pieces so that the repository itself
	// does not look infected to a scanner.
	f.Add([]byte("X5O!P%@AP[4\\PZX54(P^)7CC)7}$"+"EICAR-STANDARD-ANTIVIRUS-"+"TEST-FILE!$H+H*"), "eicar.com")
	f.Fuzz(func(t *testing.T, head []byte, name string) {
		ct, ok := sniff(head)
		if ok {
			if _, allowed := allowedTypes[ct]; !allowed {
				t.Fatalf("%q let through", ct)
			}
			lower := bytes.ToLower(head)
			if strings.HasPrefix(ct, "text/") && (bytes.Contains(lower, []byte("<script")) || bytes.Contains(lower, []byte("<svg"))) {
				t.Fatalf("markup let through as %s", ct)
			}
			if ct == "application/pdf" && bytes.Contains(head, []byte("/JavaScript")) {
				t.Fatal("a PDF with JavaScript let through")
			}
		}
		clean := CleanName(name, ct)
		if clean == "" || strings.ContainsAny(clean, "/\\\x00<>:\"|?*") || strings.HasPrefix(clean, ".") {
			t.Fatalf("CleanName(%q) = %q", name, clean)
		}
		for _, r := range clean {
			if r < 0x20 || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("CleanName(%q) keeps %U", name, r)
			}
		}
		if len([]rune(strings.TrimSuffix(clean, allowedTypes[ct]))) > 100 || !strings.HasSuffix(clean, allowedTypes[ct]) {
			t.Fatalf("CleanName(%q) = %q: length or extension", name, clean)
		}
	})
}
