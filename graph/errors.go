package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entrasync/entrasync/sync"
)

// A failed read comes back as a *sync.Error with a code (unauthorized, not
// found, unavailable) and what was being read; never a token or a secret.

// readError wraps a failed read with what was being read and Graph's error
// code, status and message. It never includes tokens or secrets.
func readError(what string, err error) error {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if m := oe.GetErrorEscaped(); m != nil {
			code, msg = str(m.GetCode()), str(m.GetMessage())
		}
		c := sync.EUNAVAILABLE
		switch oe.ResponseStatusCode {
		case 401, 403:
			c = sync.EUNAUTHORIZED
		case 404:
			c = sync.ENOTFOUND
		}
		return &sync.Error{Code: c, Message: fmt.Sprintf("graph: read %s: HTTP %d %s: %s", what, oe.ResponseStatusCode, code, msg)}
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) {
		return &sync.Error{Code: sync.EUNAUTHORIZED, Message: fmt.Sprintf("graph: read %s: could not obtain a token (check tenant_id, client_id and the client secret)", what), Err: tokenError(ae)}
	}
	return &sync.Error{Code: sync.EUNAVAILABLE, Message: "graph: read " + what, Err: err}
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
	var oe *odataerrors.ODataError
	return errors.As(err, &oe) && oe.ResponseStatusCode == http.StatusNotFound
}

// itemError describes a failed $batch item.
func itemError(what string, r batchResult) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &body)
	c := sync.EUNAVAILABLE
	if r.status == 401 || r.status == 403 {
		c = sync.EUNAUTHORIZED
	}
	return &sync.Error{Code: c, Message: fmt.Sprintf("graph: read %s: HTTP %d %s: %s", what, r.status, body.Error.Code, body.Error.Message)}
}

// clipped keeps odd values short in messages.
func clipped(v string) string {
	if len(v) > 64 {
		return v[:64] + "…"
	}
	return v
}
