package httpapi

import (
	"encoding/json"
	"time"

	"github.com/change66/logserver/logingest"
)

// logObject is an event as the read endpoints answer it: the original server's log object
// ({id, event_id, timestamp, event_type, event_name, properties, user_id, session_id, app_version, device_info,
// sequence_number, priority, created_at, processed_at}, with null for absent optional fields) plus logingest's
// source, received_at and original_timestamp.
type logObject struct {
	ID             int64               `json:"id"`
	EventID        string              `json:"event_id"`
	Timestamp      time.Time           `json:"timestamp"`
	EventType      logingest.EventType `json:"event_type"`
	EventName      string              `json:"event_name"`
	Properties     json.RawMessage     `json:"properties"`
	UserID         *string             `json:"user_id"`
	SessionID      *string             `json:"session_id"`
	AppVersion     *string             `json:"app_version"`
	DeviceInfo     json.RawMessage     `json:"device_info"`
	SequenceNumber *int64              `json:"sequence_number"`
	Priority       logingest.Priority  `json:"priority"`
	// CreatedAt is the receive time, as the original named it; ReceivedAt carries the same instant.
	CreatedAt   time.Time  `json:"created_at"`
	ProcessedAt *time.Time `json:"processed_at"`

	Source            string     `json:"source"`
	ReceivedAt        time.Time  `json:"received_at"`
	OriginalTimestamp *time.Time `json:"original_timestamp"`
}

// toLogObject maps a stored event to its wire form.
func toLogObject(ev *logingest.Event) logObject {
	return logObject{
		ID:                ev.ID,
		EventID:           ev.EventID,
		Timestamp:         ev.Timestamp.UTC(),
		EventType:         ev.EventType,
		EventName:         ev.EventName,
		Properties:        jsonOrNull(ev.Properties),
		UserID:            optString(ev.UserID),
		SessionID:         optString(ev.SessionID),
		AppVersion:        optString(ev.AppVersion),
		DeviceInfo:        jsonOrNull(ev.DeviceInfo),
		SequenceNumber:    ev.SequenceNumber,
		Priority:          ev.Priority,
		CreatedAt:         ev.ReceivedAt.UTC(),
		ProcessedAt:       optTime(ev.ProcessedAt),
		Source:            ev.Source,
		ReceivedAt:        ev.ReceivedAt.UTC(),
		OriginalTimestamp: optTime(ev.OriginalTimestamp),
	}
}

func toLogObjects(evs []logingest.Event) []logObject {
	out := make([]logObject, len(evs))
	for i := range evs {
		out[i] = toLogObject(&evs[i])
	}
	return out
}

// optTime returns nil for the zero time (absent: JSON null) and t in UTC otherwise.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

var jsonNull = json.RawMessage("null")

func jsonOrNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return jsonNull
	}
	return m
}

// topN is how many event types and names /api/v1/metrics lists, as the original did.
const topN = 10

// serviceName is the service name reported by /api/v1/status.
const serviceName = "logingest"

// Health words of the original's status and health answers.
const (
	statusHealthy   = "healthy"
	statusDegraded  = "degraded"
	statusUnhealthy = "unhealthy"
)

// metricsData is the data of GET /api/v1/metrics and the metrics of GET /api/v1/status, named as the original
// named them. Windows are measured on receive time; see logingest.Stats for each field's meaning.
type metricsData struct {
	TotalLogs        int64            `json:"total_logs"`
	LogsLastHour     int64            `json:"logs_last_hour"`
	LogsLastDay      int64            `json:"logs_last_day"`
	AverageLatencyMs float64          `json:"average_latency_ms"`
	ErrorRatePercent float64          `json:"error_rate_percent"`
	ActiveSessions   int64            `json:"active_sessions"`
	ActiveUsers      int64            `json:"active_users"`
	TopEventTypes    []eventTypeCount `json:"top_event_types"`
	TopEventNames    []eventNameCount `json:"top_event_names"`
}

type eventTypeCount struct {
	EventType string `json:"event_type"`
	Count     int64  `json:"count"`
}

type eventNameCount struct {
	EventName string `json:"event_name"`
	Count     int64  `json:"count"`
}

func toMetrics(st *logingest.Stats) metricsData {
	m := metricsData{
		TotalLogs:        st.TotalEvents,
		LogsLastHour:     st.LastHour,
		LogsLastDay:      st.LastDay,
		AverageLatencyMs: st.AverageLatencyMs,
		ErrorRatePercent: st.ErrorRatePercent,
		ActiveSessions:   st.ActiveSessions,
		ActiveUsers:      st.ActiveUsers,
		TopEventTypes:    make([]eventTypeCount, 0, len(st.TopEventTypes)),
		TopEventNames:    make([]eventNameCount, 0, len(st.TopEventNames)),
	}
	for _, vc := range st.TopEventTypes {
		m.TopEventTypes = append(m.TopEventTypes, eventTypeCount{EventType: vc.Value, Count: vc.Count})
	}
	for _, vc := range st.TopEventNames {
		m.TopEventNames = append(m.TopEventNames, eventNameCount{EventName: vc.Value, Count: vc.Count})
	}
	return m
}

// statusData is the data of a GET /api/v1/status answer: the original's {service, database, metrics} plus
// an overall status and the server time.
type statusData struct {
	Service  serviceInfo  `json:"service"`
	Database databaseInfo `json:"database"`
	// Metrics is null when the store could not be read.
	Metrics *metricsData `json:"metrics"`
	// Status is "ok", or "degraded" when the store is unreachable.
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
}

type serviceInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Uptime is a Go duration string such as "2h3m4.5s", as the original wrote it.
	Uptime        string    `json:"uptime"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
}

type databaseInfo struct {
	Status    string `json:"status"` // healthy or unhealthy
	TotalLogs int64  `json:"total_logs"`
}

// ingestData is the data of a POST /api/v1/ingest answer: the original's {event_id, id} plus the outcome.
type ingestData struct {
	EventID string `json:"event_id"`
	// ID is the stored row's numeric id (also for a duplicate: the id of the copy stored first).
	ID     int64            `json:"id"`
	Status logingest.Status `json:"status"`
}

func toIngestData(res logingest.Result) ingestData {
	return ingestData{EventID: res.EventID, ID: res.ID, Status: res.Status}
}

// batchData is the data of a POST /api/v1/batch-ingest answer: the original's {logs_processed,
// total_received} plus counts per outcome and one result per element of "logs", in order.
type batchData struct {
	// LogsProcessed counts the events now stored: accepted plus duplicates.
	LogsProcessed int `json:"logs_processed"`
	// TotalReceived counts the elements of "logs".
	TotalReceived int                `json:"total_received"`
	Accepted      int                `json:"accepted"`
	Duplicates    int                `json:"duplicates"`
	Rejected      int                `json:"rejected"`
	Results       []logingest.Result `json:"results"`
}

func toBatchData(results []logingest.Result) batchData {
	data := batchData{Results: results, TotalReceived: len(results)}
	for _, res := range results {
		switch res.Status {
		case logingest.StatusAccepted:
			data.Accepted++
		case logingest.StatusDuplicate:
			data.Duplicates++
		default:
			data.Rejected++
		}
	}
	data.LogsProcessed = data.Accepted + data.Duplicates
	return data
}
