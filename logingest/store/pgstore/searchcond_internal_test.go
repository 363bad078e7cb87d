package pgstore

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestIndexedWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		term string
		want []string
	}{
		// A session id: the epoch milliseconds are left out, the user id drives the index.
		{"1764484812345_aB3dEf9hIjKlMnOpQrStUvWxYz12", []string{"aB3dEf9hIjKlMnOpQrStUvWxYz12"}},
		{"aB3dEf9hIjKlMnOpQrStUvWxYz12_1764484812345", []string{"aB3dEf9hIjKlMnOpQrStUvWxYz12"}},
		{"550e8400-e29b-41d4-a716-446655440000", []string{"550e8400", "e29b", "41d4", "a716"}},
		{"v2_99_x9y8z7w6v5", []string{"v2", "x9y8z7w6v5"}},
		{"0%_off_a1b2c3d4e5f6", []string{"off", "a1b2c3d4e5f6"}},
		{`12345\a1b2c3d4e5f6`, []string{"a1b2c3d4e5f6"}},
		// Nothing to leave out.
		{"aB3dEf9hIjKlMnOpQrStUvWxYz12", nil},
		{"1764484812345", nil},
		{"sync_finished", nil},
		{"habit", nil},
		// No id-like word: a word of a language may be far commoner than the number beside it.
		{"user_12345", nil},
		{"connection_1234567890", nil},
		{"a1b2c3d_12345", nil},    // 7 characters
		{"abcdefghij_12345", nil}, // letters only
		// Not ASCII: case folding may depend on the neighbours.
		{"Ünïcode_12345678_a1b2c3d4", nil},
		{"12345678_a1b2c3d4é", nil},
	} {
		require.Equal(t, tc.want, indexedWords(tc.term), "%q", tc.term)
	}
}

// asciiWord is a word as indexedWords splits terms.
var asciiWord = regexp.MustCompile(`[A-Za-z0-9]+`)

// FuzzIndexedWords checks indexedWords against the rule it documents, written again with a regular expression,
// and that what it returns follows from the term: every event containing the term contains the words, in order,
// case aside.
func FuzzIndexedWords(f *testing.F) {
	for _, s := range []string{
		"1764484812345_aB3dEf9hIjKlMnOpQrStUvWxYz12", "550e8400-e29b-41d4-a716-446655440000",
		"user_12345", "v2_99_x9y8z7w6v5", "Ünïcode_12345678_a1b2c3d4", "abc", "1_a2345678",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, term string) {
		got := indexedWords(term)

		var kept []string
		digits, id := false, false
		for _, w := range asciiWord.FindAllString(term, -1) {
			letters := strings.IndexFunc(w, func(r rune) bool { return r > '9' }) >= 0
			if !letters {
				digits = true
				continue
			}
			kept = append(kept, w)
			id = id || len(w) >= 8 && strings.IndexFunc(w, func(r rune) bool { return r <= '9' }) >= 0
		}
		ascii := utf8.ValidString(term) && strings.IndexFunc(term, func(r rune) bool { return r >= 0x80 }) < 0
		if !ascii || !digits || !id {
			require.Nil(t, got, "%q", term)
			return
		}
		require.Equal(t, kept, got, "%q", term)

		// The index's pattern '%w1%w2%...' matches the term itself, and so every document holding it.
		rest := strings.ToLower(term)
		for _, w := range got {
			i := strings.Index(rest, strings.ToLower(w))
			require.GreaterOrEqual(t, i, 0, "%q: %q", term, w)
			rest = rest[i+len(w):]
		}
	})
}
