package graph

import (
	"context"
	"net/http"
	"strings"
	gosync "sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// A token Graph rejects. azidentity's credentials cache their access tokens
// until they expire, so a token Graph refuses before then (revoked, the
// tenant's signing keys rolled, the service principal's sign-in reset)
// would be handed out again on every request until the process restarted.
// renewing drops the credential, cache and all, when Graph rejects the
// token it gave, and builds a fresh one; reauthTransport retries the
// rejected request once with the fresh token.

// renewing is a credential that can start afresh from build.
type renewing struct {
	build func() (azcore.TokenCredential, error)

	mu   gosync.Mutex
	cur  azcore.TokenCredential
	last string // the last token cur handed out
	// first is held by the one GetToken that fills a fresh credential's
	// cache, so that requests refused together ask the token endpoint once.
	first gosync.Mutex
}

func newRenewing(build func() (azcore.TokenCredential, error)) (*renewing, error) {
	cur, err := build()
	if err != nil {
		return nil, err
	}
	return &renewing{build: build, cur: cur}, nil
}

// GetToken asks the current credential.
func (r *renewing) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.mu.Lock()
	cur, fresh := r.cur, r.last == ""
	r.mu.Unlock()
	if fresh {
		r.first.Lock()
		defer r.first.Unlock()
	}
	tok, err := cur.GetToken(ctx, opts)
	if err == nil {
		r.mu.Lock()
		if r.cur == cur {
			r.last = tok.Token
		}
		r.mu.Unlock()
	}
	return tok, err
}

// rejected is told that Graph refused token: when the current credential
// handed it out, it is replaced by a fresh one (whose first GetToken asks
// the token endpoint). Tokens of a credential already replaced change
// nothing, so many requests refused at once rebuild it once.
func (r *renewing) rejected(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token == "" || token != r.last {
		return
	}
	fresh, err := r.build()
	if err != nil {
		return // it built once with the same settings; keep the one we have
	}
	r.cur, r.last = fresh, ""
}

// reauthTransport retries, once, a Graph request answered 401 with a fresh
// token from cred; every other answer passes through.
type reauthTransport struct {
	base  http.RoundTripper
	cred  *renewing
	scope string
}

func (t *reauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || t.cred == nil {
		return resp, err
	}
	old, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	t.cred.rejected(old)
	// As the authentication provider asks (kiota enables CAE): the same cache.
	tok, terr := t.cred.GetToken(req.Context(), policy.TokenRequestOptions{Scopes: []string{t.scope}, EnableCAE: true})
	if terr != nil || tok.Token == old {
		return resp, nil // no other token to try: the 401 stands
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		body, berr := req.GetBody()
		if berr != nil {
			return resp, nil
		}
		retry.Body = body
	}
	retry.Header.Set("Authorization", "Bearer "+tok.Token)
	_ = resp.Body.Close()
	return t.base.RoundTrip(retry)
}
