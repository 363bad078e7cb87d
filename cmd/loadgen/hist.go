package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: each power of two is split into 2^histSubBits buckets, so a
// reported quantile is within 1/2^histSubBits (about 1.6%) of the true value.
const histSubBits = 6

// histogram records request latencies in log-linear buckets, HDR style: memory stays fixed however many
// requests a run makes. The zero value is ready to use; it is not safe for concurrent use (each client keeps
// its own and they are merged at the end).
type histogram struct {
	counts [(64 - histSubBits + 1) << histSubBits]uint64
	total  uint64
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	// v>>shift has histSubBits+1 significant bits; its top bit is implied by shift, the rest is the mantissa.
	mant := int(v >> shift & (1<<histSubBits - 1))
	return (shift+1)<<histSubBits + mant
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i >= 0 && i < 1<<histSubBits {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	mant := uint64(i&(1<<histSubBits-1)) | 1<<histSubBits
	return (mant+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the recorded requests fall (the upper edge of the
// bucket holding the q-th value, never above the maximum), or 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(durationOf(bucketHigh(i)), h.max)
		}
	}
	return h.max
}

// durationOf converts a bucket bound to a Duration, saturating at the largest Duration. Bounds of buckets that
// can hold a recorded Duration always fit.
func durationOf(v uint64) time.Duration {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(v)
}
