package logingest

import (
	"encoding/json"
	"time"
)

// EventType classifies an event. The zero value is invalid; see the EventType constants.
type EventType string

// The event types the app sends. Any other value is rejected by validation.
const (
	EventTypeBehavioral    EventType = "behavioral"
	EventTypeTelemetry     EventType = "telemetry"
	EventTypeObservability EventType = "observability"
	EventTypeError         EventType = "error"
	EventTypePerformance   EventType = "performance"
)

// EventTypes lists every valid EventType in a stable order.
func EventTypes() []EventType {
	return []EventType{EventTypeBehavioral, EventTypeTelemetry, EventTypeObservability, EventTypeError, EventTypePerformance}
}

// Valid reports whether t is one of the EventType constants.
func (t EventType) Valid() bool {
	switch t {
	case EventTypeBehavioral, EventTypeTelemetry, EventTypeObservability, EventTypeError, EventTypePerformance:
		return true
	}
	return false
}

// Priority is an event's delivery priority. The Ingester turns the zero value into PriorityNormal.
type Priority string

// The priorities the app sends.
const (
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// Valid reports whether p is PriorityNormal or PriorityHigh.
func (p Priority) Valid() bool { return p == PriorityNormal || p == PriorityHigh }

// DefaultSource is the source of events ingested without a source of their own, for example through
// keys configured in API_KEYS.
const DefaultSource = "default"

// Event is one analytics or log event as the app sends it, plus the fields the server stamps.
//
// Client fields carry the seed's JSON names. Source and ReceivedAt are set by the Ingester: whatever a client
// puts there is overwritten. Properties and DeviceInfo are raw JSON objects; they are stored as sent and are
// never re-marshalled on the ingest path.
type Event struct {
	EventID        string          `json:"event_id" validate:"required"`
	Timestamp      time.Time       `json:"timestamp" validate:"required"`
	EventType      EventType       `json:"event_type" validate:"required,oneof=behavioral telemetry observability error performance"`
	EventName      string          `json:"event_name" validate:"required"`
	Properties     json.RawMessage `json:"properties,omitempty"`
	UserID         string          `json:"user_id,omitempty"`
	SessionID      string          `json:"session_id,omitempty"`
	AppVersion     string          `json:"app_version,omitempty"`
	DeviceInfo     json.RawMessage `json:"device_info,omitempty"`
	SequenceNumber int64           `json:"sequence_number"`
	Priority       Priority        `json:"priority" validate:"omitempty,oneof=normal high"`

	// Source is the app and environment the event belongs to (for example "habit-tracker-prod"). Event IDs are
	// unique per source. Set by the Ingester from the authenticated principal.
	Source string `json:"source,omitempty"`
	// ReceivedAt is when the server accepted the event, in UTC. Set by the Ingester.
	ReceivedAt time.Time `json:"received_at"`
}

// AppendStatus is what a Store did with one event passed to Append. The Ingester turns it into the Status of
// that event's Result (AppendInserted gives StatusAccepted); Stats is unrelated: a summary of stored events.
type AppendStatus uint8

const (
	// AppendInserted means the event was new and is now stored.
	AppendInserted AppendStatus = iota + 1
	// AppendDuplicate means an event with the same Source and EventID was already stored (or appeared earlier in
	// the same call); the stored event was left unchanged.
	AppendDuplicate
)

// String returns "inserted" or "duplicate".
func (s AppendStatus) String() string {
	switch s {
	case AppendInserted:
		return "inserted"
	case AppendDuplicate:
		return "duplicate"
	}
	return "invalid"
}
