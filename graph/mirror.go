package graph

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	gosync "sync"

	"github.com/entrasync/entrasync/sync"
)

// The mirror is the picture of Graph a delta state leads to: the
// application's assignments by id, its assigned groups with their direct
// members by kind, and the users in scope. A full read builds it; an
// incremental read applies a round of changes to it and gives the snapshot
// a full read would give. It is kept in the directory, gzipped JSON.

type mirror struct {
	V      int                `json:"v"`
	SP     sync.Ref           `json:"sp"`
	Assign map[string]massign `json:"assign"` // by assignment id
	Groups map[string]*mgroup `json:"groups"` // assigned groups by id
	Users  []sync.EntraUser   `json:"users"`  // in scope, by id (index: users)
	users  map[string]*sync.EntraUser
	// before is the picture as it was when a read began changing it.
	before *sync.Snapshot

	// who are Assign's principals, worked out once (nil until then, and
	// again whenever Assign changes: see forgetPrincipals).
	who *principalsOf
	// scoped says users holds no user out of scope (a snapshot's decoded,
	// or settle dropped the rest): a snapshot takes
	// them all without working out the scope again. settle clears it
	// while it changes the map.
	scoped bool
	// complete says, besides, that users holds every user in scope, the
	// scope being the one of the direct users in direct (both as settle
	// left them): a settle that changes no membership, assignment of a
	// user or group, and removes no user, has none to look up or drop.
	complete bool
	direct   []string
	// packed are the gzip members of the last encode, by the SHA-256 of
	// the layout each holds.
	packed map[[sha256.Size]byte][]byte
}

// principalsOf is what principals works out from the assignments.
type principalsOf struct {
	direct, groups []string // sorted
	names          map[string]string
	sps            int         // assignments to service principals
	skipped        []sync.Skip // principals of unknown types, by id
}

// forgetPrincipals drops the principals worked out from Assign: called
// whenever it changes.
func (m *mirror) forgetPrincipals() { m.who = nil }

// massign is one assignment's principal.
type massign struct {
	P string `json:"p"`           // principal id
	T string `json:"t"`           // principal type
	N string `json:"n,omitempty"` // principal display name
}

// mgroup is an assigned group: its properties and, when it is supported,
// its direct members by kind.
type mgroup struct {
	Found   bool       `json:"found"`
	Name    string     `json:"name"`
	Sec     bool       `json:"sec,omitempty"`
	Mail    bool       `json:"mail,omitempty"`
	Types   []string   `json:"types,omitempty"`
	Read    bool       `json:"read,omitempty"` // its members were read (it was supported)
	Members []string   `json:"members,omitempty"`
	Nested  []sync.Ref `json:"nested,omitempty"`
	Others  []string   `json:"others,omitempty"`
}

func newMirror() *mirror {
	return &mirror{Assign: map[string]massign{}, Groups: map[string]*mgroup{}, users: map[string]*sync.EntraUser{}}
}

// recordAssignment keeps a listed assignment.
func (m *mirror) recordAssignment(a wireAssignment) {
	m.forgetPrincipals()
	m.Assign[a.ID] = massign{P: a.PrincipalID, T: a.PrincipalType, N: a.PrincipalDisplayName}
}

// groupOf is g as the mirror keeps it.
func groupOf(g sync.EntraGroup) *mgroup {
	ok, _ := sync.GroupSupport(g)
	return &mgroup{Found: g.Found, Name: g.DisplayName, Sec: g.SecurityEnabled, Mail: g.MailEnabled, Types: g.GroupTypes,
		Read: ok, Members: g.Members, Nested: g.Nested, Others: g.OtherIDs}
}

// entra is the group as a snapshot has it.
func (g *mgroup) entra(id string) sync.EntraGroup {
	return sync.EntraGroup{ID: id, DisplayName: g.Name, SecurityEnabled: g.Sec, MailEnabled: g.Mail, GroupTypes: g.Types,
		Found: g.Found, Members: g.Members, Nested: g.Nested, OtherMembers: len(g.Others), OtherIDs: g.Others}
}

