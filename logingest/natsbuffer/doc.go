// Package natsbuffer puts a NATS JetStream stream between the ingest handler and the Store, so that a database
// outage or a slow database no longer reaches the clients.
//
// A Publisher provides the Ingest method of an httpapi Backend: it validates a request exactly as logingest.Ingester
// does (through a logingest.Validator), publishes the valid events — by default as one binary message per
// request and partition (FormatEventsV1), with Config.PerEventMessages as one JSON message per event — and
// returns only after JetStream has acknowledged every message, which means the events are stored on the
// stream's replicas.
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
//     The same holds, within the window, for an event resent in a different request than its first one when
//     batch messages are used (the default): see StatusDuplicate.
//   - StatusDuplicate: JetStream reported that the message carrying the event was already published within
//     Config.DuplicateWindow (the stream's de-duplication window, keyed by the Nats-Msg-Id header); nothing
//     new was stored. With Config.PerEventMessages the key is the event's (source, event_id), so any resend of
//     the event is recognised. With batch messages (the default) the key covers the request's source and
//     event ids (a one-event request's key is that event's, as per event): a resend of the same request — what
//     a client does after a timeout or a 503, as logingest/client does — is answered
//     duplicate event by event, while an event resent inside a different batch is answered accepted and the
//     Store, idempotent on (source, event_id), keeps its first copy (the writer counts it as a duplicate).
//     An event id repeated within one request is answered duplicate, as in direct mode.
//   - No id: the store assigns Event.ID when a writer commits, after the answer, so Result.ID is 0 (absent
//     in batch results, 0 in the single-event answer) for every event in buffer mode.
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
// Config.DeadLetterSubject. A message body is either the events of one request and partition in the binary
// FormatEventsV1 layout (header HeaderFormat), or, without that header, the JSON of one logingest.Event as the
// Validator stamped it; writers read both, so upgrade writers (logserver consume) before publishers when the
// writers run apart. A dead letter's body is always the event's JSON.
//
// # Partitions
//
// With Config.Partitions = N > 1 the stream holds the subjects Subject.0 … Subject.<N-1> (and Subject, for
// messages of publishers not yet reconfigured), an event goes to the partition of hash(source, user), and each
// partition has its own durable consumer Consumer-<p> filtered on its subject. A Writer pulls the partitions
// of Config.WriterPartitions, one fetch loop each, so writers scale out without contending for one consumer
// and, with one writer per partition and Config.Appenders 1, a user's events are stored in publication order.
// De-duplication stays exact: it is per stream, not per subject.
package natsbuffer
