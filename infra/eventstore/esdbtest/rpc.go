package esdbtest

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Append implements the Streams service: an options message, then the proposed events.
func (s *Server) Append(call streams.Streams_AppendServer) error {
	first, err := call.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	var exp expectation
	switch r := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		exp.kind = "any"
	case *streams.AppendReq_Options_NoStream:
		exp.kind = "no_stream"
	case *streams.AppendReq_Options_StreamExists:
		exp.kind = "stream_exists"
	case *streams.AppendReq_Options_Revision:
		exp = expectation{kind: "revision", revision: r.Revision}
	default:
		return status.Error(codes.InvalidArgument, "no expected stream revision")
	}
	var events []proposed
	size := 0
	for {
		req, err := call.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		eventType, ok := msg.GetMetadata()["type"]
		if !ok {
			return requiredMetadata("type")
		}
		contentType, ok := msg.GetMetadata()["content-type"]
		if !ok {
			return requiredMetadata("content-type")
		}
		id, err := fromUUID(msg.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		size += len(msg.GetData()) + len(msg.GetCustomMetadata()) + len(eventType)
		if size > s.opts.MaxAppendSize {
			call.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(s.opts.MaxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.opts.MaxAppendSize)
		}
		events = append(events, proposed{id: id, eventType: eventType, contentType: contentType,
			data: msg.GetData(), meta: msg.GetCustomMetadata()})
	}
	res := s.log.append(name, exp, events)
	if res.conflict {
		return call.SendAndClose(wrongExpectedVersion(exp, res.current))
	}
	ok := &streams.AppendResp_Success{}
	if res.current == noStream {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.current)}
	}
	if res.last == nil {
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		// The server reports the commit position of the write twice; for self-committed
		// records that is the last event's own position.
		ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: res.last.pos, PreparePosition: res.last.pos}}
	}
	return call.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}})
}

func requiredMetadata(key string) error {
	return status.Errorf(codes.InvalidArgument, "Required Metadata Property '%s' is missing", key)
}

// wrongExpectedVersion fills both the current fields and the 20.6.0 ones, as the server does.
func wrongExpectedVersion(exp expectation, current int64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	empty := &shared.Empty{}
	switch exp.kind {
	case "any":
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
	case "stream_exists":
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
	case "no_stream":
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.revision}
	}
	if current == noStream {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func fromUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(st.GetMostSignificantBits()) >> (56 - 8*i))
			b[8+i] = byte(uint64(st.GetLeastSignificantBits()) >> (56 - 8*i))
		}
		return uuid.UUID(b), nil
	}
	id, err := uuid.Parse(u.GetString_())
	if err != nil {
		return uuid.Nil, fmt.Errorf("event id: %w", err)
	}
	return id, nil
}

func toUUID(id uuid.UUID, structured bool) *shared.UUID {
	if !structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}}
}

// eventMessage is a record as the server sends it: its positions both on the record and as
// the read's commit position, its type, content type and creation time (.NET ticks since the
// Unix epoch) in the system metadata.
func eventMessage(r *record, structured bool) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               toUUID(r.id, structured),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata: map[string]string{
				"type":         r.eventType,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created.UnixNano()/100, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

// filter is a subscription's or read's server-side filter; nil passes everything.
type filter struct {
	onType  bool
	re      *regexp.Regexp
	prefix  []string
	every   int // checkpoint after this many records searched
	enabled bool
}

func newFilter(f *streams.ReadReq_Options_FilterOptions) (*filter, error) {
	if f == nil {
		return &filter{}, nil
	}
	out := &filter{enabled: true}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch v := f.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		out.onType, expr = true, v.EventType
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = v.StreamIdentifier
	default:
		return nil, status.Error(codes.InvalidArgument, "filter needs an event type or stream expression")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "filter regex: %v", err)
		}
		out.re = re
	}
	out.prefix = expr.GetPrefix()
	window := 32
	if m, ok := f.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	out.every = window * max(int(f.GetCheckpointIntervalMultiplier()), 1)
	return out, nil
}

func (f *filter) pass(r *record) bool {
	if !f.enabled {
		return true
	}
	subject := r.stream
	if f.onType {
		subject = r.eventType
	}
	if f.re != nil && !f.re.MatchString(subject) {
		return false
	}
	if len(f.prefix) > 0 {
		for _, p := range f.prefix {
			if strings.HasPrefix(subject, p) {
				return true
			}
		}
		return false
	}
	return true
}