// fill takes a full read's service principal and groups into m (whose
// assignments were recorded during the read), all the encode needs beside
// the snapshot's users. The users themselves are not copied in: a full
// read's mirror is encoded and let go (encodeAside), never merged into, and
// copying 100,000 users was a fifth of a second the cycle waited for
// between its last page and its plan.
func (m *mirror) fill(snap *sync.Snapshot) {
	m.SP = snap.ServicePrincipal
	for _, g := range snap.Groups {
		m.Groups[g.ID] = groupOf(g)
	}
}

// inScope are the ids of the users in scope: direct, and the members of
// the supported groups; more is how many more the map is sized for.
func (m *mirror) inScope(direct []string, more int) map[string]bool {
	need := make(map[string]bool, len(m.users)+more)
	for _, id := range direct {
		need[id] = true
	}
	for _, g := range m.Groups {
		if ok, _ := sync.GroupSupport(g.entra("")); ok {
			for _, id := range g.Members {
				need[id] = true
			}
		}
	}
	return need
}

// principals are the assigned users and groups, and what the snapshot
// counts or skips of the rest, from the assignments. They are worked out
// once for the assignments as they are: the slices and the map are
// shared, and read only.
func (m *mirror) principals(snap *sync.Snapshot) (direct, groups []string, names map[string]string) {
	if m.who == nil {
		m.who = m.principalsOf()
	}
	w := m.who
	snap.ServicePrincipalAssignments += w.sps
	snap.Skipped = append(snap.Skipped, w.skipped...)
	sort.SliceStable(snap.Skipped, func(i, j int) bool { return snap.Skipped[i].ID < snap.Skipped[j].ID })
	return w.direct, w.groups, w.names
}

func (m *mirror) principalsOf() *principalsOf {
	w := &principalsOf{names: map[string]string{}}
	seen := make(map[string]bool, len(m.Assign))
	for _, a := range m.Assign {
		switch a.T {
		case "User":
			if !seen[a.P] {
				w.direct = append(w.direct, a.P)
			}
		case "Group":
			if !seen[a.P] {
				w.groups = append(w.groups, a.P)
				w.names[a.P] = a.N
			}
		case "ServicePrincipal":
			w.sps++
		default:
			w.skipped = append(w.skipped, sync.Skip{Kind: sync.SkipPrincipal, ID: a.P, Name: a.N,
				Reason: fmt.Sprintf("unknown principal type %q; ignored", clipped(a.T))})
		}
		seen[a.P] = true
	}
	sort.Strings(w.direct)
	sort.Strings(w.groups)
	sort.Slice(w.skipped, func(i, j int) bool { return w.skipped[i].ID < w.skipped[j].ID })
	return w
}

// snapshot is the picture as a full read gives it: every assigned group,
// the users directly assigned and the direct members of supported groups;
// direct users the mirror does not have are skipped as a full read skips
// users Graph does not know.
func (m *mirror) snapshot() *sync.Snapshot {
	snap := &sync.Snapshot{ServicePrincipal: m.SP, Users: make(map[string]sync.EntraUser, len(m.users)), AssignmentsListed: len(m.Assign)}
	direct, groups, _ := m.principals(snap)
	snap.DirectUsers = slices.Clone(direct)
	for _, id := range groups {
		g := m.Groups[id].entra(id)
		snap.Groups = append(snap.Groups, g)
		if ok, _ := sync.GroupSupport(g); ok && !m.scoped {
			for _, u := range g.Members {
				if eu := m.users[u]; eu != nil {
					snap.Users[u] = *eu
				}
			}
		}
	}
	if m.scoped {
		// Every user the mirror has is in scope: each of them is a direct
		// user or a member of a supported group.
		for id, eu := range m.users {
			snap.Users[id] = *eu
		}
	}
	if m.scoped && m.complete && slices.Equal(direct, m.direct) {
		return snap // every direct user is among them: none to skip
	}
	for _, id := range direct {
		if eu := m.users[id]; eu != nil {
			if !m.scoped {
				snap.Users[id] = *eu
			}
			continue
		}
		snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipUser, ID: id,
			Reason: "assigned user not found in Entra (deleted, or not replicated yet); left unchanged"})
	}
	return snap
}

