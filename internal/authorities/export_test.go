package authorities

import (
	"context"
	"time"
)

// WithFormMemoAge is WithFormMemo with another age than FormMemoAge.
func WithFormMemoAge(ctx context.Context, maxAge time.Duration) context.Context {
	return withFormMemo(ctx, maxAge)
}

// RegistryReads is how many authorities the server has read and kept
// under the registry revision.
func (s *Service) RegistryReads() int64 { return s.registry.Made() }

// RolesReads is how many users' roles the server has read and kept.
func (s *Service) RolesReads() int64 { return s.userRoles.Made() }
