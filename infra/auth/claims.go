package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// checkSegments refuses what encoding/json would read silently: a repeated name in the header
// or the claims (the last one wins there, so {"role":"member","role":"admin"} would be an admin
// to us and a member to a reader that keeps the first), and a time claim that is not a JSON
// number (RFC 7519 NumericDate; the jwt library also reads "exp":"9999999999").
func checkSegments(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("token must have three segments")
	}
	for i, what := range []string{"header", "claims"} {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			return fmt.Errorf("%s is not base64url", what)
		}
		if err := checkObject(raw, what == "claims"); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

var numericClaims = map[string]bool{"exp": true, "iat": true, "nbf": true}

func checkObject(raw []byte, claims bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not valid JSON")
		}
		name, _ := tok.(string)
		if seen[name] {
			return fmt.Errorf("%q is repeated", name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return errors.New("not valid JSON")
		}
		if claims && numericClaims[name] {
			var n json.Number
			if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
				return fmt.Errorf("%q must be a number", name)
			}
		}
		if len(v) > 0 && v[0] == '{' {
			if err := checkObject(v, false); err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
		}
	}
	return nil
}
