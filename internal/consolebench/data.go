package consolebench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/change66/logserver/logingest"
)

// Data describes a generated data set of realistic events: Rows events of Source received over the day before
// Now, one every 24h/Rows in order, shaped like testdata/events.ndjson (the app's event types, names,
// properties, app versions and devices). Users and their sessions are many (Users ids of 28 random
// characters, like the app's, SessionsPerUser sessions each, named "<start ms>_<user id>" like the app's);
// events of templates without a user (sent before sign-in) keep no user. Timestamps trail the receive time by
// up to 10 s, except OfflinePercent of the events, which were buffered offline 1 to 72 hours.
//
// Event(i) is a pure function of i and the Data, so a loader can stream millions of events without holding
// them, and the benchmarks can name values that exist (UserID, SessionID).
type Data struct {
	Rows            int
	Now             time.Time
	Users           int
	SessionsPerUser int
	OfflinePercent  int

	templates []logingest.Event
	users     []string
}

// NewData returns the default realistic data set: 5,000 users with 3 sessions each, 5% offline events.
// The templates are read from the module's testdata/events.ndjson, found from the working directory up.
func NewData(rows int, now time.Time) (*Data, error) {
	d := &Data{Rows: rows, Now: now.UTC(), Users: 5000, SessionsPerUser: 3, OfflinePercent: 5}
	var err error
	if d.templates, err = Templates(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(7, 11))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	d.users = make([]string, d.Users)
	for i := range d.users {
		b := make([]byte, 28)
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		d.users[i] = string(b)
	}
	return d, nil
}

// UserID returns the id of user n (0 <= n < Users).
func (d *Data) UserID(n int) string { return d.users[n%len(d.users)] }

// SessionID returns the id of session k (0 <= k < SessionsPerUser) of user n.
func (d *Data) SessionID(n, k int) string {
	start := d.Now.Add(-24*time.Hour).UnixMilli() + int64(n*sessionSpacingMs+k*7_919_000)%86_400_000
	return fmt.Sprintf("%d_%s", start, d.UserID(n))
}

// sessionSpacingMs spreads the users' session start times over the day.
const sessionSpacingMs = 17_279

// Event returns event i (0 <= i < Rows).
func (d *Data) Event(i int) logingest.Event {
	r := rand.New(rand.NewPCG(uint64(max(i, 0)), 0x5eed))
	e := d.templates[r.IntN(len(d.templates))]
	e.Source = Source
	e.EventID = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff,
		r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
	// In float64: (i+1) * 24h in nanoseconds overflows int64 beyond ~106,000 events.
	e.ReceivedAt = d.Now.Add(-24 * time.Hour).Add(time.Duration(float64(i+1) * float64(24*time.Hour) / float64(d.Rows))).
		Truncate(time.Microsecond)
	if r.IntN(100) < d.OfflinePercent {
		e.Timestamp = e.ReceivedAt.Add(-time.Hour - time.Duration(r.Int64N(int64(71*time.Hour))))
	} else {
		e.Timestamp = e.ReceivedAt.Add(-time.Duration(r.Int64N(int64(10 * time.Second))))
	}
	e.Timestamp = e.Timestamp.Truncate(time.Microsecond)
	n := r.IntN(d.Users)
	if e.UserID != "" {
		e.UserID = d.UserID(n)
	}
	e.SessionID = d.SessionID(n, r.IntN(d.SessionsPerUser))
	if e.Priority == "" {
		e.Priority = logingest.PriorityNormal
	}
	return e
}

// Templates returns the events of the module's testdata/events.ndjson, found from the working directory up: the
// templates of Data, and of the stores' benchmarks that shape their own realistic traffic.
func Templates() ([]logingest.Event, error) {
	path, err := findTestdata("events.ndjson")
	if err != nil {
		return nil, err
	}
	return readTemplates(path)
}

// findTestdata returns the path of testdata/name in the module containing the working directory.
func findTestdata(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", name), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("consolebench: go.mod not found above the working directory")
		}
		dir = parent
	}
}

func readTemplates(path string) ([]logingest.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("consolebench: %w", err)
	}
	defer f.Close()
	var out []logingest.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logingest.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("consolebench: %s: %w", path, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("consolebench: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("consolebench: %s holds no events", path)
	}
	return out, nil
}
