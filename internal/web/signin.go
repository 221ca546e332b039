package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/requests"
)

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "signin", page{TitleKey: "signin_title", Form: r.URL.Query()})
	return nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	token, stage, err := s.auth.SignIn(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"), v.client)
	if err != nil {
		return s.formError(w, r, "signin", page{TitleKey: "signin_title"}, err)
	}
	s.startSession(w, token)
	next := "/sign-in/code"
	if stage == auth.StageEnrol {
		next = "/sign-in/enrol"
	}
	if n := safeNext(r.PostFormValue("next")); n != "/" {
		next += "?next=" + url.QueryEscape(n)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// startSession sets the session cookie. Its lifetime is the browser's
// session; the server enforces the idle and absolute limits.
func (s *Server) startSession(w http.ResponseWriter, token string) {
	s.setCookie(w, s.cookieSes, token, 0)
}

func (s *Server) codePage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "code", page{TitleKey: "code_title", Form: r.URL.Query()})
	return nil
}

func (s *Server) code(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	token, err := s.auth.VerifySecondFactor(r.Context(), *v.session, r.PostFormValue("code"), v.client)
	if err != nil {
		return s.formError(w, r, "code", page{TitleKey: "code_title"}, err)
	}
	s.startSession(w, token)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther) // #nosec G710 -- safeNext admits local paths only
	return nil
}

func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderEnrol(w, r, http.StatusOK, page{})
}

func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, code int, p page) error {
	e, err := s.auth.BeginEnrolment(r.Context(), *visitOf(r).session)
	if err != nil {
		return err
	}
	p.TitleKey, p.Data = "enrol_title", enrolData{Enrolment: e, Action: "/sign-in/enrol"}
	s.render(w, r, code, "enrol", p)
	return nil
}

func (s *Server) enrol(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	token, codes, err := s.auth.ConfirmEnrolment(r.Context(), *v.session, r.PostFormValue("code"), v.client)
	if err != nil {
		e, err2 := s.auth.BeginEnrolment(r.Context(), *v.session)
		if err2 != nil {
			return err2
		}
		return s.formError(w, r, "enrol", page{TitleKey: "enrol_title", Data: enrolData{Enrolment: e, Action: "/sign-in/enrol"}}, err)
	}
	s.startSession(w, token)
	// The recovery codes are shown once, on this response, never again.
	s.render(w, r, http.StatusOK, "recovery", page{TitleKey: "recovery_title", Data: recoveryData{Codes: codes, Next: safeNext(r.PostFormValue("next"))}})
	return nil
}

// enrolData is the enrolment page: first sign-in, or a new phone.
type enrolData struct {
	auth.Enrolment
	Action string
}

type recoveryData struct {
	Codes []string
	Next  string
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	if v.session != nil {
		if err := s.auth.SignOut(r.Context(), *v.session, v.client.Address); err != nil {
			return err
		}
	}
	s.setCookie(w, s.cookieSes, "", -1)
	return s.redirectWithNotice(w, r, "/sign-in", "notice_signed_out")
}

// home is "My work": what waits for the user in each inbox.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	actor, err := s.actorOf(r)
	if err != nil {
		return err
	}
	d := homeData{Now: s.now()}
	// Only what waits for the user: the other boxes are not counted here.
	reqs, err := s.requests.Count(r.Context(), actor, requests.ToDo)
	if err != nil {
		return err
	}
	alerts, err := s.broadcasts.Count(r.Context(), actor, broadcasts.Alert, broadcasts.ToDo)
	if err != nil {
		return err
	}
	measures, err := s.broadcasts.Count(r.Context(), actor, broadcasts.Notification, broadcasts.ToDo)
	if err != nil {
		return err
	}
	for _, x := range []workLine{{"home_count_requests", "/requests", reqs}, {"home_count_alerts", "/alerts", alerts},
		{"home_count_measures", "/measures", measures}} {
		if x.Count > 0 {
			d.Work = append(d.Work, x)
		}
	}
	s.render(w, r, http.StatusOK, "home", page{TitleKey: "home_title", Data: d})
	return nil
}

type homeData struct {
	Now  time.Time
	Work []workLine
}

// workLine is one inbox with work waiting.
type workLine struct {
	Key, Link string
	Count     int
}

// openData describes the public endpoints for portal operators.
func (s *Server) openData(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "open_data", page{TitleKey: "open_data_title"})
	return nil
}

func (s *Server) help(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "help", page{TitleKey: "help_title"})
	return nil
}
