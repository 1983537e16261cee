package amp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Decimal is an AMP Decimal argument: the text of a Python
// decimal.Decimal ("1.10", "-0", "1E+3", "NaN", "Infinity", "-sNaN"). It
// is sent as is; decoding checks its syntax and keeps the peer's text
// (Go has no decimal type, and the text is exact).
type Decimal string

// DateTimeLayout is the layout of an AMP DateTime: microseconds and a
// numeric zone offset, always present, as Twisted writes it (a zero offset
// is written "-00:00", as Twisted does).
const DateTimeLayout = "2006-01-02T15:04:05.000000-07:00"

// argField is one tagged field of an argument struct.
type argField struct {
	key      string
	index    int
	optional bool
	ptr      bool
	c        codec
}

type codec interface {
	enc(dst []byte, v reflect.Value) ([]byte, error)
	dec(data []byte, v reflect.Value) error
}

var schemas sync.Map // reflect.Type -> []argField or error

func schemaOf(t reflect.Type) ([]argField, error) {
	if s, ok := schemas.Load(t); ok {
		if err, ok := s.(error); ok {
			return nil, err
		}
		return s.([]argField), nil
	}
	fs, err := buildSchema(t)
	if err != nil {
		schemas.Store(t, err)
		return nil, err
	}
	schemas.Store(t, fs)
	return fs, nil
}

func buildSchema(t reflect.Type) ([]argField, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("amp: arguments of type %v: not a struct", t)
	}
	var fs []argField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("amp")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || len(name) > MaxKeyLength {
			return nil, fmt.Errorf("amp: field %v.%s: key %q must be 1 to 255 bytes", t, sf.Name, name)
		}
		f := argField{key: name, index: i, optional: opts == "optional"}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.ptr, f.optional = true, true
			ft = ft.Elem()
		}
		c, err := codecFor(ft, true)
		if err != nil {
			return nil, fmt.Errorf("amp: field %v.%s: %w", t, sf.Name, err)
		}
		f.c = c
		fs = append(fs, f)
	}
	return fs, nil
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[Decimal]()
	bytesType   = reflect.TypeFor[[]byte]()
)

func codecFor(t reflect.Type, top bool) (codec, error) {
	switch {
	case t == timeType:
		return dateTimeCodec{}, nil
	case t == decimalType:
		return decimalCodec{}, nil
	case t == bytesType:
		return bytesCodec{}, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intCodec{}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintCodec{}, nil
	case reflect.String:
		return stringCodec{}, nil
	case reflect.Float32, reflect.Float64:
		return floatCodec{}, nil
	case reflect.Bool:
		return boolCodec{}, nil
	case reflect.Slice:
		et := t.Elem()
		if et.Kind() == reflect.Struct && et != timeType {
			if _, err := schemaOf(et); err != nil {
				return nil, err
			}
			return ampListCodec{elem: et}, nil
		}
		ec, err := codecFor(et, false)
		if err != nil {
			return nil, err
		}
		return listOfCodec{elem: ec}, nil
	}
	return nil, fmt.Errorf("unsupported type %v", t)
}

// encodeArgs appends the fields of v (a struct) to b.
func encodeArgs(b Box, v reflect.Value) (Box, error) {
	fs, err := schemaOf(v.Type())
	if err != nil {
		return b, err
	}
	for f, fv := range sentFields(fs, v) {
		val, err := f.c.enc(nil, fv)
		if err != nil {
			return b, fmt.Errorf("amp: argument %q: %w", f.key, err)
		}
		if len(val) > MaxValueLength {
			return b, fmt.Errorf("%w: argument %q, %d bytes", ErrValueTooLong, f.key, len(val))
		}
		b = append(b, Field{f.key, val})
	}
	return b, nil
}

// sentFields yields the fields of v (a struct of schema fs) that are sent,
// with their values: all but the nil pointers.
func sentFields(fs []argField, v reflect.Value) iter.Seq2[argField, reflect.Value] {
	return func(yield func(argField, reflect.Value) bool) {
		for _, f := range fs {
			fv := v.Field(f.index)
			if f.ptr {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if !yield(f, fv) {
				return
			}
		}
	}
}

// appendArgs appends the fields of v (a struct) to dst in the box
// encoding, without the terminating zero length: the fields encodeArgs
// would give, written straight into dst. On an error it returns dst as it
// was.
func appendArgs(dst []byte, v reflect.Value) ([]byte, error) {
	fs, err := schemaOf(v.Type())
	if err != nil {
		return dst, err
	}
	start := len(dst)
	for f, fv := range sentFields(fs, v) {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.key)))
		dst = append(dst, f.key...)
		at := len(dst)
		dst = append(dst, 0, 0) // the value's length, set once it is written
		if dst, err = f.c.enc(dst, fv); err != nil {
			return dst[:start], fmt.Errorf("amp: argument %q: %w", f.key, err)
		}
		n := len(dst) - at - 2
		if n > MaxValueLength {
			return dst[:start], fmt.Errorf("%w: argument %q, %d bytes", ErrValueTooLong, f.key, n)
		}
		binary.BigEndian.PutUint16(dst[at:], uint16(n))
	}
	return dst, nil
}

