package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

// securityHeaders sets the headers every response carries, including a CSP
// whose nonce is fresh for each response.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitOf(r)
		v.nonce = randomString(18)
		r = withVisit(r, v)
		h := w.Header()
		h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'self' 'nonce-%[1]s'; style-src 'self' 'nonce-%[1]s'; "+
			"img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'", v.nonce))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into the generic error page; the stack goes to
// the log only.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The per-request state is made here, outermost, so that the
		// error page of a panic still knows the visitor's language.
		r = withVisit(r, visitOf(r))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.fail(w, r, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; a larger body is a TooLarge problem when
// the form is parsed.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The API caps each body itself, files and imports at their own
		// limits: a cap here would win over theirs (the smaller of nested
		// MaxBytesReaders applies).
		if r.Body != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
			limit := s.cfg.MaxFormBytes
			var tooLarge error // a file: a larger declared body is refused before it is read
			if r.URL.Path == "/authorities/import" || r.URL.Path == "/registers/import" {
				limit = maxImportBytes // a file of authorities or registers, not a form
				tooLarge = problem.New(problem.TooLarge, "error_too_large")
			}
			if strings.HasPrefix(r.URL.Path, "/requests/") && strings.HasSuffix(r.URL.Path, "/attachments") && s.requests != nil {
				// A file, with room for the form around it.
				limit = s.requests.MaxAttachment() + 64<<10
				tooLarge = problem.New(problem.TooLarge, "error_attachment_too_large", "Max", s.requests.MaxAttachment()>>20)
			}
			if tooLarge != nil && r.ContentLength > limit {
				w.Header().Set("Connection", "close")
				s.fail(w, r, tooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// identify loads the session named by the cookie, if any, and negotiates the
// language. A session that has expired is simply absent.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitOf(r)
		v.client = auth.ClientFromRequest(r, s.cfg.TrustProxyHeaders)
		if c, err := r.Cookie(s.cookieSes); err == nil && c.Value != "" {
			sess, u, err := s.auth.SessionByToken(r.Context(), c.Value)
			switch _, isProblem := problem.As(err); {
			case err == nil:
				v.session, v.user, v.token, v.csrf = &sess, &u, c.Value, sess.CSRFToken
				authorities.KnowRevision(r.Context(), sess.RegistryRevision)
			case isProblem:
				s.setCookie(w, s.cookieSes, "", -1)
				v.expired = true
			default:
				v.lang = s.negotiate(r, nil)
				s.fail(w, r, err)
				return
			}
		}
		v.lang = s.negotiate(r, v.user)
		if v.session == nil {
			// Anonymous forms use a double-submit cookie (see
			// docs/ARCHITECTURE.md, "CSRF").
			if c, err := r.Cookie(s.cookieCSR); err == nil && len(c.Value) >= 16 {
				v.csrf = c.Value
			} else {
				v.csrf = randomString(24)
				s.setCookie(w, s.cookieCSR, v.csrf, 0)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// csrfField is the name of the hidden form field carrying the token.
const csrfField = "csrf"

var errCSRF = problem.New(problem.Forbidden, "error_csrf")

// checkCSRF verifies the token of a state-changing form request. Go's
// CrossOriginProtection runs before it and refuses cross-site requests by
// their Sec-Fetch-Site and Origin headers; the token also covers older
// browsers that send neither.
func (s *Server) checkCSRF(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	got := r.PostFormValue(csrfField)
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	v := visitOf(r)
	if v.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// parseForm parses the request's form and maps a too-large body to a
// problem.
func parseForm(r *http.Request) error {
	parse := r.ParseForm
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// A file upload: files above 8 MiB go to temporary files.
		parse = func() error { return r.ParseMultipartForm(8 << 20) } // #nosec G120 -- limitBody caps every body with http.MaxBytesReader
	}
	if err := parse(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return problem.New(problem.TooLarge, "error_too_large")
		}
		return problem.New(problem.Invalid, "error_bad_form")
	}
	for _, vals := range r.PostForm {
		for _, val := range vals {
			if len(val) > maxFieldBytes {
				return problem.New(problem.TooLarge, "error_field_too_long")
			}
			// NUL and broken UTF-8 are never text, and PostgreSQL
			// refuses to store them.
			if strings.ContainsRune(val, 0) || !utf8.ValidString(val) {
				return problem.New(problem.Invalid, "error_text_invalid")
			}
		}
	}
	return nil
}

// maxFieldBytes caps any single form field.
const maxFieldBytes = 10_000

// refuseUnreadableText answers 400 to a request whose path or query holds
// NUL or bytes that are not UTF-8, for the UI, the API and the public
// endpoints alike. No link, form or identifier of OpenIMI has them, and
// PostgreSQL refuses them as query parameters: "/requests/%00" or
// "?area=%ff" would otherwise fail with a server error.
func (s *Server) refuseUnreadableText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readable(r.URL.Path) && readableQuery(r.URL.RawQuery) {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/public/") {
			l := s.negotiate(r, nil)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": "error_bad_form", "message": l.T("error_bad_form")}})
			return
		}
		s.fail(w, r, problem.New(problem.Invalid, "error_bad_form"))
	})
}

func readable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// readableQuery checks every name and value of a query (pairs that do not
// parse are ignored, as the handlers ignore them).
func readableQuery(raw string) bool {
	q, _ := url.ParseQuery(raw)
	for k, vs := range q {
		if !readable(k) {
			return false
		}
		for _, v := range vs {
			if !readable(v) {
				return false
			}
		}
	}
	return true
}
