package logingest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTopLevelMemberMatchesMapDecode checks topLevelMember against what decoding into a
// map[string]json.RawMessage gives (the way checkProviderName read properties.provider_name before).
func TestTopLevelMemberMatchesMapDecode(t *testing.T) {
	t.Parallel()
	for _, raw := range memberObjects {
		require.True(t, json.Valid([]byte(raw)), raw)
		checkTopLevelMember(t, []byte(raw))
	}
}

// FuzzTopLevelMember checks topLevelMember against the map decode for every object checkProviderName can see:
// those objectShape accepts.
func FuzzTopLevelMember(f *testing.F) {
	for _, raw := range memberObjects {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, problem := objectShape(raw); problem != "" {
			return
		}
		checkTopLevelMember(t, raw)
	})
}

func checkTopLevelMember(t *testing.T, raw []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "%q", raw)
	want, wantOK := m["provider_name"]
	got, ok := topLevelMember(raw, "provider_name")
	require.Equal(t, wantOK, ok, "%q", raw)
	require.Equal(t, string(want), string(got), "%q", raw)
}

var memberObjects = []string{
	`{}`, ` { } `, `{"provider_name":"google"}`, `{ "provider_name" : "google" , "x":1}`,
	`{"a":{"provider_name":"nested"},"b":[{"provider_name":1}]}`,
	`{"a":"provider_name","provider_name":null}`, `{"provider_name":1,"provider_name":2}`,
	`{"provider_name":[1, 2 ,{"a" : "}"}] ,"z":true}`, `{"provider_name":{"a":[1,"]",{}]}}`,
	`{"provider\u005fname":"escaped key"}`, `{"provider_name":"x","provider\u005fname":"last"}`,
	`{"provider_name":"a\"b\\","q":"\"provider_name\":1"}`, `{"x":"\\","provider_name":-1.5e3}`,
	`{"Provider_name":"case"}`, `{"provider_name ":"space"}`, `{"provider_name":false}`,
	"{\n\t\"k\": [\n1\n],\r\n\"provider_name\"\t:\n\"v\"\n}", "{\"é\":\"ü\",\"provider_name\":\"\u65e5\u672c\"}",
	`{"provider_name":""}`, `{"a":[],"b":{},"provider_name":[]}`,
}
