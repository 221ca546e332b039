package requests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Store keeps attachments' content by SHA-256. DirStore keeps them in a
// folder; another store (S3-compatible) fits the same interface.
type Store interface {
	// Put stores content read from r, at most max bytes, and returns its
	// SHA-256 in hex and its size. The content is durable when Put
	// returns.
	Put(r io.Reader, max int64) (sum string, size int64, err error)
	Open(sum string) (io.ReadCloser, error)
	Delete(sum string) error
	// List returns every stored sum with its age.
	List() (map[string]time.Time, error)
}

// ErrTooLarge is returned by Put for content above the limit.
var ErrTooLarge = errors.New("attachment too large")

// DirStore is a Store in a folder: one file per content, named by its
// SHA-256, two levels of folders by its first letters.
type DirStore struct{ Dir string }

func (d DirStore) path(sum string) string {
	return filepath.Join(d.Dir, sum[:2], sum)
}

// Put writes to a temporary file, syncs it, then renames it into place.
func (d DirStore) Put(r io.Reader, max int64) (string, int64, error) {
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(d.Dir, ".upload-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = ErrTooLarge
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.MkdirAll(filepath.Dir(d.path(sum)), 0o750); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), d.path(sum)); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

// Open reads a stored content.
func (d DirStore) Open(sum string) (io.ReadCloser, error) {
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return nil, os.ErrNotExist
	}
	return os.Open(d.path(sum))
}

