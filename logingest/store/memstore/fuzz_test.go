package memstore_test

import (
	"testing"

	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/storetest"
)

// FuzzStoreRoundTrip: whatever ingest validation accepts, memstore stores and reads back as valid JSON equal to
// what was sent.
func FuzzStoreRoundTrip(f *testing.F) {
	storetest.FuzzRoundTrip(f, memstore.New(), nil)
}
