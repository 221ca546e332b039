package web

import (
	"net/http"
	"strings"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
)

// Route is one entry of the route table: a ServeMux pattern and who may use
// it. The table is exported so that the access tests can enumerate it.
type Route struct {
	Pattern string
	Access  string
	handler http.Handler
}

func (s *Server) routes() []Route {
	r := func(pattern string, a access, h handlerFunc) Route {
		names := map[access]string{public: "public", anonymous: "anonymous", secondFactor: "second-factor", enrolment: "enrolment", signedIn: "signed-in"}
		return Route{Pattern: pattern, Access: names[a], handler: s.handle(a, h)}
	}
	return []Route{
		r("GET /{$}", signedIn, s.home),
		r("GET /sign-in", anonymous, s.signInPage),
		r("POST /sign-in", anonymous, s.signIn),
		r("GET /sign-in/code", secondFactor, s.codePage),
		r("POST /sign-in/code", secondFactor, s.code),
		r("GET /sign-in/enrol", enrolment, s.enrolPage),
		r("POST /sign-in/enrol", enrolment, s.enrol),
		r("POST /sign-out", public, s.signOut),
		r("GET /password/forgot", anonymous, s.forgotPage),
		r("POST /password/forgot", anonymous, s.forgot),
		r("GET /password/reset/{token}", anonymous, s.resetPage),
		r("POST /password/reset/{token}", anonymous, s.reset),
		r("GET /profile", signedIn, s.profile),
		r("POST /profile/language", signedIn, s.profileLanguage),
		r("POST /profile/password", signedIn, s.profilePassword),
		r("POST /profile/recovery-codes", signedIn, s.profileRecoveryCodes),
		r("POST /profile/authenticator", signedIn, s.profileAuthenticator),
		r("GET /profile/authenticator", signedIn, s.profileAuthenticatorPage),
		r("POST /profile/authenticator/confirm", signedIn, s.profileAuthenticatorConfirm),
		r("GET /language", public, s.languagePage),
		r("POST /language", public, s.chooseLanguage),
		r("GET /help", public, s.help),
		r("GET /open-data", public, s.openData),
		r("GET /authorities", signedIn, s.acting(s.authoritiesPage)),
		r("GET /authorities/new", signedIn, s.acting(s.newAuthorityPage)),
		r("POST /authorities/new", signedIn, s.acting(s.createAuthority)),
		r("POST /authorities/invite", signedIn, s.acting(s.inviteAuthority)),
		r("GET /authorities/never-used", signedIn, s.acting(s.neverUsedPage)),
		r("GET /authorities/statistics", signedIn, s.registryStatsPage),
		r("GET /statistics", signedIn, s.statsIndex),
		r("GET /statistics/report", signedIn, s.acting(s.statsReport)),
		r("GET /statistics/{name}", signedIn, s.acting(s.statsPage)),
		r("GET /statistics/{name}/export", signedIn, s.acting(s.statsExport)),
		r("GET /authorities/import", signedIn, s.acting(s.importPage)),
		r("POST /authorities/import", signedIn, s.acting(s.importAuthorities)),
		r("GET /authorities/export", signedIn, s.acting(s.exportAuthorities)),
		r("GET /authorities/{id}", signedIn, s.acting(s.authorityPage)),
		r("GET /authorities/{id}/edit", signedIn, s.acting(s.editAuthorityPage)),
		r("POST /authorities/{id}/edit", signedIn, s.acting(s.updateAuthority)),
		r("POST /authorities/{id}/status/{action}", signedIn, s.acting(s.authorityStatus)),
		r("GET /authorities/{id}/history", signedIn, s.acting(s.authorityHistory)),
		r("GET /authorities/{id}/users", signedIn, s.acting(s.membersPage)),
		r("POST /authorities/{id}/users", signedIn, s.acting(s.inviteMember)),
		r("POST /authorities/{id}/users/{user}/roles", signedIn, s.acting(s.memberRoles)),
		r("POST /authorities/{id}/users/{user}/deactivate", signedIn, s.acting(s.deactivateMember)),
		r("POST /authorities/{id}/remind", signedIn, s.acting(s.remindAuthority)),
		r("GET /invitation/{token}", anonymous, s.invitationPage),
		r("POST /invitation/{token}", anonymous, s.acceptInvitation),
		r("GET /register/{token}", anonymous, s.registerPage),
		r("POST /register/{token}", anonymous, s.register),
		r("GET /notifications", signedIn, s.notificationsPage),
		r("POST /notifications/read", signedIn, s.markNotificationsRead),
		r("POST /profile/digest", signedIn, s.profileDigest),
		r("GET /requests", signedIn, s.acting(s.inboxPage)),
		r("GET /requests/new", signedIn, s.acting(s.newRequestPage)),
		r("GET /requests/follow-up", signedIn, s.acting(s.followUpPage)),
		r("GET /requests/subject-data", signedIn, s.acting(s.subjectDataPage)),
		r("POST /requests/new", signedIn, s.acting(s.createRequest)),
		r("GET /requests/{id}", signedIn, s.acting(s.requestPage)),
		r("GET /requests/{id}/edit", signedIn, s.acting(s.editRequestPage)),
		r("POST /requests/{id}/edit", signedIn, s.acting(s.createRequest)),
		r("POST /requests/{id}/actions/{action}", signedIn, s.acting(s.requestAction)),
		r("POST /requests/{id}/copy", signedIn, s.acting(s.copyRequest)),
		r("POST /requests/{id}/attachments", signedIn, s.acting(s.attachFile)),
		r("GET /requests/{id}/attachments/{attachment}", signedIn, s.acting(s.downloadAttachment)),
		r("GET /alerts", signedIn, s.acting(s.casesPage)),
		r("GET /alerts/new", signedIn, s.acting(s.newCasePage)),
		r("POST /alerts/new", signedIn, s.acting(s.createCase)),
		r("GET /alerts/statistics", signedIn, s.acting(s.broadcastStatsPage)),
		r("GET /alerts/{id}", signedIn, s.acting(s.casePage)),
		r("GET /alerts/{id}/edit", signedIn, s.acting(s.editCasePage)),
		r("POST /alerts/{id}/edit", signedIn, s.acting(s.createCase)),
		r("POST /alerts/{id}/actions/{action}", signedIn, s.acting(s.caseAction)),
		r("GET /measures", signedIn, s.acting(s.casesPage)),
		r("GET /measures/new", signedIn, s.acting(s.newCasePage)),
		r("POST /measures/new", signedIn, s.acting(s.createCase)),
		r("GET /measures/statistics", signedIn, s.acting(s.broadcastStatsPage)),
		r("GET /measures/{id}", signedIn, s.acting(s.casePage)),
		r("GET /measures/{id}/edit", signedIn, s.acting(s.editCasePage)),
		r("POST /measures/{id}/edit", signedIn, s.acting(s.createCase)),
		r("POST /measures/{id}/actions/{action}", signedIn, s.acting(s.caseAction)),
		r("GET /registers", signedIn, s.acting(s.registersPage)),
		r("GET /registers/new", signedIn, s.acting(s.newRegisterPage)),
		r("POST /registers/new", signedIn, s.acting(s.saveRegister)),
		r("GET /registers/export", signedIn, s.acting(s.exportRegisters)),
		r("GET /registers/import", signedIn, s.acting(s.registerImportPage)),
		r("POST /registers/import", signedIn, s.acting(s.importRegisters)),
		r("GET /registers/{id}", signedIn, s.acting(s.registerEntryPage)),
		r("GET /registers/{id}/edit", signedIn, s.acting(s.editRegisterPage)),
		r("POST /registers/{id}/edit", signedIn, s.acting(s.saveRegister)),
		r("POST /registers/{id}/validate", signedIn, s.acting(s.validateRegister)),
		r("POST /registers/{id}/withdraw", signedIn, s.acting(s.withdrawRegister)),
		r("GET /registers/{id}/history", signedIn, s.acting(s.registerHistory)),
		r("GET /areas", signedIn, s.areasPage),
		r("GET /areas/{area}", signedIn, s.areaPage),
		r("GET /areas/{area}/vocabularies/{vocabulary}", signedIn, s.vocabularyPage),
		r("GET /areas/{area}/question-sets/{set}", signedIn, s.questionSetPage),
	}
}

