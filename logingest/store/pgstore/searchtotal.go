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

// searchTotal is what searchFirst found.
type searchTotal struct {
	// estimated is set when the search's total is total, the estimate of a sample; its keys were not read.
	estimated bool
	total     int64
	// keys are those of the matches when estimated is false (all of them, or the threshold plus one).
	keys matchKeys
	// sampledTenth is set when a sample of a tenth of Config.CountSamplePercent found too few matches to trust.
	sampledTenth bool
}

// searchFirst returns the total of a search (the filter's where), or the keys of its matches, before its page
// is read. Its bounded count used to read the trigram index's candidates up to the threshold plus one, which
// for a term in a few percent of the events meant its whole bitmap: at 5 million events the planner chose a
// bitmap scan for terms in 4 % to 15 % of the events (200,000 to 750,000), whose index scan read every posting
// list before the first row, 70 to 250 ms. When the planner expects more than threshold matches (its estimate
// of a search is close: it has statistics of the indexed document) a sample of a tenth of
// Config.CountSamplePercent (searchSample) is taken first, and when it finds at least rangeSureSample matches
// and puts the total above threshold, that estimate is the total: 15 to 25 ms at 5 million events. Otherwise
// the keys of the matches are read (searchKeys).
func (s *Store) searchFirst(ctx context.Context, where string, args []any, threshold int64) (searchTotal, error) {
	var r searchTotal
	planned, err := s.plannedRows(ctx, where, args)
	if err != nil {
		return r, err
	}
	if planned > threshold {
		smp, err := s.sampleTotalAt(ctx, where, args, s.cfg.CountSamplePercent/10)
		if err != nil {
			return r, err
		}
		if smp.hits >= rangeSureSample && smp.est > threshold {
			r.estimated, r.total = true, smp.est
			return r, nil
		}
		r.sampledTenth = true
	}
	r.keys, err = s.searchKeys(ctx, where, args, threshold)
	return r, err
}

// searchSample estimates the number of events matching where, a search that matches more than its threshold.
// Matching a search reads each sampled event's search document (up to 2 KB): the sample of
// Config.CountSamplePercent (1 %) of 5 million events matched ~50,000 documents, 160 ms warm and 300 ms from
// disk, for a total that is labelled an estimate anyway. So it samples a tenth of that share first and the
// whole share only when the tenth finds fewer than rangeSureSample matches, too few to trust; tenthTaken says
// that the caller took the tenth already, and it found too few.
//
// Measured at 5 million events (30 samples each of five terms matching 200,000 to 2,700,000 events): the
// tenth (0.1 %) has a relative standard deviation of 7 to 10 % and a worst error of 13 to 22 %; the whole
// share (1 %) 2 to 4 % and 4 to 9 %.
func (s *Store) searchSample(ctx context.Context, where string, args []any, tenthTaken bool) (sample, error) {
	pct := s.cfg.CountSamplePercent
	if !tenthTaken {
		smp, err := s.sampleTotalAt(ctx, where, args, pct/10)
		if err != nil || smp.hits >= rangeSureSample {
			return smp, err
		}
	}
	return s.sampleTotalAt(ctx, where, args, pct)
}
