// Package areas embeds the legislative area packs OpenIMI ships: one folder
// per area, in the format described in docs/AREA-PACKS.md. The code that
// reads them is internal/areas.
package areas

import "embed"

// Files holds every shipped pack, each in a folder named after its code.
//
//go:embed */area.yaml */texts/*.yaml
var Files embed.FS
