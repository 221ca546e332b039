package authorities

// RegistryReads is how many authorities the server has read and kept
// under the registry revision.
func (s *Service) RegistryReads() int64 { return s.registry.Made() }
