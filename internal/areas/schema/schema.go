// Package schema holds the JSON Schemas of area packs (area.yaml and
// texts/<lang>.yaml), for the validator and for editors that offer
// completion.
package schema

import _ "embed"

// Area is the schema of area.yaml.
//
//go:embed area.schema.json
var Area []byte

// Texts is the schema of texts/<lang>.yaml.
//
//go:embed texts.schema.json
var Texts []byte
