package sqlite

import (
	"context"
	"log/slog"
	"time"
)

// searchIndexer adds the search documents that Append left out of its transaction (the ASCII ones, migration
// 009) to the ASCII FTS5 index (analytics_logs_fts, detail=none since migration 010), after the commit, in
// transactions of its own on the writer connection: each indexes the events above analytics_indexed.upto, at
// most indexerConfig.batch of them, and moves upto past them, atomically, so a crash re-indexes from upto and
// loses nothing. Searches cover the events above upto by testing them row by row (searchindex.go, "The
// un-indexed tail"), so the index may lag without a search missing anything.
//
// Indexing a few thousand documents at a time rather than a thousand per Append makes FTS5 write fewer,
// larger segments and merge them less often, and takes the indexing off the Append's commit path: an
// acknowledgement waits for the rows, rollups and WAL fsync only.
type searchIndexer struct {
	s      *Store
	cfg    indexerConfig
	wakeCh chan struct{} // buffered 1: a pending wake-up
	cancel context.CancelFunc
	done   chan struct{}
}

// indexerConfig holds the indexer's timing; a zero field means its default (tests lower them).
type indexerConfig struct {
	// delay is how long the indexer lets commits gather after a wake-up before it indexes them. Defaults
	// to 500ms: at 20,000 events/s a tail of 10,000 events, which a search tests in a few milliseconds.
	delay time.Duration
	// batch is the most events one indexing transaction takes, so that it holds the writer for a bounded
	// time (about 0.1 s). Defaults to 5000.
	batch int64
}

func (c indexerConfig) withDefaults() indexerConfig {
	c.delay = orDefault(c.delay, 500*time.Millisecond)
	c.batch = orDefault(c.batch, 5000)
	return c
}

// startIndexer starts the background indexer of s, woken once at once for a tail left by an earlier run.
func (s *Store) startIndexer(cfg indexerConfig) {
	ctx, cancel := context.WithCancel(context.Background())
	ix := &searchIndexer{s: s, cfg: cfg.withDefaults(), wakeCh: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	s.indexer = ix
	ix.wake()
	go ix.run(ctx)
}

// wake asks the indexer to index the tail soon; it never blocks. A nil indexer (a Store that failed to open)
// ignores it.
func (ix *searchIndexer) wake() {
	if ix == nil {
		return
	}
	select {
	case ix.wakeCh <- struct{}{}:
	default:
	}
}

// stop stops the indexer and waits for it; an indexing transaction in progress rolls back.
func (ix *searchIndexer) stop() {
	if ix == nil {
		return
	}
	ix.cancel()
	<-ix.done
}

func (ix *searchIndexer) run(ctx context.Context) {
	defer close(ix.done)
	timer := time.NewTimer(ix.cfg.delay)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ix.wakeCh:
		}
		timer.Reset(ix.cfg.delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		for {
			n, err := ix.s.indexTail(ctx, ix.cfg.batch)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				ix.s.logger.Error("search indexer: will retry", slog.Any("error", err))
				ix.wake() // after the next delay
				break
			}
			if n < ix.cfg.batch {
				break
			}
		}
	}
}

// indexTail indexes, in one transaction on the writer connection, the events above analytics_indexed.upto,
// at most limit ids of them: their ASCII search documents go into the FTS5 index, their users' and
// sessions' latest received_at into analytics_last_seen (one upsert per distinct id, as the per-row trigger
// of 006 computed it); then upto moves past them. It returns how
// many ids it covered (0 when the index is complete).
func (s *Store) indexTail(ctx context.Context, limit int64) (_ int64, err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var upto, top int64
	if err := tx.QueryRowContext(ctx, "SELECT upto, (SELECT coalesce(max(id), 0) FROM analytics_logs) FROM analytics_indexed").
		Scan(&upto, &top); err != nil {
		return 0, err
	}
	if top <= upto {
		return 0, tx.Rollback()
	}
	hi := min(top, upto+limit)
	if _, err := tx.ExecContext(ctx, `INSERT INTO analytics_logs_fts (rowid, doc)
		SELECT id, `+searchDoc+` FROM analytics_logs WHERE id > ? AND id <= ? AND NOT `+nonASCIIDoc, upto, hi); err != nil {
		return 0, err
	}
	for _, kind := range []struct{ kind, column string }{{"u", "user_id"}, {"s", "session_id"}} {
		//nolint:gosec // G202: column is one of two constants
		if _, err := tx.ExecContext(ctx, `INSERT INTO analytics_last_seen (source, kind, id, seen)
			SELECT source, ?, `+kind.column+`, max(received_at) FROM analytics_logs
			WHERE id > ? AND id <= ? AND `+kind.column+` <> '' GROUP BY source, `+kind.column+`
			ON CONFLICT DO UPDATE SET seen = max(seen, excluded.seen)`, kind.kind, upto, hi); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE analytics_indexed SET upto = ?", hi); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return hi - upto, nil
}

// indexAll indexes the whole tail (tests: the FTS5 index alone then answers every search).
func (s *Store) indexAll(ctx context.Context) error {
	for {
		n, err := s.indexTail(ctx, 1<<20)
		if err != nil || n == 0 {
			return err
		}
	}
}
