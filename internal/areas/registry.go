package areas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Registry holds the current version of every area.
type Registry struct {
	packs map[string]*Pack
	codes []string

	mu  sync.Mutex
	old map[string]*Pack // earlier versions read back from the database
}

// Open loads the shipped packs and, when dir is set, the operator's packs
// from dir, which add areas or replace shipped ones with the same code. Any
// problem in any pack is an error listing every problem.
func Open(shipped fs.FS, dir string) (*Registry, error) {
	packs, problems := Load(shipped, ".")
	if dir != "" {
		extra, ps := Load(os.DirFS(dir), ".")
		for i := range ps {
			ps[i].File = dir + "/" + ps[i].File
		}
		problems = append(problems, ps...)
		packs = append(packs, extra...) // later wins: the operator's pack replaces a shipped one
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	r := &Registry{packs: map[string]*Pack{}, old: map[string]*Pack{}}
	for _, p := range packs {
		r.packs[p.Code] = p
	}
	for code := range r.packs {
		r.codes = append(r.codes, code)
	}
	sort.Strings(r.codes)
	return r, nil
}

// Packs returns every area, by code.
func (r *Registry) Packs() []*Pack {
	out := make([]*Pack, len(r.codes))
	for i, c := range r.codes {
		out[i] = r.packs[c]
	}
	return out
}

// Pack returns the current version of an area, or a NotFound problem.
func (r *Registry) Pack(code string) (*Pack, error) {
	if p, ok := r.packs[code]; ok {
		return p, nil
	}
	return nil, problem.New(problem.NotFound, "error_not_found")
}

// ErrVersionChanged means a pack's content changed but its version did not.
var ErrVersionChanged = errors.New("pack content changed without a new version")

// Record stores each current pack version the database does not have yet.
// A stored version whose content differs is refused: exchanges made with
// it must keep reading the same questions.
func (r *Registry) Record(ctx context.Context, d *db.DB, now time.Time) error {
	for _, p := range r.Packs() {
		content, err := json.Marshal(p)
		if err != nil {
			return err
		}
		err = d.InTx(ctx, func(tx db.Querier) error {
			var hash string
			err := db.Check(tx.QueryRowContext(ctx, `SELECT hash FROM area_packs WHERE area = $1 AND version = $2`, p.Code, p.Version).Scan(&hash))
			switch {
			case errors.Is(err, db.ErrNotFound):
				_, err = tx.ExecContext(ctx, `INSERT INTO area_packs (area, version, hash, content, loaded_at) VALUES ($1, $2, $3, $4, $5)`,
					p.Code, p.Version, p.Hash, string(content), now.UTC())
				return err
			case err != nil:
				return err
			case hash != p.Hash:
				return fmt.Errorf("area %s version %d: %w; raise its version", p.Code, p.Version, ErrVersionChanged)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Version returns an area as it was at a version: the current pack, or an
// earlier one read back from the database.
func (r *Registry) Version(ctx context.Context, q db.Querier, code string, version int) (*Pack, error) {
	if p, ok := r.packs[code]; ok && p.Version == version {
		return p, nil
	}
	key := fmt.Sprintf("%s@%d", code, version)
	r.mu.Lock()
	p, ok := r.old[key]
	r.mu.Unlock()
	if ok {
		return p, nil
	}
	var content string
	err := db.Check(q.QueryRowContext(ctx, `SELECT content FROM area_packs WHERE area = $1 AND version = $2`, code, version).Scan(&content))
	if errors.Is(err, db.ErrNotFound) {
		return nil, problem.New(problem.NotFound, "error_not_found")
	}
	if err != nil {
		return nil, err
	}
	p = &Pack{}
	if err := json.Unmarshal([]byte(content), p); err != nil {
		return nil, fmt.Errorf("area %s version %d: stored content unreadable: %w", code, version, err)
	}
	r.mu.Lock()
	r.old[key] = p
	r.mu.Unlock()
	return p, nil
}
