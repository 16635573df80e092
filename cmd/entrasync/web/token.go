package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// NewToken returns a fresh admin API token and the hash to store for it
// (sync.TokenStore.RotateAPIToken). The error is the system's random source
// failing.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = "es_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token), nil
}

// hashToken is the SHA-256 of a token, as the token store keeps it.
func hashToken(token string) string { return sync.TokenHash(token) }

// auth checks the bearer token against the stored hashes (401 without a live
// one, 503 when the store does not answer, 403 when its scope does not allow
// scope), then runs h with the token in its context (identity) and turns its
// error into a JSON error response.
func (s *Server) auth(scope string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		var tok sync.APIToken
		valid := false
		if ok && token != "" {
			var err error
			tok, err = s.store.LookupAPIToken(r.Context(), hashToken(token))
			switch {
			case err == nil:
				valid = true
			case !errors.Is(err, sync.ErrTokenNotFound):
				s.logger.Error("check api token", "err", err)
				writeError(w, http.StatusServiceUnavailable, "token store unavailable")
				return
			}
		}
		if !valid {
			w.Header().Set("WWW-Authenticate", `Bearer realm="entrasync"`)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		if !sync.Allows(tok.Scope, scope) {
			writeError(w, http.StatusForbidden, "this token's scope is "+tok.Scope+": it may not do this (an admin token may)")
			return
		}
		if err := h(w, r.WithContext(WithIdentity(r.Context(), tok))); err != nil {
			s.writeErr(w, r, err)
		}
	})
}

// bearer returns the token of an Authorization header's Bearer credentials.
// The scheme is case-insensitive (RFC 7235 §2.1: "bearer" and "BEARER"
// are Bearer too); spaces around the token are dropped.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
