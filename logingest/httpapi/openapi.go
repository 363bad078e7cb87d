package httpapi

import (
	_ "embed" // the OpenAPI document
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of every route of the Handler; tests validate real answers
// against it and fail when a registered route is missing from it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 document (JSON) describing the Handler's routes, parameters, bodies,
// answers and headers, and the retry contract. The Handler serves it at GET /api/v1/openapi.json without a key.
// The caller owns the returned slice.
func OpenAPIDocument() []byte {
	return append([]byte(nil), openAPIDocument...)
}

// handleOpenAPI serves the document. It needs no key: it describes the API, not its data.
func (h *Handler) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
