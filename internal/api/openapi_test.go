package api_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	openimi "github.com/openimi/openimi"
	"github.com/openimi/openimi/internal/api"
	"github.com/openimi/openimi/internal/public"
)

// TestEveryRouteIsDescribedInTheOpenAPIDocument keeps openapi.yaml and the
// route table in step: a route without its path and method in the document
// fails, and so does a documented operation with no route.
func TestEveryRouteIsDescribedInTheOpenAPIDocument(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openimi.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	routes := map[string]bool{}
	patterns := []string{}
	for _, r := range api.New(api.Deps{}).Routes() {
		patterns = append(patterns, r.Pattern)
	}
	for _, r := range public.New(nil, nil, nil, public.Settings{}, nil).Routes() {
		patterns = append(patterns, r.Pattern) // at the root, with their own servers entry
	}
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.TrimPrefix(path, "/api/v1")
		routes[strings.ToLower(method)+" "+path] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.yaml", pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "servers" {
				continue
			}
			if !routes[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which has no route", method, path)
			}
		}
	}
}
