// Package openapi embeds the OpenAPI (Swagger 2.0) document that protoc-gen-openapiv2 generates from
// the protos, for the gateway to serve at /openapi.json.
package openapi

import _ "embed"

// Document is the merged OpenAPI document of every REST-mapped service.
//
//go:embed iechor-sso.swagger.json
var Document []byte
