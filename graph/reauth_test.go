package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// TestRejectedTokenIsDroppedAndRetriedOnce: a token Graph revokes before it
// expires is not used again; the refused request is retried with a fresh
// token and the read succeeds.
func TestRejectedTokenIsDroppedAndRetriedOnce(t *testing.T) {
	srv := graphtest.NewServer(tenant(30))
	defer srv.Close()
	src := source(t, srv, nil)
	if _, err := src.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	tokens := srv.Requests()["POST /token"]
	srv.RevokeTokens()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("read after the token was revoked: %v", err)
	}
	if len(snap.Users) != 31 {
		t.Fatalf("read %d users, want 31", len(snap.Users))
	}
	if n := srv.Requests()["POST /token"] - tokens; n != 1 {
		t.Fatalf("%d token requests after the rejection, want exactly 1 (a fresh token, used from then on)", n)
	}
	// A Graph that refuses every token: one retry, then the 401 stands.
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}", Status: 401})
	before := srv.Requests()["GET /v1.0/servicePrincipals/{id}"]
	_, err = src.Snapshot(context.Background())
	if sync.ErrorCode(err) != sync.EUNAUTHORIZED || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v, want unauthorized with the 401", err)
	}
	if n := srv.Requests()["GET /v1.0/servicePrincipals/{id}"] - before; n != 2 {
		t.Fatalf("%d requests for the refused read, want 2 (the request and one retry)", n)
	}
}

// TestRejectedTokenOnABatchIsRetriedWithItsBody: a $batch POST refused with
// 401 is sent again, body and all, with a fresh token.
func TestRejectedTokenOnABatchIsRetriedWithItsBody(t *testing.T) {
	srv := graphtest.NewServer(tenant(30))
	defer srv.Close()
	src := source(t, srv, nil)
	if _, err := src.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	batches := srv.Requests()["POST /v1.0/$batch"]
	srv.InjectFault(graphtest.Fault{Endpoint: "POST /v1.0/$batch", Status: 401, Times: 1})
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("read with one refused $batch: %v", err)
	}
	if len(snap.Users) != 31 || len(snap.Groups) != 1 || len(snap.Groups[0].Members) != 30 {
		t.Fatalf("read %d users, %d groups", len(snap.Users), len(snap.Groups))
	}
	if n := srv.Requests()["POST /v1.0/$batch"] - batches; n != batches+1 {
		t.Fatalf("%d $batch requests, want %d (one sent again)", n, batches+1)
	}
}