// decodeArgs fills v (a settable struct) from b.
func decodeArgs(b Box, v reflect.Value) error {
	fs, err := schemaOf(v.Type())
	if err != nil {
		return err
	}
	for _, f := range fs {
		raw, ok := b.Get(f.key)
		if !ok {
			if f.optional {
				continue
			}
			return fmt.Errorf("%w: %q", ErrMissingArgument, f.key)
		}
		fv := v.Field(f.index)
		if f.ptr {
			p := reflect.New(fv.Type().Elem())
			fv.Set(p)
			fv = p.Elem()
		}
		if err := f.c.dec(raw, fv); err != nil {
			return fmt.Errorf("%w: argument %q: %v", ErrBadValue, f.key, err)
		}
	}
	return nil
}

// Encode returns the box of the tagged fields of args, a struct. A struct is
// an AMP argument list: each exported field with an `amp` tag
// is one key. The Go type picks the AMP type:
//
//	int, int8 … int64, uint … uint64  Integer (decimal text)
//	[]byte                            String (raw bytes)
//	string                            Unicode (UTF-8)
//	float64, float32                  Float (Python's repr: "1.5", "1e+16", "nan", "inf", "-inf")
//	bool                              Boolean ("True", "False")
//	time.Time                         DateTime (DateTimeLayout)
//	Decimal                           Decimal
//	[]T of one of the above           ListOf (each item 16-bit length-prefixed)
//	[]S of a struct type              AmpList (boxes one after the other)
//
// A pointer to one of these is optional: nil is not sent, and a missing
// key decodes as nil. The tag option "optional" lets a non-pointer field
// be missing too (it decodes as the zero value): `amp:"name,optional"`.
func Encode[T any](args T) (Box, error) {
	return encodeArgs(nil, reflect.ValueOf(&args).Elem())
}

// Decode returns the struct T read from b. Keys of b that T does not name
// are ignored, as Twisted ignores them.
func Decode[T any](b Box) (T, error) {
	var v T
	err := decodeArgs(b, reflect.ValueOf(&v).Elem())
	return v, err
}

type intCodec struct{}

func (intCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	return strconv.AppendInt(dst, v.Int(), 10), nil
}

func (intCodec) dec(data []byte, v reflect.Value) error {
	n, err := strconv.ParseInt(string(data), 10, v.Type().Bits())
	if err != nil {
		return err
	}
	v.SetInt(n)
	return nil
}

type uintCodec struct{}

func (uintCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	return strconv.AppendUint(dst, v.Uint(), 10), nil
}

func (uintCodec) dec(data []byte, v reflect.Value) error {
	n, err := strconv.ParseUint(string(data), 10, v.Type().Bits())
	if err != nil {
		return err
	}
	v.SetUint(n)
	return nil
}

type bytesCodec struct{}

func (bytesCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	return append(dst, v.Bytes()...), nil
}

func (bytesCodec) dec(data []byte, v reflect.Value) error {
	v.SetBytes(append([]byte{}, data...))
	return nil
}

type stringCodec struct{}

func (stringCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	s := v.String()
	if !utf8Valid(s) {
		return dst, errors.New("not valid UTF-8")
	}
	return append(dst, s...), nil
}

func (stringCodec) dec(data []byte, v reflect.Value) error {
	if !utf8Valid(string(data)) {
		return errors.New("not valid UTF-8")
	}
	v.SetString(string(data))
	return nil
}

type floatCodec struct{}

func (floatCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	return appendPyFloat(dst, v.Float(), v.Type().Bits()), nil
}

func (floatCodec) dec(data []byte, v reflect.Value) error {
	f, err := parsePyFloat(string(data))
	if err != nil {
		return err
	}
	v.SetFloat(f)
	return nil
}

// appendPyFloat writes f as Python's repr does: the shortest digits that
// read back as f, fixed notation for exponents from -4 to 15 (always with a
// fraction, "1.0"), otherwise scientific with a signed exponent of at least
// two digits ("1e+16", "1.5e-05"); "nan", "inf", "-inf".
func appendPyFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	e := strconv.AppendFloat(nil, f, 'e', -1, bits) // [-]d[.ddd]e±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		dst = append(dst, '-')
	}
	mant, exps, _ := strings.Cut(string(e), "e")
	exp, _ := strconv.Atoi(exps)
	digits := strings.Replace(mant, ".", "", 1)
	if -4 <= exp && exp < 16 {
		if exp < 0 {
			dst = append(dst, "0."...)
			dst = append(dst, strings.Repeat("0", -exp-1)...)
			return append(dst, digits...)
		}
		if len(digits) <= exp+1 {
			dst = append(dst, digits...)
			dst = append(dst, strings.Repeat("0", exp+1-len(digits))...)
			return append(dst, ".0"...)
		}
		dst = append(dst, digits[:exp+1]...)
		dst = append(dst, '.')
		return append(dst, digits[exp+1:]...)
	}
	dst = append(dst, mant...)
	dst = append(dst, 'e')
	if exp < 0 {
		dst = append(dst, '-')
		exp = -exp
	} else {
		dst = append(dst, '+')
	}
	if exp < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}

