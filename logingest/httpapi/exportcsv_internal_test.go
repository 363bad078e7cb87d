package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
)

// csvRecordReference is the export's CSV record as it was written before appendCSVRecord: the cells as
// strings, for encoding/csv.
func csvRecordReference(e *logingest.Event) []string {
	text := func(s string) string {
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			return "'" + s
		}
		return s
	}
	seq := ""
	if e.SequenceNumber != nil {
		seq = strconv.FormatInt(*e.SequenceNumber, 10)
	}
	return []string{
		strconv.FormatInt(e.ID, 10), text(e.EventID), e.Timestamp.UTC().Format(time.RFC3339Nano), e.ReceivedAt.UTC().Format(time.RFC3339Nano),
		text(string(e.EventType)), text(e.EventName), text(e.UserID), text(e.SessionID),
		text(e.AppVersion), text(string(e.Priority)), seq,
		text(e.Source), text(string(e.Properties)), text(string(e.DeviceInfo)),
	}
}

// TestAppendCSVRecordMatchesEncodingCSV checks that the hand-written CSV encoder writes exactly what
// encoding/csv writes for the same cells, on values that need quoting, formula guards, or neither, and on
// random strings of the characters that matter.
func TestAppendCSVRecordMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	require.NoError(t, cw.Write(exportColumns))
	cw.Flush()
	require.Equal(t, want.String(), string(appendCSVHeader(nil)))

	recv := time.Date(2026, 11, 30, 13, 0, 0, 123456789, time.UTC)
	seq := int64(-7)
	values := []string{
		"", "plain", `\.`, `\`, ".", "a,b", `say "hi"`, "line\nbreak", "cr\rlf\r\n", " lead", "\u00a0nbsp", "\u2028x",
		"\tT", "=1+2", "+1", "-1", "@SUM(A1)", "\rX", "=\"a,b\"", "-\n", "'", "é ünïcødé \u6f22\u5b57 🙂", "\xff\xfe", "trail ",
		`{"a":"x,y","b":"say \"q\"","c":"l1\nl2","n":1.5e3,"d":{"e":[1,2]}}`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "a ,\"\r\n\t=+-@'\\.é\u00a0"
	for range 500 {
		b := make([]rune, r.IntN(6))
		runes := []rune(alphabet)
		for i := range b {
			b[i] = runes[r.IntN(len(runes))]
		}
		values = append(values, string(b))
	}
	for i, v := range values {
		e := logingest.Event{
			ID: int64(i + 1), EventID: v, EventType: logingest.EventType(v), EventName: v, UserID: v, SessionID: v,
			AppVersion: v, Priority: logingest.Priority(v), Source: v, Properties: json.RawMessage(v), DeviceInfo: json.RawMessage(v),
			Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), ReceivedAt: recv,
		}
		if i%2 == 0 {
			e.SequenceNumber = &seq
		}
		want.Reset()
		require.NoError(t, cw.Write(csvRecordReference(&e)))
		cw.Flush()
		require.Equal(t, want.String(), string(appendCSVRecord([]byte("x"), &e))[1:], "value %q", v)
	}
}
