package logingest

import (
	"encoding/json"
	"slices"
	"strings"
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

// EventTypes lists every valid EventType in a stable order. It is the one list of event types: validation, its
// error messages and the filters derive from it, and tests check the OpenAPI document against it. The caller
// owns the returned slice.
func EventTypes() []EventType {
	return []EventType{EventTypeBehavioral, EventTypeTelemetry, EventTypeObservability, EventTypeError, EventTypePerformance}
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool { return slices.Contains(EventTypes(), t) }

// Priority is an event's delivery priority. The Ingester turns the zero value into PriorityNormal.
type Priority string

// The priorities the app sends.
const (
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// Priorities lists every valid Priority in a stable order, PriorityNormal first. It is the one list of
// priorities, as EventTypes is of event types. The caller owns the returned slice.
func Priorities() []Priority { return []Priority{PriorityNormal, PriorityHigh} }

// Valid reports whether p is one of Priorities.
func (p Priority) Valid() bool { return slices.Contains(Priorities(), p) }

// oneOfReason is the FieldError reason for a value outside valid: "must be one of a, b, c".
func oneOfReason[T ~string](valid []T) string {
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = string(v)
	}
	return "must be one of " + strings.Join(names, ", ")
}

// DefaultSource is the source of events ingested without a source of their own, for example through
// keys configured in API_KEYS.
const DefaultSource = "default"

// Event is one analytics or log event as the app sends it, plus the fields the server stamps.
//
// Client fields carry the seed's JSON names. ID, Source, ReceivedAt and ProcessedAt are set by the server:
// whatever a client puts there is overwritten. Properties and DeviceInfo are raw JSON objects; they are stored as
// sent and are never re-marshalled on the ingest path.
type Event struct {
	// ID is the store's numeric id of the event: assigned by Store.Append, stable, and increasing in insertion
	// order (an event appended later has a larger ID; within one Append call, slice order). Zero before Append.
	ID int64 `json:"id"`

	EventID    string          `json:"event_id" validate:"required"`
	Timestamp  time.Time       `json:"timestamp" validate:"required"`
	EventType  EventType       `json:"event_type" validate:"required,event_type"`
	EventName  string          `json:"event_name" validate:"required"`
	Properties json.RawMessage `json:"properties,omitempty"`
	UserID     string          `json:"user_id,omitempty"`
	SessionID  string          `json:"session_id,omitempty"`
	AppVersion string          `json:"app_version,omitempty"`
	DeviceInfo json.RawMessage `json:"device_info,omitempty"`
	// SequenceNumber is the client's sequence number; nil when the client sent none (stored apart from 0,
	// and served as JSON null).
	SequenceNumber *int64   `json:"sequence_number"`
	Priority       Priority `json:"priority" validate:"omitempty,priority"`

	// SentAt is the device's clock when it sent the event (input only; never stored). The batch envelope may
	// carry it for all its events. When set, the Ingester corrects Timestamp for the device's clock skew: the
	// stored Timestamp is ReceivedAt − (SentAt − Timestamp) and the device's value is kept in
	// OriginalTimestamp. Zero means "not sent": Timestamp is stored as sent.
	SentAt time.Time `json:"sent_at,omitzero"`
	// OriginalTimestamp is the timestamp the device sent, kept when SentAt led the Ingester to correct
	// Timestamp; zero otherwise.
	OriginalTimestamp time.Time `json:"original_timestamp,omitzero"`

	// Source is the app and environment the event belongs to (for example "habit-tracker-prod"). Event IDs are
	// unique per source. Set by the Ingester from the authenticated principal.
	Source string `json:"source,omitempty"`
	// ReceivedAt is when the server accepted the event, in UTC. Set by the Ingester. The wire also serves it as
	// created_at, the original server's name.
	ReceivedAt time.Time `json:"received_at"`
	// ProcessedAt is when the store wrote the event, in UTC, as returned by Query; zero when unknown (for
	// example events imported from the original server's database without it). Set by the Store; ignored by
	// Append.
	ProcessedAt time.Time `json:"processed_at,omitzero"`
}

// Int64 returns a pointer to v, for Event.SequenceNumber. It is new(v).
//
//go:fix inline
func Int64(v int64) *int64 { return new(v) }

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

// AppendResult is what a Store did with one event passed to Append, and the id the event is stored under.
type AppendResult struct {
	// Status tells whether the event was inserted or was a duplicate.
	Status AppendStatus
	// ID is the stored event's Event.ID: for AppendInserted the id just assigned, for AppendDuplicate the id
	// of the event already stored under the same key (so a retry sees the id of its first delivery). It is 0
	// only when the store cannot tell the id of a duplicate (for example when the stored copy was erased).
	ID int64
}

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
