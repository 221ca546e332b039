package authorities_test

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/problem"
)

// Import files come from coordinators' spreadsheets: any bytes. Parsing
// never panics, gives the same answer twice, and every problem names a
// line of the file.
func FuzzParseImport(f *testing.F) {
	for _, name := range []string{"testdata/authorities.csv", "testdata/authorities.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".json"))
	}
	f.Add([]byte("external_id,country,name\n\"unterminated,DE,x\n"), false)
	f.Add([]byte("[{\"country\": \"DE\", \"name\": \"\u202eevil\"}]"), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		parse := authorities.ParseCSV
		if asJSON {
			parse = authorities.ParseJSON
		}
		rows, errs := parse(bytes.NewReader(data))
		again, errs2 := parse(bytes.NewReader(data))
		if !reflect.DeepEqual(rows, again) || !reflect.DeepEqual(errs, errs2) {
			t.Fatal("two parses of the same file differ")
		}
		// CSV problems name a line of the file; JSON ones the record's
		// number in the list.
		places := bytes.Count(data, []byte("\n")) + 1
		if asJSON {
			places = bytes.Count(data, []byte(",")) + 1
		}
		for _, e := range errs {
			if e.Line < 0 || e.Line > places+1 {
				t.Fatalf("a problem at %d of %d: %+v", e.Line, places, e)
			}
		}
	})
}

// Search text is typed by anyone signed in, in any script: it never
// breaks the query (an error would mean the text reached SQL or the
// full-text syntax), and too long a text is refused with a reason.
func FuzzSearchText(f *testing.F) {
	d := dbtest.Open(f)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		f.Fatal(err)
	}
	svc := authorities.New(d, reg, auth.New(d, auth.Settings{}, nil), "http://imi.test", nil)
	ctx := context.Background()
	for _, in := range []authorities.Input{
		{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}},
		{Country: "EL", Name: "Ιατρικός Σύλλογος Αθηνών", Language: "el", Areas: []string{"pq"}},
	} {
		if _, err := svc.Register(ctx, authorities.System(), in); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{"ärzte", "Ιατρικός", `"berlin" OR x`, "NEAR(a b)", "a* -b +c", "'; DROP TABLE authorities; --", "ärzte\x00", "\u202e", "tag:id:1 ^ col:name"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		list, total, err := svc.Search(ctx, authorities.Query{Text: text})
		if p, ok := problem.As(err); ok && p.Field == "q" {
			return // too long: refused with a reason
		}
		if err != nil {
			t.Fatalf("search %q: %v", text, err)
		}
		if len(list) > total || total > 2 {
			t.Fatalf("search %q: %d of %d", text, len(list), total)
		}
		for _, a := range list {
			if !utf8.ValidString(a.Name) {
				t.Fatal("invalid UTF-8 in a result")
			}
		}
	})
}
