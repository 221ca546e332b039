package web

import (
	"net/http"

	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
)

func fieldProblem(field, key string) error { return problem.Field(field, key) }

type profileData struct {
	CodesLeft int
	Codes     []string
	Languages []i18n.Language
	Digest    bool // e-mails in a daily digest
}

func (s *Server) profileData(r *http.Request) (profileData, error) {
	n, err := s.auth.RecoveryCodesLeft(r.Context(), visitOf(r).user.ID)
	if err != nil {
		return profileData{}, err
	}
	digest, err := notify.DigestChosen(r.Context(), s.db.Read(), visitOf(r).user.ID)
	return profileData{CodesLeft: n, Languages: i18n.Languages, Digest: digest}, err
}

// profileDigest chooses an e-mail per notification or a daily digest.
func (s *Server) profileDigest(w http.ResponseWriter, r *http.Request) error {
	if err := notify.SetDigest(r.Context(), s.db, visitOf(r).user.ID, r.PostFormValue("digest") == "on"); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/profile", "notice_request_done")
}

type notificationsView struct {
	Items  []notify.Notice
	Unread int
}

// notificationsPage lists the user's latest notifications.
func (s *Server) notificationsPage(w http.ResponseWriter, r *http.Request) error {
	list, unread, err := notify.Notices(r.Context(), s.db.Read(), visitOf(r).user.ID, 100)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "notifications", page{TitleKey: "notifications_title", Data: notificationsView{Items: list, Unread: unread}})
	return nil
}

// markNotificationsRead marks every notification read.
func (s *Server) markNotificationsRead(w http.ResponseWriter, r *http.Request) error {
	if err := notify.MarkRead(r.Context(), s.db, visitOf(r).user.ID, s.now()); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/notifications", "notice_request_done")
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) error {
	d, err := s.profileData(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "profile", page{TitleKey: "profile_title", Data: d})
	return nil
}

// profileFormError shows the profile page again with a form's problem.
func (s *Server) profileFormError(w http.ResponseWriter, r *http.Request, err error) error {
	d, err2 := s.profileData(r)
	if err2 != nil {
		return err2
	}
	return s.formError(w, r, "profile", page{TitleKey: "profile_title", Data: d}, err)
}

func (s *Server) profileLanguage(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	if err := s.auth.SetLanguage(r.Context(), v.user.ID, r.PostFormValue("language")); err != nil {
		return s.profileFormError(w, r, err)
	}
	return s.redirectWithNotice(w, r, "/profile", "notice_language_changed")
}

func (s *Server) profilePassword(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	if r.PostFormValue("new_password") != r.PostFormValue("new_password_again") {
		return s.profileFormError(w, r, fieldProblem("new_password_again", "error_password_mismatch"))
	}
	err := s.auth.ChangePassword(r.Context(), *v.session, r.PostFormValue("current_password"), r.PostFormValue("new_password"), v.client)
	if p, ok := problem.As(err); ok && p.Field == "password" {
		p.Field = "new_password"
	}
	if err != nil {
		return s.profileFormError(w, r, err)
	}
	return s.redirectWithNotice(w, r, "/profile", "notice_password_changed")
}

func (s *Server) profileRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	codes, err := s.auth.NewRecoveryCodes(r.Context(), *v.session, *v.user, r.PostFormValue("code"), v.client)
	if err != nil {
		return s.profileFormError(w, r, err)
	}
	s.render(w, r, http.StatusOK, "recovery", page{TitleKey: "recovery_title", Data: recoveryData{Codes: codes, Next: "/profile"}})
	return nil
}

// profileAuthenticator starts setting up a new phone after a code from the
// current one; the current phone keeps working until the new one is
// confirmed.
func (s *Server) profileAuthenticator(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	e, err := s.auth.ReplaceAuthenticator(r.Context(), *v.session, *v.user, r.PostFormValue("code"), v.client)
	if err != nil {
		return s.profileFormError(w, r, err)
	}
	s.render(w, r, http.StatusOK, "enrol", page{TitleKey: "enrol_title", Data: enrolData{Enrolment: e, Action: replaceAction}})
	return nil
}

const replaceAction = "/profile/authenticator/confirm"

func (s *Server) profileAuthenticatorPage(w http.ResponseWriter, r *http.Request) error {
	e, err := s.auth.PendingAuthenticator(r.Context(), *visitOf(r).user)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "enrol", page{TitleKey: "enrol_title", Data: enrolData{Enrolment: e, Action: replaceAction}})
	return nil
}

func (s *Server) profileAuthenticatorConfirm(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	err := s.auth.ConfirmAuthenticator(r.Context(), *v.session, *v.user, r.PostFormValue("code"), v.client)
	if err != nil {
		e, err2 := s.auth.PendingAuthenticator(r.Context(), *v.user)
		if err2 != nil {
			return err2
		}
		return s.formError(w, r, "enrol", page{TitleKey: "enrol_title", Data: enrolData{Enrolment: e, Action: replaceAction}}, err)
	}
	return s.redirectWithNotice(w, r, "/profile", "notice_authenticator_replaced")
}
