package store

import (
	"database/sql"
	"fmt"
)

// attachRows reads (owner id, value) rows, such as a user's paths or a
// group's members, and hands each value to add with the index of its owner;
// rows whose owner is not in index are passed over. what names the rows in
// errors ("path", "membership"); wrap translates the driver's errors.
func attachRows(rows *sql.Rows, index map[int64]int, add func(i int, v string), what string, wrap func(error) error) error {
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return fmt.Errorf("store: scan %s: %w", what, err)
		}
		if i, ok := index[id]; ok {
			add(i, v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: load %ss: %w", what, wrap(err))
	}
	return nil
}

func noWrap(err error) error { return err }