// Read implements the Streams service: stream reads, $all reads and subscriptions to $all.
func (s *Server) Read(req *streams.ReadReq, call streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "no read options")
	}
	structured := o.GetUuidOption().GetStructured() != nil
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	switch {
	case o.GetSubscription() != nil:
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "esdbtest: only subscriptions to $all")
		}
		return s.subscribe(o.GetAll(), f, structured, call)
	case o.GetStream() != nil:
		return s.readStream(o.GetStream(), backwards, o.GetCount(), structured, call)
	case o.GetAll() != nil:
		return s.readAll(o.GetAll(), backwards, o.GetCount(), f, structured, call)
	}
	return status.Error(codes.InvalidArgument, "no stream option")
}

func (s *Server) readStream(o *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64, structured bool, call streams.Streams_ReadServer) error {
	name := o.GetStreamIdentifier().GetStreamName()
	recs := s.log.stream(string(name))
	if recs == nil {
		return call.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
			StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: name}}}})
	}
	n := int64(len(recs))
	var from int64
	switch v := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
		if backwards {
			from = min(0, n-1)
		}
	case *streams.ReadReq_Options_StreamOptions_End:
		from = n
		if backwards {
			from = n - 1
		}
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = int64(min(v.Revision, uint64(n))) // past the end reads nothing either way
		if backwards && v.Revision >= uint64(n) {
			from = n - 1
		}
	}
	step := int64(1)
	if backwards {
		step = -1
	}
	var sent uint64
	for i := from; i >= 0 && i < n && sent < count; i += step {
		if err := call.Send(eventMessage(recs[i], structured)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func (s *Server) readAll(o *streams.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter, structured bool, call streams.Streams_ReadServer) error {
	recs, _ := s.log.snapshot()
	n := len(recs)
	var from int // forwards: the first index read; backwards: one past it
	switch v := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		from = 0
	case *streams.ReadReq_Options_AllOptions_End:
		from = n
	case *streams.ReadReq_Options_AllOptions_Position:
		i, valid := s.log.index(recs, v.Position.GetCommitPosition(), v.Position.GetPreparePosition())
		if !valid {
			return status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
		}
		from = i // forwards includes the record at the position, backwards starts before it
	}
	var sent uint64
	if backwards {
		for i := from - 1; i >= 0 && sent < count; i-- {
			if !f.pass(recs[i]) {
				continue
			}
			if err := call.Send(eventMessage(recs[i], structured)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	for i := from; i < n && sent < count; i++ {
		if !f.pass(recs[i]) {
			continue
		}
		if err := call.Send(eventMessage(recs[i], structured)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// subscribe serves a catch-up subscription to $all: confirmation, the history after the start,
// a caught-up message, then live events as they are written, until the client goes away.
func (s *Server) subscribe(o *streams.ReadReq_Options_AllOptions, f *filter, structured bool, call streams.Streams_ReadServer) error {
	recs, _ := s.log.snapshot()
	next := 0
	switch v := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(recs)
	case *streams.ReadReq_Options_AllOptions_Position:
		i, valid := s.log.index(recs, v.Position.GetCommitPosition(), v.Position.GetPreparePosition())
		if !valid {
			return status.Error(codes.InvalidArgument, "Trying to subscribe from an invalid position.")
		}
		next = i
		if i < len(recs) && recs[i].pos == v.Position.GetCommitPosition() {
			next++ // a subscription starts after its position
		}
	}
	var after uint64
	if next > 0 {
		after = recs[next-1].pos
	}
	if p, ok := o.GetAllOption().(*streams.ReadReq_Options_AllOptions_Position); ok {
		after = p.Position.GetCommitPosition()
	}
	s.mu.Lock()
	s.subCalls++
	s.starts = append(s.starts, after)
	s.mu.Unlock()
	if err := call.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	searched := 0
	caughtUp := false
	ctx := call.Context()
	for {
		recs, changed := s.log.snapshot()
		for ; next < len(recs); next++ {
			r := recs[next]
			searched++
			if f.pass(r) {
				if err := call.Send(eventMessage(r, structured)); err != nil {
					return err
				}
			}
			if f.enabled && searched%f.every == 0 {
				if err := call.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{
					Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: r.pos, PreparePosition: r.pos}}}); err != nil {
					return err
				}
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := call.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		}
	}
}
