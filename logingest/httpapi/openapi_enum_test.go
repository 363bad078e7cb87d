package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestOpenAPIEnumsMatchDomain: the OpenAPI document is written by hand, so every enum in it that lists event types
// or priorities must list exactly logingest.EventTypes() or logingest.Priorities(), in that order (null and ""
// aside, which mean "not sent").
func TestOpenAPIEnumsMatchDomain(t *testing.T) {
	t.Parallel()
	var doc any
	require.NoError(t, json.Unmarshal(OpenAPIDocument(), &doc))

	var types, prios []string
	for _, v := range logingest.EventTypes() {
		types = append(types, string(v))
	}
	for _, v := range logingest.Priorities() {
		prios = append(prios, string(v))
	}
	lists := map[string][]string{"event types": types, "priorities": prios}
	seen := map[string]int{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if enum, ok := v["enum"].([]any); ok {
				var got []string
				for _, e := range enum {
					if s, ok := e.(string); ok && s != "" {
						got = append(got, s)
					}
				}
				for name, want := range lists {
					if slices.ContainsFunc(got, func(s string) bool { return slices.Contains(want, s) }) {
						require.Equal(t, want, got, "%s/enum lists %s", path, name)
						seen[name]++
					}
				}
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", path, i), c)
			}
		}
	}
	walk("#", doc)
	require.Equal(t, 1, seen["event types"], "the EventType schema, referenced wherever an event type goes")
	require.Equal(t, 2, seen["priorities"], "the Priority schema and the stored event's nullable priority")
}