// detachedSnapshot is snapshot with the groups' lists copied, so that
// changing the mirror leaves it as it is.
func (m *mirror) detachedSnapshot() *sync.Snapshot {
	snap := m.snapshot()
	for i := range snap.Groups {
		g := &snap.Groups[i]
		g.Members, g.Nested, g.OtherIDs = slices.Clone(g.Members), slices.Clone(g.Nested), slices.Clone(g.OtherIDs)
	}
	return snap
}

// The mirror's encoding: gzip over a compact binary layout (a magic, then
// counts as uvarints and strings as a uvarint length and bytes), written
// and read in one pass. JSON took seconds for a 100,000-user tenant.
var mirrorMagic = []byte("esm\x02")

// encode writes the mirror, keeping only the users in scope.
//
// The layout is written in parts, each gzipped on its own goroutine (the
// assignments, the groups and the users, a chunk at a time), and the
// members concatenated: gzip reads them back as one stream, the layout
// unchanged, and the compression, most of an encode's time, takes the
// machine's cores instead of one. A part that holds what it held in the
// last encode is not compressed again.
func (m *mirror) encode(inScope map[string]sync.EntraUser) ([]byte, error) {
	b, _, err := m.encodeParts(inScope, 0)
	return b, err
}

// encodeParts is encode, with the lengths of the parts the bytes are made
// of (each a gzip member of its own; sync.DeltaState.MirrorParts);
// encoders, when above 0, is how many parts it compresses at once (0: all).
func (m *mirror) encodeParts(inScope map[string]sync.EntraUser, encoders int) ([]byte, []int, error) {
	var parts []func(w *mirrorWriter)
	ids, as := sortedEntries(m.Assign)
	for i := 0; i == 0 || i < len(ids); i += mirrorChunk {
		end := min(i+mirrorChunk, len(ids))
		parts = append(parts, func(w *mirrorWriter) {
			if i == 0 {
				w.raw(mirrorMagic)
				w.str(m.SP.ID)
				w.str(m.SP.Name)
				w.num(len(ids))
			}
			for j := i; j < end; j++ {
				a := as[j]
				w.strs(ids[j], a.P, a.T, a.N)
			}
		})
	}
	gids := slices.Sorted(maps.Keys(m.Groups))
	for i := 0; i == 0 || i < len(gids); i += mirrorGroupChunk {
		chunk := gids[i:min(i+mirrorGroupChunk, len(gids))]
		parts = append(parts, func(w *mirrorWriter) {
			if i == 0 {
				w.num(len(gids))
			}
			for _, id := range chunk {
				g := m.Groups[id]
				w.str(id)
				w.flags(g.Found, g.Sec, g.Mail, g.Read)
				w.str(g.Name)
				w.list(g.Types)
				w.list(g.Members)
				w.num(len(g.Nested))
				for _, n := range g.Nested {
					w.strs(n.ID, n.Name)
				}
				w.list(g.Others)
			}
		})
	}
	_, users := sortedEntries(inScope)
	for i := 0; i == 0 || i < len(users); i += mirrorChunk {
		chunk := users[i:min(i+mirrorChunk, len(users))]
		parts = append(parts, func(w *mirrorWriter) {
			if i == 0 {
				w.num(len(users))
			}
			for j := range chunk {
				u := &chunk[j]
				w.strs(u.ID, u.UserPrincipalName, u.Mail, u.DisplayName, u.GivenName, u.Surname)
				w.flags(u.AccountEnabled)
			}
		})
	}
	out := make([][]byte, len(parts))
	sums := make([][sha256.Size]byte, len(parts))
	errs := make([]error, len(parts))
	var wg gosync.WaitGroup
	var sem chan struct{}
	if encoders > 0 {
		sem = make(chan struct{}, encoders)
	}
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sem != nil {
				sem <- struct{}{}
				defer func() { <-sem }()
			}
			sums[i], out[i], errs[i] = packed(part, m.packed)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("graph: encode delta mirror: %w", err)
	}
	m.packed = make(map[[sha256.Size]byte][]byte, len(parts))
	lens := make([]int, len(parts))
	for i := range parts {
		m.packed[sums[i]] = out[i]
		lens[i] = len(out[i])
	}
	return bytes.Join(out, nil), lens, nil
}

