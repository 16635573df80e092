package web

import (
	"net/http"

	"github.com/entrasync/entrasync/cmd/entrasync/web/console"
	"github.com/entrasync/entrasync/sync"
)

// WithSandbox adds the sandbox of `entrasync demo --serve`: the console's
// sandbox page and POST /api/v1/sandbox/{change}[?arg=…] (admin scope,
// audited), which change the simulated tenant behind the worker, and GET
// /api/v1/sandbox listing the changes. It returns s; call it before Handler.
func (s *Server) WithSandbox(sb console.Sandbox) *Server {
	s.sandbox = sb
	s.console.WithSandbox(sb)
	return s
}

// listSandbox is GET /api/v1/sandbox: the changes the sandbox makes.
func (s *Server) listSandbox(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.sandbox.Changes())
	return nil
}

// applySandbox is POST /api/v1/sandbox/{change}[?arg=…].
func (s *Server) applySandbox(w http.ResponseWriter, r *http.Request) error {
	msg, err := s.sandbox.Apply(r.Context(), r.PathValue("change"), r.URL.Query().Get("arg"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"change": r.PathValue("change"), "result": msg})
	return nil
}

// sandboxRoutes mounts the sandbox's API when there is one.
func (s *Server) sandboxRoutes(read, admin func(string, func(http.ResponseWriter, *http.Request) error)) {
	if s.sandbox == nil {
		return
	}
	read("GET /api/v1/sandbox", s.listSandbox)
	admin("POST /api/v1/sandbox/{change}", s.audited(sync.ActionSandboxChanged, s.applySandbox))
}
