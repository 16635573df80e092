package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/entrasync/entrasync/sync"
)

// BatchSize is Graph's limit of requests in one JSON $batch.
const BatchSize = 20

// batchResult is one item's answer.
type batchResult struct {
	status int
	body   []byte // the item's JSON body
}

// batchGet sends the GET requests in $batch calls of 20, several calls at
// once (bounded by Concurrency), and re-sends items that come back 429, 503
// or 504 after their own Retry-After — the SDK's retry handler sees only the
// outer 200 of a batch. It returns every item's final status and body;
// onItem, when set, is called for each final answer (progress).
func (s *Source) batchGet(ctx context.Context, infos []*abstractions.RequestInformation, what string, onItem func()) ([]batchResult, error) {
	out := make([]batchResult, len(infos))
	chunks := (len(infos) + BatchSize - 1) / BatchSize
	err := s.parallel(ctx, chunks, func(ctx context.Context, c int) error {
		lo, hi := c*BatchSize, min((c+1)*BatchSize, len(infos))
		pending := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			pending = append(pending, i)
		}
		for attempt := 0; len(pending) > 0; attempt++ {
			retry, wait, err := s.sendBatch(ctx, infos, pending, out, what, onItem)
			if err != nil {
				return err
			}
			if len(retry) == 0 {
				return nil
			}
			if attempt >= s.cfg.MaxRetries {
				return &sync.Error{Code: sync.EUNAVAILABLE, Message: fmt.Sprintf("graph: read %s: %d request(s) still throttled after %d retries", what, len(retry), attempt)}
			}
			if wait <= 0 {
				wait = s.cfg.RetryDelay << attempt
			}
			if err := s.throttleWait(ctx, wait, what); err != nil {
				return err
			}
			pending = retry
		}
		return nil
	})
	return out, err
}

// sendBatch sends one $batch of the pending items and stores the answers;
// it returns the items to retry and the longest Retry-After among them.
func (s *Source) sendBatch(ctx context.Context, infos []*abstractions.RequestInformation, pending []int, out []batchResult, what string, onItem func()) ([]int, time.Duration, error) {
	batch := msgraphcore.NewBatchRequest(s.adapter)
	ids := make(map[string]int, len(pending))
	for _, i := range pending {
		item, err := batch.AddBatchRequestStep(*infos[i])
		if err != nil {
			return nil, 0, fmt.Errorf("graph: build batch for %s: %w", what, err)
		}
		ids[str(item.GetId())] = i
	}
	if c, ok := ctx.Value(counterKey{}).(*requestCounter); ok {
		c.requests.Add(int64(len(pending)) - 1) // the items, not the envelope, are the requests
	}
	resp, err := batch.Send(ctx, s.adapter)
	if err != nil {
		return nil, 0, readError(what+" ($batch)", err)
	}
	if resp == nil {
		return nil, 0, malformed(what+" ($batch)", "empty response")
	}
	seen := 0
	var retry []int
	var wait time.Duration
	for _, item := range resp.GetResponses() {
		if item == nil || item.GetId() == nil || item.GetStatus() == nil {
			return nil, 0, malformed(what+" ($batch)", "a response item has no id or status")
		}
		i, ok := ids[*item.GetId()]
		if !ok {
			return nil, 0, malformed(what+" ($batch)", fmt.Sprintf("response item %q answers no request", *item.GetId()))
		}
		delete(ids, *item.GetId())
		seen++
		status := int(*item.GetStatus())
		switch status {
		case 429, 503, 504:
			retry = append(retry, i)
			if d := retryAfter(item.GetHeaders()); d > wait {
				wait = d
			}
			s.observeItem(infos[i], status, retryAfter(item.GetHeaders()))
			continue
		}
		body, err := json.Marshal(item.GetBody())
		if err != nil {
			return nil, 0, malformed(what+" ($batch)", err.Error())
		}
		out[i] = batchResult{status: status, body: body}
		s.observeItem(infos[i], status, 0)
		if onItem != nil {
			onItem()
		}
	}
	if len(ids) > 0 {
		return nil, 0, malformed(what+" ($batch)", fmt.Sprintf("%d request(s) got no response item", len(ids)))
	}
	return retry, wait, nil
}

// decodeItems decodes the answers of a $batch, calling keep with each
// object found. A 404 is skipped (the object is gone); any other failure, a
// body that does not decode or one without an id fails the read. name(i)
// names item i in errors.
func decodeItems[T interface{ objectID() string }](res []batchResult, name func(i int) string, keep func(i int, v T)) error {
	for i, r := range res {
		what := name(i)
		switch {
		case r.status == 404:
			continue
		case r.status != 200:
			return itemError(what, r)
		}
		var v T
		if err := json.Unmarshal(r.body, &v); err != nil {
			return malformed(what, err.Error())
		}
		if v.objectID() == "" {
			return malformed(what, "response has no id")
		}
		keep(i, v)
	}
	return nil
}

func (s *Source) observeItem(info *abstractions.RequestInformation, status int, wait time.Duration) {
	if s.cfg.Observe == nil {
		return
	}
	endpoint := "GET (batch)"
	if u, err := info.GetUri(); err == nil {
		endpoint = "GET " + Endpoint(u.Path)
	}
	s.cfg.Observe(endpoint, status, wait)
}

// throttleWait sleeps d for a throttled read, counting it against the
// cycle's cap on waiting; past the cap the read fails (C4).
func (s *Source) throttleWait(ctx context.Context, d time.Duration, what string) error {
	if c, ok := ctx.Value(counterKey{}).(*requestCounter); ok {
		if total := time.Duration(c.waited.Add(int64(d))); total > s.cfg.MaxThrottleWait {
			return &sync.Error{Code: sync.EUNAVAILABLE, Message: fmt.Sprintf("graph: read %s: throttled for longer than the %s this cycle may wait", what, s.cfg.MaxThrottleWait)}
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryAfter reads a Retry-After header (seconds) case-insensitively.
func retryAfter(h map[string]string) time.Duration {
	for k, v := range h {
		if strings.EqualFold(k, "Retry-After") {
			if secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && secs >= 0 {
				return time.Duration(secs * float64(time.Second))
			}
		}
	}
	return 0
}
