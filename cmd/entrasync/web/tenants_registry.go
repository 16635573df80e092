package web

import (
	"encoding/json"
	"net/http"

	"github.com/entrasync/entrasync/sync"
)

// The tenant registry over the API: tenants added, changed and removed
// while the workers run (every worker process picks the change up within
// one poll). The entries hold no secret, only a credential's name.
//
//	GET    /api/v1/registry/tenants          the entries
//	POST   /api/v1/registry/tenants          add one: 201 {tenant, consentUrl}
//	PATCH  /api/v1/registry/tenants/{name}   change the fields given
//	DELETE /api/v1/registry/tenants/{name}   disconnect, then delete

// WithRegistry serves the tenant registry reg, its entries checked (and
// consent URLs made) by ob against this process's configuration.
func (s *Server) WithRegistry(reg sync.Registry, ob sync.Onboarding) *Server {
	s.registry, s.onboard = reg, ob
	return s
}

func (s *Server) registryRoutes(read, admin func(string, func(http.ResponseWriter, *http.Request) error)) {
	read("GET /api/v1/registry/tenants", s.listRegistered)
	admin("POST /api/v1/registry/tenants", s.audited(sync.ActionRegistryAdd, s.addRegistered))
	admin("PATCH /api/v1/registry/tenants/{name}", s.audited(sync.ActionRegistryChange, s.changeRegistered))
	admin("DELETE /api/v1/registry/tenants/{name}", s.audited(sync.ActionRegistryRemove, s.removeRegistered))
}

func (s *Server) needRegistry() error {
	if s.registry == nil || s.onboard == nil {
		return notFound("this process serves no tenant registry")
	}
	return nil
}

// registryBody is the JSON of an entry's fields; absent ones are nil.
type registryBody struct {
	Name               *string `json:"name"`
	TenantID           *string `json:"tenantId"`
	Credential         *string `json:"credential"`
	ClientID           *string `json:"clientId"`
	AppID              *string `json:"appId"`
	ServicePrincipalID *string `json:"servicePrincipalId"`
	Schedule           *string `json:"schedule"`
}

// decodeRegistry reads a registryBody of at most 64 KB, refusing unknown
// fields.
func decodeRegistry(w http.ResponseWriter, r *http.Request) (registryBody, error) {
	var b registryBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, badRequest("the body must be a JSON object of name, tenantId, credential, appId or servicePrincipalId, clientId, schedule: %v", err)
	}
	return b, nil
}

// apply sets the fields given on t; giving one of appId and
// servicePrincipalId clears the other.
func (b registryBody) apply(t *sync.RegisteredTenant) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&t.EntraTenantID, b.TenantID)
	set(&t.Credential, b.Credential)
	set(&t.ClientID, b.ClientID)
	set(&t.Schedule, b.Schedule)
	if b.AppID != nil {
		t.AppID, t.ServicePrincipalID = *b.AppID, ""
	}
	if b.ServicePrincipalID != nil {
		t.ServicePrincipalID, t.AppID = *b.ServicePrincipalID, ""
	}
}

func (s *Server) listRegistered(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRegistry(); err != nil {
		return err
	}
	regs, err := s.registry.RegisteredTenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(regs))
	return nil
}

// addRegistered is POST /api/v1/registry/tenants: 201 with the entry and
// the admin-consent URL; 409 for a name taken, 400 for an entry this
// process cannot serve (an unknown credential, a malformed id).
func (s *Server) addRegistered(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRegistry(); err != nil {
		return err
	}
	b, err := decodeRegistry(w, r)
	if err != nil {
		return err
	}
	var t sync.RegisteredTenant
	if b.Name != nil {
		t.Name = *b.Name
	}
	b.apply(&t)
	added, err := sync.AddTenant(r.Context(), s.registry, s.store, s.onboard, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, added)
	return nil
}

// changeRegistered is PATCH /api/v1/registry/tenants/{name}.
func (s *Server) changeRegistered(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRegistry(); err != nil {
		return err
	}
	b, err := decodeRegistry(w, r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if b.Name != nil && *b.Name != name {
		return badRequest("an entry cannot be renamed: remove it and add it under the new name")
	}
	regs, err := s.registry.RegisteredTenants(r.Context())
	if err != nil {
		return err
	}
	for _, t := range regs {
		if t.Name != name {
			continue
		}
		b.apply(&t)
		if err := t.Validate(); err != nil {
			return err
		}
		if _, err := s.onboard.Onboard(t); err != nil {
			return err
		}
		up, err := s.registry.UpdateRegisteredTenant(r.Context(), t)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, up)
		return nil
	}
	return notFound("no tenant %q in the registry", name)
}

// removeRegistered is DELETE /api/v1/registry/tenants/{name}.
func (s *Server) removeRegistered(w http.ResponseWriter, r *http.Request) error {
	if err := s.needRegistry(); err != nil {
		return err
	}
	rm, err := sync.RemoveTenant(r.Context(), s.registry, s.store, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rm)
	return nil
}
