package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// registryCases are the sync.Registry cases every backend must pass.
var registryCases = []struct {
	name string
	test func(t *testing.T, dir store.Store)
}{
	{"RegistryAddListUpdateRemove", testRegistryLifecycle},
	{"RegistryRemoveDisconnectsAndKeepsReferredTenant", testRegistryRemoveKeeps},
}

const regApp = "33333333-3333-4333-8333-333333333333"

// onboardAll accepts every entry, with a fixed consent URL.
type onboardAll struct{}

func (onboardAll) Onboard(sync.RegisteredTenant) (string, error) {
	return "https://consent.example/x", nil
}

// testRegistryLifecycle: an entry is added (version 1, ECONFLICT for the
// same name, EINVALID for a malformed one), listed by name, updated (its
// version grows and the tenant's Entra id follows), and removed; with
// nothing referring to it its directory rows go too.
func testRegistryLifecycle(t *testing.T, dir store.Store) {
	ctx := context.Background()
	acme := sync.RegisteredTenant{Name: "acme", EntraTenantID: "acme.onmicrosoft.com", Credential: "vendor", AppID: regApp}
	added, err := sync.AddTenant(ctx, dir, dir, onboardAll{}, acme)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if added.Tenant.Version != 1 || added.Tenant.CreatedAt.IsZero() || added.ConsentURL == "" {
		t.Fatalf("added %+v", added)
	}
	_, err = dir.AddRegisteredTenant(ctx, acme)
	wantCode(t, "add twice", err, sync.ECONFLICT, "acme")
	_, err = dir.AddRegisteredTenant(ctx, sync.RegisteredTenant{Name: "Bad Name", EntraTenantID: "x", Credential: "vendor", AppID: regApp})
	wantCode(t, "add a malformed entry", err, sync.EINVALID, "name")
	if _, err := dir.AddRegisteredTenant(ctx, sync.RegisteredTenant{Name: "beta", EntraTenantID: "beta.example", Credential: "vendor", AppID: regApp}); err != nil {
		t.Fatal(err)
	}
	list, err := dir.RegisteredTenants(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "acme" || list[1].Name != "beta" {
		t.Fatalf("list = %+v, %v", list, err)
	}

	acme.EntraTenantID, acme.Schedule = "11111111-2222-4333-8444-555555555555", "@every 5m"
	up, err := dir.UpdateRegisteredTenant(ctx, acme)
	if err != nil || up.Version != 2 || up.Schedule != "@every 5m" || up.EntraTenantID != acme.EntraTenantID {
		t.Fatalf("update = %+v, %v", up, err)
	}
	tx, err := dir.Begin(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	st, err := tx.State(ctx)
	_ = tx.Rollback()
	if err != nil || st.Tenant.EntraTenantID != acme.EntraTenantID {
		t.Fatalf("the tenant's Entra id after update = %q, %v", st.Tenant.EntraTenantID, err)
	}
	_, err = dir.UpdateRegisteredTenant(ctx, sync.RegisteredTenant{Name: "nobody", EntraTenantID: "x", Credential: "vendor", AppID: regApp})
	wantCode(t, "update a missing entry", err, sync.ENOTFOUND, "nobody")

	rm, err := sync.RemoveTenant(ctx, dir, dir, "acme")
	if err != nil || !rm.Deleted {
		t.Fatalf("remove an unused tenant = %+v, %v", rm, err)
	}
	if _, err := dir.Begin(ctx, "acme"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Begin after remove = %v, want ErrTenantNotFound", err)
	}
	_, err = sync.RemoveTenant(ctx, dir, dir, "acme")
	wantCode(t, "remove twice", err, sync.ENOTFOUND, "acme")
	if list, _ := dir.RegisteredTenants(ctx); len(list) != 1 || list[0].Name != "beta" {
		t.Fatalf("list after remove = %+v", list)
	}
}

// testRegistryRemoveKeeps: removing a tenant that was synced disconnects it
// (its provisioned users become manual, nobody archived) and deletes the
// entry; the directory rows that users and runs refer to stay. Adding it
// again reconnects it.
func testRegistryRemoveKeeps(t *testing.T, dir store.Store) {
	ctx := context.Background()
	t1 := sync.RegisteredTenant{Name: "t1", EntraTenantID: "e1", Credential: "vendor", AppID: regApp}
	if _, err := sync.AddTenant(ctx, dir, dir, onboardAll{}, t1); err != nil {
		t.Fatal(err)
	}
	mustCycle(t, dir, snapshot([]sync.EntraUser{user("u1", "u1@x.test")}, []string{"u1"}))
	rm, err := sync.RemoveTenant(ctx, dir, dir, "t1")
	if err != nil || rm.Deleted || rm.Disconnect.UserCount != 1 {
		t.Fatalf("remove a synced tenant = %+v, %v", rm, err)
	}
	if _, err := dir.Begin(ctx, "t1"); !errors.Is(err, sync.ErrTenantDisconnected) {
		t.Fatalf("Begin after remove = %v, want ErrTenantDisconnected", err)
	}
	users, err := dir.Users(ctx, "t1", "")
	if err != nil || len(users) != 1 || users[0].Status == sync.StatusArchived {
		t.Fatalf("users after remove = %+v, %v", users, err)
	}
	if _, err := sync.AddTenant(ctx, dir, dir, onboardAll{}, t1); err != nil {
		t.Fatalf("add again: %v", err)
	}
	tx, err := dir.Begin(ctx, "t1")
	if err != nil {
		t.Fatalf("Begin after adding again = %v", err)
	}
	_ = tx.Rollback()
}
