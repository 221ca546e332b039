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

// The CSV export never starts a cell with a formula, and reads back as
// it was written.
func TestRegisterCSVNeutralisesFormulasAndReadsBack(t *testing.T) {
	e := &registers.Entry{Country: "DE", AuthorityID: "a1", Name: "=HYPERLINK(\"http://evil.example\")", Language: "de", Type: "other_register",
		Access: "on_request", Description: "+49 30 1234", LegalBasis: "@law"}
	var b bytes.Buffer
	if err := registers.Write(&b, []*registers.Entry{e}, "csv"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(`"'=HYPERLINK(`)) || !bytes.Contains(b.Bytes(), []byte(",'+49 30 1234,")) || !bytes.Contains(b.Bytes(), []byte(",'@law,")) {
		t.Fatalf("a formula in the export:\n%s", b.String())
	}
	records, _, err := registers.ParseRecords(&b, "csv")
	if err != nil || len(records) != 1 || records[0].Name != e.Name || records[0].Description != e.Description || records[0].LegalBasis != e.LegalBasis {
		t.Fatalf("read back: %v %+v", err, records)
	}
}
