package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

// FuzzFormDecoding sends any body, as a plain or a multipart form, through
// the form parsing every POST goes through, then through the functions
// that read a request, an alert, an authority and roles out of a form.
// Nothing panics; a refusal is a translated problem about the input; what
// is accepted respects the field limits and only names what the form
// offers.
func FuzzFormDecoding(f *testing.F) {
	packs, problems := areas.Load(shipped.Files, ".")
	if err := problems.Err(); err != nil {
		f.Fatal(err)
	}
	var pq *areas.Pack
	for _, p := range packs {
		if p.Code == "pq" {
			pq = p
		}
	}
	if pq == nil {
		f.Fatal("the pq pack is missing")
	}
	pack := pq.In("en")
	subject := map[string]bool{}
	for _, s := range pack.Subject {
		subject[s.Code] = true
	}
	view := caseFormView{Kind: "alert", Fields: []fieldInput{{LocalizedField: areas.LocalizedField{Code: "name"}}, {LocalizedField: areas.LocalizedField{Code: "country"}}}}

	f.Add([]byte("area=pq&question_set=authenticity&questions=diploma_authentic&responder=x&subject.name=Jan+Kowalski&reply_by=2030-01-01&step=save"), false)
	f.Add([]byte("name=%E2%80%AEevil&country=PL&areas=pq&competences=pq%2Fprofession%2Fdoctor&competences=xx%2Fa%2Fb&roles=coordinator&roles=root"), false)
	f.Add([]byte("type=pq%2Fx&field.name=a&all_countries=on&countries=PL&criteria=c&reply_by=31-12-2030"), false)
	f.Add([]byte("a=%00&b=%zz&&=&;"), false)
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"subject.name\"\r\n\r\nJan\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x\"\r\n\r\n%PDF-1.4\r\n--B--\r\n"), true)
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, multipart bool) {
		r := httptest.NewRequest(http.MethodPost, "/requests/new", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if multipart {
			r.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64<<10)
		if err := parseForm(r); err != nil {
			p, ok := problem.As(err)
			if !ok || (p.Kind != problem.Invalid && p.Kind != problem.TooLarge) || p.Key == "" {
				t.Fatalf("a refusal that is not a translated problem about the input: %v", err)
			}
			return
		}
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
		for k, vs := range r.PostForm {
			for _, v := range vs {
				if len(v) > maxFieldBytes || strings.ContainsRune(v, 0) {
					t.Fatalf("field %q accepted with %d bytes or a NUL", k, len(v))
				}
			}
		}
		checkForms(t, r.PostForm, &pack, subject, view)
	})
}

// checkForms reads every kind of form out of the same values.
func checkForms(t *testing.T, form url.Values, pack *areas.Localized, subject map[string]bool, view caseFormView) {
	t.Helper()
	d, err := draftFrom(form, pack)
	if err != nil {
		if p, ok := problem.As(err); !ok || p.Field != "reply_by" {
			t.Fatalf("a draft refused for something other than its date: %v", err)
		}
	}
	for code := range d.Subject {
		if !subject[code] {
			t.Fatalf("a subject field the pack does not have: %q", code)
		}
	}
	c := caseDraftFrom(form, view)
	for code := range c.Fields {
		if code != "name" && code != "country" {
			t.Fatalf("an alert field the type does not have: %q", code)
		}
	}
	if c.AllCountries && c.Countries != nil {
		t.Fatalf("all countries and a list of countries at once")
	}
	in := inputFrom(form)
	for _, comp := range in.Competences {
		if !slices.Contains(in.Areas, comp.Area) {
			t.Fatalf("a competence outside the authority's areas: %+v", comp)
		}
	}
	for _, role := range rolesFrom(form) {
		if !slices.Contains(authorities.UserRoles, role.Role) {
			t.Fatalf("a role that does not parse was kept: %+v", role)
		}
	}
}
