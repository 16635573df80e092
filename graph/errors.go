package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entrasync/entrasync/sync"
)

// A failed read comes back as a *sync.Error with a code (unauthorized, not
// found, unavailable) and what was being read; never a token or a secret.

// answer is what Graph said to a failed request: the HTTP status and
// Graph's error code and message.
type answer struct {
	status        int
	code, message string
}

// answerOf returns Graph's answer held in err, an error of the SDK's
// request adapter; ok is false when there is none (no HTTP answer, or no
// token).
func answerOf(err error) (a answer, ok bool) {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return answer{}, false
	}
	a.status = oe.ResponseStatusCode
	if m := oe.GetErrorEscaped(); m != nil {
		a.code, a.message = str(m.GetCode()), str(m.GetMessage())
	}
	return a, true
}

// readError is a as the error of reading what: EUNAUTHORIZED for 401 and
// 403, ENOTFOUND for 404, EUNAVAILABLE for anything else.
func (a answer) readError(what string) error {
	c := sync.EUNAVAILABLE
	switch a.status {
	case 401, 403:
		c = sync.EUNAUTHORIZED
	case 404:
		c = sync.ENOTFOUND
	}
	return &answeredError{status: a.status,
		err: &sync.Error{Code: c, Message: fmt.Sprintf("graph: read %s: HTTP %d %s: %s", what, a.status, a.code, a.message)}}
}

// answeredError is a read Graph answered with an error status: the
// *sync.Error callers see (its text, errors.As), with the status kept for
// the graph package's own choices (answeredStatus).
type answeredError struct {
	err    *sync.Error
	status int
}

func (e *answeredError) Error() string { return e.err.Error() }
func (e *answeredError) Unwrap() error { return e.err }

// answeredStatus is the HTTP status of a read Graph answered with an error.
func answeredStatus(err error) (int, bool) {
	var ae *answeredError
	if errors.As(err, &ae) {
		return ae.status, true
	}
	return 0, false
}

// readError wraps a failed read with what was being read and Graph's error
// code, status and message. It never includes tokens or secrets.
func readError(what string, err error) error {
	if a, ok := answerOf(err); ok {
		return a.readError(what)
	}
	var te *TokenError
	if errors.As(err, &te) {
		return &sync.Error{Code: sync.EUNAUTHORIZED, Message: fmt.Sprintf("graph: read %s: could not obtain a token: %s; fix: %s", what, te.Found, te.Fix)}
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) && ae.RawResponse == nil {
		// No answer from the login endpoint at all (refused, timed out, TLS):
		// the network, not the credential.
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: fmt.Sprintf("graph: read %s: could not reach the login endpoint for a token (check the network path, proxy, graph.ca_file and login_endpoint)", what)}
	}
	if errors.As(err, &ae) {
		return &sync.Error{Code: sync.EUNAUTHORIZED, Message: fmt.Sprintf("graph: read %s: could not obtain a token (check tenant_id, client_id and the client secret)", what), Err: tokenError(ae)}
	}
	return &sync.Error{Code: sync.EUNAVAILABLE, Message: "graph: read " + what, Err: withoutQuery(err)}
}

// withoutQuery is err with the query of the URL it names (a *url.Error of
// the HTTP client) cut off: a nextLink's skip token or a deltaLink's delta
// token stays out of run records and logs.
func withoutQuery(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("%s %q: %w", ue.Op, withoutQueryString(ue.URL), ue.Err)
}

// tokenError keeps the status of a failed token request but drops the body
// and request dump azidentity includes.
func tokenError(ae *azidentity.AuthenticationFailedError) error {
	if ae.RawResponse != nil {
		return fmt.Errorf("token endpoint answered HTTP %d", ae.RawResponse.StatusCode)
	}
	return errors.New("token request failed")
}

func malformed(what, why string) error {
	return &sync.Error{Code: sync.EUNAVAILABLE, Message: fmt.Sprintf("graph: read %s: malformed response: %s", what, why)}
}

func isNotFound(err error) bool {
	a, ok := answerOf(err)
	return ok && a.status == http.StatusNotFound
}

// itemError describes a failed $batch item (callers treat 404 themselves).
func itemError(what string, r batchResult) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &body)
	return answer{status: r.status, code: body.Error.Code, message: body.Error.Message}.readError(what)
}

// clipped keeps odd values short in messages.
func clipped(v string) string {
	if len(v) > 64 {
		return v[:64] + "…"
	}
	return v
}
