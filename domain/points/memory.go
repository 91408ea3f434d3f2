package points

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// key is a 128-bit hash of an idempotency key. Refs are up to 255 characters and accounts
// remember them for a long time; a fixed 16 bytes keeps that memory small, and at 128 bits a
// collision is not a practical concern (birthday bound ~2^64 keys per account). The hash is
// part of the stored format (BooksClosed, snapshots): never change it.
type key [16]byte

func keyOf(kind string, parts ...string) key {
	n := len(kind) + 1
	for _, p := range parts {
		n += len(p) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, kind...)
	buf = append(buf, 0)
	for _, p := range parts {
		buf = append(buf, p...)
		buf = append(buf, 0) // separator: ("ab","c") and ("a","bc") must differ
	}
	sum := sha256.Sum256(buf)
	var k key
	copy(k[:], sum[:16])
	return k
}

func earningKey(reason, sourceRef string) key { return keyOf("earn", reason, sourceRef) }
func spendKey(ref string) key                 { return keyOf("spend", ref) }
func refundKey(ref string) key                { return keyOf("refund", ref) }
func holdKey(id string) key                   { return keyOf("hold", id) }
func exchangeKey(id string) key               { return keyOf("exchange", id) }
func debitKey(reason, ref string) key         { return keyOf("debit", reason, ref) }

// memory is what the account remembers only to answer retries. Each entry records the
// period generation it was made in, so closing the books can carry the latest period only.
type memory struct {
	gen       uint32
	earnings  map[key]earnRec
	spends    map[key]uint32
	refunds   map[key]uint32
	holds     map[key]closedHold
	exchanges map[key]exchRec
	debits    map[key]debitRec
}

type earnRec struct {
	lot         string
	amount      int64
	expires, at int64
	gen         uint32
}

type closedHold struct {
	captured bool
	amount   int64
	// expires is the latest expiry among the lots a captured hold took (0: not known, a
	// capture remembered in format 1), which a refund of the order gives its new lot.
	expires int64
	gen     uint32
}

// debitRec is a debit's first answer: the balance right after it.
type debitRec struct {
	amount  int64
	at      int64
	balance Balance
	gen     uint32
}

type exchRec struct {
	gift   string
	qty    int
	points int64
	at     int64
	gen    uint32
}

func newMemory() memory {
	return memory{
		earnings:  map[key]earnRec{},
		spends:    map[key]uint32{},
		refunds:   map[key]uint32{},
		holds:     map[key]closedHold{},
		exchanges: map[key]exchRec{},
		debits:    map[key]debitRec{},
	}
}

// Memory is stored in a compact, versioned binary form (base64 inside the JSON of BooksClosed
// and snapshots): the keys are opaque hashes anyway, and a long account remembers tens of
// thousands of them, which as JSON objects would make snapshots slower to read than replaying
// the stream. Layout (version 1), every section sorted by key so equal memory gives equal bytes:
//
//	0x01
//	earnings:  n, then n × key[16] len(lot) lot amount expires at gen
//	spends:    n, then n × key[16] gen
//	refunds:   n, then n × key[16] gen
//	holds:     n, then n × key[16] captured(0|1) amount gen
//	exchanges: n, then n × key[16] len(gift) gift quantity points at gen
//
// Version 2 (written now) adds, per hold, its expires (varint) after amount, and a last section:
//
//	debits:    n, then n × key[16] amount at total available frozen len(expiring) expiring × (amount expires) gen
//
// Integers are varints (amounts and times signed, counts, lengths and gens unsigned). Old
// versions must stay readable for as long as streams hold them.
const (
	memoryFormatV1 = 1
	memoryFormat   = 2
)

var errBadMemory = errors.New("malformed idempotency memory")

