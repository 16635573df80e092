// Command entrasync is the pull-based provisioning worker for Microsoft Entra
// ID: it reads an enterprise application's assignments from Microsoft Graph and
// applies them to a local directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/sync"
)

// Exit codes scripts can rely on.
const (
	exitOK        = 0
	exitFailure   = 1 // the command failed (Graph, database, a failed cycle)
	exitUsage     = 2 // bad flags, arguments or configuration
	exitConflicts = 3 // the cycle applied, but some changes were held back as conflicts
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError marks errors caused by the command line or the configuration.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// errConflicts reports a cycle that applied with conflicts held back.
var errConflicts = errors.New("some changes were not applied because of e-mail conflicts; see the run")

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	fmt.Fprintln(stderr, "entrasync:", err)
	var ue *usageError
	var fe *config.FieldError
	switch {
	case errors.Is(err, errConflicts):
		return exitConflicts
	case errors.As(err, &ue), errors.As(err, &fe), sync.ErrorCode(err) == sync.EINVALID:
		return exitUsage
	}
	return exitFailure
}
