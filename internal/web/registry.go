package web

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

// maxImportBytes bounds an uploaded import file.
const maxImportBytes = 64 << 20

func (s *Server) exportAuthorities(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.CanExport() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	format := r.URL.Query().Get("format")
	ct, name, ok := authorities.ExportMedia(format)
	if !ok {
		return problem.Field("format", "error_format_unknown")
	}
	var buf bytes.Buffer
	if err := s.authorities.Export(r.Context(), &buf, strings.TrimPrefix(name, "authorities.")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write(buf.Bytes())
	return nil
}

type importView struct {
	Done   bool
	Result authorities.ImportResult
	Lines  []importLine
}

type importLine struct {
	Line           int
	Column, Reason string
}

func (s *Server) importPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.CanExport() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	s.render(w, r, http.StatusOK, "import", page{TitleKey: "import_title"})
	return nil
}

// importAuthorities takes an uploaded CSV or JSON file. All or nothing,
// unless the coordinator asks to skip invalid rows.
func (s *Server) importAuthorities(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.CanExport() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		return s.formError(w, r, "import", page{TitleKey: "import_title"}, problem.Field("file", "error_file_unreadable"))
	}
	defer file.Close()
	format := "csv"
	if strings.HasSuffix(strings.ToLower(header.Filename), ".json") {
		format = "json"
	}
	res, err := s.authorities.ImportFile(r.Context(), actor, file, format, authorities.ImportOptions{SkipInvalid: r.PostFormValue("skip_invalid") == "on"})
	l := visitOf(r).lang
	v := importView{Done: true, Result: res}
	for _, list := range [][]authorities.ImportError{res.Errors, res.Skipped} {
		for _, e := range list {
			v.Lines = append(v.Lines, importLine{Line: e.Line, Column: e.Column, Reason: e.Message(l)})
		}
	}
	code := http.StatusOK
	if len(res.Errors) > 0 {
		code = http.StatusBadRequest
	} else if err != nil {
		return err
	}
	s.render(w, r, code, "import", page{TitleKey: "import_title", Data: v})
	return nil
}
