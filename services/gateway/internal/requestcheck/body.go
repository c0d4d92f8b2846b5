package requestcheck

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxDepth is how deeply a body may nest objects and arrays. The suite's messages nest a few
// levels; anything deeper is an attack on the parser, refused before any parser sees it.
const MaxDepth = 32

// bodyError is a refused body: what is wrong, and the JSON path of the field at fault ("" for the
// body as a whole).
type bodyError struct {
	field   string
	problem string
	utf8    bool // the problem is invalid UTF-8
}

func (e *bodyError) Error() string {
	if e.field == "" {
		return "The request body " + e.problem + "."
	}
	return fmt.Sprintf("The request body's field %q %s.", e.field, e.problem)
}

// checkBody reports whether body is JSON that protojson will decode into a message of md without
// complaint, and if not, what is wrong in words of ours. An empty body is an empty message, as
// grpc-gateway takes it.
func checkBody(body []byte, md protoreflect.MessageDescriptor) *bodyError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	w := &walker{body: body, dec: json.NewDecoder(bytes.NewReader(body))}
	w.dec.UseNumber()
	tok, err := w.next("")
	if err != nil {
		return w.fail(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &bodyError{problem: "must be a JSON object"}
	}
	if err := w.message(md, "", 1); err != nil {
		return w.fail(err)
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return &bodyError{problem: "holds more than one JSON value"}
	}
	return nil
}

type walker struct {
	body []byte
	dec  *json.Decoder
	prev int64 // offset after the previous token
}

// fail turns a decoder error into a refusal: the decoder's own wording (offsets aside) stays here.
func (w *walker) fail(err error) *bodyError {
	var be *bodyError
	if errors.As(err, &be) {
		return be
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &bodyError{problem: fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)}
	}
	return &bodyError{problem: "is not valid JSON: it ends too early"}
}

// next reads one token and checks the raw bytes it spans: invalid UTF-8 and lone UTF-16 surrogate
// escapes, which encoding/json would quietly turn into U+FFFD and protojson refuses.
func (w *walker) next(field string) (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, err
	}
	start, end := w.prev, w.dec.InputOffset()
	w.prev = end
	if _, isString := tok.(string); isString {
		raw := w.body[start:end]
		if !utf8.Valid(raw) {
			return nil, &bodyError{field: field, problem: "is not valid UTF-8", utf8: true}
		}
		if loneSurrogate(raw) {
			return nil, &bodyError{field: field, problem: "holds a \\u escape of half a character (a lone surrogate)", utf8: true}
		}
	}
	return tok, nil
}

// loneSurrogate reports whether the raw JSON text holds a \uD800-\uDFFF escape that is not one half
// of a pair.
func loneSurrogate(raw []byte) bool {
	s := string(raw)
	for i := 0; i+6 <= len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++ // skip the escaped character, which may itself be a backslash
			continue
		}
		r, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		if err != nil {
			return false // the decoder has already refused it
		}
		switch {
		case utf16.IsSurrogate(rune(r)) && r < 0xdc00:
			if i+12 > len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
				return true
			}
			lo, err := strconv.ParseUint(s[i+8:i+12], 16, 16)
			if err != nil || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case utf16.IsSurrogate(rune(r)):
			return true
		default:
			i += 5
		}
	}
	return false
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func fieldFail(field, problem string) error { return &bodyError{field: field, problem: problem} }

// message reads the members of an object whose '{' has been read.
func (w *walker) message(md protoreflect.MessageDescriptor, path string, depth int) error {
	if depth > MaxDepth {
		return &bodyError{field: path, problem: fmt.Sprintf("nests deeper than %d levels", MaxDepth)}
	}
	seen := map[protoreflect.FieldNumber]bool{}
	oneofs := map[protoreflect.FullName]string{}
	for w.dec.More() {
		tok, err := w.next(path)
		if err != nil {
			return err
		}
		key := tok.(string) // object keys are strings
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			return fieldFail(join(path, shortKey(key)), "is not a field of this message")
		}
		field := join(path, fd.JSONName())
		if seen[fd.Number()] {
			return fieldFail(field, "is given twice")
		}
		seen[fd.Number()] = true
		isNull, err := w.value(fd, field, depth)
		if err != nil {
			return err
		}
		if of := fd.ContainingOneof(); of != nil && !of.IsSynthetic() && !isNull {
			if other, set := oneofs[of.FullName()]; set {
				return fieldFail(field, "cannot be set together with "+other+" (only one of them)")
			}
			oneofs[of.FullName()] = field
		}
	}
	_, err := w.next(path) // '}'
	return err
}

// value reads the value of field fd and reports whether it was null.
func (w *walker) value(fd protoreflect.FieldDescriptor, field string, depth int) (bool, error) {
	switch {
	case fd.IsMap():
		return w.mapValue(fd, field, depth)
	case fd.IsList():
		return w.listValue(fd, field, depth)
	}
	tok, err := w.next(field)
	if err != nil {
		return false, err
	}
	if tok == nil {
		// null means "not set" for every singular field, and is the one value of NullValue.
		return true, nil
	}
	return false, w.singular(fd, tok, field, depth)
}

