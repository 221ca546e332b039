package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
)

// handlerFunc is a page handler. It returns an error instead of writing one,
// so that exactly one place (fail) turns errors into responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access says who may reach a route.
type access int

const (
	public       access = iota // anyone, signed in or not
	anonymous                  // only visitors who are not signed in
	secondFactor               // a session at the second-factor step
	enrolment                  // a session at the enrolment step
	signedIn                   // a full session
)

// handle wraps a handler with its access rule, the CSRF check and the
// error page.
func (s *Server) handle(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitOf(r)
		if err := s.admit(w, r, a, v); err != nil {
			s.fail(w, r, err)
			return
		}
		// No page may be stored by browsers or proxies: signed-in pages
		// hold personal data, and anonymous ones carry tokens (CSRF, reset
		// links). Only the static assets are cached.
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := parseForm(r); err != nil {
				s.fail(w, r, err)
				return
			}
			if err := s.checkCSRF(r); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// errRedirected tells fail that admit already answered with a redirect.
var errRedirected = errors.New("redirected")

// admit checks the access rule, redirecting a visitor to the step of sign-in
// they are at.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, a access, v *visit) error {
	stage := auth.Stage("")
	if v.session != nil {
		stage = v.session.Stage
	}
	want := map[access]auth.Stage{secondFactor: auth.StageSecondFactor, enrolment: auth.StageEnrol, signedIn: auth.StageFull}
	switch {
	case a == public:
		return nil
	case a == anonymous && stage == "":
		return nil
	case stage == want[a] && a != anonymous:
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && stage == "" {
		return problem.New(problem.Unauthorized, "error_session_expired")
	}
	if v.expired {
		// Say why the visitor lands on the sign-in page.
		s.setCookie(w, noticeCookie, "error_session_expired", 60)
	}
	http.Redirect(w, r, stepPath(stage, r), http.StatusSeeOther)
	return errRedirected
}

// stepPath is where a visitor at a sign-in stage belongs.
func stepPath(stage auth.Stage, r *http.Request) string {
	switch stage {
	case auth.StageSecondFactor:
		return "/sign-in/code"
	case auth.StageEnrol:
		return "/sign-in/enrol"
	case auth.StageFull:
		return "/"
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || next == "/" || strings.HasPrefix(next, "/sign-in") {
		return "/sign-in"
	}
	return "/sign-in?next=" + url.QueryEscape(next)
}

// fail answers with the error page: a translated message and the right
// status for problems, 503 when the database is unreachable, and a generic
// 500 (details in the log only) for anything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errRedirected) {
		return
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		s.log.Debug("request abandoned", "path", r.URL.Path, "err", err)
		return
	}
	v := visitOf(r)
	if v.lang == nil {
		v.lang = s.negotiate(r, nil)
	}
	p, ok := problem.As(err)
	switch {
	case ok:
		if p.Kind == problem.Unauthorized && p.Key == "error_session_expired" && r.Method == http.MethodGet {
			http.Redirect(w, r, stepPath("", r), http.StatusSeeOther) // #nosec G710 -- stepPath answers a local path, the request's own URI query-escaped
			return
		}
	case errors.Is(err, db.ErrUnavailable):
		s.log.Warn("database unavailable", "path", r.URL.Path, "err", err)
		p = problem.New(problem.Unavailable, "error_unavailable")
	default:
		ref := randomString(6)
		s.log.Error("request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		p = problem.New(0, "error_internal", "Reference", ref)
	}
	retryAfter(w, p.Kind.HTTPStatus())
	s.render(w, r, p.Kind.HTTPStatus(), "error", page{TitleKey: "error_title", Error: p.Message(v.lang)})
}

// retryAfter tells clients of a 503 (the database, or the password
// hashing, is busy or down) when to try again.
func retryAfter(w http.ResponseWriter, code int) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "10")
	}
}

// page is the data every template receives.
type page struct {
	L         *i18n.Localizer
	Nonce     string
	CSRF      string
	User      *auth.User
	Path      string
	Languages []i18n.Language
	TitleKey  string
	Heading   string            // the page's own name (an area, a question set), instead of TitleKey's text
	Error     string            // a problem with the whole form
	Errors    map[string]string // problems with single fields, by field name
	Summary   []fieldError      // the same, in form order, for the error summary
	Notice    string
	Form      url.Values    // the user's input, shown again after an error
	Nav       template.HTML // the site's navigation, for a user signed in with a second factor (nav)
	Data      any
}