// sortedEntries are m's keys and values in the keys' byte order. The
// entries are taken in one pass over the map and sorted by the first eight
// bytes of their keys (the rest only breaks ties): no key is looked up and
// few strings are compared, which for 100,000 users took more than the
// compression of what they encode to.
func sortedEntries[V any](m map[string]V) ([]string, []V) {
	type entry struct {
		head uint64 // the key's first 8 bytes, big-endian, zeros past its end
		i    int32
	}
	keys, vals := make([]string, 0, len(m)), make([]V, 0, len(m))
	order := make([]entry, 0, len(m))
	for k, v := range m {
		var b [8]byte
		copy(b[:], k)
		order = append(order, entry{binary.BigEndian.Uint64(b[:]), int32(len(keys))})
		keys, vals = append(keys, k), append(vals, v)
	}
	slices.SortFunc(order, func(a, b entry) int {
		if a.head != b.head {
			return cmp.Compare(a.head, b.head)
		}
		return strings.Compare(keys[a.i], keys[b.i])
	})
	sk, sv := make([]string, len(order)), make([]V, len(order))
	for j, e := range order {
		sk[j], sv[j] = keys[e.i], vals[e.i]
	}
	return sk, sv
}

// mirrorChunk is how many users or assignments a part of the encoding
// holds (a few MB before compression), mirrorGroupChunk how many groups.
const (
	mirrorChunk      = 25_000
	mirrorGroupChunk = 100
)

// gzippers are the encoders' gzip writers, kept between encodes (each
// holds a few hundred KB of state).
var gzippers = gosync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// layouts are the buffers parts are laid out in before compression.
var layouts = gosync.Pool{New: func() any { return new(bytes.Buffer) }}

// packed is what write writes, as one gzip member, and the SHA-256 of
// what it holds: the member of the last encode that holds the same is
// taken as it is (an incremental read that renamed users leaves the
// assignments and groups as they were, and they are not compressed again).
func packed(write func(w *mirrorWriter), last map[[sha256.Size]byte][]byte) ([sha256.Size]byte, []byte, error) {
	raw := layouts.Get().(*bytes.Buffer)
	defer layouts.Put(raw)
	raw.Reset()
	w := &mirrorWriter{w: bufio.NewWriterSize(raw, 64<<10)}
	write(w)
	if err := w.w.Flush(); err != nil {
		return [sha256.Size]byte{}, nil, err
	}
	sum := sha256.Sum256(raw.Bytes())
	if gz, ok := last[sum]; ok {
		return sum, gz, nil
	}
	var buf bytes.Buffer
	zw := gzippers.Get().(*gzip.Writer)
	defer gzippers.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return sum, nil, err
	}
	if err := zw.Close(); err != nil {
		return sum, nil, err
	}
	return sum, buf.Bytes(), nil
}

type mirrorWriter struct {
	w   *bufio.Writer
	tmp [binary.MaxVarintLen64]byte
}

func (w *mirrorWriter) raw(b []byte) { _, _ = w.w.Write(b) }

func (w *mirrorWriter) num(n int) {
	_, _ = w.w.Write(w.tmp[:binary.PutUvarint(w.tmp[:], uint64(n))])
}

func (w *mirrorWriter) str(s string) {
	w.num(len(s))
	_, _ = w.w.WriteString(s)
}

func (w *mirrorWriter) strs(ss ...string) {
	for _, s := range ss {
		w.str(s)
	}
}

func (w *mirrorWriter) list(ss []string) {
	w.num(len(ss))
	w.strs(ss...)
}

func (w *mirrorWriter) flags(bs ...bool) {
	var f byte
	for i, b := range bs {
		if b {
			f |= 1 << i
		}
	}
	_ = w.w.WriteByte(f)
}

// maxMirror bounds a decoded mirror (a million users is about 150 MB).
const maxMirror = 1 << 30

