package main

// `entrasync run`: the worker — the scheduler, the admin API and console
// listener (cmd/entrasync/web), until a signal.

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/config"
)

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
	m.BuildInfo(version)
	m.WatchTenants(db)
	worker, _, err := e.newWorker(cfg, db, m, "")
	if err != nil {
		return err
	}
	tlsConfig, err := listenerTLS(cfg.Worker)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Worker.Listen)
	if err != nil {
		return fmt.Errorf("run: listen on %s: %w", cfg.Worker.Listen, err)
	}
	srv := web.HTTPServer(web.NewServer(worker, db, m, e.logger).WithRegistry(db, onboarding{cfg}).Handler(), slog.NewLogLogger(e.logger.Handler(), slog.LevelWarn))
	serveErr := make(chan error, 1)
	limited := web.LimitListener(ln, web.MaxConnections)
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		limited = tls.NewListener(limited, tlsConfig)
	}
	go func() { serveErr <- srv.Serve(limited) }()
	e.logger.Info("admin API and console listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
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

// listenerTLS reads worker.tls_cert and worker.tls_key into the listener's
// TLS configuration; nil when they are not set (plain HTTP).
func listenerTLS(w config.Worker) (*tls.Config, error) {
	if w.TLSCert == "" {
		return nil, nil
	}
	cert, err := config.ReadSmallFile(w.TLSCert, config.MaxSecretBytes)
	if err != nil {
		return nil, usagef("run: worker.tls_cert: %v", err)
	}
	key, err := config.ReadSmallFile(w.TLSKey, config.MaxSecretBytes)
	if err != nil {
		return nil, usagef("run: worker.tls_key: %v", err)
	}
	c, err := web.TLSConfig(cert, key)
	if err != nil {
		return nil, usagef("run: %v", err)
	}
	return c, nil
}
