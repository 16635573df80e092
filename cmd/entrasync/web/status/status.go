// Package status maps errors to the HTTP status and the message the admin
// API and the console send for them: one map for both.
package status

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/entrasync/entrasync/sync"
)

// Error is an error with the status and message to send.
type Error struct {
	Status int
	Msg    string
}

// Error returns the message sent.
func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error of status with a formatted message.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Of is the status and message for err: an *Error's own; a running cycle,
// a paused or disconnected tenant 409; a worker shutting down 503; an
// incomplete Graph read 502; then by sync's code (not found 404, invalid
// 400, conflict 409, Graph refusing or unavailable 502). Anything else is
// 500 with "internal error" and no detail: the caller logs it.
func Of(err error) (int, string) {
	var he *Error
	switch {
	case errors.As(err, &he):
		return he.Status, he.Msg
	case errors.Is(err, sync.ErrCycleRunning):
		return http.StatusConflict, "a cycle of this tenant is already running"
	case errors.Is(err, sync.ErrTenantPaused), errors.Is(err, sync.ErrTenantDisconnected):
		return http.StatusConflict, err.Error()
	case errors.Is(err, sync.ErrShuttingDown):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, sync.ErrSnapshotIncomplete):
		return http.StatusBadGateway, err.Error()
	}
	switch sync.ErrorCode(err) {
	case sync.ENOTFOUND:
		return http.StatusNotFound, err.Error()
	case sync.EINVALID:
		return http.StatusBadRequest, err.Error()
	case sync.ECONFLICT:
		return http.StatusConflict, err.Error()
	case sync.EUNAUTHORIZED, sync.EUNAVAILABLE:
		return http.StatusBadGateway, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}
