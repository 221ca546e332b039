package requests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/workflow"
)

// Store keeps attachments' content by SHA-256. DirStore keeps them in a
// folder; another store (S3-compatible) fits the same interface.
type Store interface {
	// Put stores content read from r, at most max bytes, and returns its
	// SHA-256 in hex and its size. The content is durable when Put
	// returns.
	Put(r io.Reader, max int64) (sum string, size int64, err error)
	Open(sum string) (io.ReadCloser, error)
	// Delete removes a stored content unless it was stored (again) at
	// or after storedBefore: an upload of the same bytes may be on its
	// way into a request while the sweep judges the content unused.
	Delete(sum string, storedBefore time.Time) error
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

// tempPrefix starts the names of files being written, and sweepPrefix
// those of contents Delete moves aside; a process killed at that moment
// leaves one behind, which Tidy clears up.
const (
	tempPrefix  = ".upload-"
	sweepPrefix = ".sweep-"
)

// Put writes to a temporary file, syncs it, renames it into place and
// syncs the folders, so that the content and its name survive a crash of
// the machine once Put returns.
func (d DirStore) Put(r io.Reader, max int64) (string, int64, error) {
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(d.Dir, tempPrefix+"*")
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
	sub := filepath.Dir(d.path(sum))
	_, statErr := os.Stat(sub)
	if err := os.MkdirAll(sub, 0o750); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), d.path(sum)); err != nil {
		return "", 0, err
	}
	// The rename is durable once the folder holding the new name is
	// synced; a new sub-folder needs its own entry synced too.
	if err := db.Sync(sub); err != nil {
		return "", 0, err
	}
	if statErr != nil {
		if err := db.Sync(d.Dir); err != nil {
			return "", 0, err
		}
	}
	return sum, n, nil
}

// Open reads a stored content. A sweep may hold the content aside for a
// moment (see Delete): a content being put back, because an upload of the
// same bytes has just been recorded, is read from where it is.
func (d DirStore) Open(sum string) (io.ReadCloser, error) {
	if !validSum(sum) {
		return nil, os.ErrNotExist
	}
	f, err := os.Open(d.path(sum))
	if !errors.Is(err, os.ErrNotExist) {
		return f, err
	}
	sub := filepath.Dir(d.path(sum))
	entries, _ := os.ReadDir(sub)
	for _, e := range entries {
		if s, _, ok := parseAside(e.Name()); ok && s == sum {
			// The same bytes (the name is their hash); an open file stays
			// readable when the sweep then renames or removes it.
			if f, err := os.Open(filepath.Join(sub, e.Name())); err == nil { // #nosec G304 -- a name parseAside checked, in a hash-named sub-folder
				return f, nil
			}
		}
	}
	return os.Open(d.path(sum)) // put back meanwhile
}

// validSum reports whether sum is a SHA-256 in lower-case hex, the only
// names the store gives its contents.
func validSum(sum string) bool {
	return len(sum) == 64 && strings.Trim(sum, "0123456789abcdef") == ""
}

// asideGrace is how long Tidy leaves a content Delete moved aside: the
// Delete that moved it may still be at work on it (on another server
// sharing the folder).
const asideGrace = 5 * time.Minute

// asideName is the name under which Delete moves sum aside at moment at:
// unique (random), so that two servers sweeping the same folder never take
// each other's, and dated, for Tidy.
func asideName(sum string, at time.Time) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s-%d-%x", sweepPrefix, sum, at.Unix(), r), nil
}

