package logingest

import (
	"fmt"
	"slices"
)

// Validator is the validation half of an Ingester, for transports that hand valid events to something other
// than a Store (a durable buffer, for example). It applies exactly the checks and server stamps of
// Ingester.Ingest, so an event a Validator passes is one the Ingester would have written. A Validator holds no
// goroutines and is safe for concurrent use.
type Validator struct {
	cfg Config
	val *eventValidator
}

// NewValidator returns a Validator using cfg's Limits, MaxBatchSize and Now; the other fields are ignored.
// A nil cfg uses the defaults. It returns an error naming the Config field when cfg is invalid.
func NewValidator(cfg *Config) (*Validator, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("logingest: invalid config: %w", err)
	}
	return &Validator{cfg: c, val: newEventValidator(c.Limits)}, nil
}

// MaxBatchSize returns the most events one Prepare call accepts (Config.MaxBatchSize).
func (v *Validator) MaxBatchSize() int { return v.cfg.MaxBatchSize }

// Prepared is the outcome of Validator.Prepare.
type Prepared struct {
	// Result has one Result per input event, in input order. Rejected events are final (Status
	// StatusRejected, with Errors, counted in Rejected); the Status of every valid event is empty, for the
	// caller to fill once it has written the event.
	Result *BatchResult
	// Valid are copies of the valid events, stamped with their source and receive time, in input order.
	Valid []Event
	// Index maps Valid[j] to its position in the input: Result.Results[Index[j]].
	Index []int
}

// Prepare validates events and stamps each valid one with source (DefaultSource when empty) and the receive
// time, as Ingester.Ingest does before it writes. The caller's slice is not modified. It returns a
// *LimitError (matching ErrInvalid) when events is empty or longer than MaxBatchSize.
func (v *Validator) Prepare(source string, events []Event) (*Prepared, error) {
	if err := checkBatchSize(len(events), v.cfg.MaxBatchSize); err != nil {
		return nil, err
	}
	return prepare(v.val, v.cfg, source, events, nil), nil
}

// checkBatchSize returns a *LimitError for a batch of n events that is empty or longer than maxSize.
func checkBatchSize(n, maxSize int) error {
	const field = "logs" // the batch envelope's array
	if n == 0 {
		return &LimitError{Field: field, Limit: 1, Unit: "events minimum"}
	}
	if n > maxSize {
		return &LimitError{Field: field, Limit: int64(maxSize), Unit: "events"}
	}
	return nil
}

// prepare is the loop shared by Ingester.Ingest and Validator.Prepare. onReject, when not nil, is called for
// every rejected event.
func prepare(val *eventValidator, cfg Config, source string, events []Event, onReject func(EventType, []FieldError)) *Prepared {
	if source == "" {
		source = DefaultSource
	}
	now := cfg.Now().UTC()
	p := newPrepared(len(events))
	for i := range events {
		e := events[i] // copy: the caller's slice stays untouched
		// The device's clock values must be storable before they correct the timestamp (CorrectSkew).
		skewErrs := checkYear(nil, "sent_at", e.SentAt)
		if !e.SentAt.IsZero() {
			skewErrs = checkYear(skewErrs, "timestamp", e.Timestamp)
		}
		normalize(&e, source, now)
		p.Result.Results[i] = Result{Index: i, EventID: e.EventID}
		if errs := slices.Concat(skewErrs, val.check(&e, now)); len(errs) > 0 {
			p.Result.Results[i].Status = StatusRejected
			p.Result.Results[i].Errors = errs
			p.Result.Rejected++
			if onReject != nil {
				onReject(e.EventType, errs)
			}
			continue
		}
		p.Valid = append(p.Valid, e)
		p.Index = append(p.Index, i)
	}
	return p
}

// preparedOne holds everything a Prepared of one event points to, so that the usual single event costs one
// allocation instead of five.
type preparedOne struct {
	p       Prepared
	result  BatchResult
	results [1]Result
	valid   [1]Event
	index   [1]int
}

// newPrepared returns an empty Prepared for n events: Result.Results of length n, Valid and Index of capacity n.
func newPrepared(n int) *Prepared {
	if n == 1 {
		one := new(preparedOne)
		one.result.Results = one.results[:]
		one.p = Prepared{Result: &one.result, Valid: one.valid[:0], Index: one.index[:0]}
		return &one.p
	}
	return &Prepared{
		Result: &BatchResult{Results: make([]Result, n)},
		Valid:  make([]Event, 0, n),
		Index:  make([]int, 0, n),
	}
}
