package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
)

// TestCopyOnAConnectionThatDiesMidwayEnds: a COPY whose connection dies
// while it streams (its backend terminated after the first rows) ends with
// an error, and so do the transaction's rollback and end: database/sql
// closes a connection the driver calls bad, and closing one waits for the
// transaction open on it, so an error handed back through Conn.Raw waited
// for ever.
func TestCopyOnAConnectionThatDiesMidwayEnds(t *testing.T) {
	ctx := context.Background()
	db, url := scratchDB(t)
	raw, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	tctx, cancel := context.WithTimeout(ctx, time.Minute) // ends long after the test would
	defer cancel()
	sqlTx, conn, end, err := beginWrite(tctx, db.SQL())
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := sqlTx.QueryRowContext(tctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	w := &tx{s: db, c: &store.CycleTx{Tx: sqlTx, Conn: conn}}
	done := make(chan error, 1)
	go func() {
		err := w.copyIn(tctx, "scratch", []string{"n", "s"}, func(row func(...any) error) error {
			for i := range 200_000 {
				if i == 100 {
					if _, err := raw.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
						return err
					}
					time.Sleep(200 * time.Millisecond) // the driver hears of it
				}
				if err := row(int64(i), "a row of the COPY"); err != nil {
					return err
				}
			}
			return nil
		})
		_ = sqlTx.Rollback()
		end()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a COPY on a terminated backend succeeded")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the COPY ended only with its context: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a COPY whose connection died did not end")
	}
	if _, err := raw.ExecContext(ctx, `SELECT 1`); err != nil {
		t.Fatalf("the database after a dead connection: %v", err)
	}
}

// TestCopyCancelledMidwaySaysSo: a COPY whose context ends while it
// streams fails with the context's error in its chain (lib/pq marks the
// connection bad at once, and "bad connection" alone would read as a
// database failure, counted against the tenant).
func TestCopyCancelledMidwaySaysSo(t *testing.T) {
	ctx := context.Background()
	db, _ := scratchDB(t)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sqlTx, conn, end, err := beginWrite(tctx, db.SQL())
	if err != nil {
		t.Fatal(err)
	}
	w := &tx{s: db, c: &store.CycleTx{Tx: sqlTx, Conn: conn}}
	err = w.copyIn(tctx, "scratch", []string{"n", "s"}, func(row func(...any) error) error {
		for i := range 200_000 {
			if i == 100 {
				cancel()
				time.Sleep(100 * time.Millisecond)
			}
			if err := row(int64(i), "a row of the COPY"); err != nil {
				return err
			}
		}
		return nil
	})
	_ = sqlTx.Rollback()
	end()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled COPY: %v, want context.Canceled in its chain", err)
	}
}

// scratchDB is a migrated directory in a fresh schema with a table
// scratch (n bigint, s text), and its URL; both go at cleanup. (This
// package's own tests cannot use storetest, which imports it.)
func scratchDB(t *testing.T) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	url, drop, err := CreateSchema(ctx, base, "t_"+hex.EncodeToString(b[:]))
	if err != nil {
		t.Fatalf("%v (set TEST_DATABASE_URL, or start PostgreSQL with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)", err)
	}
	t.Cleanup(drop)
	db, err := Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE scratch (n bigint, s text)`); err != nil {
		t.Fatal(err)
	}
	return db, url
}
