package main

// The progress of a long read: an updating line on a terminal, log lines
// otherwise.

import (
	"fmt"
	"io"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/graph"
)

// progress shows how far a long read has come: one updating line on a
// terminal, a log line every few seconds otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	logger   *slog.Logger
	mu       gosync.Mutex
	last     time.Time
	shown    bool
}

func newProgress(w io.Writer, terminal bool, logger *slog.Logger) *progress {
	return &progress{w: w, terminal: terminal, logger: logger}
}

func (p *progress) update(g graph.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 5 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[Kreading: %d assignment page(s) · groups %d/%d · %d member page(s) · users %d/%d · %d round trips",
			g.AssignmentPages, g.GroupsRead, g.Groups, g.MemberPages, g.UsersRead, g.Users, g.RoundTrips)
		p.shown = true
		return
	}
	p.logger.Info("reading", "assignment_pages", g.AssignmentPages, "groups_read", g.GroupsRead, "groups", g.Groups,
		"member_pages", g.MemberPages, "users_read", g.UsersRead, "users", g.Users, "round_trips", g.RoundTrips)
}

// done clears the progress line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
