package graph

import (
	"context"
	"sort"
	gosync "sync"

	"github.com/entrasync/entrasync/sync"
)

// read is the full snapshot, as a pipeline: assignment pages are read in
// order (their next links chain them); every 20 assigned groups found go to
// a $batch of group look-ups; each supported group found goes to a pool of
// member readers; and when most of the tenant is directly assigned, every
// user is listed alongside. Round trips stay at the lower bound the data
// allows; wall time is about the longest chain instead of their sum.
//
// m, when set, is given what change tracking needs beyond the snapshot (the
// assignments' ids); ready, when set, is called once the service principal
// is known and before anything else is read (a full read's delta links are
// taken by then).
func (s *Source) read(ctx context.Context, snap *sync.Snapshot, m *mirror, ready func()) error {
	sp, err := s.servicePrincipal(ctx)
	if err != nil {
		return err
	}
	snap.ServicePrincipal = sp
	if ready != nil {
		ready()
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var once gosync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel(err) })
	}

	var mu gosync.Mutex // guards snap.Users and found groups
	var found []*sync.EntraGroup
	batches := make(chan []sync.Ref, 64)
	supported := make(chan []*sync.EntraGroup, 64) // up to 20 at a time: their first member pages share a $batch

	// Stage 2: group properties, 20 to a $batch.
	var propsWG gosync.WaitGroup
	for range 2 {
		propsWG.Add(1)
		go func() {
			defer propsWG.Done()
			for refs := range batches {
				if ctx.Err() != nil {
					continue
				}
				gs, err := s.groupProps(ctx, refs)
				if err != nil {
					fail(err)
					continue
				}
				var chunk []*sync.EntraGroup
				for i := range gs {
					g := &gs[i]
					mu.Lock()
					found = append(found, g)
					mu.Unlock()
					if ok, _ := sync.GroupSupport(*g); ok {
						s.progress(ctx, func(c *requestCounter) { c.groups.Add(1) })
						chunk = append(chunk, g)
					}
				}
				if len(chunk) > 0 {
					supported <- chunk
				}
			}
		}()
	}
	go func() { propsWG.Wait(); close(supported) }()

	// Stage 3: members of the supported groups, their first pages 20 to a
	// $batch, further pages by next links (at most Concurrency chains).
	var membersWG gosync.WaitGroup
	chains := make(chan struct{}, s.cfg.Concurrency)
	for range s.cfg.Concurrency {
		membersWG.Add(1)
		go func() {
			defer membersWG.Done()
			for gs := range supported {
				if ctx.Err() != nil {
					continue
				}
				users, err := s.membersOf(ctx, gs, chains)
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				for id, u := range users {
					snap.Users[id] = u
				}
				mu.Unlock()
			}
		}()
	}

	// Alongside: when the application has many assignments, list every
	// user if that is clearly cheaper than looking direct users up — decided
	// from two counts as soon as the first page says there is more than one.
	// The counts and, once per Source, the getByIds question go side by
	// side, one round trip after the first assignment page.
	var (
		listed      map[string]sync.EntraUser
		listChain   int // round trips of the listing's longest chain, the counts' included
		listErr     error
		tenantUsers int
		listDone    = make(chan struct{})
		probeOnce   gosync.Once
	)
	probe := func() {
		probeOnce.Do(func() {
			go func() {
				defer close(listDone)
				var a, n int
				var aerr, nerr error
				var byIDs bool
				var wg gosync.WaitGroup
				wg.Add(3)
				go func() { defer wg.Done(); a, aerr = s.assignmentCount(ctx, sp.ID) }()
				go func() { defer wg.Done(); n, nerr = s.userCount(ctx) }()
				go func() { defer wg.Done(); byIDs = s.byIDsPermitted(ctx, sp.ID) }()
				wg.Wait()
				if aerr != nil || nerr != nil || a <= ListThreshold || 2*pages(n, PageSize) >= pages(a, BatchSize) || byIDs {
					return
				}
				tenantUsers = n
				s.progress(ctx, func(c *requestCounter) { c.users.Store(int64(n)) })
				var chain int
				listed, chain, listErr = s.allUsers(ctx, n)
				listChain = 1 + chain // the counts, then the listing
			}()
		})
	}

	// Stage 1: assignment pages.
	var pending []sync.Ref
	pageOf := map[string]int{} // the assignment page each group is on
	var record func(wireAssignment)
	if m != nil {
		record = m.recordAssignment
	}
	direct, groupRefs, err := s.assignments(ctx, sp.ID, snap, func(r sync.Ref, page int) {
		pageOf[r.ID] = page
		pending = append(pending, r)
		if len(pending) == BatchSize {
			batches <- pending
			pending = nil
		}
	}, probe, record)
	if len(pending) > 0 {
		batches <- pending
	}
	close(batches)
	if err != nil {
		fail(err)
	}
	probeOnce.Do(func() { close(listDone) }) // a single page: no probe
	assignments := len(direct) + len(groupRefs) + snap.ServicePrincipalAssignments + len(snap.Skipped)
	snap.DirectUsers = direct

	membersWG.Wait()
	<-listDone
	if firstErr != nil {
		return firstErr
	}
	if listErr != nil {
		return listErr
	}
	snap.Groups = make([]sync.EntraGroup, 0, len(found))
	for _, g := range found {
		snap.Groups = append(snap.Groups, *g)
	}
	sort.Slice(snap.Groups, func(i, j int) bool { return snap.Groups[i].ID < snap.Groups[j].ID })

	var missing []string
	for _, id := range direct {
		if _, ok := snap.Users[id]; !ok {
			missing = append(missing, id)
		}
	}
	var fromList []*sync.EntraUser
	var unlisted []int // missing users the listing did not return
	if listed != nil {
		fromList, unlisted = fromListing(listed, missing)
	}
	lookUpChain := 0 // round trips of the look-up, after everything above
	if listed == nil {
		s.progress(ctx, func(c *requestCounter) { c.users.Store(int64(len(missing))) })
		var n int
		if fromList, n, lookUpChain, err = s.lookUp(ctx, missing); err != nil {
			return err
		}
		tenantUsers = max(tenantUsers, n)
	} else if len(unlisted) > 0 {
		if err := s.lookUpUnlisted(ctx, missing, unlisted, fromList); err != nil {
			return err
		}
		lookUpChain = 1
	}
	snap.LowerBound = lowerBound(snap, assignments, len(missing), tenantUsers, s.byIDs.served())
	snap.CriticalPath = criticalPath(snap, assignments, pageOf, listChain, lookUpChain)
	for i, u := range fromList {
		if u == nil {
			snap.Skipped = append(snap.Skipped, sync.Skip{Kind: sync.SkipUser, ID: missing[i],
				Reason: "assigned user not found in Entra (deleted, or not replicated yet); left unchanged"})
			continue
		}
		snap.Users[u.ID] = *u
	}
	return nil
}

