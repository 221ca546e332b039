// Package locales embeds the UI translation catalogs: one go-i18n TOML file
// per language (see docs/TRANSLATING.md).
package locales

import "embed"

// Files holds every catalog, named <language>.toml.
//
//go:embed *.toml
var Files embed.FS
