package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/sync"
)

// A cycle's COPYs stream hundreds of thousands of rows (a large tenant's
// first cycle: 843,000), and the apply runs at the speed of the one
// database backend its transaction is, beside the client that makes the
// rows on the same cores. Through database/sql each row was a statement
// execution of its own: its arguments checked and converted one by one,
// the connection locked and released, a result made. That was a third of
// the client's CPU in the apply. The write transactions run on a
// connection of their own (BeginWrite), and copyIn gives the rows to the
// driver's COPY directly, on that connection, inside the transaction.

// beginWrite begins a write transaction on a connection of its own (the
// dialect's BeginWrite).
func beginWrite(ctx context.Context, x *sqlx.DB) (*sqlx.Tx, *sqlx.Conn, func(), error) {
	conn, err := x.Connx(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: begin: %w", translate(err))
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		_ = conn.Close()
		return nil, nil, nil, fmt.Errorf("store: begin: %w", translate(err))
	}
	// end runs once the transaction has ended (Commit, Rollback, or its
	// context); the Rollback is a no-op then, and makes sure of it
	// otherwise: closing a connection waits for its open transaction. The
	// connection goes back to the pool.
	return tx, conn, func() { _ = tx.Rollback(); _ = conn.Close() }, nil
}

// copyIn streams the rows rows gives into table with COPY, on the
// transaction's own connection (beginWrite).
func (t *tx) copyIn(ctx context.Context, table string, cols []string, rows func(row func(...any) error) error) error {
	conn := t.c.Conn
	if conn == nil {
		return sync.Errorf(sync.EINTERNAL, "store: copy into %s: the transaction was not begun on a connection of its own", table)
	}
	// What goes wrong inside Raw is carried out of it, not returned by it:
	// Raw closes the connection of an error that says it is bad (or of a
	// panic), and closing it waits for the transaction still open on it,
	// which waits for this COPY — for ever. The transaction's rollback,
	// after, discards a bad connection as it should.
	var err error
	var panicked any
	rawErr := conn.Raw(func(dc any) error {
		defer func() { panicked = recover() }()
		err = copyDirect(ctx, dc, table, cols, rows)
		return nil
	})
	if panicked != nil {
		panic(panicked)
	}
	if err == nil {
		err = rawErr
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// lib/pq marks a cancelled connection bad at once: the COPY
			// stops with "bad connection", and the cause is the context.
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return fmt.Errorf("store: copy into %s: %w", table, translate(err))
	}
	return nil
}

// copyDirect is COPY through the driver connection dc: one prepared COPY,
// each row's values converted as database/sql would and handed over in one
// reused slice, and the context checked every thousand rows (as
// database/sql checked it before each).
func copyDirect(ctx context.Context, dc any, table string, cols []string, rows func(row func(...any) error) error) error {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("driver connection %T cannot prepare a COPY", dc)
	}
	st, err := pc.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return err
	}
	defer st.Close()
	vals := make([]driver.Value, len(cols))
	n := 0
	if err := rows(func(v ...any) error {
		if len(v) != len(vals) {
			return fmt.Errorf("a row of %d values for %d columns", len(v), len(vals))
		}
		for i, x := range v {
			if driver.IsValue(x) {
				vals[i] = x
				continue
			}
			c, err := driver.DefaultParameterConverter.ConvertValue(x)
			if err != nil {
				return fmt.Errorf("column %s: %w", cols[i], err)
			}
			vals[i] = c
		}
		if n++; n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		_, err := st.Exec(vals) //nolint:staticcheck // the driver's COPY takes rows through Exec
		return err
	}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err = st.Exec(nil) //nolint:staticcheck // no values: the end of the COPY
	return err
}
