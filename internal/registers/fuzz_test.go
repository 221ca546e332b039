package registers_test

import (
	"bytes"
	"testing"

	"github.com/openimi/openimi/internal/registers"
)

// Register imports are any bytes: parsing never panics, and gives either
// records with the line each came from, or a reason.
func FuzzParseRecords(f *testing.F) {
	f.Add([]byte("country,authority,name,language,type,access\nDE,x,Handelsregister,de,business_register,public_online\n"), false)
	f.Add([]byte(`[{"country":"DE","authority":"x","name":"Handelsregister","language":"de","type":"business_register","access":"public_online"}]`), true)
	f.Add([]byte("country,name\n\"=HYPERLINK(\"\"http://x\"\")\",a\n"), false)
	f.Add([]byte(`{"not": "a list"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		format := "csv"
		if asJSON {
			format = "json"
		}
		records, lines, err := registers.ParseRecords(bytes.NewReader(data), format)
		if err != nil {
			if len(records) != 0 {
				t.Fatal("records and an error")
			}
			return
		}
		if len(lines) != len(records) {
			t.Fatalf("%d records, %d line numbers", len(records), len(lines))
		}
		for i := 1; i < len(lines); i++ {
			if lines[i] <= lines[i-1] && format == "csv" {
				t.Fatalf("line numbers out of order: %v", lines)
			}
		}
	})
}
