package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/i18n"
)

// visit is what the middleware learns about a request: who asks, in which
// language, and the CSP nonce of the page being rendered.
type visit struct {
	nonce   string
	lang    *i18n.Localizer
	session *auth.Session
	user    *auth.User
	token   string // session cookie's token
	csrf    string // expected CSRF token
	expired bool   // the request carried a session cookie that has ended
	client  auth.Client
}

type visitKey struct{}

func visitOf(r *http.Request) *visit {
	if v, ok := r.Context().Value(visitKey{}).(*visit); ok {
		return v
	}
	return &visit{}
}

func withVisit(r *http.Request, v *visit) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), visitKey{}, v))
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// langCookie remembers the language an anonymous visitor chose.
const langCookie = "imi_lang"

// negotiate picks the page language: the user's profile, then the choice of
// an anonymous visitor, then Accept-Language, then English.
func (s *Server) negotiate(r *http.Request, u *auth.User) *i18n.Localizer {
	profile := ""
	if u != nil {
		profile = u.Language
	}
	if profile == "" {
		if c, err := r.Cookie(langCookie); err == nil {
			profile = c.Value
		}
	}
	return s.catalog.Localizer(s.catalog.Negotiate(profile, r.Header.Get("Accept-Language")))
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{ // #nosec G124 -- HttpOnly and SameSite always; Secure whenever the public URL is https
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   s.cfg.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}
