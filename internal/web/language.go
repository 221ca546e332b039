package web

import (
	"net/http"

	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
)

type languageData struct {
	Next string
}

func (s *Server) languagePage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "language", page{TitleKey: "language_title", Data: languageData{Next: safeNext(r.URL.Query().Get("next"))}})
	return nil
}

// chooseLanguage switches the UI language: in the profile of a signed-in
// user, in a cookie for anyone else.
func (s *Server) chooseLanguage(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	lang := r.PostFormValue("lang")
	next := safeNext(r.PostFormValue("next"))
	if !i18n.Supported(lang) {
		p := page{TitleKey: "language_title", Data: languageData{Next: next}}
		return s.formError(w, r, "language", p, problem.Field("lang", "error_language_unknown"))
	}
	if v.user != nil && v.session.Stage == "full" {
		if err := s.auth.SetLanguage(r.Context(), v.user.ID, lang); err != nil {
			return err
		}
	}
	s.setCookie(w, langCookie, lang, 365*24*3600)
	http.Redirect(w, r, next, http.StatusSeeOther) // #nosec G710 -- next went through safeNext: local paths only
	return nil
}
