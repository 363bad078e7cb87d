package httpapi

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// TestAppendIngestAnswerMatchesMarshal checks that the single-event answer's hand-written encoder writes
// exactly what writeJSON writes for the same envelope, on plain values and on values that need escaping.
func TestAppendIngestAnswerMatchesMarshal(t *testing.T) {
	t.Parallel()
	odd := "a<b>&c\"d\\e\x00\x01\b\f\n\r\t\x1f\x7f é \u2028 \u2029 \xff\xfe end"
	for _, tc := range []struct {
		msg, requestID string
		data           ingestData
	}{
		{
			"event accepted", "0123456789abcdef0123456789abcdef",
			ingestData{EventID: "6d499ffd-8dc6-36eb-00ed-9039f9ba492d", ID: 42, Status: logingest.StatusAccepted},
		},
		{"event already stored", "req-1.x_y", ingestData{EventID: "e", ID: math.MaxInt64, Status: logingest.StatusDuplicate}},
		{"event accepted", "", ingestData{EventID: odd, ID: 0, Status: logingest.Status(odd)}},
		{odd, odd, ingestData{EventID: "", ID: -1}},
	} {
		want, err := json.Marshal(envelope{Success: true, Message: tc.msg, Data: tc.data, RequestID: tc.requestID})
		require.NoError(t, err)
		got := appendIngestAnswer([]byte("prefix"), tc.msg, tc.data, tc.requestID)
		require.Equal(t, "prefix"+string(want)+"\n", string(got))
	}
}