// parseAside returns the content and the moment of a name asideName made.
// A bare .sweep-<sum>, left by an earlier version, has no moment (zero).
// Any other name is not an aside.
func parseAside(name string) (sum string, at time.Time, ok bool) {
	rest, ok := strings.CutPrefix(name, sweepPrefix)
	if !ok {
		return "", time.Time{}, false
	}
	if validSum(rest) {
		return rest, time.Time{}, true
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || !validSum(parts[0]) || len(parts[2]) != 16 || strings.Trim(parts[2], "0123456789abcdef") != "" {
		return "", time.Time{}, false
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || secs < 0 {
		return "", time.Time{}, false
	}
	return parts[0], time.Unix(secs, 0), true
}

// Delete removes a stored content unless it was stored again at or after
// storedBefore; a missing one is no error. The content is first moved
// aside under a name of its own that no upload writes to: if an upload of
// the same bytes renamed its file into place before the move, the moved
// file is that fresh one, and it goes back; if after, the fresh file stays
// where it is. Either way a content an upload is about to record is never
// removed.
func (d DirStore) Delete(sum string, storedBefore time.Time) error {
	if !validSum(sum) {
		return nil
	}
	aside, err := d.moveAside(sum)
	if aside == "" || err != nil {
		return err
	}
	return d.settle(sum, aside, storedBefore)
}

// moveAside is Delete's first step: it renames the content to a fresh
// aside name and returns that path ("" if there was no content).
func (d DirStore) moveAside(sum string) (string, error) {
	name, err := asideName(sum, time.Now())
	if err != nil {
		return "", err
	}
	aside := filepath.Join(filepath.Dir(d.path(sum)), name)
	if err := os.Rename(d.path(sum), aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return aside, nil
}

// settle is Delete's second step: it judges the content moved aside by its
// time, and puts it back or removes it. The aside is this Delete's alone,
// so what it holds cannot change meanwhile.
func (d DirStore) settle(sum, aside string, storedBefore time.Time) error {
	info, err := os.Stat(aside)
	if errors.Is(err, os.ErrNotExist) {
		return nil // put back by a Tidy that judged it abandoned: judged again later
	}
	if err != nil {
		return err
	}
	if !info.ModTime().Before(storedBefore) {
		return d.putBack(sum, aside)
	}
	return os.Remove(aside)
}

// putBack returns a content from aside to its place. A link never replaces
// a file: if an upload has stored the same bytes again meanwhile, that
// fresh copy stays, with its time, and the aside just goes.
func (d DirStore) putBack(sum, aside string) error {
	path := d.path(sum)
	if err := os.Link(aside, path); err != nil && !errors.Is(err, os.ErrExist) {
		if errors.Is(err, os.ErrNotExist) {
			return nil // already dealt with by another sweep
		}
		return err
	}
	if err := db.Sync(filepath.Dir(path)); err != nil {
		return err
	}
	if err := os.Remove(aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Tidy clears up after work a crash interrupted: it removes the temporary
// files of uploads cut short before a moment, and puts back a content a
// Delete moved aside more than asideGrace ago, for the sweep to judge
// again (a younger one may be a Delete at work on another server).
func (d DirStore) Tidy(before time.Time) error {
	abandoned := time.Now().Add(-asideGrace)
	return filepath.WalkDir(d.Dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		// Only a name Delete made, where Delete makes it, is put back: a
		// stray one would not map to a content.
		if sum, at, ok := parseAside(e.Name()); ok {
			if filepath.Dir(path) != filepath.Dir(d.path(sum)) || !at.Before(abandoned) {
				return nil
			}
			return d.putBack(sum, path)
		}
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if info.ModTime().Before(before) {
			// #nosec G122 -- only this service writes in the store, and WalkDir follows no symlinks
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}

// List returns every stored content with its modification time. A content
// deleted while the folder is read (by another server's sweep) is left out.
func (d DirStore) List() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := filepath.WalkDir(d.Dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || !validSum(e.Name()) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
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

// ServedType is the content type a stored attachment is sent with: its
// sniffed type when it is one of the allowed kinds, else (a row from
// elsewhere) a download nothing renders.
func ServedType(contentType string) string {
	if _, ok := allowedTypes[contentType]; ok {
		return contentType
	}
	return "application/octet-stream"
}

// CleanName neutralises a file name: its last path element only, no
// control or format characters (so no bidirectional overrides), no
// characters that mean something to a shell or a file system, not a
// device name of Windows, at most 100 characters, with the extension of
// its content type. The name is only ever shown and offered for download:
// the store names contents by their SHA-256.
func CleanName(name, contentType string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	// Accents typed as separate marks (as macOS sends names) compose.
	name = norm.NFC.String(name)
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r), r == '-', r == '_', r == '(', r == ')', r == ' ':
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
	if stem, _, _ := strings.Cut(clean, "."); windowsDevices[strings.ToUpper(strings.TrimRight(stem, " "))] {
		clean = "_" + clean
	}
	if r := []rune(clean); len(r) > 100 {
		clean = string(r[:100])
	}
	if clean == "" {
		clean = "attachment"
	}
	return clean + ext
}

// windowsDevices are names Windows keeps for devices, whatever the
// extension: a file saved as CON.pdf cannot be opened.
var windowsDevices = func() map[string]bool {
	m := map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true}
	for i := '0'; i <= '9'; i++ {
		m["COM"+string(i)], m["LPT"+string(i)] = true, true
	}
	return m
}()

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
	// IdempotencyKey, when set, makes a repeated upload (a client that
	// lost the answer and sends again) attach nothing more.
	IdempotencyKey string
}

// UseScanner sets the virus scanner every attachment goes through (none
// by default).
func (s *Service) UseScanner(sc scan.Scanner) { s.scanner = sc }

// ScanFailure is the refusal of an upload that the virus scanner could not
// judge: a problem for the user (Unavailable) that keeps its cause for the
// log.
type ScanFailure struct {
	Problem *problem.Error
	Cause   error
}

func (e *ScanFailure) Error() string { return e.Problem.Error() + ": " + e.Cause.Error() }

// Unwrap gives both the problem and its cause to errors.As and errors.Is.
func (e *ScanFailure) Unwrap() []error { return []error{e.Problem, e.Cause} }

// Attach adds a file to a request for one of its parties. The file is
// received whole into a temporary file first, and refused — nothing
// stored, no event — when it is empty or too large, not of an allowed
// kind, unsafe (scan.Inspect) or infected, or when the configured scanner
// gives no verdict (fail closed). Only then is the content stored
// (durably), before the transaction that records it; a content that no
// row refers to is swept later, so nothing acknowledged is lost and no
// half-written file is ever referred to.
func (s *Service) Attach(ctx context.Context, actor authorities.Actor, id string, up Upload, comment string) (*Request, error) {
	o, err := s.attach(ctx, actor, id, up, comment, true)
	if err != nil {
		return nil, err
	}
	return s.shownAfter(ctx, actor, o)
}

// AttachFile is Attach for a caller that goes on to the request's page (a
// form, redirected), which reads it and records the view it shows.
func (s *Service) AttachFile(ctx context.Context, actor authorities.Actor, id string, up Upload, comment string) error {
	_, err := s.attach(ctx, actor, id, up, comment, false)
	return err
}

// attach is Attach and AttachFile: the file stored, then the step (act).
func (s *Service) attach(ctx context.Context, actor authorities.Actor, id string, up Upload, comment string, shown bool) (Outcome, error) {
	if s.files == nil {
		return Outcome{}, problem.New(problem.Unavailable, "error_unavailable")
	}
	tmp, size, err := s.receive(up.Body)
	if tmp != nil {
		defer func() {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}()
	}
	if err != nil {
		return Outcome{}, err
	}
	ct, err := s.checkUpload(ctx, tmp, size)
	if err != nil {
		return Outcome{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Outcome{}, err
	}
	sum, size, err := s.files.Put(tmp, s.maxAttachment)
	if err != nil {
		return Outcome{}, err
	}
	return s.act(ctx, actor, id, "attach", Input{Comment: comment, IdempotencyKey: up.IdempotencyKey, attachment: &Attachment{Name: CleanName(up.Name, ct), ContentType: ct, SHA256: sum, Size: size}}, shown)
}

// receive copies an upload into a temporary file, up to the size limit.
// A body the client cut short is a problem of the upload, not of the
// server.
func (s *Service) receive(body io.Reader) (*os.File, int64, error) {
	dir := ""
	if d, ok := s.files.(DirStore); ok {
		// Beside the stored files, on the same protected disk; what a
		// crash leaves there, DirStore.Tidy removes.
		if err := os.MkdirAll(d.Dir, 0o750); err != nil {
			return nil, 0, fmt.Errorf("receiving an upload: %w", err)
		}
		dir = d.Dir
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"received-*")
	if err != nil {
		return nil, 0, fmt.Errorf("receiving an upload: %w", err)
	}
	n, err := io.Copy(tmp, io.LimitReader(body, s.maxAttachment+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || (err == nil && n > s.maxAttachment):
		return tmp, n, problem.New(problem.TooLarge, "error_attachment_too_large", "Max", s.maxAttachment>>20)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return tmp, n, problem.Field("file", "error_file_unreadable")
	case err != nil:
		return tmp, n, fmt.Errorf("receiving an upload: %w", err)
	case n == 0:
		return tmp, n, problem.Field("file", "error_attachment_empty")
	}
	return tmp, n, nil
}

// checkUpload judges a received file: its kind from its first bytes, its
// whole content, then the virus scanner. It returns the content type.
func (s *Service) checkUpload(ctx context.Context, f *os.File, size int64) (string, error) {
	head := make([]byte, min(size, 512))
	if _, err := f.ReadAt(head, 0); err != nil {
		return "", err
	}
	ct, ok := sniff(head)
	if !ok {
		if _, allowed := allowedTypes[ct]; allowed {
			return "", problem.Field("file", "error_attachment_unsafe")
		}
		return "", problem.Field("file", "error_attachment_type")
	}
	var bad *scan.Unsafe
	if err := scan.Inspect(f, size, ct); errors.As(err, &bad) {
		return "", problem.Field("file", "error_attachment_unsafe")
	} else if err != nil {
		return "", err
	}
	if s.scanner == nil {
		return ct, nil
	}
	v, err := s.scanner.Scan(ctx, io.NewSectionReader(f, 0, size))
	switch {
	case err != nil:
		return "", &ScanFailure{Problem: problem.New(problem.Unavailable, "error_scanner_unavailable"), Cause: err}
	case v.Infected:
		return "", problem.Field("file", "error_attachment_infected")
	}
	return ct, nil
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

// historyAndFiles reads a request's events in order and, with files, its
// files as attachments does, in one query.
func (s *Service) historyAndFiles(ctx context.Context, id string, files bool) ([]workflow.Event, []Attachment, error) {
	// Each row is an event ('e') or a file ('f'), in the columns they
	// share: the events by number, the files by time and id.
	query := `SELECT 'e', id, seq, at, action, from_state, to_state, COALESCE(user_id, ''), COALESCE(authority_id, ''), party, comment, data, 0
		FROM case_events WHERE case_id = $1`
	if files {
		query += ` UNION ALL
		SELECT 'f', id, 0, created_at, name, content_type, sha256, COALESCE(user_id, ''), COALESCE(authority_id, ''), '', '', '', size
		FROM request_attachments WHERE request_id = $1`
	}
	rows, err := s.db.Read().QueryContext(ctx, query+` ORDER BY 1, 3, 4, 2`, id)
	if err != nil {
		return nil, nil, db.Check(err)
	}
	defer rows.Close()
	var events []workflow.Event
	var list []Attachment
	for rows.Next() {
		var kind, rowID, c1, c2, c3, user, authority, party, comment, data string
		var seq int
		var size int64
		var at time.Time
		if err := rows.Scan(&kind, &rowID, &seq, &at, &c1, &c2, &c3, &user, &authority, &party, &comment, &data, &size); err != nil {
			return nil, nil, db.Check(err)
		}
		if kind == "e" {
			events = append(events, workflow.Event{ID: rowID, CaseID: id, Seq: seq, At: at, Action: c1, From: c2, To: c3, UserID: user,
				AuthorityID: authority, Party: party, Comment: comment, Data: data})
		} else {
			list = append(list, Attachment{ID: rowID, RequestID: id, Name: c1, ContentType: c2, SHA256: c3, Size: size, UserID: user,
				AuthorityID: authority, CreatedAt: at})
		}
	}
	return events, list, db.Check(rows.Err())
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
		if err := s.views.Record(ctx, s.clock(), audit.Event{Event: audit.PersonalDataViewed, UserID: actor.UserID, Subject: "attachment:" + a.ID}); err != nil {
			_ = body.Close()
			return nil, nil, err
		}
		return &a, body, nil
	}
	return nil, nil, errNotFound
}

// sweepFiles deletes stored contents that no attachment refers to and
// that are older than an hour (an upload whose transaction failed or was
// cut short by a crash, or the content of erased requests), and what
// uploads cut short by a crash left behind.
func (s *Service) sweepFiles(ctx context.Context) error {
	if s.files == nil {
		return nil
	}
	cutoff := time.Now().Add(-time.Hour)
	if t, ok := s.files.(interface{ Tidy(before time.Time) error }); ok {
		if err := t.Tidy(cutoff); err != nil {
			return err
		}
	}
	stored, err := s.files.List()
	if err != nil {
		return err
	}
	for sum, at := range stored {
		if at.After(cutoff) {
			continue
		}
		var n int
		if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM request_attachments WHERE sha256 = $1`, sum).Scan(&n); err != nil {
			return db.Check(err)
		}
		if n == 0 {
			if err := s.files.Delete(sum, cutoff); err != nil {
				return err
			}
		}
	}
	return nil
}