// render executes a page template into a buffer first, so that a template
// error never leaves a half-written page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	v := visitOf(r)
	p.L, p.Nonce, p.CSRF, p.User, p.Path, p.Languages = v.lang, v.nonce, v.csrf, v.user, r.URL.Path, i18n.Languages
	if p.Notice == "" {
		p.Notice = s.takeNotice(w, r, v.lang)
	}
	var err error
	if v.user != nil && v.user.TOTPEnabled && p.Path != "/sign-in/code" && p.Path != "/sign-in/enrol" {
		p.Nav, err = s.nav(v.lang, p.Path)
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	var t *template.Template
	if err == nil {
		t, err = s.pagesIn(v.lang)
	}
	switch {
	case err != nil:
	case !s.pages[name]:
		err = errors.New("no such template")
	default:
		err = renderPage(buf, t, name, p)
	}
	if err != nil {
		s.log.Error("template failed", "name", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.lang.Lang())
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// renderPage writes page name, from set t, into buf: the layout's head,
// the page's content, the layout's foot.
func renderPage(buf *bytes.Buffer, t *template.Template, name string, p page) error {
	for _, part := range [...]string{"layout_head", pageTemplate(name), "layout_foot"} {
		if err := t.ExecuteTemplate(buf, part, p); err != nil {
			return err
		}
	}
	return nil
}

// pageBuffers keeps the buffers pages are rendered into (a request's page
// is about 30 KB): growing a new one for every page was a few percent of
// the processor time of the busiest pages.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putPageBuffer returns a buffer to the pool, unless an exceptional page
// (a long list) made it too large to keep.
func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	pageBuffers.Put(b)
}

// formError renders a form page again with the user's input and the
// problem(s) next to the fields concerned. Errors that are not problems
// are passed on to fail.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, name string, p page, err error) error {
	v := visitOf(r)
	var list problem.List
	if !errors.As(err, &list) {
		pe, ok := problem.As(err)
		if !ok {
			return err
		}
		list = problem.List{pe}
	}
	p.Errors = map[string]string{}
	code := http.StatusBadRequest
	for _, pe := range list {
		code = pe.Kind.HTTPStatus()
		if pe.Field != "" {
			msg := pe.Message(v.lang)
			p.Errors[pe.Field] = msg
			p.Summary = append(p.Summary, fieldError{Field: pe.Field, Message: msg})
		} else {
			p.Error = pe.Message(v.lang)
		}
	}
	if p.Error == "" {
		p.Error = v.lang.T("error_form")
	}
	retryAfter(w, code)
	p.Form = r.PostForm
	// Never echo secrets back into the page.
	for _, f := range []string{"password", "current_password", "new_password", "code"} {
		p.Form.Del(f)
	}
	s.render(w, r, code, name, p)
	return nil
}

// fieldError links an entry of the error summary to its field.
type fieldError struct {
	Field   string
	Message string
}

// noticeCookie carries a one-time confirmation message across a redirect.
const noticeCookie = "imi_notice"

// notices are the messages noticeCookie may name; anything else is ignored.
var notices = map[string]bool{
	"notice_signed_out": true, "notice_password_changed": true, "notice_language_changed": true,
	"notice_reset_sent": true, "notice_password_reset": true, "notice_welcome": true,
	"error_session_expired": true, "notice_authenticator_replaced": true,
	"notice_authority_registered": true, "notice_authority_saved": true, "notice_invitation_sent": true, "notice_roles_saved": true,
	"notice_reminder_sent": true, "notice_account_ready": true, "notice_authority_submitted": true,
	"notice_request_saved": true, "notice_request_done": true, "notice_register_saved": true, "notice_register_validated": true, "notice_register_withdrawn": true,
}

func (s *Server) redirectWithNotice(w http.ResponseWriter, r *http.Request, to, key string) error {
	s.setCookie(w, noticeCookie, key, 60)
	http.Redirect(w, r, to, http.StatusSeeOther) // #nosec G710 -- every caller passes a path under a fixed local prefix
	return nil
}

func (s *Server) takeNotice(w http.ResponseWriter, r *http.Request, l *i18n.Localizer) string {
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	s.setCookie(w, noticeCookie, "", -1)
	if !notices[c.Value] {
		return ""
	}
	return l.T(c.Value)
}

// safeNext returns a local path to go to after sign-in, never another site:
// no scheme, no host, no backslash or control character that a browser
// might strip or reinterpret ("/\t/evil.example" becomes "//evil.example").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}
