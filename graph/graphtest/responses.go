package graphtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Graph's answers: headers, entities, and errors in Graph's shape, whether
// real or injected.

// odataJSON is the Content-Type of Graph's JSON responses.
const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func (s *Server) newHeader(g *greq) http.Header {
	h := http.Header{}
	h.Set("Content-Type", odataJSON)
	h.Set("request-id", g.requestID)
	h.Set("client-request-id", g.clientRequestID)
	h.Set("OData-Version", "4.0")
	h.Set("Cache-Control", "no-cache")
	return h
}

func (s *Server) gjson(g *greq, status int, v any) *gresp {
	return &gresp{status: status, header: s.newHeader(g), body: mustJSON(v)}
}

// gerr builds a Graph error response.
func (s *Server) gerr(g *greq, status int, code, msg string) *gresp {
	return s.gjson(g, status, object{{"error", object{
		{"code", code},
		{"message", msg},
		{"innerError", object{
			{"date", time.Now().UTC().Format("2006-01-02T15:04:05")},
			{"request-id", g.requestID},
			{"client-request-id", g.clientRequestID},
		}},
	}}})
}

func (s *Server) notFound(g *greq, id string) *gresp {
	return s.gerr(g, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (s *Server) graphFault(g *greq, f Fault) *gresp {
	status := faultStatus(f)
	var resp *gresp
	if f.Body != "" {
		resp = &gresp{status: status, header: s.newHeader(g), body: []byte(f.Body)}
	} else {
		code, msg := errorFor(status)
		resp = s.gerr(g, status, code, msg)
	}
	if f.RetryAfter != "" {
		resp.header.Set("Retry-After", f.RetryAfter)
	}
	resp.header.Set("X-Graphtest-Fault", "injected")
	return resp
}

// errorFor returns the Graph error code and message used for an injected
// status.
func errorFor(status int) (code, msg string) {
	switch status {
	case 400:
		return "BadRequest", "Bad request."
	case 401:
		return "InvalidAuthenticationToken", "Access token validation failure."
	case 403:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case 404:
		return "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."
	case 409:
		return "Conflict", "Conflict."
	case 429:
		return "TooManyRequests", "Too many requests. Retry after the time given in the Retry-After header."
	case 500:
		return "InternalServerError", "Encountered an internal server error."
	case 502:
		return "BadGateway", "Bad gateway."
	case 503:
		return "ServiceUnavailable", "The service is temporarily unavailable. Retry later."
	case 504:
		return "GatewayTimeout", "Gateway timeout."
	}
	return "UnknownError", http.StatusText(status)
}

func (s *Server) entity(g *greq, ctx string, o object) *gresp {
	out := make(object, 0, len(o)+1)
	out = append(out, kv{"@odata.context", ctx})
	out = append(out, o...)
	return s.gjson(g, http.StatusOK, out)
}

// contextURL returns the @odata.context of a response.
func (s *Server) contextURL(entitySet string, sel []string, entity bool) string {
	c := s.URL() + "/v1.0/$metadata#" + entitySet
	if sel != nil {
		c += "(" + strings.Join(sel, ",") + ")"
	}
	if entity {
		c += "/$entity"
	}
	return c
}
