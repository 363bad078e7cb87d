package logingest

import (
	"fmt"
	"strconv"
)

// The range of the numbers accepted inside properties and device_info. PostgreSQL stores JSON numbers in jsonb
// as numeric, which holds at most 131072 digits before the decimal point and 16383 after it (the display
// scale, trailing zeros included, after applying the exponent); a number outside that range fails the insert
// with SQLSTATE 22003. The bounds below stay a little inside those limits so that every store can hold what
// validation accepts. They are far beyond anything a float64 or int64 can express, so no real client meets
// them.
const (
	// MaxJSONNumberMagnitude is the exclusive bound, as a power of ten, of the magnitude of a JSON number:
	// |x| < 10^MaxJSONNumberMagnitude (so 1e130999 is accepted and 1e131000 is not).
	MaxJSONNumberMagnitude = 131000
	// MaxJSONNumberScale is the most digits a JSON number may have after the decimal point once its exponent
	// is applied, trailing zeros included: 1e-16000 and 1.5e-15999 are accepted, 1e-16001 is not.
	MaxJSONNumberScale = 16000
)

// isNumberByte reports whether c can continue a JSON number token.
func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// checkNumber returns why the JSON number tok (syntactically valid, as checked by json.Valid) cannot be stored,
// or "" when it can. It computes what PostgreSQL's numeric input computes: the display scale (digits after
// the point once the exponent is applied) and the decimal weight of the most significant non-zero digit.
func checkNumber(tok []byte) string {
	if len(tok) > 0 && tok[0] == '-' {
		tok = tok[1:]
	}
	i := 0
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	intPart := tok[:i]
	var frac []byte
	if i < len(tok) && tok[i] == '.' {
		j := i + 1
		for j < len(tok) && tok[j] >= '0' && tok[j] <= '9' {
			j++
		}
		frac = tok[i+1 : j]
		i = j
	}
	var exp int64
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		digits := tok[i+1:]
		neg := false
		if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
			neg = digits[0] == '-'
			digits = digits[1:]
		}
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		// Nine digits keep every sum below in int64, and an exponent of a billion is out of range whatever
		// the mantissa (PostgreSQL refuses exponents beyond ±INT_MAX/2 even for zero).
		if len(digits) > 9 {
			return "holds a number whose exponent has more than 9 digits"
		}
		exp, _ = strconv.ParseInt(string(digits), 10, 64) // at most nine digits: cannot fail
		if neg {
			exp = -exp
		}
	}
	if scale := int64(len(frac)) - exp; scale > MaxJSONNumberScale {
		return fmt.Sprintf("holds a number with %d digits after the decimal point, limit is %d", scale, MaxJSONNumberScale)
	}
	// weight is the power of ten of the most significant non-zero digit.
	weight, nonZero := int64(0), false
	for k, c := range intPart {
		if c != '0' {
			weight, nonZero = int64(len(intPart)-1-k), true
			break
		}
	}
	if !nonZero {
		for k, c := range frac {
			if c != '0' {
				weight, nonZero = int64(-(k + 1)), true
				break
			}
		}
	}
	if nonZero && weight+exp >= MaxJSONNumberMagnitude {
		return fmt.Sprintf("holds a number of magnitude 1e%d or more, limit is below 1e%d", weight+exp, MaxJSONNumberMagnitude)
	}
	return ""
}