// Routes lists the UI's routes with their access rule.
func (s *Server) Routes() []Route { return s.routes() }

// Handler returns the UI with its middleware, mounted on mux together with
// the static assets.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, rt.handler)
	}
	mux.Handle("GET /static/", s.assets.Handler())
	mux.Handle("/", s.handle(public, s.notFound))
}

// Wrap adds the UI's middleware around a handler (the whole mux).
func (s *Server) Wrap(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errCSRF)
	}))
	return s.recoverPanics(s.securityHeaders(s.limitBody(s.refuseUnreadableText(s.identifyExceptStatic(cop.Handler(h))))))
}

// identifyExceptStatic skips session look-ups for assets and health checks,
// which need neither.
func (s *Server) identifyExceptStatic(next http.Handler) http.Handler {
	identified := s.identify(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// A page reads the same authorities several times; a request
			// that changes nothing may remember them (authorities.WithMemo).
			r = r.WithContext(authorities.WithMemo(r.Context()))
		} else {
			// A form remembers them, and its session's registry revision,
			// until one of its transactions ends or a second has passed
			// (authorities.WithFormMemo): a form whose body was slow to
			// arrive checks the user's roles and authority as they are
			// once it has arrived.
			r = r.WithContext(authorities.WithFormMemo(r.Context()))
		}
		switch p := r.URL.Path; {
		case len(p) > 8 && p[:8] == "/static/", p == "/healthz", p == "/readyz", p == "/metrics", len(p) > 8 && p[:8] == "/api/v1/", strings.HasPrefix(p, "/public/"):
			v := visitOf(r)
			v.lang = s.negotiate(r, nil)
			v.client = auth.ClientFromRequest(r, s.cfg.TrustProxyHeaders)
			next.ServeHTTP(w, r)
		default:
			identified.ServeHTTP(w, r)
		}
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	v := visitOf(r)
	s.render(w, r, http.StatusNotFound, "error", page{TitleKey: "error_title", Error: v.lang.T("error_not_found")})
	return nil
}
