// Package poisontest checks, for any Store, that a value the store refuses fails only the event that holds it:
// the Ingester isolates it in a group commit shared with other requests. It is internal, shared by the SQL
// stores' tests.
package poisontest

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
)

// poisonStore hands Append a copy of the events in which the events named in poison are altered, so that the
// real store meets a value validation would have refused (a value that "somehow" got past it). When gate is
// set, the first Append waits for it, so that the requests queued meanwhile are written together.
type poisonStore struct {
	logingest.Store
	poison  map[string]func(*logingest.Event)
	gate    chan struct{}
	mu      sync.Mutex
	appends int
}

func (p *poisonStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	p.mu.Lock()
	p.appends++
	first := p.appends == 1
	p.mu.Unlock()
	if first && p.gate != nil {
		<-p.gate
	}
	out := slices.Clone(events)
	for i := range out {
		if f, ok := p.poison[out[i].EventID]; ok {
			f(&out[i])
		}
	}
	return p.Store.Append(ctx, out)
}

// IngestPoisonedGroupCommit writes, in one group commit of one Ingester over s, a request holding good events
// and the poisoned ones and a neighbour's request of good events only. It requires that exactly the poisoned
// events are rejected (field "event"), that the others are accepted, and that no request fails.
func IngestPoisonedGroupCommit(t *testing.T, s logingest.Store, source string, events []logingest.Event,
	poison map[string]func(*logingest.Event),
) {
	t.Helper()
	ps := &poisonStore{Store: s, poison: poison, gate: make(chan struct{})}
	ing, err := logingest.New(ps, &logingest.Config{Writers: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Close(context.Background()) })

	// A first request occupies the only writer until the gate opens; the next two queue behind it.
	warm := events[:1]
	mine, neighbour := events[1:len(events)/2], events[len(events)/2:]
	type answer struct {
		res *logingest.BatchResult
		err error
	}
	answers := make([]chan answer, 3)
	for i, batch := range [][]logingest.Event{warm, mine, neighbour} {
		answers[i] = make(chan answer, 1)
		go func() {
			res, err := ing.Ingest(context.Background(), source, batch)
			answers[i] <- answer{res, err}
		}()
		if i == 0 {
			eventually(t, "the first request reaches the store", func() bool {
				ps.mu.Lock()
				defer ps.mu.Unlock()
				return ps.appends == 1
			})
		}
	}
	want := len(mine) + len(neighbour)
	eventually(t, "both requests are queued", func() bool { n, _ := ing.QueueDepth(); return n == len(warm)+want })
	close(ps.gate)

	for i, batch := range [][]logingest.Event{warm, mine, neighbour} {
		a := <-answers[i]
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
		for j, r := range a.res.Results {
			if _, bad := poison[batch[j].EventID]; bad {
				want := []logingest.FieldError{{Field: "event", Reason: "was refused by the store as invalid"}}
				if r.Status != logingest.StatusRejected || !slices.Equal(r.Errors, want) {
					t.Fatalf("request %d event %d: %s %v, want rejected %v", i, j, r.Status, r.Errors, want)
				}
			} else if r.Status != logingest.StatusAccepted {
				t.Fatalf("request %d event %d: %s %v, want accepted", i, j, r.Status, r.Errors)
			}
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.appends <= 2 {
		t.Fatalf("%d Appends: the group commit of both requests was refused and split, want more than 2", ps.appends)
	}
}

// eventually polls cond every millisecond for up to 10 s and fails the test with what when it never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("within 10s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
