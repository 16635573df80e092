package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entrasync/entrasync/sync"
)

// Listing every user of a big tenant is one chain of pages (999 users a
// page, each page's next link in the page before it): for 100,000 users 101
// pages, 4.5 s at 30 ms of latency a round trip, the longest chain of a full
// read.
// So the listing is split by the first character of userPrincipalName into
// chains read side by side, each a GET /users with
// $filter=startswith(userPrincipalName,'a') or startswith(…,'b') … (the
// form Graph's $filter documentation gives for users, served by default,
// strings compared case-insensitively).
//
// Nothing depends on the partitions covering every user. A user whose
// principal name starts with a character no partition names (Entra allows
// A–Z, a–z, 0–9 and ' . - _ ! # ^ ~ in the name, but a tenant may hold
// older or synced exceptions), or one a case-sensitive Graph would not
// match, is in no chain; the read looks every directly assigned user that
// no listing and no member page returned up by id ($batch), as it does
// when it does not list. A Graph that refuses the filter (400, 403, 501 to
// every partition's first page) turns the partitions off for the Source for
// userFilterRetry; the same cycle lists users in one chain, as it does (this
// time only) when only some partitions were refused.

// userPartitions are the first characters of each chain, grouped so that
// each holds about an eighth of the users of a tenant named after people
// (by the frequency of given names' initials; the simulated large tenant
// gives 8 % to 16 % to each); at most 15 terms a filter.
var userPartitions = []string{"ab", "cd", "efghi", "j0123456789", "kl", "mno", "pqr'-_!#^~", "stuvwxyz."}

// userFilterRetry is how long a Source remembers that Graph refused the
// partitioned listing before it tries again.
const userFilterRetry = 24 * time.Hour

// userFilterState is what a Source learnt about the partitioned listing.
type userFilterState struct {
	mu      gosync.Mutex
	refused time.Time // when Graph last refused it (zero: never)
}

func (f *userFilterState) usable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused.IsZero() || time.Since(f.refused) > userFilterRetry
}

func (f *userFilterState) refuse() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused = time.Now()
}

// partitionFilter is the $filter of one partition: a startswith term for
// each character (a quote doubled, as OData string literals need).
func partitionFilter(chars string) string {
	terms := make([]string, 0, len(chars))
	for _, c := range chars {
		lit := string(c)
		if c == '\'' {
			lit = "''"
		}
		terms = append(terms, "startswith(userPrincipalName,'"+lit+"')")
	}
	return strings.Join(terms, " or ")
}

// errFilterRefused says Graph did not serve a partition's filter.
var errFilterRefused = errors.New("graph: the user listing's $filter is not served")

// partitionFrom is the least number of pages (by the tenant's user count)
// a listing must take before it is split: below it the partitions' extra
// pages (up to one a partition, mostly short) are not worth their chains.
var partitionFrom = 2 * len(userPartitions)

// allUsers lists every user of the tenant (about n, as counted): in
// partitions side by side where the listing is long and Graph serves them,
// else in one chain. It returns the users by id and how many round trips
// followed each other (the longest chain of pages, and the refused first
// pages before a fallback). The listing need not be complete (see above);
// what it returns is what Graph said of each user.
func (s *Source) allUsers(ctx context.Context, n int) (map[string]sync.EntraUser, int, error) {
	refused := 0
	if pages(n, PageSize) >= partitionFrom && s.userFilter.usable() {
		out, chain, err := s.partitionedUsers(ctx)
		if !errors.Is(err, errFilterRefused) {
			return out, chain, err
		}
		s.logger.Info("the partitioned user listing was refused; listing users in one chain", "err", err)
		refused = 1
	}
	out := map[string]sync.EntraUser{}
	chain, err := s.listUserChain(ctx, "", "users", func(us []wireUser) {
		for _, u := range us {
			out[u.ID] = u.entraUser()
		}
	})
	return out, refused + chain, err
}

// partitionedUsers lists the users in userPartitions, all chains at once.
// A failed read fails the listing (and stops the other chains). Filters
// Graph refused give errFilterRefused once every chain has ended: when all
// of them were refused the Source stops partitioning for userFilterRetry;
// when only some were (a passing answer, not a policy), it lists in one
// chain this time only.
func (s *Source) partitionedUsers(ctx context.Context) (map[string]sync.EntraUser, int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       gosync.Mutex
		out      = make(map[string]sync.EntraUser, 1024)
		read     int // users read, for the progress a fallback takes back
		longest  int
		refusals []error
		firstErr error
		wg       gosync.WaitGroup
	)
	for i, chars := range userPartitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			what := fmt.Sprintf("users (partition %d of %d)", i+1, len(userPartitions))
			chain, err := s.listUserChain(ctx, partitionFilter(chars), what, func(us []wireUser) {
				mu.Lock()
				defer mu.Unlock()
				read += len(us)
				for _, u := range us {
					out[u.ID] = u.entraUser()
				}
			})
			mu.Lock()
			defer mu.Unlock()
			longest = max(longest, chain)
			switch {
			case errors.Is(err, errFilterRefused):
				refusals = append(refusals, err)
			case err != nil && firstErr == nil:
				firstErr = err
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if len(refusals) > 0 {
		s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(-int64(read)) })
		if len(refusals) == len(userPartitions) {
			s.userFilter.refuse()
		}
		return nil, 0, refusals[0]
	}
	return out, longest, nil
}

// listUserChain pages GET /users (with filter, when set) and gives each
// page's users to fn; it returns the number of pages. A first page refused
// for its filter (400, 403, 501) is errFilterRefused.
func (s *Source) listUserChain(ctx context.Context, filter, what string, fn func([]wireUser)) (int, error) {
	top := int32(PageSize)
	q := &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top}
	if filter != "" {
		q.Filter = &filter
	}
	first, err := s.users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: q})
	if err != nil {
		return 0, fmt.Errorf("graph: users request: %w", err)
	}
	pagesRead := 0
	err = listAhead(ctx, s, first, what, func(n int, items []wireUser, _ bool) error {
		for i, u := range items {
			if u.ID == "" {
				return malformed(fmt.Sprintf("%s, page %d", what, n), fmt.Sprintf("user %d has no id", i))
			}
		}
		pagesRead = n
		fn(items)
		s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(int64(len(items))) })
		return nil
	})
	if filter != "" && pagesRead == 0 {
		if st, ok := answeredStatus(err); ok && (st == http.StatusBadRequest || st == http.StatusForbidden || st == http.StatusNotImplemented) {
			return 0, fmt.Errorf("%w: %v", errFilterRefused, err)
		}
	}
	return pagesRead, err
}
