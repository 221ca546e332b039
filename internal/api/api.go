// Package api serves the JSON API under /api/v1 for system-to-system
// clients. Clients authenticate with an API token (Authorization: Bearer);
// the API calls the same services, with the same rules, as the web UI. The
// API is described in openapi.yaml at the repository's root.
package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
)

// API is the JSON API.
type API struct {
	auth        *auth.Service
	areas       *areas.Registry
	authorities *authorities.Service
	requests    *requests.Service
	broadcasts  *broadcasts.Service
	registers   *registers.Service
	stats       *stats.Service
	db          *db.DB
	catalog     *i18n.Catalog
	log         *slog.Logger
	maxBytes    int64
	spec        []byte
	trustXFF    bool
}

// New returns the API. spec is the OpenAPI document served at
// /api/v1/openapi.yaml.
func New(d Deps) *API {
	if d.MaxBytes <= 0 {
		d.MaxBytes = 1 << 20
	}
	return &API{auth: d.Auth, areas: d.Areas, authorities: d.Authorities, requests: d.Requests, broadcasts: d.Broadcasts, registers: d.Registers, stats: d.Stats, db: d.DB, catalog: d.Catalog, log: d.Log, maxBytes: d.MaxBytes, spec: d.Spec, trustXFF: d.TrustProxy}
}

// Deps are what the API needs.
type Deps struct {
	DB          *db.DB
	Auth        *auth.Service
	Areas       *areas.Registry
	Authorities *authorities.Service
	Requests    *requests.Service
	Broadcasts  *broadcasts.Service
	Registers   *registers.Service
	Stats       *stats.Service
	Catalog     *i18n.Catalog
	Log         *slog.Logger
	MaxBytes    int64 // largest accepted body
	TrustProxy  bool  // take the client address from X-Forwarded-For
	Spec        []byte
}

// handlerFunc is an API handler for an authenticated user.
type handlerFunc func(w http.ResponseWriter, r *http.Request, u auth.User) error

// Route is one entry of the API's route table.
type Route struct {
	Pattern string
	Access  string // "public" or "token"
	handler http.Handler
}

