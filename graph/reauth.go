package graph

import (
	"bytes"
	"context"
	"io"
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
	if t.cred != nil && req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// kiota's bodies ($batch) have no GetBody: send a copy whose bytes
		// a retry can send again (the transport may still be reading the
		// first reader when the 401 arrives). The caller's request is not
		// changed; its body, read, is closed as RoundTrip must, and kiota's
		// own retries seek it back.
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || t.cred == nil {
		return resp, err
	}
	// A claims challenge (continuous access evaluation) is kiota's to
	// answer: it asks for a token with those claims and retries itself.
	if strings.Contains(resp.Header.Get("WWW-Authenticate"), "claims=") {
		return resp, nil
	}
	old, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return resp, nil
	}
	t.cred.rejected(old)
	body, ok := rewound(req)
	if !ok {
		return resp, nil // a body that cannot be sent again: the 401 stands, the next request gets a fresh token
	}
	// As the authentication provider asks (kiota enables CAE): the same cache.
	tok, terr := t.cred.GetToken(req.Context(), policy.TokenRequestOptions{Scopes: []string{t.scope}, EnableCAE: true})
	if terr != nil || tok.Token == old {
		return resp, nil // no other token to try: the 401 stands
	}
	retry := req.Clone(req.Context())
	retry.Body = body
	retry.Header.Set("Authorization", "Bearer "+tok.Token)
	_ = resp.Body.Close()
	return t.base.RoundTrip(retry)
}

// rewound returns req's body ready to be sent again: none, or GetBody's.
func rewound(req *http.Request) (io.ReadCloser, bool) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return req.Body, true
	case req.GetBody != nil:
		b, err := req.GetBody()
		return b, err == nil
	}
	return nil, false
}
