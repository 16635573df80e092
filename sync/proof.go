package sync

import "context"

// Proving a read complete (C4). A listing can come back short without any
// error: a page whose next link skips ahead, an empty answer with status
// 200. Where Graph keeps its own count of a listing (the application's
// assignments, a group's direct members), a cycle that would remove access
// compares what it listed with that count before applying anything.
//
// Graph's counts come from an eventually consistent index: right after a
// change they can be a little behind or ahead of the listing. A listing is
// short when it is below the count by more than its slack: ListingSlackPercent
// of the count, but at least one item and, for small counts, a tenth of the
// count up to ListingSlack — or when it is empty and the count is not.

// The tolerance of ListingShort.
const (
	ListingSlack        = 5
	ListingSlackPercent = 2
)

// ErrListingShort is the error (in the chain) of a read whose listing is
// short of Graph's count. After an incremental read it means the picture
// kept with the delta state is wrong, and the cycle reads in full.
var ErrListingShort = &Error{Code: EUNAVAILABLE, Message: "listing short of Graph's count (a page lost?)"}

// ListingShort reports whether a listing of listed items is well below
// Graph's count of counted.
func ListingShort(listed, counted int) bool {
	if listed == 0 && counted > 0 {
		return true
	}
	slack := max(counted*ListingSlackPercent/100, min(ListingSlack, max(1, counted/10)))
	return listed < counted-slack
}

// ListingProver is a Source that can compare its listings with Graph's
// counts. ProveListings checks the snapshot's assignment listing (when
// assignments is set) and the member listings of the groups named; it
// returns an error naming each listing that came back short (a cycle then
// fails as ErrSnapshotIncomplete and applies nothing), or nil. A count
// Graph does not serve is not a failure: the archive guard still applies.
type ListingProver interface {
	ProveListings(ctx context.Context, snap *Snapshot, assignments bool, groups []string) error
}

// toProve says what a plan's destructive changes rest on: the assignment
// listing (any archive or removal), and the member listings of the groups
// that lose members while they stay.
func toProve(plan *Plan) (assignments bool, groups []string) {
	archivedGroup := map[string]bool{}
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if ch.destructive() {
			assignments = true
		}
		if ch.Entity == EntityGroup && ch.Action == ActionArchive {
			archivedGroup[ch.EntraID] = true
		}
	}
	seen := map[string]bool{}
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if ch.Entity == EntityMembership && ch.Action == ActionRemove && !archivedGroup[ch.GroupEntraID] && !seen[ch.GroupEntraID] {
			seen[ch.GroupEntraID] = true
			groups = append(groups, ch.GroupEntraID)
		}
	}
	return assignments, groups
}

// MaxGainingProofs is how many groups gaining members a full read proves
// against their counts; a read adding members to more (a first cycle)
// makes the next cycle read in full again instead.
const MaxGainingProofs = 5

// groupsGaining are the groups plan creates, restores or adopts, or adds
// members to, other than those in except.
func groupsGaining(plan *Plan, except []string) []string {
	seen := map[string]bool{}
	for _, id := range except {
		seen[id] = true
	}
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		switch {
		case ch.Entity == EntityGroup && (ch.Action == ActionCreate || ch.Action == ActionRestore || ch.Action == ActionAdopt):
			add(ch.EntraID)
		case ch.Entity == EntityMembership && ch.Action == ActionAdd:
			add(ch.GroupEntraID)
		}
	}
	return out
}