func (w *walker) listValue(fd protoreflect.FieldDescriptor, field string, depth int) (bool, error) {
	tok, err := w.next(field)
	if err != nil {
		return false, err
	}
	if tok == nil {
		return true, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return false, fieldFail(field, "must be a JSON array")
	}
	if depth+1 > MaxDepth {
		return false, fieldFail(field, fmt.Sprintf("nests deeper than %d levels", MaxDepth))
	}
	for i := 0; w.dec.More(); i++ {
		item := fmt.Sprintf("%s[%d]", field, i)
		tok, err := w.next(item)
		if err != nil {
			return false, err
		}
		if tok == nil && !isValueMessage(fd) {
			return false, fieldFail(item, "must not be null")
		}
		if tok != nil {
			if err := w.singular(fd, tok, item, depth+1); err != nil {
				return false, err
			}
		}
	}
	_, err = w.next(field) // ']'
	return false, err
}

func (w *walker) mapValue(fd protoreflect.FieldDescriptor, field string, depth int) (bool, error) {
	tok, err := w.next(field)
	if err != nil {
		return false, err
	}
	if tok == nil {
		return true, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return false, fieldFail(field, "must be a JSON object")
	}
	if depth+1 > MaxDepth {
		return false, fieldFail(field, fmt.Sprintf("nests deeper than %d levels", MaxDepth))
	}
	keyFD, valFD := fd.MapKey(), fd.MapValue()
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.next(field)
		if err != nil {
			return false, err
		}
		key := tok.(string)
		entry := join(field, shortKey(key))
		if problem := scalarFromString(keyFD.Kind(), key); problem != "" {
			return false, fieldFail(entry, "has a key that "+problem)
		}
		if seen[key] {
			return false, fieldFail(entry, "is given twice")
		}
		seen[key] = true
		tok, err = w.next(entry)
		if err != nil {
			return false, err
		}
		if tok == nil && !isValueMessage(valFD) {
			return false, fieldFail(entry, "must not be null")
		}
		if tok != nil {
			if err := w.singular(valFD, tok, entry, depth+1); err != nil {
				return false, err
			}
		}
	}
	_, err = w.next(field) // '}'
	return false, err
}

func isValueMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Value"
}

// singular checks one non-null value of fd's kind, whose first token is tok.
func (w *walker) singular(fd protoreflect.FieldDescriptor, tok json.Token, field string, depth int) error {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return w.messageValue(fd.Message(), tok, field, depth)
	}
	if fd.Kind() == protoreflect.EnumKind {
		return enumValue(fd.Enum(), tok, field)
	}
	return scalarValue(fd.Kind(), tok, field)
}

func (w *walker) messageValue(md protoreflect.MessageDescriptor, tok json.Token, field string, depth int) error {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return stringValue(tok, field, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z", validTimestamp)
	case "google.protobuf.Duration":
		return stringValue(tok, field, "must be a duration in seconds such as 1.5s", validDuration)
	case "google.protobuf.FieldMask":
		return stringValue(tok, field, "must be comma-separated lowerCamel field paths such as displayName,saml", validFieldMask)
	case "google.protobuf.Value":
		return w.anyJSON(tok, field, depth)
	case "google.protobuf.Struct":
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fieldFail(field, "must be a JSON object")
		}
		return w.anyJSONRest('{', field, depth+1)
	case "google.protobuf.ListValue":
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fieldFail(field, "must be a JSON array")
		}
		return w.anyJSONRest('[', field, depth+1)
	case "google.protobuf.Any":
		return fieldFail(field, "is not accepted over REST")
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return scalarValue(md.Fields().ByName("value").Kind(), tok, field)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fieldFail(field, "must be a JSON object")
	}
	return w.message(md, field, depth+1)
}

// anyJSON reads any JSON value (google.protobuf.Value), bounded in depth.
func (w *walker) anyJSON(tok json.Token, field string, depth int) error {
	if d, ok := tok.(json.Delim); ok {
		return w.anyJSONRest(d, field, depth+1)
	}
	return nil
}

func (w *walker) anyJSONRest(open json.Delim, field string, depth int) error {
	if depth > MaxDepth {
		return fieldFail(field, fmt.Sprintf("nests deeper than %d levels", MaxDepth))
	}
	seen := map[string]bool{}
	for w.dec.More() {
		if open == '{' {
			tok, err := w.next(field)
			if err != nil {
				return err
			}
			key := tok.(string)
			if seen[key] {
				return fieldFail(join(field, shortKey(key)), "is given twice")
			}
			seen[key] = true
		}
		tok, err := w.next(field)
		if err != nil {
			return err
		}
		if err := w.anyJSON(tok, field, depth); err != nil {
			return err
		}
	}
	_, err := w.next(field)
	return err
}

