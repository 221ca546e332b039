package api

import (
	"net/http"
	"time"

	"github.com/openimi/openimi/internal/auth"
)

// Me is the signed-in user as the API shows it.
type Me struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Language string `json:"language"`
}

func meOf(u auth.User) Me { return Me{ID: u.ID, Email: u.Email, Name: u.Name, Language: u.Language} }

func (a *API) me(w http.ResponseWriter, r *http.Request, u auth.User) error {
	writeJSON(w, http.StatusOK, "", meOf(u))
	return nil
}

// MeUpdate is the body of PATCH /api/v1/me.
type MeUpdate struct {
	Language *string `json:"language"`
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request, u auth.User) error {
	var in MeUpdate
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Language != nil {
		if err := a.auth.SetLanguage(r.Context(), u.ID, *in.Language); err != nil {
			return err
		}
		u.Language = *in.Language
	}
	writeJSON(w, http.StatusOK, "", meOf(u))
	return nil
}

// Token describes an API token; its secret is never shown again.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func (a *API) tokens(w http.ResponseWriter, r *http.Request, u auth.User) error {
	list, err := a.auth.Tokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]Token, 0, len(list))
	for _, t := range list {
		out = append(out, Token{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, u auth.User) error {
	if err := a.auth.RevokeToken(r.Context(), u.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
