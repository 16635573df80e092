package sync

import (
	"errors"
	"fmt"
)

// Error codes used across entrasync. Callers branch on them with ErrorCode.
const (
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is an application error with a code from the list above and a message
// that is safe to show to an administrator.
type Error struct {
	Code    string
	Message string
	Err     error // optional cause
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Sentinel errors callers branch on.
var (
	// ErrTenantNotFound is returned when a tenant is not registered in the directory.
	ErrTenantNotFound = &Error{Code: ENOTFOUND, Message: "tenant not found"}
	// ErrRunNotFound is returned when a run id does not exist.
	ErrRunNotFound = &Error{Code: ENOTFOUND, Message: "run not found"}
	// ErrTenantDisconnected is returned for a cycle of a disconnected tenant.
	ErrTenantDisconnected = &Error{Code: EINVALID, Message: "tenant is disconnected: reconnect it with `entrasync tenant reconnect NAME`"}
	// ErrSnapshotIncomplete wraps every Graph read failure: nothing is applied (C4).
	ErrSnapshotIncomplete = &Error{Code: EUNAVAILABLE, Message: "graph snapshot incomplete"}
)
