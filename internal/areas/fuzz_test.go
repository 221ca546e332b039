package areas_test

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
)

// Area packs come from operators' folders: any bytes in area.yaml or a
// texts file. Loading never panics; a pack is either refused with
// problems that name a file, or returned complete.
func FuzzLoadPack(f *testing.F) {
	for _, dir := range []string{"general"} {
		area, err := fs.ReadFile(shipped.Files, dir+"/area.yaml")
		if err != nil {
			f.Fatal(err)
		}
		en, err := fs.ReadFile(shipped.Files, dir+"/texts/en.yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(area, en)
	}
	f.Add([]byte("code: x\nversion: 1\nlegal_basis: [a]\nworkflow: {}\nquestion_sets: [{code: &a x, sections: *a}]\n"), []byte("area: {name: X}\n"))
	f.Add([]byte("code: pq\nversion: 99999999999999999999\n"), []byte("{{{"))
	f.Fuzz(func(t *testing.T, area, en []byte) {
		if len(area)+len(en) > 1<<16 {
			return // packs are small; the loader's limits are tested elsewhere
		}
		fsys := fstest.MapFS{"p/area.yaml": {Data: area}, "p/texts/en.yaml": {Data: en}}
		packs, problems := areas.Load(fsys, "p")
		for _, p := range problems {
			if p.File == "" || p.Reason == "" {
				t.Fatalf("a problem without a file or a reason: %+v", p)
			}
		}
		for _, p := range packs {
			if p.Code == "" || p.Version < 1 || p.Texts["en"] == nil {
				t.Fatalf("an incomplete pack was accepted: %q v%d", p.Code, p.Version)
			}
			if strings.ContainsAny(p.Code, "/\\. ") {
				t.Fatalf("a pack code that is not a code: %q", p.Code)
			}
		}
	})
}
