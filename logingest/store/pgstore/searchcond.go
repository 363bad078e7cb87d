package pgstore

import "strings"

// idWordLength is the shortest id-like word (idLike) that lets a search term's digit-only words be left out of
// the trigram index's condition (indexedWords).
const idWordLength = 8

// searchCondition returns the condition that term t (logingest.SearchTerms: a case-insensitive substring of
// the search document) holds, with "?" for its values, in order, and the values. It is always equivalent to
//
//	searchDoc ILIKE '%t%'
//
// (t LIKE-escaped), which is what the trigram index of migration 008 is given, except for a term that
// indexedWords splits: then the index is given only the term's other words, in order, and the whole term is
// checked on the events it finds, as a boolean test that no index serves:
//
//	searchDoc ILIKE '%word1%word2%' AND (searchDoc ILIKE '%t%') IS TRUE
//
// The first condition follows from the second: the words are substrings of t, in order, free of wildcards,
// and made of ASCII letters and digits, which fold to lower case alike alone and within t. IS TRUE keeps the
// planner's estimate: it estimates the test as the plain condition, from the statistics of the indexed
// document, and multiplies that by the words' selectivity. (Another expression that no index serves, ILIKE on
// the document concatenated with an empty string, has no statistics: at 5 million events, "habit" and that for
// "sync_finished" (400,000 matches) were expected to match 290 events; with IS TRUE, 228,000.)
//
// Why: pg_trgm gives the index every trigram of every word of the pattern, and ANDs their posting lists. A
// session id, "<epoch milliseconds>_<28 random letters and digits>", has a digit word whose trigrams ("176",
// "764", ...) are in nearly every event (session ids and timestamps), posting lists millions long that the
// index walks to intersect them with the random word's (a few thousand): at 5 million events 4,000 to 5,000
// index buffers for the ~340 events of a session. Without the digits the index reads ~250; the events of the
// session's user (~1,000 heap pages) are then checked for the whole term: 1,250 to 1,320 buffers in all
// instead of 4,310 to 5,440, and half the time.
func searchCondition(t string) (string, []any) {
	whole := "%" + likeEscaper.Replace(t) + "%"
	words := indexedWords(t)
	if words == nil {
		return searchDoc + " ILIKE ?", []any{whole}
	}
	return searchDoc + " ILIKE ? AND (" + searchDoc + " ILIKE ?) IS TRUE",
		[]any{"%" + strings.Join(words, "%") + "%", whole}
}

// indexedWords returns the words of search term t that the trigram index is given in place of t
// (searchCondition), or nil when t is given whole. A word is a longest run of ASCII letters and digits (as
// pg_trgm splits a pattern, for ASCII). The rule: when t is ASCII, has a digit-only word and an id-like word
// (idLike), its digit-only words are left out and the others kept, in order. Only digit-only words are left
// out, and only beside an id-like word, because their trigrams are the common ones (timestamps, counters,
// versions: every document has digits) while an id-like word's are rare; a word of a language ("user" in
// "user_12345", "connection") may be far commoner than the number beside it, so it never replaces one.
func indexedWords(t string) []string {
	var words []string
	dropped, ided := false, false
	for i := 0; i < len(t); {
		if t[i] >= 0x80 {
			return nil // non-ASCII: case folding may depend on the neighbours (final sigma)
		}
		if !isASCIIAlnum(t[i]) {
			i++
			continue
		}
		j := i
		for j < len(t) && isASCIIAlnum(t[j]) {
			j++
		}
		w := t[i:j]
		switch {
		case strings.Trim(w, "0123456789") == "":
			dropped = true
		default:
			ided = ided || idLike(w)
			words = append(words, w)
		}
		i = j
	}
	if !dropped || !ided {
		return nil
	}
	return words
}

// idLike reports whether word w (ASCII letters and digits) looks like a random identifier: at least
// idWordLength characters, mixing letters and digits, as generated ids do (a 28-character id of letters and
// digits has both with a probability of 99.3 %) and words of a language do not.
func idLike(w string) bool {
	return len(w) >= idWordLength && strings.ContainsAny(w, "0123456789") &&
		strings.Trim(w, "0123456789") != ""
}

func isASCIIAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
