package api

import (
	"net/http"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/notify"
)

// NoticeJSON is an in-app notification.
type NoticeJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Reference string    `json:"reference"`
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

// notifications lists the caller's latest notifications.
func (a *API) notifications(w http.ResponseWriter, r *http.Request, u auth.User) error {
	list, unread, err := notify.Notices(r.Context(), a.db.Read(), u.ID, 100)
	if err != nil {
		return err
	}
	items := make([]NoticeJSON, 0, len(list))
	for _, n := range list {
		items = append(items, NoticeJSON{ID: n.ID, Kind: n.Kind, Reference: n.Reference, Link: n.Link, CreatedAt: n.CreatedAt, Read: n.Read})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items, "unread": unread})
	return nil
}

// markRead marks every notification of the caller read.
func (a *API) markRead(w http.ResponseWriter, r *http.Request, u auth.User) error {
	if err := notify.MarkRead(r.Context(), a.db, u.ID, time.Now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setDigest chooses between an e-mail per notification and a daily digest.
func (a *API) setDigest(w http.ResponseWriter, r *http.Request, u auth.User) error {
	var in struct {
		EmailDigest bool `json:"email_digest"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := notify.SetDigest(r.Context(), a.db, u.ID, in.EmailDigest); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"email_digest": in.EmailDigest})
	return nil
}
