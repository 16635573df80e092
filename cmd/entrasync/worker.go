package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	gosync "sync"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/sync"
)

// newWorker builds the worker over every configured tenant (or one).
func (e *env) newWorker(cfg *config.Config, dir sync.Store, m *web.Metrics, only string) (*sync.Worker, *sync.Syncer, error) {
	syncer := sync.NewSyncer(dir, e.logger)
	var wts []sync.WorkerTenant
	for _, t := range cfg.Tenants {
		if only != "" && t.Name != only {
			continue
		}
		var observe func(string, int, time.Duration)
		if m != nil {
			observe = m.GraphObserver(t.Name)
		}
		src, err := sourceOf(cfg, t, e.logger, observe, nil)
		if err != nil {
			return nil, nil, err
		}
		sched, err := t.ParsedSchedule()
		if err != nil {
			return nil, nil, &config.FieldError{Field: "tenants." + t.Name + ".schedule", Problem: err.Error()}
		}
		wts = append(wts, sync.WorkerTenant{ID: t.Name, Source: src, Schedule: sched})
	}
	var obs sync.Observer
	if m != nil {
		obs = m
	}
	w := sync.NewWorker(syncer, dir, wts, sync.WorkerConfig{Holder: holderID(), Poll: cfg.Worker.Poll, LeaseTTL: cfg.Worker.LeaseTTL,
		ShutdownGrace: cfg.Worker.ShutdownGrace, Observer: obs}, e.logger)
	return w, syncer, nil
}

// holderID names this process in leases: host, pid and a random suffix.
func holderID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// runWorker is `entrasync run`: the scheduler and the admin API until a
// signal; then no new cycles, running ones finish within the grace period.
func (e *env) runWorker(args []string) error {
	f := e.newFlags("run", false)
	listen := f.String("listen", "", "admin API address (default: worker.listen, 127.0.0.1:8080)")
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Worker.Listen = *listen
	}
	if len(cfg.Tenants) == 0 {
		return usagef("run: no tenants configured: add one under tenants: in the config file (see README)")
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	release, err := db.ExclusiveWorker()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer release()
	m := web.NewMetrics()
	worker, _, err := e.newWorker(cfg, db, m, "")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Worker.Listen)
	if err != nil {
		return fmt.Errorf("run: listen on %s: %w", cfg.Worker.Listen, err)
	}
	srv := &http.Server{Handler: web.NewServer(worker, db, m, e.logger).Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(e.logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	e.logger.Info("admin API listening", "addr", ln.Addr().String())
	workerDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() { workerDone <- worker.Run(ctx) }()
	select {
	case err = <-serveErr:
		cancel()
		<-workerDone
		return fmt.Errorf("run: admin API: %w", err)
	case <-e.ctx.Done():
	}
	e.logger.Info("shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), cfg.Worker.ShutdownGrace+5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	<-workerDone
	return nil
}

// provision is `entrasync provision user|group <id, UPN or name>`.
func (e *env) provision(args []string) error {
	if len(args) == 0 || (args[0] != "user" && args[0] != "group") {
		return usagef("provision: say user or group, e.g. entrasync provision user alice@contoso.com")
	}
	kind := args[0]
	f := e.newFlags("provision "+kind, true)
	dry := f.Bool("dry-run", false, "show the steps without applying")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usagef("provision %s: give one object id, UPN or display name", kind)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	tenant, err := oneTenant(cfg, f.tenant)
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	worker, _, err := e.newWorker(cfg, db, nil, tenant)
	if err != nil {
		return err
	}
	od, err := worker.Provision(e.ctx, tenant, kind, f.Arg(0), sync.CycleOptions{DryRun: *dry, Trigger: "cli"})
	if od != nil {
		if f.json {
			if werr := writeJSON(e.stdout, od); werr != nil {
				return werr
			}
		} else if werr := printOnDemand(e.stdout, tenant, od); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if od.Plan != nil && len(od.Plan.Conflicts) > 0 && !*dry {
		return errConflicts
	}
	return nil
}

func printOnDemand(w io.Writer, tenant string, od *sync.OnDemand) error {
	ew := &lineWriter{w: w}
	ew.printf("Provision on demand: %s %s (tenant %s)\n", od.Kind, od.Query, tenant)
	for _, s := range od.Steps {
		mark := "✓"
		if !s.OK {
			mark = "✗"
		}
		for i, d := range s.Details {
			name := ""
			if i == 0 {
				name = s.Name
			}
			if i == 0 {
				ew.printf(" %s %-10s %s\n", mark, name, d)
			} else {
				ew.printf("   %-10s %s\n", name, d)
			}
		}
	}
	switch {
	case od.DryRun:
		ew.printf("Dry run: nothing applied.\n")
	case od.Run != nil && od.Run.ID != 0:
		ew.printf("Run %d: %s\n", od.Run.ID, od.Run.Outcome)
	}
	return ew.err
}

type lineWriter struct {
	w   io.Writer
	err error
}

func (l *lineWriter) printf(format string, args ...any) {
	if l.err == nil {
		_, l.err = fmt.Fprintf(l.w, format, args...)
	}
}

// tokenRotate is `entrasync token rotate`: a new admin API token, printed
// once; every older token stops working at once.
func (e *env) tokenRotate(args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usagef("token: the only subcommand is rotate")
	}
	f := e.newFlags("token rotate", false)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	token, hash, err := web.NewToken()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if err := db.RotateAPIToken(e.ctx, hash); err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, map[string]string{"token": token})
	}
	fmt.Fprintln(e.stderr, "New admin API token (shown once; every earlier token no longer works):")
	_, err = fmt.Fprintln(e.stdout, token)
	return err
}

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
