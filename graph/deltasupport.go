package graph

import (
	"encoding/json"
	"net/http"
	"strings"
)

// DeltaSupport is what Graph's answer to a delta request says about delta
// for that resource and query: whether it is served, and if not, why.
type DeltaSupport int

// The kinds of answer to a delta request.
const (
	// DeltaServed: 200 with a delta page (a value array and an
	// @odata.nextLink or @odata.deltaLink).
	DeltaServed DeltaSupport = iota
	// DeltaRefused: 403, a permission is missing.
	DeltaRefused
	// DeltaUnsupported: 400 or 501, Graph does not serve this delta query
	// here (for example directoryObjects/delta of appRoleAssignments).
	DeltaUnsupported
	// DeltaExpired: the token is no longer accepted (410 Gone, or 400 with
	// syncStateNotFound, syncStateInvalid or resyncRequired): start again
	// with a full read and a fresh token.
	DeltaExpired
	// DeltaUnexpected: anything else (a 200 that is not a delta page, 404,
	// 5xx after retries …): treat delta as not served this time.
	DeltaUnexpected
)

var deltaSupportNames = [...]string{"served", "refused", "unsupported", "expired", "unexpected"}

// String names d: served, refused, unsupported, expired or unexpected.
func (d DeltaSupport) String() string {
	if d >= 0 && int(d) < len(deltaSupportNames) {
		return deltaSupportNames[d]
	}
	return "unexpected"
}

// ClassifyDeltaAnswer classifies Graph's answer to a delta request: its
// HTTP status after retries and its body (a delta page for 200, a Graph
// error otherwise; either may be empty or malformed, which never panics).
// A caller uses delta only when the answer is DeltaServed, starts over
// with a full read on DeltaExpired, and otherwise reads in full (and, for a
// probe, reports the delta as not served).
func ClassifyDeltaAnswer(status int, body []byte) DeltaSupport {
	if status == http.StatusOK {
		var p struct {
			Value     *[]json.RawMessage `json:"value"`
			NextLink  string             `json:"@odata.nextLink"`
			DeltaLink string             `json:"@odata.deltaLink"`
		}
		if json.Unmarshal(body, &p) != nil || p.Value == nil || p.NextLink == "" && p.DeltaLink == "" {
			return DeltaUnexpected
		}
		return DeltaServed
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return classifyDelta(status, e.Error.Code)
}

// ClassifyDeltaError classifies the error of a delta request sent through
// the Source's request adapter (a Graph answer of 4xx/5xx after retries, as
// ClassifyDeltaAnswer would); an error with no Graph answer (network, token)
// is DeltaUnexpected.
func ClassifyDeltaError(err error) DeltaSupport {
	if a, ok := answerOf(err); ok {
		return classifyDelta(a.status, a.code)
	}
	return DeltaUnexpected
}

// classifyDelta classifies a failed delta request by its status and
// Graph's error code.
func classifyDelta(status int, code string) DeltaSupport {
	switch {
	case status == http.StatusGone:
		return DeltaExpired
	case status == http.StatusBadRequest && expiredCode(code):
		return DeltaExpired
	case status == http.StatusForbidden:
		return DeltaRefused
	case status == http.StatusBadRequest || status == http.StatusNotImplemented:
		return DeltaUnsupported
	}
	return DeltaUnexpected
}

func expiredCode(code string) bool {
	for _, c := range []string{"syncStateNotFound", "syncStateInvalid", "resyncRequired"} {
		if strings.EqualFold(code, c) {
			return true
		}
	}
	return false
}