// Routes lists the API's routes.
func (a *API) Routes() []Route {
	return []Route{
		{"GET /api/v1/openapi.yaml", "public", http.HandlerFunc(a.openAPI)},
		{"GET /api/v1/me", "token", a.handle(a.me)},
		{"PATCH /api/v1/me", "token", a.handle(a.updateMe)},
		{"GET /api/v1/me/tokens", "token", a.handle(a.tokens)},
		{"PUT /api/v1/me/email-digest", "token", a.handle(a.setDigest)},
		{"GET /api/v1/notifications", "token", a.handle(a.notifications)},
		{"POST /api/v1/notifications/read", "token", a.handle(a.markRead)},
		{"DELETE /api/v1/me/tokens/{id}", "token", a.handle(a.revokeToken)},
		{"GET /api/v1/authorities", "token", a.handle(a.listAuthorities)},
		{"POST /api/v1/authorities", "token", a.handle(a.acting(a.createAuthority))},
		{"GET /api/v1/authorities/statistics", "token", a.handle(a.registryStats)},
		{"GET /api/v1/statistics/report", "token", a.handle(a.acting(a.statsReport))},
		{"GET /api/v1/statistics/{name}", "token", a.handle(a.acting(a.statistic))},
		{"POST /api/v1/authorities/import", "token", a.handleImport(a.acting(a.importAuthorities))},
		{"GET /api/v1/authorities/export", "token", a.handle(a.acting(a.exportAuthorities))},
		{"GET /api/v1/authorities/never-used", "token", a.handle(a.acting(a.neverUsed))},
		{"GET /api/v1/authorities/{id}", "token", a.handle(a.getAuthority)},
		{"PUT /api/v1/authorities/{id}", "token", a.handle(a.acting(a.updateAuthority))},
		{"POST /api/v1/authorities/{id}/status", "token", a.handle(a.acting(a.setAuthorityStatus))},
		{"GET /api/v1/authorities/{id}/history", "token", a.handle(a.acting(a.authorityHistory))},
		{"GET /api/v1/authorities/{id}/users", "token", a.handle(a.acting(a.listMembers))},
		{"POST /api/v1/authorities/{id}/users", "token", a.handle(a.acting(a.inviteMember))},
		{"PUT /api/v1/authorities/{id}/users/{user}/roles", "token", a.handle(a.acting(a.setMemberRoles))},
		{"GET /api/v1/requests", "token", a.handle(a.acting(a.listRequests))},
		{"POST /api/v1/requests", "token", a.handle(a.acting(a.createRequest))},
		{"GET /api/v1/requests/follow-up", "token", a.handle(a.acting(a.followUp))},
		{"GET /api/v1/requests/subject-data", "token", a.handle(a.acting(a.subjectData))},
		{"GET /api/v1/requests/{id}", "token", a.handle(a.acting(a.getRequest))},
		{"PUT /api/v1/requests/{id}", "token", a.handle(a.acting(a.updateRequest))},
		{"GET /api/v1/requests/{id}/timeline", "token", a.handle(a.acting(a.requestTimeline))},
		{"GET /api/v1/requests/{id}/handlers", "token", a.handle(a.acting(a.requestHandlers))},
		{"POST /api/v1/requests/{id}/copy", "token", a.handle(a.acting(a.copyRequest))},
		{"POST /api/v1/requests/{id}/attachments", "token", a.handleUpload(a.acting(a.attachFile))},
		{"GET /api/v1/requests/{id}/attachments/{attachment}", "token", a.handle(a.acting(a.downloadAttachment))},
		{"POST /api/v1/requests/{id}/actions/{action}", "token", a.handle(a.acting(a.requestAction))},
		{"GET /api/v1/alerts", "token", a.handle(a.acting(a.listCases))},
		{"POST /api/v1/alerts", "token", a.handle(a.acting(a.createCase))},
		{"GET /api/v1/alerts/statistics", "token", a.handle(a.acting(a.caseStatistics))},
		{"GET /api/v1/alerts/{id}", "token", a.handle(a.acting(a.readCase))},
		{"PUT /api/v1/alerts/{id}", "token", a.handle(a.acting(a.updateCase))},
		{"GET /api/v1/alerts/{id}/timeline", "token", a.handle(a.acting(a.caseTimeline))},
		{"GET /api/v1/alerts/{id}/candidates", "token", a.handle(a.acting(a.caseCandidates))},
		{"POST /api/v1/alerts/{id}/actions/{action}", "token", a.handle(a.acting(a.caseAction))},
		{"GET /api/v1/measures", "token", a.handle(a.acting(a.listCases))},
		{"POST /api/v1/measures", "token", a.handle(a.acting(a.createCase))},
		{"GET /api/v1/measures/statistics", "token", a.handle(a.acting(a.caseStatistics))},
		{"GET /api/v1/measures/{id}", "token", a.handle(a.acting(a.readCase))},
		{"PUT /api/v1/measures/{id}", "token", a.handle(a.acting(a.updateCase))},
		{"GET /api/v1/measures/{id}/timeline", "token", a.handle(a.acting(a.caseTimeline))},
		{"GET /api/v1/measures/{id}/candidates", "token", a.handle(a.acting(a.caseCandidates))},
		{"POST /api/v1/measures/{id}/actions/{action}", "token", a.handle(a.acting(a.caseAction))},
		{"GET /api/v1/registers", "token", a.handle(a.acting(a.listRegisters))},
		{"POST /api/v1/registers", "token", a.handle(a.acting(a.createRegister))},
		{"GET /api/v1/registers/export", "token", a.handle(a.acting(a.exportRegisters))},
		{"POST /api/v1/registers/import", "token", a.handleImport(a.acting(a.importRegisters))},
		{"GET /api/v1/registers/{id}", "token", a.handle(a.acting(a.getRegister))},
		{"PUT /api/v1/registers/{id}", "token", a.handle(a.acting(a.updateRegister))},
		{"POST /api/v1/registers/{id}/validate", "token", a.handle(a.acting(a.validateRegister))},
		{"POST /api/v1/registers/{id}/withdraw", "token", a.handle(a.acting(a.withdrawRegister))},
		{"GET /api/v1/registers/{id}/history", "token", a.handle(a.acting(a.registerHistory))},
		{"GET /api/v1/areas", "token", a.handle(a.listAreas)},
		{"GET /api/v1/areas/{area}", "token", a.handle(a.getArea)},
		{"GET /api/v1/areas/{area}/question-sets/{set}", "token", a.handle(a.getQuestionSet)},
		{"GET /api/v1/areas/{area}/vocabularies/{vocabulary}", "token", a.handle(a.getVocabulary)},
	}
}