// parsePyFloat reads what Python's float() reads from Twisted's output:
// decimal and scientific notation and the spellings of nan and infinity.
func parsePyFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if strings.ContainsAny(t, "xXpP_") { // no hex floats, no Go underscores
		return 0, fmt.Errorf("bad Float %q", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("bad Float %q", s)
	}
	return f, nil
}

type boolCodec struct{}

func (boolCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	if v.Bool() {
		return append(dst, "True"...), nil
	}
	return append(dst, "False"...), nil
}

func (boolCodec) dec(data []byte, v reflect.Value) error {
	switch string(data) {
	case "True":
		v.SetBool(true)
	case "False":
		v.SetBool(false)
	default:
		return fmt.Errorf("bad Boolean %q", data)
	}
	return nil
}

type dateTimeCodec struct{}

func (dateTimeCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	t := v.Interface().(time.Time)
	if y := t.Year(); y < 1 || y > 9999 {
		return dst, fmt.Errorf("DateTime year %d out of range", y)
	}
	_, off := t.Zone()
	if off%60 != 0 {
		return dst, fmt.Errorf("DateTime zone offset of %ds is not whole minutes", off)
	}
	dst = t.AppendFormat(dst, DateTimeLayout)
	if off == 0 {
		dst[len(dst)-6] = '-' // Twisted writes a zero offset as -00:00
	}
	return dst, nil
}

func (dateTimeCodec) dec(data []byte, v reflect.Value) error {
	if len(data) != len(DateTimeLayout) {
		return fmt.Errorf("bad DateTime %q", data)
	}
	t, err := time.Parse(DateTimeLayout, string(data))
	if err != nil {
		return fmt.Errorf("bad DateTime %q", data)
	}
	v.Set(reflect.ValueOf(t))
	return nil
}

type decimalCodec struct{}

func (decimalCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	s := v.String()
	if !validDecimal(s) {
		return dst, fmt.Errorf("bad Decimal %q", s)
	}
	return append(dst, s...), nil
}

func (decimalCodec) dec(data []byte, v reflect.Value) error {
	if !validDecimal(string(data)) {
		return fmt.Errorf("bad Decimal %q", data)
	}
	v.SetString(string(data))
	return nil
}

// validDecimal reports whether s is what str(decimal.Decimal) writes: an
// optional sign, then digits with an optional point and exponent, or
// Infinity, NaN or sNaN (NaNs may carry digits).
func validDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	switch {
	case s == "Infinity" || s == "Inf":
		return true
	case strings.HasPrefix(s, "NaN"):
		return allDigits(s[3:], true)
	case strings.HasPrefix(s, "sNaN"):
		return allDigits(s[4:], true)
	}
	mant, exp, hasExp := strings.Cut(s, "E")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(s, "e")
	}
	if hasExp {
		if exp != "" && (exp[0] == '-' || exp[0] == '+') {
			exp = exp[1:]
		}
		if !allDigits(exp, false) {
			return false
		}
	}
	ip, fp, _ := strings.Cut(mant, ".")
	return (ip != "" || fp != "") && allDigits(ip, true) && allDigits(fp, true)
}

func allDigits(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type listOfCodec struct{ elem codec }

func (c listOfCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	for i := 0; i < v.Len(); i++ {
		item, err := c.elem.enc(nil, v.Index(i))
		if err != nil {
			return dst, err
		}
		if len(item) > MaxValueLength {
			return dst, fmt.Errorf("%w: ListOf item of %d bytes", ErrValueTooLong, len(item))
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(item)))
		dst = append(dst, item...)
	}
	return dst, nil
}

func (c listOfCodec) dec(data []byte, v reflect.Value) error {
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for len(data) > 0 {
		if len(data) < 2 {
			return fmt.Errorf("truncated ListOf")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < n {
			return fmt.Errorf("truncated ListOf")
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if err := c.elem.dec(data[2:2+n], e); err != nil {
			return err
		}
		out = reflect.Append(out, e)
		data = data[2+n:]
	}
	v.Set(out)
	return nil
}

type ampListCodec struct{ elem reflect.Type }

func (c ampListCodec) enc(dst []byte, v reflect.Value) ([]byte, error) {
	for i := 0; i < v.Len(); i++ {
		b, err := encodeArgs(nil, v.Index(i))
		if err != nil {
			return dst, err
		}
		if dst, err = AppendBox(dst, b); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (c ampListCodec) dec(data []byte, v reflect.Value) error {
	boxes, err := parseBoxes(data)
	if err != nil {
		return err
	}
	out := reflect.MakeSlice(v.Type(), len(boxes), len(boxes))
	for i, b := range boxes {
		if err := decodeArgs(b, out.Index(i)); err != nil {
			return err
		}
	}
	v.Set(out)
	return nil
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
