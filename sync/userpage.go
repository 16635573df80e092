package sync

import (
	"context"
	"strconv"
	"strings"
)

// A page of a tenant's users, filtered in the directory's query: the console
// lists a 100,000-user tenant a page at a time instead of loading it whole.

// MaxUserPage is the most users one page holds.
const MaxUserPage = 500

// UserQuery selects a page of users: by status ("" any) and by Text (a
// case-insensitive part of the e-mail, UPN, display name or Entra id, or the
// local id exactly), Offset users on, at most Limit (1..MaxUserPage; 0 means
// MaxUserPage), in id order.
type UserQuery struct {
	Status Status `json:"status,omitempty"`
	Text   string `json:"q,omitempty"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
}

// Normalize checks q and fills its defaults. EINVALID for a bad status, a
// negative offset or a limit out of range.
func (q UserQuery) Normalize() (UserQuery, error) {
	switch {
	case q.Status != "" && !q.Status.Valid():
		return q, Errorf(EINVALID, "unknown status %q (want staged, invited, active, archived or purged)", q.Status)
	case q.Offset < 0:
		return q, Errorf(EINVALID, "offset must not be negative")
	case q.Limit < 0 || q.Limit > MaxUserPage:
		return q, Errorf(EINVALID, "limit must be from 1 to %d", MaxUserPage)
	case q.Limit == 0:
		q.Limit = MaxUserPage
	}
	q.Text = strings.TrimSpace(q.Text)
	return q, nil
}

// Matches reports whether u is one q selects (not counting the page).
func (q UserQuery) Matches(u *User) bool {
	if q.Status != "" && u.Status != q.Status {
		return false
	}
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, f := range []string{u.Email, u.UserPrincipalName, u.DisplayName, u.EntraID} {
		if strings.Contains(strings.ToLower(f), t) {
			return true
		}
	}
	return strconv.FormatInt(u.ID, 10) == q.Text
}

// UserPager reads pages of a tenant's users.
type UserPager interface {
	// UsersPage returns the page of tenantID's users q selects (q
	// normalized) and how many users q selects in all.
	UsersPage(ctx context.Context, tenantID string, q UserQuery) (users []User, total int, err error)
}

// UserPage is one page of users with their effective settings.
type UserPage struct {
	Users  []UserView `json:"users"`
	Total  int        `json:"total"`
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
}

// ListUsersPage is ListUsers a page at a time. ErrTenantNotFound for an
// unknown tenant, EINVALID for a bad query.
func ListUsersPage(ctx context.Context, dir Store, tenantID string, q UserQuery) (UserPage, error) {
	q, err := q.Normalize()
	if err != nil {
		return UserPage{}, err
	}
	settings, err := dir.EffectiveSettings(ctx, tenantID)
	if err != nil {
		return UserPage{}, err
	}
	users, total, err := dir.UsersPage(ctx, tenantID, q)
	if err != nil {
		return UserPage{}, err
	}
	return UserPage{Users: UserViews(users, settings), Total: total, Offset: q.Offset, Limit: q.Limit}, nil
}
