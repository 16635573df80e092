package sync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// The tenant registry: tenants added, changed and removed while the workers
// run (a vendor onboarding customers of one multi-tenant application). It
// lives in the directory's database and holds no secret: an entry names a
// credential each worker process has configured. Every worker re-reads its
// tenants each poll (WorkerConfig.Refresh), so a change reaches every
// process within one poll, without a restart.

// RegisteredTenant is one entry of the registry.
type RegisteredTenant struct {
	// Name is the tenant's local id: lower-case letters, digits, '-'.
	Name string `json:"name"`
	// EntraTenantID is the customer's directory (tenant) id or domain.
	EntraTenantID string `json:"tenantId"`
	// Credential names a configured credential (never a secret).
	Credential string `json:"credential"`
	// ClientID overrides the credential's client id ("" keeps it).
	ClientID string `json:"clientId,omitempty"`
	// AppID or ServicePrincipalID names the enterprise application read.
	AppID              string `json:"appId,omitempty"`
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
	// Schedule is a cron expression or "@every <duration>" ("" default).
	Schedule string `json:"schedule,omitempty"`
	// Version grows with every change of the entry.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Registry is the directory's tenant registry.
type Registry interface {
	// AddRegisteredTenant adds t (Version 1) and returns it as stored.
	// ECONFLICT when the name is taken, EINVALID for a malformed entry.
	AddRegisteredTenant(ctx context.Context, t RegisteredTenant) (RegisteredTenant, error)
	// UpdateRegisteredTenant replaces the entry named t.Name with t's
	// fields, bumping its version. ENOTFOUND when there is none.
	UpdateRegisteredTenant(ctx context.Context, t RegisteredTenant) (RegisteredTenant, error)
	// RemoveRegisteredTenant deletes the entry, and the tenant's directory
	// rows when nothing refers to them any more (no users, groups or runs):
	// deleted says whether they went. ENOTFOUND when there is no entry.
	RemoveRegisteredTenant(ctx context.Context, name string) (deleted bool, err error)
	// RegisteredTenants lists the entries by name.
	RegisteredTenants(ctx context.Context) ([]RegisteredTenant, error)
}

var (
	registryNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	registryGUIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	registryTIDRE  = regexp.MustCompile(`^[0-9A-Za-z.-]{1,253}$`)
)

// Validate checks the entry's fields (not that its credential exists: the
// configuration knows that) and returns an EINVALID error naming the field.
func (t RegisteredTenant) Validate() error {
	bad := func(field, why string) error {
		return Errorf(EINVALID, "registry: tenant %q: %s: %s", t.Name, field, why)
	}
	switch {
	case !registryNameRE.MatchString(t.Name):
		return bad("name", "lower-case letters, digits and '-', at most 63")
	case !registryTIDRE.MatchString(t.EntraTenantID):
		return bad("tenant id", "required: the customer's directory (tenant) id, a GUID or a domain name")
	case !registryNameRE.MatchString(t.Credential):
		return bad("credential", "required: the name of a configured credential")
	case t.ClientID != "" && !registryGUIDRE.MatchString(t.ClientID):
		return bad("client id", "must be a GUID")
	case t.AppID == "" && t.ServicePrincipalID == "":
		return bad("app id", "an app id or a service principal id is required")
	case t.AppID != "" && t.ServicePrincipalID != "":
		return bad("app id", "give an app id or a service principal id, not both")
	case t.AppID != "" && !registryGUIDRE.MatchString(t.AppID):
		return bad("app id", "must be a GUID")
	case t.ServicePrincipalID != "" && !registryGUIDRE.MatchString(t.ServicePrincipalID):
		return bad("service principal id", "must be a GUID")
	}
	return nil
}

// Onboarding is what adding a tenant needs from the process's
// configuration: whether the entry can be served (its credential exists,
// its schedule parses), and the admin-consent URL for the customer.
type Onboarding interface {
	Onboard(t RegisteredTenant) (consentURL string, err error)
}

// AddedTenant is the outcome of AddTenant.
type AddedTenant struct {
	Tenant RegisteredTenant `json:"tenant"`
	// ConsentURL is what the customer's administrator opens to consent.
	ConsentURL string `json:"consentUrl"`
}

// AddTenant adds t to the registry after ob accepts it, registers it in
// the directory (settings at their defaults) and reconnects it if it was
// removed before. EINVALID for an entry ob or Validate refuses, ECONFLICT
// when the name is taken.
func AddTenant(ctx context.Context, reg Registry, dir interface {
	RegisterTenant(ctx context.Context, t Tenant) error
	Reconnect(ctx context.Context, tenantID string) (bool, error)
}, ob Onboarding, t RegisteredTenant) (AddedTenant, error) {
	if err := t.Validate(); err != nil {
		return AddedTenant{}, err
	}
	url, err := ob.Onboard(t)
	if err != nil {
		return AddedTenant{}, err
	}
	added, err := reg.AddRegisteredTenant(ctx, t)
	if err != nil {
		return AddedTenant{}, err
	}
	if err := dir.RegisterTenant(ctx, Tenant{ID: t.Name, EntraTenantID: t.EntraTenantID, Settings: DefaultTenantSettings()}); err != nil {
		return AddedTenant{}, err
	}
	if _, err := dir.Reconnect(ctx, t.Name); err != nil {
		return AddedTenant{}, err
	}
	return AddedTenant{Tenant: added, ConsentURL: url}, nil
}

// RemovedTenant is the outcome of RemoveTenant.
type RemovedTenant struct {
	Name string `json:"name"`
	// Disconnect is what disconnecting the tenant did (its provisioned
	// users and groups made manual, nobody archived).
	Disconnect DisconnectReport `json:"disconnect"`
	// Deleted says whether the tenant's directory rows went too (nothing
	// referred to them); otherwise they stay, disconnected.
	Deleted bool `json:"deleted"`
}

// RemoveTenant disconnects the registry's tenant name (no cycle runs for it
// from then on) and then deletes its entry, and its directory rows once
// nothing refers to them. ENOTFOUND when the registry has no such entry.
func RemoveTenant(ctx context.Context, reg Registry, admin Admin, name string) (RemovedTenant, error) {
	out := RemovedTenant{Name: name}
	regs, err := reg.RegisteredTenants(ctx)
	if err != nil {
		return out, err
	}
	found := false
	for _, r := range regs {
		found = found || r.Name == name
	}
	if !found {
		return out, Errorf(ENOTFOUND, "registry: no tenant %q in the registry", name)
	}
	rep, err := admin.Disconnect(ctx, name, false)
	if err != nil && !errors.Is(err, ErrTenantNotFound) && !errors.Is(err, ErrTenantDisconnected) {
		return out, fmt.Errorf("registry: disconnect %s: %w", name, err)
	}
	out.Disconnect = rep
	out.Deleted, err = reg.RemoveRegisteredTenant(ctx, name)
	return out, err
}

// SetTenants replaces the tenants the worker serves: new ones are polled
// from the next poll, removed ones are no longer started (a cycle of one
// already running finishes).
func (w *Worker) SetTenants(ts []WorkerTenant) {
	m := make(map[string]WorkerTenant, len(ts))
	order := make([]string, 0, len(ts))
	for _, t := range ts {
		if _, dup := m[t.ID]; dup {
			continue
		}
		m[t.ID] = t
		order = append(order, t.ID)
	}
	w.tmu.Lock()
	w.tenants, w.order = m, order
	w.tmu.Unlock()
}

// refresh asks WorkerConfig.Refresh for the tenants to serve; on failure
// the worker keeps the ones it has.
func (w *Worker) refresh() {
	if w.cfg.Refresh == nil {
		return
	}
	ts, err := w.cfg.Refresh(w.base)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			w.logger.Error("refresh tenants", "err", err)
		}
		return
	}
	w.SetTenants(ts)
}

// Tenants returns the ids of the tenants the worker serves, in order.
func (w *Worker) Tenants() []string {
	w.tmu.RLock()
	defer w.tmu.RUnlock()
	return append([]string(nil), w.order...)
}

// Tenant returns one served tenant.
func (w *Worker) Tenant(id string) (WorkerTenant, bool) {
	w.tmu.RLock()
	defer w.tmu.RUnlock()
	t, ok := w.tenants[id]
	return t, ok
}
