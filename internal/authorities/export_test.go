package authorities

// RegistryReads is how many authorities the server has read and kept
// under the registry revision.
func (s *Service) RegistryReads() int64 { return s.registry.Made() }

// RolesReads is how many users' roles the server has read and kept.
func (s *Service) RolesReads() int64 { return s.userRoles.Made() }
