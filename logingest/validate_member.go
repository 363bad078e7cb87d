package logingest

import "encoding/json"

// topLevelMember returns the value of the member named name of the JSON object raw, exactly as
// json.Unmarshal(raw, &m) with m a map[string]json.RawMessage gives m[name] (the last such member, names
// compared after unescaping), without building the map. raw must be a single valid JSON object (json.Valid).
func topLevelMember(raw []byte, name string) (json.RawMessage, bool) {
	i := skipSpaces(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	i++
	var val []byte
	found := false
	for {
		i = skipSpaces(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return val, found
		}
		if raw[i] == ',' {
			i++
			continue
		}
		end, escaped := jsonStringEnd(raw, i)
		key := raw[i:end]
		var match bool
		if escaped {
			var k string
			match = json.Unmarshal(key, &k) == nil && k == name
		} else {
			match = len(key) >= 2 && string(key[1:len(key)-1]) == name
		}
		i = skipSpaces(raw, end) + 1 // past the ':'
		i = skipSpaces(raw, i)
		vend := jsonValueEnd(raw, i)
		if match {
			val, found = raw[i:vend], true
		}
		i = vend
	}
}

func skipSpaces(raw []byte, i int) int {
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	return i
}

// jsonStringEnd returns the index just past the JSON string starting at raw[i] (a '"'), and whether it holds
// an escape.
func jsonStringEnd(raw []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return len(raw), escaped
}

// jsonValueEnd returns the index just past the JSON value starting at raw[i].
func jsonValueEnd(raw []byte, i int) int {
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '"':
		end, _ := jsonStringEnd(raw, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, _ := jsonStringEnd(raw, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(raw)
	}
	j := i // a number or a literal
	for j < len(raw) && !isSpace(raw[j]) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' {
		j++
	}
	return j
}
