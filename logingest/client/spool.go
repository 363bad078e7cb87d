package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// spool keeps queued events on disk: Send appends each event as one JSON line to the journal
// (current.ndjson); sealing a batch syncs the journal and renames it to batch-<n>.ndjson; a batch file is
// removed once the server answered for it. On open, the journal and the batch files a previous process left
// are turned into batches again.
type spool struct {
	dir  string
	cur  *os.File
	next int64 // number of the next batch file; starts at the open time so names sort across restarts
}

const journalName = "current.ndjson"

func openSpool(dir string, maxBatch int) (*spool, []*batch, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("client: spool directory: %w", err)
	}
	sp := &spool{dir: dir, next: time.Now().UnixNano()}
	names, err := filepath.Glob(filepath.Join(dir, "batch-*.ndjson"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(names)
	if _, err := os.Stat(filepath.Join(dir, journalName)); err == nil {
		names = append(names, filepath.Join(dir, journalName)) // left by a crash: newest events
	}
	var batches []*batch
	for _, name := range names {
		events, err := readEvents(name)
		if err != nil {
			return nil, nil, err
		}
		if len(events) == 0 {
			_ = os.Remove(name)
			continue
		}
		if len(events) <= maxBatch && filepath.Base(name) != journalName {
			batches = append(batches, newBatch(events, name))
			continue
		}
		// Re-cut into batches of at most maxBatch, each in its own file, before the original goes.
		for chunk := range slices.Chunk(events, maxBatch) {
			path, err := sp.writeBatch(chunk)
			if err != nil {
				return nil, nil, err
			}
			batches = append(batches, newBatch(chunk, path))
		}
		if err := os.Remove(name); err != nil {
			return nil, nil, fmt.Errorf("client: spool: %w", err)
		}
	}
	if err := sp.openJournal(); err != nil {
		return nil, nil, err
	}
	return sp, batches, nil
}

func newBatch(events []json.RawMessage, path string) *batch {
	b := &batch{events: events, ids: make([]string, len(events)), spool: path}
	for i, e := range events {
		var id struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(e, &id) // lines were checked to be JSON objects by readEvents
		b.ids[i] = id.EventID
	}
	return b
}

// readEvents reads the JSON lines of a spool file, dropping a torn last line (the process died mid-write).
func readEvents(name string) ([]json.RawMessage, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("client: spool: %w", err)
	}
	defer f.Close()
	var out []json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || !json.Valid(line) || line[0] != '{' {
			continue
		}
		out = append(out, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("client: spool %s: %w", name, err)
	}
	return out, nil
}

func (sp *spool) openJournal() error {
	f, err := os.OpenFile(filepath.Join(sp.dir, journalName), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("client: spool journal: %w", err)
	}
	sp.cur = f
	return nil
}

func (sp *spool) batchPath() string {
	sp.next++
	return filepath.Join(sp.dir, fmt.Sprintf("batch-%020d.ndjson", sp.next))
}

// append writes one event to the journal. The write reaches the OS before Send returns (it survives the
// process); it is synced to the disk when its batch is sealed.
func (sp *spool) append(raw []byte) error {
	line := make([]byte, 0, len(raw)+1)
	line = append(append(line, raw...), '\n')
	if _, err := sp.cur.Write(line); err != nil {
		return fmt.Errorf("client: spool: %w", err)
	}
	return nil
}

// seal syncs the journal, renames it to a new batch file and starts an empty journal; it returns the batch
// file.
func (sp *spool) seal() (string, error) {
	if err := sp.cur.Sync(); err != nil {
		return "", fmt.Errorf("client: spool sync: %w", err)
	}
	if err := sp.cur.Close(); err != nil {
		return "", fmt.Errorf("client: spool: %w", err)
	}
	path := sp.batchPath()
	if err := os.Rename(filepath.Join(sp.dir, journalName), path); err != nil {
		return "", errors.Join(fmt.Errorf("client: spool: %w", err), sp.openJournal())
	}
	return path, sp.openJournal()
}

// writeBatch writes events to a new synced batch file.
func (sp *spool) writeBatch(events []json.RawMessage) (string, error) {
	var buf bytes.Buffer
	for _, e := range events {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	path := sp.batchPath()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("client: spool: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return "", fmt.Errorf("client: spool: %w", err)
	}
	return path, nil
}

func (sp *spool) remove(path string) {
	_ = os.Remove(path) // a leftover file is resent after a restart, which the server reports duplicate
}

// close closes the journal, removing it when empty.
func (sp *spool) close() error {
	info, err := sp.cur.Stat()
	cerr := sp.cur.Close()
	if err == nil && info.Size() == 0 {
		_ = os.Remove(filepath.Join(sp.dir, journalName))
	}
	if cerr != nil && !strings.Contains(cerr.Error(), "already closed") {
		return fmt.Errorf("client: spool: %w", cerr)
	}
	return nil
}
