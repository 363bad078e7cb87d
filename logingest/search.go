package logingest

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Search limits.
const (
	// MaxSearchLength is the longest Filter.Search, in bytes.
	MaxSearchLength = 200
	// MaxSearchTerms is the most terms a Filter.Search may have.
	MaxSearchTerms = 8
	// MaxSearchDocument is how many characters of an event's search document are searched (and indexed):
	// an event with very large properties costs the index no more than an ordinary one.
	MaxSearchDocument = 2048
	// MinSearchTermLength is the shortest term, in characters: the stores' trigram indexes cannot answer
	// shorter ones without reading every event.
	MinSearchTermLength = 3
)

// SearchTerms splits the free text of Filter.Search into its terms and validates them.
//
// Semantics, the same in every store: the text is split at white space into terms (at most MaxSearchTerms,
// each at least MinSearchTermLength characters; the whole text at most MaxSearchLength bytes). An event
// matches when EVERY term occurs, as a case-insensitive substring, in its search document: event_name,
// user_id, session_id and the JSON text of properties (keys and values), its first MaxSearchDocument
// characters. event_id, event_type, app_version and device_info are not searched (they have exact filters,
// and indexing them would make every insert much dearer). There is no tokenising, stemming or ranking:
// "sync_fail" finds "sync_failed", "FAIL" finds "fail". Spacing and key order of the JSON text may differ
// between stores, so search for values rather than for JSON punctuation. Empty text means no search.
func SearchTerms(text string) ([]string, error) {
	if len(text) > MaxSearchLength {
		return nil, errors.New("must be at most 200 bytes")
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("must be valid UTF-8")
	}
	terms := strings.Fields(text)
	if len(terms) > MaxSearchTerms {
		return nil, errors.New("must have at most 8 words")
	}
	for _, t := range terms {
		if utf8.RuneCountInString(t) < MinSearchTermLength {
			return nil, errors.New("every word must be at least 3 characters long")
		}
		if strings.ContainsRune(t, 0) {
			return nil, errors.New("must not contain NUL characters")
		}
	}
	return terms, nil
}
