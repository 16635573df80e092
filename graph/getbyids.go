package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/directoryobjects"

	"github.com/entrasync/entrasync/sync"
)

// directoryObjects/getByIds reads up to 1,000 users a request, all requests
// at once (no chain of pages), but needs Directory.Read.All, which the
// least-privileged set does not hold. A Source never requires it: it learns
// at run time whether Graph serves it and remembers the answer for
// byIDsRetry. The first refusal (403, or 400/404/405/501: not served) turns
// it off and the read falls back to $batch look-ups or the user listing in
// the same cycle; so does an answer whose users lack a field entrasync needs
// (the docs say v1.0 returns "only a subset of user properties" by default
// and do not promise that $select is honoured). The access token's roles
// claim is not read: tokens for Graph are opaque to clients.

// GetByIDsSize is Graph's limit of ids in one getByIds request.
const GetByIDsSize = 1000

// byIDsRetry is how long a Source remembers that getByIds is not usable
// before it tries again (a permission granted later is picked up).
const byIDsRetry = 24 * time.Hour

// errByIDsUnusable says getByIds is not usable here; the caller falls back.
var errByIDsUnusable = errors.New("graph: directoryObjects/getByIds is not usable")

// byIDsState is what a Source learnt about getByIds.
type byIDsState struct {
	mu    gosync.Mutex
	known bool      // an answer was seen
	ok    bool      // it was served
	at    time.Time // when it was learnt
	why   string    // for a refusal: what Graph answered
}

// usable reports whether getByIds may be tried: it was served, or nothing
// is known (or a refusal is older than byIDsRetry).
func (b *byIDsState) usable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.known || b.ok || time.Since(b.at) > byIDsRetry
}

// served reports whether getByIds is known to be served.
func (b *byIDsState) served() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.known && b.ok
}

func (b *byIDsState) learn(ok bool, why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.known, b.ok, b.at, b.why = true, ok, time.Now(), why
}

// byIDsPermitted tells whether getByIds is served, asking Graph once when
// it is not known: a getByIds of the service principal's id among users,
// which finds nothing. A request that gets no answer from Graph learns
// nothing and reports false.
func (s *Source) byIDsPermitted(ctx context.Context, spID string) bool {
	if s.byIDs.served() {
		return true
	}
	if !s.byIDs.usable() {
		return false
	}
	_, err := s.getByIDsChunk(ctx, []string{spID})
	return err == nil
}

// getByIDs reads users by id, GetByIDsSize to a request, at most
// Concurrency requests at once; nil entries are users Graph does not know.
// errByIDsUnusable (wrapped) says getByIds is refused or its answer
// lacks what entrasync needs; the caller falls back to another strategy.
func (s *Source) getByIDs(ctx context.Context, ids []string) ([]*sync.EntraUser, error) {
	out := make([]*sync.EntraUser, len(ids))
	err := s.parallel(ctx, pages(len(ids), GetByIDsSize), func(ctx context.Context, c int) error {
		lo, hi := c*GetByIDsSize, min((c+1)*GetByIDsSize, len(ids))
		found, err := s.getByIDsChunk(ctx, ids[lo:hi])
		if err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			if u, ok := found[ids[i]]; ok {
				out[i] = &u
			}
		}
		s.progress(ctx, func(c *requestCounter) { c.usersRead.Add(int64(len(found))) })
		return nil
	})
	if errors.Is(err, errByIDsUnusable) {
		s.logger.Info("directoryObjects/getByIds not usable; reading assigned users without it", "err", err)
	}
	return out, err
}

// byIDsUser is a user as getByIds returns it; pointers tell a property
// left out from one that is empty.
type byIDsUser struct {
	Type              string  `json:"@odata.type"`
	ID                string  `json:"id"`
	UserPrincipalName *string `json:"userPrincipalName"`
	Mail              string  `json:"mail"`
	DisplayName       string  `json:"displayName"`
	GivenName         string  `json:"givenName"`
	Surname           string  `json:"surname"`
	AccountEnabled    *bool   `json:"accountEnabled"`
}

// getByIDsChunk sends one getByIds request for at most GetByIDsSize ids and
// returns the users found by id; it learns from the answer whether getByIds
// is usable.
func (s *Source) getByIDsChunk(ctx context.Context, ids []string) (map[string]sync.EntraUser, error) {
	info, err := s.getByIDsRequest(ctx, ids)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("directoryObjects/getByIds (%d ids)", len(ids))
	body, err := s.getRaw(ctx, info)
	if err != nil {
		if a, ok := answerOf(err); ok && notServed(a.status) {
			why := fmt.Sprintf("HTTP %d %s", a.status, a.code)
			s.byIDs.learn(false, why)
			return nil, fmt.Errorf("%w: %s", errByIDsUnusable, why)
		}
		return nil, readError(what, err)
	}
	var p page[byIDsUser]
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, malformed(what, err.Error())
	}
	if p.Value == nil {
		return nil, malformed(what, "response has no value array")
	}
	found := make(map[string]sync.EntraUser, len(*p.Value))
	for _, u := range *p.Value {
		if !strings.EqualFold(u.Type, "#microsoft.graph.user") {
			continue // only users were asked for
		}
		if u.ID == "" || u.UserPrincipalName == nil || u.AccountEnabled == nil {
			why := "a user came back without id, userPrincipalName or accountEnabled"
			s.byIDs.learn(false, why)
			return nil, fmt.Errorf("%w: %s", errByIDsUnusable, why)
		}
		found[u.ID] = wireUser{ID: u.ID, UserPrincipalName: *u.UserPrincipalName, Mail: u.Mail, DisplayName: u.DisplayName,
			GivenName: u.GivenName, Surname: u.Surname, AccountEnabled: u.AccountEnabled}.entraUser()
	}
	s.byIDs.learn(true, "")
	return found, nil
}

// notServed tells the statuses that say getByIds is not for this client:
// refused (403) or not served as asked (400, 404, 405, 501).
func notServed(status int) bool {
	switch status {
	case http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// getByIDsRequest builds POST /directoryObjects/getByIds?$select=… for
// users with ids.
func (s *Source) getByIDsRequest(ctx context.Context, ids []string) (*abstractions.RequestInformation, error) {
	body := directoryobjects.NewGetByIdsPostRequestBody()
	body.SetIds(ids)
	body.SetTypes([]string{"user"})
	info, err := directoryobjects.NewGetByIdsRequestBuilderInternal(s.root(), s.adapter).ToPostRequestInformation(ctx, body, nil)
	if err != nil {
		return nil, fmt.Errorf("graph: getByIds request: %w", err)
	}
	u, err := info.GetUri()
	if err != nil {
		return nil, fmt.Errorf("graph: getByIds request: %w", err)
	}
	// The SDK's builder has no query parameters for this action.
	u.RawQuery = url.Values{"$select": {strings.Join(userFields, ",")}}.Encode()
	info.SetUri(*u)
	return info, nil
}
