package gift

import (
	"fmt"
	"sort"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// decoder decodes only the event types a projector handles, so the rest of the log costs a map
// lookup and no JSON work during a rebuild.
type decoder struct {
	codec *es.Codec
	types map[string]bool
}

func newDecoder(codec *es.Codec, events ...es.Event) decoder {
	d := decoder{codec: codec, types: map[string]bool{}}
	for _, e := range events {
		d.types[e.EventName()] = true
	}
	return d
}

// decode returns nil for an event the projector does not handle.
func (d decoder) decode(r es.RecordedEvent) (es.Event, error) {
	if !d.types[r.Type] {
		return nil, nil
	}
	e, err := d.codec.Decode(r.Type, r.Data)
	if err != nil {
		return nil, fmt.Errorf("%s@%d: %w", r.StreamID, r.StreamVersion, err)
	}
	return e, nil
}

// prefixes are the handled types, for projections.Selective.
func (d decoder) prefixes() []string {
	out := make([]string, 0, len(d.types))
	for t := range d.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
