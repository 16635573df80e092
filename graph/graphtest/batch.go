package graphtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxBatchItems is Graph's limit of requests in one JSON batch.
const maxBatchItems = 20

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 4 << 20

// readBody reads a request body, decompressing gzip (the Graph SDK's
// compression middleware gzips request bodies). A non-zero status reports a
// failure with msg.
func readBody(r *http.Request, encoding string) (body []byte, status int, msg string) {
	rd := io.Reader(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, "Invalid batch payload format."
		}
		defer zr.Close()
		rd = io.LimitReader(zr, maxBodyBytes+1)
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding '%s' is not supported.", encoding)
	}
	b, err := io.ReadAll(rd)
	if err != nil || len(b) > maxBodyBytes {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || len(b) > maxBodyBytes {
			return nil, http.StatusRequestEntityTooLarge, "The batch payload is too large."
		}
		return nil, http.StatusBadRequest, "Invalid batch payload format."
	}
	return b, 0, ""
}

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchRequest struct {
	Requests []batchItem `json:"requests"`
}

// batch serves POST /v1.0/$batch: every item is dispatched to its endpoint
// in order and answered with its own status, headers and body. Each item is
// charged and throttled on its own (the envelope costs nothing), so one item
// can get 429 with its own Retry-After while the others succeed.
func (s *Server) batch(g *greq, _ *route) *gresp {
	if g.inBatch {
		return s.gerr(g, http.StatusBadRequest, "BadRequest", "A batch request cannot contain a nested $batch request.")
	}
	var req batchRequest
	if err := json.Unmarshal(g.body, &req); err != nil || req.Requests == nil {
		return s.gerr(g, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
	}
	if len(req.Requests) == 0 {
		return s.gerr(g, http.StatusBadRequest, "BadRequest", "The batch request must contain at least one request.")
	}
	if len(req.Requests) > maxBatchItems {
		return s.gerr(g, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Number of batch request steps exceeds the maximum of %d.", maxBatchItems))
	}
	pos := map[string]int{}
	for i, it := range req.Requests {
		switch {
		case it.ID == "":
			return s.gerr(g, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request %d of the batch has no id.", i+1))
		case it.Method == "":
			return s.gerr(g, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' of the batch has no method.", it.ID))
		case it.URL == "":
			return s.gerr(g, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' of the batch has no url.", it.ID))
		}
		if _, dup := pos[it.ID]; dup {
			return s.gerr(g, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Batch request ids must be unique; '%s' is repeated.", it.ID))
		}
		for _, d := range it.DependsOn {
			if _, ok := pos[d]; !ok {
				return s.gerr(g, http.StatusBadRequest, "BadRequest",
					fmt.Sprintf("Request '%s' depends on '%s', which is not an earlier request of the batch.", it.ID, d))
			}
		}
		pos[it.ID] = i
	}

	statuses := map[string]int{}
	responses := make([]object, 0, len(req.Requests))
	for _, it := range req.Requests {
		var resp *gresp
		ig := s.itemRequest(g, it)
		for _, d := range it.DependsOn {
			if statuses[d] >= 400 {
				resp = s.gerr(ig, http.StatusFailedDependency, "FailedDependency",
					fmt.Sprintf("The request depends on request '%s', which failed.", d))
				break
			}
		}
		if resp == nil {
			if ig.path == "" && ig.query == nil {
				resp = s.gerr(ig, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid request url '%s'.", it.URL))
			} else {
				resp = s.dispatch(ig)
			}
		}
		if resp.abandoned {
			// An item's Delay was interrupted: the client is gone or the
			// server is closing.
			return resp
		}
		statuses[it.ID] = resp.status
		responses = append(responses, itemResponse(it.ID, resp))
	}
	return s.gjson(g, http.StatusOK, object{{"responses", responses}})
}

// itemRequest builds the Graph request of a batch item. An unusable url
// leaves path empty and query nil.
func (s *Server) itemRequest(outer *greq, it batchItem) *greq {
	g := &greq{
		ctx:             outer.ctx,
		method:          strings.ToUpper(it.Method),
		requestID:       newUUID(),
		clientRequestID: outer.clientRequestID,
		header:          http.Header{},
		body:            it.Body,
		inBatch:         true,
	}
	for k, v := range it.Headers {
		g.header.Set(k, v)
	}
	if v := g.header.Get("client-request-id"); v != "" {
		g.clientRequestID = v
	}
	u, err := url.Parse(strings.TrimSpace(it.URL))
	if err != nil {
		return g
	}
	p := u.EscapedPath()
	if u.IsAbs() {
		// An absolute url must name this server's Graph version root.
		if !strings.HasPrefix(p, "/v1.0/") {
			return g
		}
		p = strings.TrimPrefix(p, "/v1.0")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return g
	}
	g.path, g.query = p, q
	return g
}

// itemResponse renders the answer to one batch item. A body that is not JSON
// (an injected raw Body) is sent as a JSON string.
func itemResponse(id string, resp *gresp) object {
	headers := object{}
	for _, k := range []string{"Content-Type", "Cache-Control", "OData-Version", "Retry-After",
		"x-ms-resource-unit", "x-ms-throttle-limit-percentage", "x-ms-throttle-scope", "x-ms-throttle-information",
		"X-Graphtest-Fault"} {
		if v := resp.header.Get(k); v != "" {
			headers = append(headers, kv{k, v})
		}
	}
	o := object{{"id", id}, {"status", resp.status}, {"headers", headers}}
	if len(bytes.TrimSpace(resp.body)) > 0 {
		if json.Valid(resp.body) {
			o = append(o, kv{"body", json.RawMessage(resp.body)})
		} else {
			o = append(o, kv{"body", string(resp.body)})
		}
	}
	return o
}
