// Package natsbuffer puts a NATS JetStream stream between the ingest handler and the Store, so that a database
// outage or a slow database no longer reaches the clients.
//
// A Publisher provides the Ingest method of an httpapi Backend: it validates a request exactly as logingest.Ingester
// does (through a logingest.Validator), publishes each valid event as one message, and returns only after
// JetStream has acknowledged every one of them, which means the event is stored on the stream's replicas.
// Writers pull the stream through one durable consumer in large batches, Append them to the Store and
// acknowledge the messages only after the write committed. A writer that crashes leaves its messages
// unacknowledged; JetStream redelivers them after Config.AckWait and the Store's idempotency on
// (Source, EventID) absorbs the repeat.
//
// # What the per-event answers mean in buffer mode
//
//   - StatusAccepted: the event is durably stored in the stream (on Config.Replicas servers) and will be written
//     to the Store. It is not yet queryable. If an event with the same (source, event_id) was stored in the
//     Store before Config.DuplicateWindow, the Store keeps the first copy and the writer counts this one as a
//     duplicate; the client is not told (it has already been answered), which is harmless because both
//     answers mean "stop retrying".
//   - StatusDuplicate: JetStream reported that a message with the same (source, event_id) was published within
//     Config.DuplicateWindow (the stream's de-duplication window, keyed by the Nats-Msg-Id header); nothing
//     new was stored.
//   - StatusRejected: the event failed validation, as in direct mode. An event that passes validation but that
//     the Store later refuses as invalid (logingest.ErrInvalid) cannot be reported to the client any more: it
//     goes to the dead-letter stream with the reason and is counted (see ListDeadLetters).
//
// Whole-call errors: ErrOverloaded when the stream's limits (Config.MaxBytes, Config.MaxEvents) are reached, and
// ErrUnavailable when JetStream does not acknowledge in time or cannot be reached. Both are answered 503 with
// Retry-After by httpapi. Some events of a failed call may already be in the stream; a retry reports them
// duplicate.
//
// # Streams
//
// Setup creates or updates two streams: Config.Stream (work-queue retention, so a message is removed once a
// writer acknowledges it; full when MaxBytes or MaxEvents is reached, new messages refused) holding subject
// Config.Subject, and Config.DeadLetterStream (limits retention, Config.DeadLetterMaxAge) holding subject
// Config.DeadLetterSubject. Every message body is the JSON of one logingest.Event as the Validator stamped it.
package natsbuffer
