package natsbuffer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/change66/logserver/logingest"
)

// HeaderFormat names the encoding of a buffer message's body. Absent, the body is one event as JSON (the only
// format before batch messages, and still what MessagesPerEvent publishes); FormatEventsV1 is a batch of
// events in the binary layout of appendEvents. Writers read both, so a stream written by older publishers
// keeps draining.
const HeaderFormat = "Logingest-Format"

// FormatEventsV1 is the HeaderFormat value of a batch message (see appendEvents).
const FormatEventsV1 = "events-v1"

// batchMagic starts every FormatEventsV1 body, so a body mislabelled by another publisher fails fast.
var batchMagic = [4]byte{'L', 'G', 'E', 1}

// minEncodedEvent is the fewest bytes one encoded event takes (ten empty lengths, the sequence flag and four
// zero-time flags): decodeEvents uses it to bound the slice it allocates for a body's claimed count.
const minEncodedEvent = 15

// appendEvents appends the binary encoding of events to dst: batchMagic, uvarint count, then per event the
// fields in a fixed order, strings and raw JSON as uvarint length + bytes, times as a flag byte (0 zero,
// 1 UTC, 2 fixed offset followed by its zigzag varint seconds) + varint Unix seconds + uvarint nanoseconds,
// the sequence number as a flag byte + varint. Event.ID and Event.ProcessedAt are not carried (the store
// sets both). It is several times cheaper than JSON in both directions and does not re-validate the raw JSON
// of properties and device_info, which the Validator already checked.
func appendEvents(dst []byte, events []logingest.Event) []byte {
	dst = append(dst, batchMagic[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	for i := range events {
		dst = appendEvent(dst, &events[i])
	}
	return dst
}

func appendEvent(dst []byte, e *logingest.Event) []byte {
	dst = appendString(dst, e.Source)
	dst = appendString(dst, e.EventID)
	dst = appendString(dst, string(e.EventType))
	dst = appendString(dst, e.EventName)
	dst = appendBytes(dst, e.Properties)
	dst = appendString(dst, e.UserID)
	dst = appendString(dst, e.SessionID)
	dst = appendString(dst, e.AppVersion)
	dst = appendBytes(dst, e.DeviceInfo)
	if e.SequenceNumber == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, *e.SequenceNumber)
	}
	dst = appendString(dst, string(e.Priority))
	dst = appendTime(dst, e.Timestamp)
	dst = appendTime(dst, e.ReceivedAt)
	dst = appendTime(dst, e.OriginalTimestamp)
	return appendTime(dst, e.SentAt)
}

// encodedSize is an upper bound of appendEvent's output for e.
func encodedSize(e *logingest.Event) int {
	const perField = binary.MaxVarintLen64
	return len(e.Source) + len(e.EventID) + len(e.EventType) + len(e.EventName) + len(e.Properties) +
		len(e.UserID) + len(e.SessionID) + len(e.AppVersion) + len(e.DeviceInfo) + len(e.Priority) +
		10*perField + 1 + perField + 4*(2+3*perField)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	if _, off := t.Zone(); off == 0 {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 2)
		dst = binary.AppendVarint(dst, int64(off))
	}
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond())) //nolint:gosec // 0 ≤ nanoseconds < 1e9
}

// errCorrupt is wrapped by every decodeEvents error.
var errCorrupt = errors.New("corrupt events-v1 message")

// decodeEvents decodes a body written by appendEvents. Strings share one copy of data; Properties and
// DeviceInfo alias data, which the caller must not modify afterwards.
func decodeEvents(data []byte) ([]logingest.Event, error) {
	if len(data) < len(batchMagic) || [4]byte(data[:4]) != batchMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	d := decoder{data: data, str: string(data), off: len(batchMagic)}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(data)/minEncodedEvent) {
		return nil, fmt.Errorf("%w: bad event count", errCorrupt)
	}
	out := make([]logingest.Event, n)
	for i := range out {
		d.event(&out[i])
		if d.err != nil {
			return nil, fmt.Errorf("%w: event %d: %w", errCorrupt, i, d.err)
		}
	}
	if d.off != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(data)-d.off)
	}
	return out, nil
}

type decoder struct {
	data []byte
	str  string // data as one string: decoded strings are substrings of it (one copy per message)
	off  int
	err  error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.data) {
		d.fail("truncated")
		return 0
	}
	b := d.data[d.off]
	d.off++
	return b
}

// span returns the bounds of the next length-prefixed field.
func (d *decoder) span() (lo, hi int) {
	n := d.uvarint()
	if d.err != nil {
		return 0, 0
	}
	if n > uint64(len(d.data)-d.off) { //nolint:gosec // off ≤ len(data)
		d.fail("field longer than the message")
		return 0, 0
	}
	lo, hi = d.off, d.off+int(n) //nolint:gosec // n ≤ len(data) - off, checked above
	d.off = hi
	return lo, hi
}

func (d *decoder) string() string {
	lo, hi := d.span()
	return d.str[lo:hi]
}

func (d *decoder) raw() json.RawMessage {
	lo, hi := d.span()
	if lo == hi {
		return nil
	}
	return json.RawMessage(d.data[lo:hi:hi])
}

func (d *decoder) time() time.Time {
	var loc *time.Location
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		loc = time.UTC
	case 2:
		off := d.varint()
		if off < math.MinInt32 || off > math.MaxInt32 {
			d.fail("bad zone offset")
			return time.Time{}
		}
		loc = time.FixedZone("", int(off))
	default:
		d.fail("bad time flag")
		return time.Time{}
	}
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= uint64(time.Second) {
		d.fail("bad nanoseconds")
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).In(loc) //nolint:gosec // nsec < 1e9, checked above
}

func (d *decoder) event(e *logingest.Event) {
	e.Source = d.string()
	e.EventID = d.string()
	e.EventType = logingest.EventType(d.string())
	e.EventName = d.string()
	e.Properties = d.raw()
	e.UserID = d.string()
	e.SessionID = d.string()
	e.AppVersion = d.string()
	e.DeviceInfo = d.raw()
	switch d.byte() {
	case 0:
	case 1:
		v := d.varint()
		e.SequenceNumber = &v
	default:
		d.fail("bad sequence flag")
	}
	e.Priority = logingest.Priority(d.string())
	e.Timestamp = d.time()
	e.ReceivedAt = d.time()
	e.OriginalTimestamp = d.time()
	e.SentAt = d.time()
}
