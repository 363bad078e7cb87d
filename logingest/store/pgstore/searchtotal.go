package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/change66/logserver/logingest"
)

// matchKeys are the primary keys of the events matching a search, read by searchKeys: all of them when there
// are at most the threshold, else the threshold plus one.
type matchKeys struct {
	receivedAt []pgtype.Timestamptz
	ids        []int64
}

// n is the number of keys read.
func (k matchKeys) n() int64 { return int64(len(k.ids)) }

// searchKeys reads the keys of the events matching where (a search's filter), at most threshold+1 of them, with
// a plan made for the values (see customPlan). It replaces the bounded count of a search: both read every
// candidate of the trigram index, which for a rare term is most of the search's time (a session id at 5
// million events: 3,000 index pages, 22 ms for the 300 matches; the digits its trigrams share with every other
// session id make long posting lists). Reading the keys instead of counting them lets the page be taken from
// these events alone (keyedPageSQL) rather than through the index a second time.
func (s *Store) searchKeys(ctx context.Context, where string, args []any, threshold int64) (matchKeys, error) {
	q := fmt.Sprintf("SELECT received_at, id FROM analytics_logs%s LIMIT %d", where, threshold+1)
	rows, err := s.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return matchKeys{}, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	var k matchKeys
	var (
		recv pgtype.Timestamptz
		id   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&recv, &id}, func() error {
		k.receivedAt = append(k.receivedAt, recv)
		k.ids = append(k.ids, id)
		return nil
	})
	if err != nil {
		return matchKeys{}, fmt.Errorf("query: count: %w", withCtx(ctx, mapErr(err)))
	}
	return k, nil
}

// keyedPageSQL returns the page query of f over the events of k, which are all the events matching f: the
// same page as buildPageSQL's (order, cursor, offset), read through the id index of the partitions that hold
// them (received_at prunes the others) instead of the trigram index. The search is not matched again: events
// are never updated, and one deleted since searchKeys read its key is simply not found.
func keyedPageSQL(f logingest.Filter, k matchKeys) (string, []any, error) {
	return pageSQLOver(f, " WHERE received_at = ANY($1::timestamptz[]) AND id = ANY($2::int8[])",
		[]any{k.receivedAt, k.ids}, false)
}

// searchSample estimates the number of events matching where, a search known to match more than its threshold.
// Matching a search reads each sampled event's search document (up to 2 KB): the sample of
// Config.CountSamplePercent (1 %) of 5 million events matched ~50,000 documents, 160 ms warm and 300 ms from
// disk, for a total whose estimate is labelled anyway. So it first samples a tenth of that share and only when
// that finds fewer than rangeSureSample matches, too few to trust, samples the whole share.
func (s *Store) searchSample(ctx context.Context, where string, args []any) (sample, error) {
	pct := s.cfg.CountSamplePercent
	if small := pct / 10; small > 0 {
		smp, err := s.sampleTotalAt(ctx, where, args, small)
		if err != nil || smp.hits >= rangeSureSample {
			return smp, err
		}
	}
	return s.sampleTotalAt(ctx, where, args, pct)
}