// Delete removes a stored content; a missing one is no error.
func (d DirStore) Delete(sum string) error {
	if len(sum) != 64 {
		return nil
	}
	if err := os.Remove(d.path(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// List returns every stored content with its modification time.
func (d DirStore) List() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := filepath.WalkDir(d.Dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || len(e.Name()) != 64 {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out[e.Name()] = info.ModTime()
		return nil
	})
	return out, err
}

// allowedTypes are the kinds of file a request may carry, as sniffed from
// their first bytes: documents and scans, nothing a browser would run.
var allowedTypes = map[string]string{
	"application/pdf":           ".pdf",
	"image/png":                 ".png",
	"image/jpeg":                ".jpg",
	"text/plain; charset=utf-8": ".txt",
}

// sniff returns the content type of head, if allowed. A PDF with
// JavaScript or an HTML page named .txt is refused.
func sniff(head []byte) (string, bool) {
	t := http.DetectContentType(head)
	if _, ok := allowedTypes[t]; !ok {
		return t, false
	}
	if t == "application/pdf" && (bytes.Contains(head, []byte("/JavaScript")) || bytes.Contains(head, []byte("/JS"))) {
		return t, false
	}
	if t == "text/plain; charset=utf-8" {
		// Markup a browser or viewer might run, under a text name.
		lower := bytes.ToLower(head)
		for _, m := range []string{"<svg", "<script", "<html", "<?xml", "<!doctype", "<iframe"} {
			if bytes.Contains(lower, []byte(m)) {
				return t, false
			}
		}
	}
	return t, true
}

// CleanName neutralises a file name: its last path element only, no
// control or format characters, no characters that mean something to a
// shell or a file system, at most 100 characters, with the extension of
// its content type.
func CleanName(name, contentType string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_', r == '(', r == ')', r == ' ':
			b.WriteRune(r)
		case r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	clean := strings.Trim(b.String(), ". ")
	ext := allowedTypes[contentType]
	clean = strings.TrimSuffix(clean, filepath.Ext(clean))
	if r := []rune(clean); len(r) > 100 {
		clean = string(r[:100])
	}
	if clean == "" {
		clean = "attachment"
	}
	return clean + ext
}

// Attachment is a file attached to a request.
type Attachment struct {
	ID, RequestID, Name, ContentType, SHA256, UserID, AuthorityID string
	Size                                                          int64
	CreatedAt                                                     time.Time
}

// Upload is a file on its way into a request.
type Upload struct {
	Name string
	Body io.Reader
}

// Attach adds a file to a request for one of its parties. The content is
// stored (durably) before the transaction that records it; a content that
// no row refers to is swept later, so nothing acknowledged is lost and no
// half-written file is ever referred to.
func (s *Service) Attach(ctx context.Context, actor authorities.Actor, id string, up Upload, comment string) (*Request, error) {
	if s.files == nil {
		return nil, problem.New(problem.Unavailable, "error_unavailable")
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(up.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	if n == 0 {
		return nil, problem.Field("file", "error_attachment_empty")
	}
	ct, ok := sniff(head)
	if !ok {
		return nil, problem.Field("file", "error_attachment_type")
	}
	sum, size, err := s.files.Put(io.MultiReader(bytes.NewReader(head), up.Body), s.maxAttachment)
	if errors.Is(err, ErrTooLarge) {
		return nil, problem.New(problem.TooLarge, "error_attachment_too_large", "Max", s.maxAttachment>>20)
	}
	if err != nil {
		return nil, err
	}
	return s.Act(ctx, actor, id, "attach", Input{Comment: comment, attachment: &Attachment{Name: CleanName(up.Name, ct), ContentType: ct, SHA256: sum, Size: size}})
}

// storeAttachment records the attachment in the action's transaction.
func (c *change) storeAttachment(ctx context.Context) error {
	a := c.in.attachment
	if a == nil {
		return problem.Field("file", "error_attachment_empty")
	}
	a.ID = uuid.Must(uuid.NewV7()).String()
	c.event.Data = marshal(map[string]string{"attachment": a.ID, "name": a.Name})
	return c.exec(ctx, `INSERT INTO request_attachments (id, request_id, name, content_type, size, sha256, user_id, authority_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, a.ID, c.r.ID, a.Name, a.ContentType, a.Size, a.SHA256, nullable(c.actor.UserID), nullable(c.event.AuthorityID), c.now)
}

// Attachments lists a request's files, for the two parties only.
func (s *Service) attachments(ctx context.Context, q db.Querier, id string) ([]Attachment, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, request_id, name, content_type, size, sha256, COALESCE(user_id, ''), COALESCE(authority_id, ''), created_at
		FROM request_attachments WHERE request_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ID, &a.RequestID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.UserID, &a.AuthorityID, &a.CreatedAt); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, a)
	}
	return out, db.Check(rows.Err())
}

// OpenAttachment returns a file of a request and its content, for a user
// of one of the two parties while the data is not blocked. Each download
// is audited.
func (s *Service) OpenAttachment(ctx context.Context, actor authorities.Actor, id, attachmentID string) (*Attachment, io.ReadCloser, error) {
	r, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, nil, err
	}
	if !seesPersonal(r, w) {
		return nil, nil, errNotFound
	}
	list, err := s.attachments(ctx, s.db.Read(), id)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range list {
		if a.ID != attachmentID {
			continue
		}
		body, err := s.files.Open(a.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("attachment %s: %w", a.ID, err)
		}
		if err := s.db.InTx(ctx, func(tx db.Querier) error {
			return audit.Record(ctx, tx, s.db.Dialect(), s.clock(), audit.Event{Event: audit.PersonalDataViewed, UserID: actor.UserID, Subject: "attachment:" + a.ID})
		}); err != nil {
			body.Close()
			return nil, nil, err
		}
		return &a, body, nil
	}
	return nil, nil, errNotFound
}

// sweepFiles deletes stored contents that no attachment refers to and
// that are older than an hour (an upload whose transaction failed, or the
// content of erased requests).
func (s *Service) sweepFiles(ctx context.Context) error {
	if s.files == nil {
		return nil
	}
	stored, err := s.files.List()
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-time.Hour)
	for sum, at := range stored {
		if at.After(cutoff) {
			continue
		}
		var n int
		if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM request_attachments WHERE sha256 = $1`, sum).Scan(&n); err != nil {
			return db.Check(err)
		}
		if n == 0 {
			if err := s.files.Delete(sum); err != nil {
				return err
			}
		}
	}
	return nil
}