// lowerBound is the fewest round trips the data allows with least
// privilege: the service principal, the assignment pages, the group
// properties 20 to a $batch, the supported groups' first member pages 20 to
// a $batch and each one's further pages, and the missing direct users by the
// cheaper strategy (getByIds where it was served: byIDs).
func lowerBound(snap *sync.Snapshot, assignments, missing, tenantUsers int, byIDs bool) int {
	lb := 1 + max(1, pages(assignments, PageSize)) + pages(len(snap.Groups), BatchSize)
	supported := 0
	for _, g := range snap.Groups {
		if ok, _ := sync.GroupSupport(g); ok {
			supported++
			lb += max(1, pages(len(g.Members)+len(g.Nested)+g.OtherMembers, PageSize)) - 1
		}
	}
	lb += pages(supported, BatchSize)
	lb += UserLookUpBound(missing, tenantUsers, byIDs)
	return lb
}

// criticalPath is the longest chain of round trips the data makes follow
// each other: the service principal, then the assignment pages in order; a
// group found on page p is looked up after it, its first member page after
// that, then its further pages one by one; the users listed alongside
// (listing: its round trips after the first assignment page, the counts
// and any refused first pages included); and, once all of those are done,
// the look-up of the direct users none of them returned (lookUp round
// trips one after the other).
func criticalPath(snap *sync.Snapshot, assignments int, pageOf map[string]int, listing, lookUp int) int {
	chain := max(1, pages(assignments, PageSize))
	if listing > 0 {
		chain = max(chain, 1+listing)
	}
	for _, g := range snap.Groups {
		c := pageOf[g.ID] + 1
		if ok, _ := sync.GroupSupport(g); ok {
			c += max(1, pages(len(g.Members)+len(g.Nested)+g.OtherMembers, PageSize))
		}
		chain = max(chain, c)
	}
	return 1 + chain + lookUp
}

// parallel runs fn for 0..n-1 with at most Concurrency at once; the first
// error cancels the rest and is returned.
func (s *Source) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg gosync.WaitGroup
	var once gosync.Once
	var first error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}(i)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
