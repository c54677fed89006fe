// Package openapi holds the OpenAPI 3.1 document of the admin API
// (admin.yaml), which the admin listener serves at /admin/openapi.json and
// the handlers' tests check against the routes and the Go types they
// decode and answer.
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

//go:embed admin.yaml
var adminYAML []byte

// AdminJSON is the admin API's document as JSON: the form every OpenAPI
// tool reads, and the one served.
func AdminJSON() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(adminYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi: admin.yaml: %w", err)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: admin.yaml as JSON: %w", err)
	}
	return out, nil
}
