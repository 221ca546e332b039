package areas_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/i18n"
)

func TestTheShippedPacksAreValid(t *testing.T) {
	packs, problems := areas.Load(shipped.Files, ".")
	if len(problems) > 0 {
		t.Fatalf("%d problems:\n%s", len(problems), problems.Error())
	}
	var codes []string
	for _, p := range packs {
		codes = append(codes, p.Code)
		if len(p.Texts) != len(i18n.Languages) {
			t.Errorf("%s has texts in %d languages", p.Code, len(p.Texts))
		}
	}
	if got := strings.Join(codes, ","); got != "general,pq,pw,services" {
		t.Fatalf("areas %s", got)
	}
}

func pack(t *testing.T, code string) *areas.Pack {
	t.Helper()
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Pack(code)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTheMostFrequentQuestionsArePresent(t *testing.T) {
	want := map[string][]string{
		"pq":       {"right_to_practise_territory", "profession_entitled", "teacher_subjects", "teacher_age_ranges", "qualification_delivered"},
		"services": {"entitled_to_exercise", "business_name_correct", "address_corresponds", "activities_lawful", "lawfully_established"},
		"pw":       {"company_established", "activity_types", "company_address_corresponds", "activity_sector", "habitual_activity"},
	}
	for area, questions := range want {
		p := pack(t, area)
		for _, q := range questions {
			if p.Question(q) == nil {
				t.Errorf("%s lacks question %s", area, q)
			}
		}
	}
	en := pack(t, "pq").Texts["en"]["questions.right_to_practise_territory.text"]
	for _, phrase := range []string{"{name}", "{diploma}", "{profession}", "right to pursue"} {
		if !strings.Contains(en, phrase) {
			t.Errorf("the right-to-practise question %q lacks %q", en, phrase)
		}
	}
}

func TestProfessionalQualificationsListsTheMobileProfessionsAndSectors(t *testing.T) {
	p := pack(t, "pq")
	v := p.Vocabulary("professions")
	if v == nil {
		t.Fatal("no professions vocabulary")
	}
	individual := 0
	for _, term := range v.AllTerms() {
		if !strings.HasPrefix(term.Value, "other_") {
			individual++
		}
	}
	if individual < 35 || len(v.Groups) < 5 {
		t.Fatalf("%d individual professions in %d sectors", individual, len(v.Groups))
	}
	for _, must := range []string{"doctor", "nurse", "dentist", "midwife", "pharmacist", "architect", "veterinary_surgeon", "physiotherapist", "electrician", "hairdresser"} {
		found := false
		for _, term := range v.AllTerms() {
			found = found || strings.HasPrefix(term.Value, must)
		}
		if !found {
			t.Errorf("no profession %s", must)
		}
	}
}

// cash reads the fixture pack into a map file system under "cash/", so
// that a test can break one thing in it.
func cash(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := "testdata/cash"
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path.Join(root, p))
		m[path.Join("cash", p)] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func edit(t *testing.T, m fstest.MapFS, file, old, new string) {
	t.Helper()
	s := string(m[file].Data)
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	m[file] = &fstest.MapFile{Data: []byte(strings.Replace(s, old, new, 1))}
}

func lineOf(t *testing.T, m fstest.MapFS, file, text string) int {
	t.Helper()
	for i, l := range strings.Split(string(m[file].Data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s: no line with %q", file, text)
	return 0
}

// lastLine returns the last line that is exactly text, once trimmed.
func lastLine(t *testing.T, m fstest.MapFS, file, text string) int {
	t.Helper()
	n := 0
	for i, l := range strings.Split(string(m[file].Data), "\n") {
		if strings.TrimSpace(l) == text {
			n = i + 1
		}
	}
	if n == 0 {
		t.Fatalf("%s: no line %q", file, text)
	}
	return n
}

func TestTheFixturePackIsValid(t *testing.T) {
	packs, problems := areas.Load(cash(t), ".")
	if len(problems) > 0 || len(packs) != 1 {
		t.Fatalf("%v", problems)
	}
	p := packs[0]
	if p.Workflow.IncomingAllocationIn("BE") || !p.Workflow.IncomingAllocationIn("PL") {
		t.Error("country override not applied")
	}
	if p.In("pl").Name == p.In("en").Name {
		t.Error("the Polish name is the English one")
	}
}

func TestBrokenPacksAreReportedWithFileLineAndReason(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, m fstest.MapFS) (file string, line int)
		reason string
	}{
		{"missing translation", func(t *testing.T, m fstest.MapFS) (string, int) {
			f := "cash/texts/pl.yaml"
			lines := strings.Split(string(m[f].Data), "\n")
			at := lineOf(t, m, f, "licence_withdrawn_reason:")
			// Remove the question's key and its text line.
			lines = append(lines[:at-1], lines[at+1:]...)
			m[f] = &fstest.MapFile{Data: []byte(strings.Join(lines, "\n"))}
			return f, lineOf(t, m, f, "questions:")
		}, `missing text "questions.licence_withdrawn_reason.text"`},
		{"duplicate code", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "          - code: vehicle_mode", "          - code: licence_valid")
			return "cash/area.yaml", lastLine(t, m, "cash/area.yaml", "- code: licence_valid")
		}, `duplicate question code "licence_valid"`},
		{"unknown answer type", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "answer: yes_no_unknown", "answer: maybe")
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "answer: maybe")
		}, "answer"},
		{"condition on an unknown question", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "question: licence_valid", "question: licence_vaild")
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "question: licence_vaild")
		}, `"licence_vaild", which does not exist`},
		{"placeholder missing in one language", func(t *testing.T, m fstest.MapFS) (string, int) {
			f := "cash/texts/de.yaml"
			at := lineOf(t, m, f, "{licence_number}")
			edit(t, m, f, "{licence_number}", "licence_number")
			return f, at
		}, "placeholders"},
		{"missing language file", func(t *testing.T, m fstest.MapFS) (string, int) {
			delete(m, "cash/texts/mt.yaml")
			return "cash/texts/mt.yaml", 0
		}, "missing file"},
		{"YAML syntax error", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "version: 1", "version: [1")
			return "cash/area.yaml", 0
		}, "not valid YAML"},
		{"placeholder that is not a subject field", func(t *testing.T, m fstest.MapFS) (string, int) {
			for _, l := range i18n.Languages {
				f := "cash/texts/" + l.Code + ".yaml"
				edit(t, m, f, "{company_name}", "{firm}")
			}
			return "cash/texts/en.yaml", lineOf(t, m, "cash/texts/en.yaml", "{firm}")
		}, "placeholder {firm} is not a subject field"},
		{"condition on a later question", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "question: licence_valid", "question: vehicle_mode")
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "question: vehicle_mode")
		}, "does not come earlier"},
		{"condition with an impossible answer", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", `answers: ["no"]`, `answers: ["perhaps"]`)
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "question: licence_valid")
		}, `answer "perhaps"`},
		{"unknown vocabulary", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "vocabulary: licence_types", "vocabulary: licences")
			return "cash/area.yaml", lastLine(t, m, "cash/area.yaml", "- code: licence_type")
		}, `unknown vocabulary "licences"`},
		{"personal data in a notification", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "\nquestion_sets:\n", "\nbroadcasts:\n  - code: new_rules\n    kind: notification\n    comment_days: 30\n    fields:\n      - code: inspector\n        type: text\n        personal_data: true\nquestion_sets:\n")
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "- code: inspector")
		}, `notifications hold no personal data, but field "inspector" is personal`},
		{"a deadline from a field that is not a date", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "\nquestion_sets:\n", "\nbroadcasts:\n  - code: fraud\n    kind: alert\n    send_within_days: 3\n    deadline_from: company\n    fields:\n      - code: company\n        type: text\nquestion_sets:\n")
			return "cash/area.yaml", lineOf(t, m, "cash/area.yaml", "- code: fraud")
		}, `deadline_from "company" is not a date field`},
		{"a broadcast type without its texts", func(t *testing.T, m fstest.MapFS) (string, int) {
			edit(t, m, "cash/area.yaml", "\nquestion_sets:\n", "\nbroadcasts:\n  - code: new_rules\n    kind: notification\n    comment_days: 30\n    fields:\n      - code: title\n        type: text\nquestion_sets:\n")
			return "cash/texts/lv.yaml", 0
		}, `missing text "broadcasts.new_rules.fields.title"`},
		{"text for a code that does not exist", func(t *testing.T, m fstest.MapFS) (string, int) {
			f := "cash/texts/fr.yaml"
			edit(t, m, f, "\nquestions:\n", "\nquestions:\n  ghost:\n    text: Boo\n")
			return f, lineOf(t, m, f, "text: Boo")
		}, `unknown text "questions.ghost.text"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := cash(t)
			file, line := c.break_(t, m)
			packs, problems := areas.Load(m, ".")
			if len(packs) != 0 {
				t.Fatal("a broken pack loaded")
			}
			for _, p := range problems {
				if p.File == file && strings.Contains(p.Reason, c.reason) && (line == 0 || p.Line == line) {
					return
				}
			}
			t.Fatalf("want %s:%d: …%s…, got:\n%s", file, line, c.reason, problems.Error())
		})
	}
}

func TestAPackWhoseContentChangedNeedsANewVersion(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.CopyFS(path.Join(dir, "cash"), os.DirFS("testdata/cash")); err != nil {
		t.Fatal(err)
	}
	reg, err := areas.Open(shipped.Files, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Record(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	v1, _ := reg.Pack("cash")
	en := path.Join(dir, "cash", "texts", "en.yaml")
	b, _ := os.ReadFile(en)
	if err := os.WriteFile(en, []byte(strings.Replace(string(b), "Transport licence", "Licence to transport cash", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	reg2, err := areas.Open(shipped.Files, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg2.Record(ctx, d, time.Now()); !errors.Is(err, areas.ErrVersionChanged) {
		t.Fatalf("err = %v, want ErrVersionChanged", err)
	}
	af := path.Join(dir, "cash", "area.yaml")
	b, _ = os.ReadFile(af)
	if err := os.WriteFile(af, []byte(strings.Replace(string(b), "version: 1", "version: 2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	reg3, err := areas.Open(shipped.Files, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg3.Record(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	old, err := reg3.Version(ctx, d.Read(), "cash", 1)
	if err != nil {
		t.Fatal(err)
	}
	if old.Hash != "" && old.Version != 1 || old.In("en").QuestionSet("licence").Name != v1.In("en").QuestionSet("licence").Name {
		t.Fatal("version 1 does not read as it was")
	}
	if cur, _ := reg3.Pack("cash"); cur.In("en").QuestionSet("licence").Name != "Licence to transport cash" {
		t.Fatal("the current version is not the new one")
	}
}

func TestAnOperatorPackReplacesAShippedOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(path.Join(dir, "cash"), os.DirFS("testdata/cash")); err != nil {
		t.Fatal(err)
	}
	base := cash(t)
	edit(t, base, "cash/texts/en.yaml", "Cross-border transport of euro cash", "Shipped cash")
	reg, err := areas.Open(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reg.Pack("cash")
	if p.In("en").Name != "Cross-border transport of euro cash" {
		t.Fatalf("name %q: the operator's pack did not win", p.In("en").Name)
	}
}
