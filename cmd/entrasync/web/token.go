package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
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
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// auth checks the bearer token against the stored hashes (401 without a live
// one, 503 when the store does not answer), then runs h and turns its error
// into a JSON error response.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		valid := false
		if ok && token != "" {
			var err error
			if valid, err = s.store.APITokenValid(r.Context(), hashToken(token)); err != nil {
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
		if err := h(w, r); err != nil {
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
