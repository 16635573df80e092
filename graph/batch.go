package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"

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

// The $batch envelope, written and read with encoding/json: the items'
// bodies stay raw until their callers decode them into small structs (the
// SDK's batch type parsed every body into a tree of maps, which was most of
// a large read's CPU).
type (
	batchRequest struct {
		Requests []batchRequestItem `json:"requests"`
	}
	batchRequestItem struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	batchResponse struct {
		Responses *[]struct {
			ID      string            `json:"id"`
			Status  *int              `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
)

// batchItem is info as an item of a $batch: its URL relative to v1.0 (a
// URL inside a batch must be relative) and its headers.
func (s *Source) batchItem(id string, info *abstractions.RequestInformation) (batchRequestItem, error) {
	u, err := info.GetUri()
	if err != nil {
		return batchRequestItem{}, err
	}
	path, ok := strings.CutPrefix(u.EscapedPath(), "/v1.0")
	if !ok {
		return batchRequestItem{}, fmt.Errorf("request %s is not under /v1.0", u.Path)
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	item := batchRequestItem{ID: id, Method: "GET", URL: path}
	for _, k := range info.Headers.ListKeys() {
		if strings.EqualFold(k, "Accept") {
			continue
		}
		if item.Headers == nil {
			item.Headers = map[string]string{}
		}
		item.Headers[k] = strings.Join(info.Headers.Get(k), ", ")
	}
	return item, nil
}

// sendBatch sends one $batch of the pending items and stores the answers;
// it returns the items to retry and the longest Retry-After among them.
func (s *Source) sendBatch(ctx context.Context, infos []*abstractions.RequestInformation, pending []int, out []batchResult, what string, onItem func()) ([]int, time.Duration, error) {
	var req batchRequest
	ids := make(map[string]int, len(pending))
	for n, i := range pending {
		id := strconv.Itoa(n + 1)
		item, err := s.batchItem(id, infos[i])
		if err != nil {
			return nil, 0, fmt.Errorf("graph: build batch for %s: %w", what, err)
		}
		req.Requests = append(req.Requests, item)
		ids[id] = i
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, 0, fmt.Errorf("graph: build batch for %s: %w", what, err)
	}
	info, err := s.graphRequest("$batch")
	if err != nil {
		return nil, 0, err
	}
	info.Method = abstractions.POST
	info.SetStreamContentAndContentType(body, "application/json")
	if c, ok := ctx.Value(counterKey{}).(*requestCounter); ok {
		c.requests.Add(int64(len(pending)) - 1) // the items, not the envelope, are the requests
	}
	raw, err := s.getRaw(ctx, info)
	if err != nil {
		return nil, 0, readError(what+" ($batch)", err)
	}
	var resp batchResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, 0, malformed(what+" ($batch)", err.Error())
	}
	if resp.Responses == nil {
		return nil, 0, malformed(what+" ($batch)", "no responses array")
	}
	var retry []int
	var wait time.Duration
	for _, item := range *resp.Responses {
		if item.ID == "" || item.Status == nil {
			return nil, 0, malformed(what+" ($batch)", "a response item has no id or status")
		}
		i, ok := ids[item.ID]
		if !ok {
			return nil, 0, malformed(what+" ($batch)", fmt.Sprintf("response item %q answers no request", clipped(item.ID)))
		}
		delete(ids, item.ID)
		status := *item.Status
		switch status {
		case 429, 503, 504:
			retry = append(retry, i)
			if d := retryAfter(item.Headers); d > wait {
				wait = d
			}
			s.observeItem(infos[i], status, retryAfter(item.Headers))
			continue
		}
		if len(item.Body) > 0 && item.Body[0] != '{' {
			// Not a JSON object (Graph base64-encodes bodies of other types).
			return nil, 0, malformed(what+" ($batch)", fmt.Sprintf("response item %s has no JSON object as its body", clipped(item.ID)))
		}
		out[i] = batchResult{status: status, body: item.Body}
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