// Register mounts the API on mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Pattern, rt.handler)
	}
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, nil, problem.New(problem.NotFound, "error_not_found"))
	}))
}

// handle authenticates the token, limits the body and turns errors into
// JSON problem responses.
func (a *API) handle(h handlerFunc) http.Handler { return a.handleLimit(h, a.maxBytes) }

// maxImportBytes bounds an import file: 100,000 authorities fit well.
const maxImportBytes = 64 << 20

// handleLimit is handle with a body limit of its own.
func (a *API) handleLimit(h handlerFunc, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openimi"`)
			a.fail(w, r, nil, problem.New(problem.Unauthorized, "error_token_invalid"))
			return
		}
		u, err := a.auth.AuthenticateToken(r.Context(), strings.TrimSpace(token), auth.ClientFromRequest(r, a.trustXFF).Address)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openimi", error="invalid_token"`)
			a.fail(w, r, nil, err)
			return
		}
		if err := h(w, r, u); err != nil {
			a.fail(w, r, &u, err)
		}
	})
}

// Error is the body of every error response.
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a machine-readable code and a message in the client's
// language.
type ErrorDetail struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// FieldError is a problem with one field of the request body.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, u *auth.User, err error) {
	profile := ""
	if u != nil {
		profile = u.Language
	}
	l := a.catalog.Localizer(a.catalog.Negotiate(profile, r.Header.Get("Accept-Language")))
	var list problem.List
	p, isProblem := problem.As(err)
	switch {
	case errors.As(err, &list):
		body := Error{ErrorDetail{Code: "invalid", Message: l.T("error_form")}}
		for _, pe := range list {
			body.Error.Fields = append(body.Error.Fields, FieldError{Field: pe.Field, Code: pe.Key, Message: pe.Message(l)})
		}
		writeJSON(w, http.StatusBadRequest, l.Lang(), body)
		return
	case isProblem:
	case errors.Is(err, db.ErrUnavailable):
		a.log.Warn("database unavailable", "path", r.URL.Path, "err", err)
		p = problem.New(problem.Unavailable, "error_unavailable")
	case r.Context().Err() != nil:
		// The client went away (or stopped sending): not a failure of ours.
		a.log.Debug("request abandoned", "path", r.URL.Path, "err", err)
		p = problem.New(problem.Invalid, "error_bad_form")
	default:
		a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		p = problem.New(0, "error_internal", "Reference", "api")
	}
	if p.Kind == problem.Unavailable {
		w.Header().Set("Retry-After", "10")
	}
	body := Error{ErrorDetail{Code: p.Key, Message: p.Message(l)}}
	if p.Field != "" {
		body.Error.Code = "invalid"
		body.Error.Fields = []FieldError{{Field: p.Field, Code: p.Key, Message: p.Message(l)}}
	}
	writeJSON(w, p.Kind.HTTPStatus(), l.Lang(), body)
}

func writeJSON(w http.ResponseWriter, code int, lang string, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if lang != "" {
		w.Header().Set("Content-Language", lang)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: the right content type, known fields
// only, one object, within the size limit.
func decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.New(problem.Invalid, "error_bad_form")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return problem.New(problem.TooLarge, "error_too_large")
		}
		return problem.New(problem.Invalid, "error_bad_form")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.New(problem.Invalid, "error_bad_form")
	}
	return nil
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	_, _ = w.Write(a.spec)
}
