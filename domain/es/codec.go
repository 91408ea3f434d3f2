package es

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Event is a domain event: a struct with a stable, versioned name.
type Event interface{ EventName() string }

// Upcaster turns the payload of an old event version into the payload of a newer type.
type Upcaster func(data []byte) (newType string, newData []byte, err error)

// Codec maps stable event names to Go types. It is built explicitly from the event types each
// domain package lists, never from Go type names, so renaming a struct cannot break history.
type Codec struct {
	types     map[string]reflect.Type
	upcasters map[string]Upcaster
	unmarshal func(data []byte, v any) error
}

// NewCodec registers the given zero values by their EventName.
func NewCodec(events ...Event) *Codec {
	c := &Codec{types: map[string]reflect.Type{}, upcasters: map[string]Upcaster{}, unmarshal: json.Unmarshal}
	c.Register(events...)
	return c
}

// Register adds event types; a name registered twice panics at wiring time, not at run time.
func (c *Codec) Register(events ...Event) {
	for _, e := range events {
		name := e.EventName()
		if _, dup := c.types[name]; dup {
			panic("es: event name registered twice: " + name)
		}
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		c.types[name] = t
	}
}

// DecodeWith makes the codec decode payloads with unmarshal, which must read JSON as
// encoding/json does (the default); a faster one stands in for it where it pays (infra/eventtypes
// wires one, and checks it against encoding/json). The domain keeps to the standard library.
func (c *Codec) DecodeWith(unmarshal func(data []byte, v any) error) { c.unmarshal = unmarshal }

// Upcast registers a conversion from an old event name to a newer one.
func (c *Codec) Upcast(from string, u Upcaster) { c.upcasters[from] = u }

// Knows reports whether the codec can decode events of this type.
func (c *Codec) Knows(eventType string) bool {
	if _, ok := c.types[eventType]; ok {
		return true
	}
	_, ok := c.upcasters[eventType]
	return ok
}

// Encode serialises an event with a fresh time-ordered id.
func (c *Codec) Encode(e Event, meta Metadata) (EventData, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return EventData{}, fmt.Errorf("es: encode %s: %w", e.EventName(), err)
	}
	return EventData{ID: NewID(), Type: e.EventName(), Data: data, Metadata: meta}, nil
}

// EncodeAll encodes several events with the same metadata.
func (c *Codec) EncodeAll(events []Event, meta Metadata) ([]EventData, error) {
	out := make([]EventData, 0, len(events))
	for _, e := range events {
		d, err := c.Encode(e, meta)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Decode returns the domain event (a value, not a pointer) after upcasting old versions.
func (c *Codec) Decode(eventType string, data []byte) (Event, error) {
	for i := 0; i < 16; i++ {
		u, ok := c.upcasters[eventType]
		if !ok {
			break
		}
		var err error
		if eventType, data, err = u(data); err != nil {
			return nil, fmt.Errorf("es: upcast %s: %w", eventType, err)
		}
	}
	t, ok := c.types[eventType]
	if !ok {
		return nil, fmt.Errorf("es: unknown event type %q", eventType)
	}
	p := reflect.New(t)
	if err := c.unmarshal(data, p.Interface()); err != nil {
		return nil, fmt.Errorf("es: decode %s: %w", eventType, err)
	}
	e, ok := p.Elem().Interface().(Event)
	if !ok {
		return nil, fmt.Errorf("es: %s does not implement Event", eventType)
	}
	return e, nil
}

// NewID returns a UUIDv7 string: time-ordered, so ids index well.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	ms := uint64(time.Now().UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[0:6], ts[2:8])
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// DerivedID is a UUID (version 8, application-defined) that is a function of its parts: a
// command retried with the same identity gets the same event id, which a store refuses twice.
func DerivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = (b[6] & 0x0f) | 0x80
	b[8] = (b[8] & 0x3f) | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
