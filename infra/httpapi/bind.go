package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// BindJSON decodes the request body into v strictly (docs/http-contract.md "Conventions"): a body that is not
// declared as JSON is 415; an empty or null body, malformed JSON, unknown or wrongly cased
// fields, a repeated field, wrong types, data after the object and a missing or null required
// field are 400 invalid_request naming what is wrong. A body over the limit is 413.
//
// required lists the paths that must be present and not null: "name", "scope.type",
// "items[].sku" (in every element). Optional fields keep Go's zero value or a pointer.
func BindJSON(c echo.Context, v any, required ...string) error {
	req := c.Request()
	if err := requireContentType(req, "application/json"); err != nil {
		return err
	}
	if req.Body == nil {
		return BadRequest("request body is empty")
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return BadRequest("request body is empty")
	}
	if err := checkStrict(body, reflect.TypeOf(v), parseRequired(required)); err != nil && !errors.Is(err, errSyntax) {
		return err
	}
	return decodeStrict(body, v, "request body")
}

func requireCSV(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := requireContentType(c.Request(), "text/csv"); err != nil {
			return err
		}
		return next(c)
	}
}

// requireContentType answers 415 unsupported_media_type unless the request declares want
// (or, for JSON, a +json type). A request with no body at all is left to the handler.
func requireContentType(req *http.Request, want string) error {
	ct := req.Header.Get(echo.HeaderContentType)
	if ct == "" && (req.Body == nil || req.Body == http.NoBody) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == want || want == "application/json" && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return NewProblem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type must be %s", want)
}

func decodeStrict(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("%s", jsonProblem(err, what))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("%s has data after the JSON value", what)
	}
	return nil
}

// jsonProblem words a decoding error for the client, naming the field when the decoder knows it.
func jsonProblem(err error, what string) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s is not valid JSON (at byte %d)", what, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s is truncated JSON", what)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("%s must be %s, not %s", what, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return fmt.Sprintf("%s cannot be read: %s", what, strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ID checks an id chosen by a client (user_id, gift_id, ...): 1 to 64 of [A-Za-z0-9_.:-].
// A malformed id cannot be read as the contract says: 400.
func ID(field, value string) error {
	if len(value) < 1 || len(value) > 64 {
		return BadRequest("%s must be 1 to 64 characters of A-Z a-z 0-9 _ . : -", field)
	}
	for i := 0; i < len(value); i++ {
		ch := value[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '_' || ch == '.' || ch == ':' || ch == '-'
		if !ok {
			return BadRequest("%s must be 1 to 64 characters of A-Z a-z 0-9 _ . : -", field)
		}
	}
	return nil
}

// Text checks a free-text field (source_ref, ref, names): 1 to 255 printable characters;
// anything else breaks a rule: 422.
func Text(field, v string) error {
	if !utf8.ValidString(v) {
		return Invalid(field, "must be valid UTF-8")
	}
	n := utf8.RuneCountInString(v)
	if n < 1 || n > 255 {
		return Invalid(field, "must be 1 to 255 characters")
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return Invalid(field, "must hold printable characters only")
		}
	}
	return nil
}

// Paging reads ?limit (default 50, 1..500) and ?cursor (opaque; decode it with DecodeCursor).
func Paging(c echo.Context) (limit int, cursor string, err error) {
	limit = 50
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 500 {
			return 0, "", BadRequest("limit must be an integer from 1 to 500")
		}
		limit = n
	}
	return limit, c.QueryParam("cursor"), nil
}

// EncodeCursor makes an opaque cursor from v (JSON, base64url).
func EncodeCursor(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeCursor reads a cursor made by EncodeCursor into v; garbage is 400 naming "cursor".
func DecodeCursor(cursor string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 {
		return BadRequest("cursor is not valid")
	}
	if err := decodeStrict(b, v, "cursor"); err != nil {
		return BadRequest("cursor is not valid")
	}
	return nil
}

// JSON answers status with v as the body (no HTML escaping, unlike echo's default).
func JSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	return jsonEncode(c.Response(), v)
}
