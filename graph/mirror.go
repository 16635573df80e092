package graph

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"

	"github.com/entrasync/entrasync/sync"
)

// The mirror is the picture of Graph a delta state leads to: the
// application's assignments by id, its assigned groups with their direct
// members by kind, and the users in scope. A full read builds it; an
// incremental read applies a round of changes to it and gives the snapshot
// a full read would give. It is kept in the directory, gzipped JSON.

const mirrorVersion = 1

type mirror struct {
	V      int                `json:"v"`
	SP     sync.Ref           `json:"sp"`
	Assign map[string]massign `json:"assign"` // by assignment id
	Groups map[string]*mgroup `json:"groups"` // assigned groups by id
	Users  []sync.EntraUser   `json:"users"`  // in scope, by id (index: users)
	users  map[string]*sync.EntraUser
}

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
	return &mirror{V: mirrorVersion, Assign: map[string]massign{}, Groups: map[string]*mgroup{}, users: map[string]*sync.EntraUser{}}
}

// recordAssignment keeps a listed assignment.
func (m *mirror) recordAssignment(a wireAssignment) {
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

// fill takes a full read's snapshot into m (whose assignments were
// recorded during the read).
func (m *mirror) fill(snap *sync.Snapshot) {
	m.SP = snap.ServicePrincipal
	for _, g := range snap.Groups {
		m.Groups[g.ID] = groupOf(g)
	}
	for id, u := range snap.Users {
		u := u
		m.users[id] = &u
	}
}

// principals are the assigned users and groups, and what the snapshot
// counts or skips of the rest, from the assignments.
func (m *mirror) principals(snap *sync.Snapshot) (direct, groups []string, names map[string]string) {
	ids := slices.Sorted(maps.Keys(m.Assign))
	seen := map[string]bool{}
	names = map[string]string{}
	for _, id := range ids {
		a := m.Assign[id]
		switch a.T {
		case "User":
			if !seen[a.P] {
				direct = append(direct, a.P)
			}
		case "Group":
			if !seen[a.P] {
				groups = append(groups, a.P)
				names[a.P] = a.N
			}
		case "ServicePrincipal":
			snap.ServicePrincipalAssignments++
		default:
			snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipPrincipal, ID: a.P, Name: a.N,
				Reason: fmt.Sprintf("unknown principal type %q; ignored", clipped(a.T))})
		}
		seen[a.P] = true
	}
	sort.Strings(direct)
	sort.Strings(groups)
	return direct, groups, names
}

// snapshot is the picture as a full read gives it: every assigned group,
// the users directly assigned and the direct members of supported groups;
// direct users the mirror does not have are skipped as a full read skips
// users Graph does not know.
func (m *mirror) snapshot() *sync.Snapshot {
	snap := &sync.Snapshot{ServicePrincipal: m.SP, Users: map[string]sync.EntraUser{}, AssignmentsListed: len(m.Assign)}
	direct, groups, _ := m.principals(snap)
	snap.DirectUsers = direct
	for _, id := range groups {
		g := m.Groups[id].entra(id)
		snap.Groups = append(snap.Groups, g)
		if ok, _ := sync.GroupSupport(g); ok {
			for _, u := range g.Members {
				if eu := m.users[u]; eu != nil {
					snap.Users[u] = *eu
				}
			}
		}
	}
	for _, id := range direct {
		if eu := m.users[id]; eu != nil {
			snap.Users[id] = *eu
			continue
		}
		snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipUser, ID: id,
			Reason: "assigned user not found in Entra (deleted, or not replicated yet); left unchanged"})
	}
	return snap
}

// encode gzips the mirror's JSON, keeping only the users in scope.
func (m *mirror) encode(inScope map[string]sync.EntraUser) ([]byte, error) {
	m.Users = make([]sync.EntraUser, 0, len(inScope))
	for _, id := range slices.Sorted(maps.Keys(inScope)) {
		m.Users = append(m.Users, inScope[id])
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	err := json.NewEncoder(zw).Encode(m)
	m.Users = nil
	if err != nil {
		return nil, fmt.Errorf("graph: encode delta mirror: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("graph: encode delta mirror: %w", err)
	}
	return buf.Bytes(), nil
}

// maxMirror bounds a decoded mirror (a million users is about 200 MB).
const maxMirror = 1 << 30

// decodeMirror reads an encoded mirror; anything it cannot trust is
// sync.ErrDeltaReset (a full read replaces it).
func decodeMirror(b []byte) (*mirror, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, sync.DeltaReset("the stored delta mirror is unreadable: %v", err)
	}
	m := newMirror()
	if err := json.NewDecoder(io.LimitReader(zr, maxMirror)).Decode(m); err != nil {
		return nil, sync.DeltaReset("the stored delta mirror is unreadable: %v", err)
	}
	if m.V != mirrorVersion || m.SP.ID == "" || m.Assign == nil || m.Groups == nil {
		return nil, sync.DeltaReset("the stored delta mirror is of another version or incomplete")
	}
	for id, g := range m.Groups {
		if g == nil {
			return nil, sync.DeltaReset("the stored delta mirror has an empty group %s", clipped(id))
		}
	}
	m.users = make(map[string]*sync.EntraUser, len(m.Users))
	for i := range m.Users {
		m.users[m.Users[i].ID] = &m.Users[i]
	}
	m.Users = nil
	return m, nil
}