// mirrorReader reads the layout mirrorWriter wrote; the first error sticks.
type mirrorReader struct {
	r   *bufio.Reader
	err error
}

func (r *mirrorReader) num(limit int) int {
	if r.err != nil {
		return 0
	}
	n, err := binary.ReadUvarint(r.r)
	if err == nil && n > uint64(limit) {
		err = fmt.Errorf("a count of %d is beyond %d", n, limit)
	}
	if err != nil {
		r.err = err
		return 0
	}
	return int(n)
}

func (r *mirrorReader) str() string {
	n := r.num(1 << 20)
	if r.err != nil {
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = err
		return ""
	}
	return string(b)
}

func (r *mirrorReader) list() []string {
	n := r.num(maxMirror / 16)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, min(n, 1<<16))
	for range n {
		if r.err != nil {
			return nil
		}
		out = append(out, r.str())
	}
	return out
}

func (r *mirrorReader) flags() byte {
	if r.err != nil {
		return 0
	}
	b, err := r.r.ReadByte()
	if err != nil {
		r.err = err
	}
	return b
}

// decodeMirror reads an encoded mirror; anything it cannot trust is
// sync.ErrDeltaReset (a full read replaces it).
func decodeMirror(b []byte) (*mirror, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, sync.DeltaReset("the stored delta mirror is unreadable: %v", err)
	}
	// The layout is ids and names, which gzip shrinks a few times, not a
	// hundred: more than that is not a mirror this source wrote.
	limit := min(int64(maxMirror), 100*int64(len(b))+1<<20)
	r := &mirrorReader{r: bufio.NewReaderSize(io.LimitReader(zr, limit), 64<<10)}
	magic := make([]byte, len(mirrorMagic))
	if _, err := io.ReadFull(r.r, magic); err != nil || !bytes.Equal(magic, mirrorMagic) {
		return nil, sync.DeltaReset("the stored delta mirror is of another version")
	}
	m := newMirror()
	m.SP = sync.Ref{ID: r.str(), Name: r.str()}
	for range r.num(maxMirror / 16) {
		id, p, t, n := r.str(), r.str(), r.str(), r.str()
		if r.err != nil {
			break
		}
		m.Assign[id] = massign{P: p, T: t, N: n}
	}
	for range r.num(maxMirror / 16) {
		id := r.str()
		f := r.flags()
		g := &mgroup{Found: f&1 != 0, Sec: f&2 != 0, Mail: f&4 != 0, Read: f&8 != 0, Name: r.str()}
		g.Types, g.Members = r.list(), r.list()
		for range r.num(maxMirror / 16) {
			if r.err != nil {
				break
			}
			g.Nested = append(g.Nested, sync.Ref{ID: r.str(), Name: r.str()})
		}
		g.Others = r.list()
		if r.err != nil {
			break
		}
		m.Groups[id] = g
	}
	n := r.num(maxMirror / 16)
	users := make([]sync.EntraUser, 0, min(n, 1<<16)) // grown as read: a forged count allocates nothing
	for range n {
		u := sync.EntraUser{ID: r.str(), UserPrincipalName: r.str(), Mail: r.str(), DisplayName: r.str(), GivenName: r.str(), Surname: r.str()}
		u.AccountEnabled = r.flags()&1 != 0
		if r.err == nil && (!isGUID(u.ID) || len(users) > 0 && users[len(users)-1].ID >= u.ID) {
			r.err = fmt.Errorf("user %d: an id that is no GUID, or out of order", len(users))
		}
		if r.err != nil {
			break
		}
		users = append(users, u)
	}
	if r.err != nil {
		return nil, sync.DeltaReset("the stored delta mirror is unreadable: %v", r.err)
	}
	if _, err := r.r.ReadByte(); err != io.EOF || m.SP.ID == "" {
		return nil, sync.DeltaReset("the stored delta mirror is incomplete or has trailing data")
	}
	m.users = make(map[string]*sync.EntraUser, len(users))
	for i := range users {
		m.users[users[i].ID] = &users[i]
	}
	m.scoped = true // encode is given a snapshot's users, all in scope
	return m, nil
}