// encode writes the entries whose generation keep accepts; withGen false writes 0 for every
// generation (BooksClosed, where only "carried" matters).
func (m *memory) encode(keep func(gen uint32) bool, withGen bool) []byte {
	g := func(gen uint32) uint64 {
		if withGen {
			return uint64(gen)
		}
		return 0
	}
	// Sized for typical entries up front: growing a buffer of megabytes step by step was a
	// good part of snapshotting a long account.
	out := make([]byte, 1, 64+64*(len(m.earnings)+len(m.exchanges)+len(m.debits))+24*(len(m.spends)+len(m.refunds)+len(m.holds)))
	out[0] = memoryFormat
	earnings := sortedKeys(m.earnings, func(v earnRec) bool { return keep(v.gen) })
	out = binary.AppendUvarint(out, uint64(len(earnings)))
	for _, k := range earnings {
		v := m.earnings[k]
		out = append(out, k[:]...)
		out = appendString(out, v.lot)
		out = binary.AppendVarint(out, v.amount)
		out = binary.AppendVarint(out, v.expires)
		out = binary.AppendVarint(out, v.at)
		out = binary.AppendUvarint(out, g(v.gen))
	}
	for _, refs := range []map[key]uint32{m.spends, m.refunds} {
		ks := sortedKeys(refs, keep)
		out = binary.AppendUvarint(out, uint64(len(ks)))
		for _, k := range ks {
			out = append(out, k[:]...)
			out = binary.AppendUvarint(out, g(refs[k]))
		}
	}
	holds := sortedKeys(m.holds, func(v closedHold) bool { return keep(v.gen) })
	out = binary.AppendUvarint(out, uint64(len(holds)))
	for _, k := range holds {
		v := m.holds[k]
		out = append(out, k[:]...)
		if v.captured {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
		out = binary.AppendVarint(out, v.amount)
		out = binary.AppendVarint(out, v.expires)
		out = binary.AppendUvarint(out, g(v.gen))
	}
	exchanges := sortedKeys(m.exchanges, func(v exchRec) bool { return keep(v.gen) })
	out = binary.AppendUvarint(out, uint64(len(exchanges)))
	for _, k := range exchanges {
		v := m.exchanges[k]
		out = append(out, k[:]...)
		out = appendString(out, v.gift)
		out = binary.AppendVarint(out, int64(v.qty))
		out = binary.AppendVarint(out, v.points)
		out = binary.AppendVarint(out, v.at)
		out = binary.AppendUvarint(out, g(v.gen))
	}
	debits := sortedKeys(m.debits, func(v debitRec) bool { return keep(v.gen) })
	out = binary.AppendUvarint(out, uint64(len(debits)))
	for _, k := range debits {
		v := m.debits[k]
		out = append(out, k[:]...)
		out = binary.AppendVarint(out, v.amount)
		out = binary.AppendVarint(out, v.at)
		out = binary.AppendVarint(out, v.balance.Total)
		out = binary.AppendVarint(out, v.balance.Available)
		out = binary.AppendVarint(out, v.balance.Frozen)
		out = binary.AppendUvarint(out, uint64(len(v.balance.Expiring)))
		for _, x := range v.balance.Expiring {
			out = binary.AppendVarint(out, x.Amount)
			out = binary.AppendVarint(out, nanos(x.ExpiresAt))
		}
		out = binary.AppendUvarint(out, g(v.gen))
	}
	return out
}

// decode adds stored entries. gen >= 0 overrides their generation (BooksClosed); -1 keeps the
// stored one (snapshots). Empty data is empty memory.
func (m *memory) decode(data []byte, gen int64) error {
	if len(data) == 0 {
		return nil
	}
	format := data[0]
	if format != memoryFormat && format != memoryFormatV1 {
		return fmt.Errorf("%w: format %d", errBadMemory, format)
	}
	r := reader{buf: data[1:]}
	g := func() uint32 {
		stored := uint32(r.uvarint())
		if gen >= 0 {
			return uint32(gen)
		}
		return stored
	}
	n := r.count()
	if len(m.earnings) == 0 {
		m.earnings = make(map[key]earnRec, n) // growing a map entry by entry costs more than decoding
	}
	for ; n > 0 && r.err == nil; n-- {
		k := r.key()
		v := earnRec{lot: r.string(), amount: r.varint(), expires: r.varint(), at: r.varint()}
		v.gen = g()
		if r.err == nil {
			m.earnings[k] = v
		}
	}
	for _, refs := range []*map[key]uint32{&m.spends, &m.refunds} {
		n := r.count()
		if len(*refs) == 0 {
			*refs = make(map[key]uint32, n)
		}
		for ; n > 0 && r.err == nil; n-- {
			k := r.key()
			if v := g(); r.err == nil {
				(*refs)[k] = v
			}
		}
	}
	n = r.count()
	if len(m.holds) == 0 {
		m.holds = make(map[key]closedHold, n)
	}
	for ; n > 0 && r.err == nil; n-- {
		k := r.key()
		v := closedHold{captured: r.byte() == 1, amount: r.varint()}
		if format >= 2 {
			v.expires = r.varint()
		}
		v.gen = g()
		if r.err == nil {
			m.holds[k] = v
		}
	}
	n = r.count()
	if len(m.exchanges) == 0 {
		m.exchanges = make(map[key]exchRec, n)
	}
	for ; n > 0 && r.err == nil; n-- {
		k := r.key()
		v := exchRec{gift: r.string(), qty: int(r.varint()), points: r.varint(), at: r.varint()}
		v.gen = g()
		if r.err == nil {
			m.exchanges[k] = v
		}
	}
	if format >= 2 {
		n = r.count()
		if len(m.debits) == 0 {
			m.debits = make(map[key]debitRec, n)
		}
		for ; n > 0 && r.err == nil; n-- {
			k := r.key()
			v := debitRec{amount: r.varint(), at: r.varint()}
			v.balance = Balance{Total: r.varint(), Available: r.varint(), Frozen: r.varint(), Expiring: []ExpiringLot{}}
			// Every expiring entry takes at least 2 bytes, which bounds a hostile count.
			x := r.uvarint()
			if x > uint64(len(r.buf)/2) {
				r.fail()
			}
			for ; x > 0 && r.err == nil; x-- {
				v.balance.Expiring = append(v.balance.Expiring, ExpiringLot{Amount: r.varint(), ExpiresAt: fromNanos(r.varint())})
			}
			v.gen = g()
			if r.err == nil {
				m.debits[k] = v
			}
		}
	}
	if r.err == nil && len(r.buf) > 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errBadMemory, len(r.buf))
	}
	return r.err
}

func sortedKeys[V any](m map[key]V, keep func(V) bool) []key {
	ks := make([]key, 0, len(m))
	for k, v := range m {
		if keep(v) {
			ks = append(ks, k)
		}
	}
	// Byte order, compared as two big-endian words: the same order as bytes.Compare, in a
	// fraction of the time.
	slices.SortFunc(ks, func(a, b key) int {
		if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
			return c
		}
		return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
	})
	return ks
}

func appendString(out []byte, s string) []byte {
	out = binary.AppendUvarint(out, uint64(len(s)))
	return append(out, s...)
}

// reader reads the binary memory; the first error sticks and every later read returns zero.
type reader struct {
	buf []byte
	err error
}

func (r *reader) fail() { r.err, r.buf = errBadMemory, nil }

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// count is a number of entries; each takes at least 17 bytes, which bounds a hostile count.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.buf)/17) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) key() key {
	var k key
	if len(r.buf) < len(k) {
		r.fail()
		return k
	}
	copy(k[:], r.buf)
	r.buf = r.buf[len(k):]
	return k
}

func (r *reader) byte() byte {
	if len(r.buf) < 1 {
		r.fail()
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

// bytes is a length-prefixed slice of the buffer (not a copy).
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail()
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail()
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}