func stringValue(tok json.Token, field, want string, valid func(string) bool) error {
	s, ok := tok.(string)
	if !ok || !valid(s) {
		return fieldFail(field, want)
	}
	return nil
}

func enumValue(ed protoreflect.EnumDescriptor, tok json.Token, field string) error {
	switch v := tok.(type) {
	case string:
		if ed.Values().ByName(protoreflect.Name(v)) != nil {
			return nil
		}
	case json.Number:
		if integral(string(v), 32, false) {
			return nil
		}
	}
	return fieldFail(field, "must be one of "+enumNames(ed))
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	if len(names) > 8 {
		names = append(names[:8], "...")
	}
	return strings.Join(names, ", ")
}

// scalarValue checks a JSON value of a scalar kind, as protojson reads it: 64-bit integers and
// floats may be quoted, 32-bit integers too; bytes are base64.
func scalarValue(kind protoreflect.Kind, tok json.Token, field string) error {
	switch v := tok.(type) {
	case bool:
		if kind == protoreflect.BoolKind {
			return nil
		}
	case string:
		if kind == protoreflect.StringKind {
			return nil
		}
		if kind != protoreflect.BoolKind {
			if problem := scalarFromString(kind, v); problem == "" {
				return nil
			}
		}
	case json.Number:
		if kind != protoreflect.StringKind && kind != protoreflect.BytesKind && kind != protoreflect.BoolKind {
			if problem := scalarFromString(kind, string(v)); problem == "" {
				return nil
			}
		}
	}
	return fieldFail(field, "must be "+kindWords(kind))
}

// scalarFromString checks the text of a scalar value (a quoted number, a map key) and returns what
// is wrong, or "".
func scalarFromString(kind protoreflect.Kind, s string) string {
	ok := true
	switch kind {
	case protoreflect.StringKind:
	case protoreflect.BoolKind:
		ok = s == "true" || s == "false"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		ok = integral(s, 32, false)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		ok = integral(s, 32, true)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		ok = integral(s, 64, false)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		ok = integral(s, 64, true)
	case protoreflect.FloatKind:
		ok = floating(s, 32)
	case protoreflect.DoubleKind:
		ok = floating(s, 64)
	case protoreflect.BytesKind:
		ok = validBase64(s)
	}
	if ok {
		return ""
	}
	return "is not " + kindWords(kind)
}

func kindWords(kind protoreflect.Kind) string {
	switch kind {
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "a base64 string"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "a 32-bit integer"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "a non-negative 32-bit integer"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "a 64-bit integer"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "a non-negative 64-bit integer"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	}
	return "a value of its type"
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// integral reports whether s is a JSON number with an integral value in range (protojson accepts
// 1.0 and 1e2 for an integer field).
func integral(s string, bits int, unsigned bool) bool {
	if !jsonNumber.MatchString(s) || len(s) > 64 {
		return false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return false
	}
	n := r.Num()
	lo, hi := new(big.Int), new(big.Int)
	if unsigned {
		hi.Lsh(big.NewInt(1), uint(bits)).Sub(hi, big.NewInt(1))
	} else {
		lo.Lsh(big.NewInt(1), uint(bits-1)).Neg(lo)
		hi.Lsh(big.NewInt(1), uint(bits-1)).Sub(hi, big.NewInt(1))
	}
	return n.Cmp(lo) >= 0 && n.Cmp(hi) <= 0
}

func floating(s string, bits int) bool {
	switch s {
	case "NaN", "Infinity", "-Infinity":
		return true
	}
	if !jsonNumber.MatchString(s) {
		return false
	}
	f, err := strconv.ParseFloat(s, bits)
	return err == nil && !math.IsInf(f, 0)
}

func validBase64(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

func validTimestamp(s string) bool {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	if frac := strings.IndexByte(s, '.'); frac >= 0 {
		end := strings.IndexAny(s[frac:], "Z+-")
		if end < 0 || end-1 > 9 {
			return false
		}
	}
	return t.Year() >= 1 && t.Year() <= 9999
}

var durationText = regexp.MustCompile(`^-?[0-9]{1,12}(\.[0-9]{1,9})?s$`)

func validDuration(s string) bool {
	if !durationText.MatchString(s) {
		return false
	}
	secs, _ := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	return math.Abs(secs) <= 315576000000
}

var fieldMaskPath = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*$`)

func validFieldMask(s string) bool {
	if s == "" {
		return true
	}
	for _, p := range strings.Split(s, ",") {
		if !fieldMaskPath.MatchString(p) {
			return false
		}
	}
	return true
}

// shortKey is a key a client sent, as a field path shows it: cut to 40 bytes on a character
// boundary. Messages quote the whole path.
func shortKey(key string) string {
	if len(key) <= 40 {
		return key
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(key[cut]) {
		cut--
	}
	return key[:cut] + "…"
}
