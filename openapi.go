// Package openimi holds files at the repository's root that the binary
// embeds: the OpenAPI description of the JSON API.
package openimi

import _ "embed"

// OpenAPI is openapi.yaml, served at /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
