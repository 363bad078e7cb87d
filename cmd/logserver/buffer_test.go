package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/natstest"
)

func TestLoadBufferConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envMap(nil))
	require.NoError(t, err)
	require.Empty(t, cfg.Buffer.URL, "direct mode by default")
	_, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER": "redis://x"}))
	require.ErrorContains(t, err, "INGEST_BUFFER must be")
	_, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER_REPLICAS": "7"}))
	require.ErrorContains(t, err, "INGEST_BUFFER_REPLICAS")
	cfg, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER": "nats://a:4222, nats://b:4222", "INGEST_BUFFER_STREAM": "EVENTS"}))
	require.NoError(t, err)
	nc := cfg.Buffer.natsConfig(nil, nil)
	require.Equal(t, "events.events", nc.Subject)
	require.Equal(t, "events.deadletter", nc.DeadLetterSubject)
	require.Equal(t, 1, nc.Partitions)
	require.False(t, nc.PerEventMessages, "one message per request by default")
	require.Equal(t, 1, nc.Appenders, "one Append at a time per writer and partition by default")
	cfg, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER_APPENDERS": "3"}))
	require.NoError(t, err)
	require.Equal(t, 3, cfg.Buffer.natsConfig(nil, nil).Appenders)
	_, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER_APPENDERS": "0"}))
	require.ErrorContains(t, err, "INGEST_BUFFER_APPENDERS")
	cfg, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER_PARTITIONS": "8", "INGEST_BUFFER_MESSAGES": "event"}))
	require.NoError(t, err)
	require.Equal(t, 8, cfg.Buffer.natsConfig(nil, nil).Partitions)
	require.True(t, cfg.Buffer.natsConfig(nil, nil).PerEventMessages)
	_, err = loadConfig(envMap(map[string]string{"INGEST_BUFFER_MESSAGES": "batch"}))
	require.ErrorContains(t, err, "INGEST_BUFFER_MESSAGES must be request or event")
	// Writers share partitions out: each partition pulled by exactly one writer of the process.
	require.Equal(t, [][]int{{0, 3, 6}, {1, 4, 7}, {2, 5}},
		[][]int{writerPartitions(0, 3, 8), writerPartitions(1, 3, 8), writerPartitions(2, 3, 8)})
	require.Equal(t, []int{1}, writerPartitions(3, 4, 2), "more writers than partitions: shared")
	require.Nil(t, writerPartitions(0, 2, 1), "one partition: every writer pulls it")
}

// TestBufferModeServeAndDeadLetters runs serve in buffer mode: events are answered 201 and reach the store
// through the in-process writers, readiness follows the NATS connection, and a message no writer can decode
// ends in the dead-letter stream, where `logserver deadletters list` shows it with the reason.
func TestBufferModeServeAndDeadLetters(t *testing.T) {
	t.Parallel()
	cluster := natstest.Start(t, 1)
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "API_KEYS": "k", "LOG_LEVEL": "error",
		"INGEST_BUFFER": cluster.URLs(), "INGEST_BUFFER_WRITERS": "1",
	}
	s := startServer(t, env)
	code, _ := s.status(t, http.MethodPost, "/api/v1/batch-ingest", "k", readTestdata(t, "batch-50.json"))
	require.Equal(t, http.StatusCreated, code)
	require.Eventually(t, func() bool {
		code, body := s.do(t, http.MethodGet, "/api/v1/logs/filter?page_size=100", "k", nil)
		if code != http.StatusOK {
			return false
		}
		logs, _ := body["data"].(map[string]any)["logs"].([]any)
		return len(logs) == 50
	}, 2*time.Minute, 20*time.Millisecond, "the writer stores the batch")
	code, _ = s.status(t, http.MethodGet, "/readiness", "", nil)
	require.Equal(t, http.StatusOK, code)
	// The read side keeps the store's optional interfaces in buffer mode: the dashboard route exists (it is
	// registered only for an Aggregator) and counts the stored batch.
	code, body := s.do(t, http.MethodGet, "/api/v1/dashboard", "k", nil)
	require.Equal(t, http.StatusOK, code, "dashboard in buffer mode: %v", body)
	totals, _ := body["data"].(map[string]any)["totals"].(map[string]any)
	require.EqualValues(t, 50, totals["total_logs"], "the dashboard counts the 50 stored events: %v", body)
	code, _ = s.status(t, http.MethodGet, "/api/v1/logs/export?format=ndjson", "k", nil)
	require.Equal(t, http.StatusOK, code)

	nc, err := nats.Connect(cluster.URLs())
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Request("logingest.events", []byte("{not json"), 5*time.Second)
	require.NoError(t, err, "JetStream stores the message")

	var out, errOut bytes.Buffer
	require.Eventually(t, func() bool {
		out.Reset()
		errOut.Reset()
		err := run(context.Background(), []string{"deadletters", "list", "-limit", "10"}, envMap(env), &out, &errOut)
		require.NoError(t, err)
		return strings.Contains(errOut.String(), "1 dead letters held")
	}, 2*time.Minute, 50*time.Millisecond, "the writer dead-letters the undecodable message")
	var dl map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &dl))
	require.Contains(t, dl["reason"], "undecodable")
	require.Equal(t, "{not json", dl["raw"])
}
