package web

import (
	"net/http"
)

func (s *Server) forgotPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "forgot", page{TitleKey: "forgot_title"})
	return nil
}

func (s *Server) forgot(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	if err := s.auth.RequestPasswordReset(r.Context(), r.PostFormValue("email"), v.client); err != nil {
		return err
	}
	// The same answer whether or not the address has an account.
	return s.redirectWithNotice(w, r, "/sign-in", "notice_reset_sent")
}

type resetData struct {
	Token     string
	NeedsCode bool
}

func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	needs, err := s.auth.CheckResetToken(r.Context(), token)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "reset", page{TitleKey: "reset_title", Data: resetData{Token: token, NeedsCode: needs}})
	return nil
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	token := r.PathValue("token")
	if r.PostFormValue("password") != r.PostFormValue("password_again") {
		needs, err := s.auth.CheckResetToken(r.Context(), token)
		if err != nil {
			return err
		}
		return s.formError(w, r, "reset", page{TitleKey: "reset_title", Data: resetData{Token: token, NeedsCode: needs}}, fieldProblem("password_again", "error_password_mismatch"))
	}
	err := s.auth.ResetPassword(r.Context(), token, r.PostFormValue("password"), r.PostFormValue("code"), v.client)
	if err != nil {
		needs, err2 := s.auth.CheckResetToken(r.Context(), token)
		if err2 != nil {
			return err2
		}
		return s.formError(w, r, "reset", page{TitleKey: "reset_title", Data: resetData{Token: token, NeedsCode: needs}}, err)
	}
	return s.redirectWithNotice(w, r, "/sign-in", "notice_password_reset")
}
