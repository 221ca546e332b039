package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/db/dbtest"
)

const registryCSV = `external_id,country,name,language,areas,name_en,email,role,parent_external_id,competences
DE-NC,DE,Bundesministerium für Wirtschaft und Klimaschutz,de,pq;services,Federal Ministry for Economic Affairs,imi@bmwk.bund.de,national_coordinator,,
DE-0101,DE,Bundesärztekammer,de,pq,German Medical Association,info@baek.de,,DE-NC,doctor;General practitioner
DE-0102,DE,Architektenkammer Berlin,de,pq;services,,info@ak-berlin.de,,DE-NC,professions:architect
FR-NC,FR,Secrétariat général des affaires européennes,fr,pq,,imi@sgae.gouv.fr,national_coordinator,,
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportExportAndStatsOfAuthoritiesFromTheCommandLine(t *testing.T) {
	loc := dbtest.Location(t)
	file := writeFile(t, "authorities.csv", registryCSV)
	code, out, errOut := imi(t, "", "--database", loc, "import", "authorities", file)
	if code != 0 || out != "created 4, updated 0, unchanged 0, skipped 0\n" {
		t.Fatalf("import: %d %q %s", code, out, errOut)
	}
	code, exported, errOut := imi(t, "", "export", "authorities", "--database", loc)
	if code != 0 || !strings.HasPrefix(exported, "external_id,country,name,language,areas,name_en,") ||
		!strings.Contains(exported, "DE-0101,DE,Bundesärztekammer,de,pq,German Medical Association,") ||
		!strings.Contains(exported, ",competent_authority,DE-NC,professions:doctor;professions:general_practitioner\n") {
		t.Fatalf("export: %d %s %s", code, exported, errOut)
	}
	again := writeFile(t, "export.csv", exported)
	code, out, errOut = imi(t, "", "--database", loc, "import", "authorities", again)
	if code != 0 || out != "created 0, updated 0, unchanged 4, skipped 0\n" {
		t.Fatalf("re-import: %d %q %s", code, out, errOut)
	}
	jsonFile := filepath.Join(t.TempDir(), "registry.json")
	if code, _, errOut := imi(t, "", "--database", loc, "export", "authorities", "--output", jsonFile); code != 0 {
		t.Fatalf("export to a file: %d %s", code, errOut)
	}
	var rows []map[string]any
	if b, err := os.ReadFile(jsonFile); err != nil || json.Unmarshal(b, &rows) != nil || len(rows) != 4 {
		t.Fatalf("JSON export: %v %d rows", err, len(rows))
	}
	code, out, errOut = imi(t, "", "--database", loc, "import", "authorities", jsonFile)
	if code != 0 || out != "created 0, updated 0, unchanged 4, skipped 0\n" {
		t.Fatalf("JSON re-import: %d %q %s", code, out, errOut)
	}

	code, out, errOut = imi(t, "", "--database", loc, "stats", "authorities", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || lines[0] != "country,general,pq,pw,services,total" {
		t.Fatalf("stats: %d %q %s", code, out, errOut)
	}
	if len(lines) != 32 || lines[len(lines)-1] != "TOTAL,0,4,0,2,4" || !strings.Contains(out, "\nDE,0,3,0,2,3\n") || !strings.Contains(out, "\nFR,0,1,0,0,1\n") {
		t.Fatalf("stats rows:\n%s", out)
	}
	code, out, errOut = imi(t, "", "--database", loc, "stats", "authorities", "--format", "json")
	var st struct {
		Countries []struct {
			Country        string         `json:"country"`
			PerArea        map[string]int `json:"per_area"`
			Total          int            `json:"total"`
			NeverUsedShare float64        `json:"never_used_share"`
		} `json:"countries"`
		ByNumberOfAreas map[string]int `json:"by_number_of_areas"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("stats JSON: %d %s %s", code, out, errOut)
	}
	if st.ByNumberOfAreas["1"] != 2 || st.ByNumberOfAreas["2"] != 2 || len(st.Countries) != 30 {
		t.Fatalf("stats JSON: %s", out)
	}
	for _, c := range st.Countries {
		if c.Country == "DE" && (c.Total != 3 || c.PerArea["pq"] != 3 || c.NeverUsedShare != 1) {
			t.Fatalf("DE: %+v", c)
		}
	}
}

func TestImportOfAuthoritiesNamesFileLineAndColumnAndImportsNothing(t *testing.T) {
	loc := dbtest.Location(t)
	file := writeFile(t, "bad.csv", registryCSV+"DE-0103,DE,Landesamt,de,pq,,info@@landesamt.de,,DE-NC,\nDE-0104,XX,Amt,de,pq,,,,,\n")
	code, out, errOut := imi(t, "", "--database", loc, "import", "authorities", file)
	if code != 1 || out != "" || !strings.Contains(errOut, file+":6: email: Enter an e-mail address") ||
		!strings.Contains(errOut, file+":7: country: ") || !strings.Contains(errOut, "nothing imported") {
		t.Fatalf("%d %q\n%s", code, out, errOut)
	}
	if code, exported, _ := imi(t, "", "--database", loc, "export", "authorities"); code != 0 || strings.Count(exported, "\n") != 1 {
		t.Fatalf("imported something:\n%s", exported)
	}
	// The settings may follow the file.
	code, out, errOut = imi(t, "", "--database", loc, "import", "authorities", file, "--skip-invalid")
	if code != 0 || out != "created 4, updated 0, unchanged 0, skipped 2\n" || !strings.Contains(errOut, file+":6: email: ") {
		t.Fatalf("--skip-invalid: %d %q\n%s", code, out, errOut)
	}
}

func TestImportOfAuthoritiesNeedsAKnownFormat(t *testing.T) {
	loc := dbtest.Location(t)
	file := writeFile(t, "authorities.txt", registryCSV)
	if code, _, errOut := imi(t, "", "--database", loc, "import", "authorities", file); code != 2 || !strings.Contains(errOut, "--format") {
		t.Fatalf("%d %s", code, errOut)
	}
	if code, out, errOut := imi(t, registryCSV, "--database", loc, "import", "authorities", "--format", "csv", "-"); code != 0 || !strings.HasPrefix(out, "created 4,") {
		t.Fatalf("standard input: %d %q %s", code, out, errOut)
	}
	if code, _, _ := imi(t, "", "--database", loc, "import", "people", file); code != 2 {
		t.Fatalf("import people: %d", code)
	}
}
