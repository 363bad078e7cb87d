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
// million events: 3,000 index pages, 22 ms for the 300 matches, while the index was given the digits, whose
// trigrams every other session id shares: see searchCondition). Reading the keys instead of counting them lets
// the page be taken from these events alone (keyedPageSQL) rather than through the index a second time.
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
	// threshold is the search's SearchCountThreshold.
	threshold int64
}

// none reports whether the search matches no event; false for nil.
func (r *searchTotal) none() bool { return r != nil && !r.estimated && r.keys.n() == 0 }

// searchFirstPage runs searchFirst for f when it is a search whose total is wanted (counted: its count was not
// skipped) and returns what it found and the page query to run (r.pageSQL); r is nil for any other filter,
// and pageSQL and args are returned as they are.
func (s *Store) searchFirstPage(ctx context.Context, f logingest.Filter, counted bool, pageSQL string, args []any,
	where string, whereArgs []any, threshold int64,
) (_ *searchTotal, _ string, _ []any, err error) {
	if f.Search == "" || !counted {
		return nil, pageSQL, args, nil
	}
	r, err := s.searchFirst(ctx, where, whereArgs, threshold)
	if err != nil {
		return nil, "", nil, err
	}
	if pageSQL, args, err = r.pageSQL(f, pageSQL, args); err != nil {
		return nil, "", nil, err
	}
	return &r, pageSQL, args, nil
}

// withSearchTotal sets the total of page, the page of the search (the filter's where) that searchFirst found
// r of (searchTotalOf), and returns it.
func (s *Store) withSearchTotal(ctx context.Context, page *logingest.Page, r searchTotal, where string,
	args []any,
) (*logingest.Page, error) {
	var err error
	if page.Total, page.TotalIsEstimate, err = s.searchTotalOf(ctx, r, where, args); err != nil {
		return nil, err
	}
	return page, nil
}

// exact reports whether the keys are all of the matches.
func (r searchTotal) exact() bool { return !r.estimated && r.keys.n() <= r.threshold }

// pageSQL returns the page query of the search f: keyedPageSQL's when its keys are all of its matches, else
// pageSQL and args (buildPageSQL's).
func (r searchTotal) pageSQL(f logingest.Filter, pageSQL string, args []any) (string, []any, error) {
	if r.exact() {
		return keyedPageSQL(f, r.keys)
	}
	return pageSQL, args, nil
}

// searchTotalOf returns Page.Total and Page.TotalIsEstimate of the search (the filter's where) that searchFirst
// found r of: the number of its keys when they are all of its matches, else an estimate (searchFirst's, or
// searchSample's), at least the threshold plus one.
func (s *Store) searchTotalOf(ctx context.Context, r searchTotal, where string, args []any) (int64, bool, error) {
	switch {
	case r.estimated:
		return r.total, true, nil
	case r.exact():
		return r.keys.n(), false, nil
	}
	smp, err := s.searchSample(ctx, where, args, r.sampledTenth)
	if err != nil {
		return 0, false, err
	}
	return max(smp.est, r.threshold+1), true, nil
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
	r := searchTotal{threshold: threshold}
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
