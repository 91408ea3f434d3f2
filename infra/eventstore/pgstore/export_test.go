package pgstore

import (
	"context"
	"encoding/json"

	"github.com/loyaltyforge/loyalty/domain/es"
)

// GroupItem is one append of a group built by a test.
type GroupItem struct {
	Ctx      context.Context
	Stream   string
	Expected es.ExpectedVersion
	Events   []es.EventData
}

// AppendGroup writes items as ONE group, as the group committer does, without relying on
// timing to make them meet in the queue.
func (s *Store) AppendGroup(items []GroupItem) ([]es.AppendResult, []error, error) {
	live := make([]*pending, len(items))
	for i, it := range items {
		p := &pending{ctx: it.Ctx, stream: it.Stream, expected: it.Expected}
		for _, e := range it.Events {
			m, _ := json.Marshal(e.Metadata)
			p.ids, p.types, p.data, p.meta = append(p.ids, e.ID), append(p.types, e.Type), append(p.data, string(e.Data)), append(p.meta, string(m))
		}
		live[i] = p
	}
	outs, err := s.appendMany(context.Background(), live)
	if err != nil {
		return nil, nil, err
	}
	res, errs := make([]es.AppendResult, len(outs)), make([]error, len(outs))
	for i, o := range outs {
		res[i], errs[i] = o.res, o.err
	}
	return res, errs, nil
}
