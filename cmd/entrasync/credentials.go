package main

// The credential a tenant obtains Graph tokens with, from the configuration
// (a named entry of credentials:, or the tenant's own client secret) to
// graph.Credential.

import (
	"context"

	"github.com/entrasync/entrasync/config"
	"github.com/entrasync/entrasync/graph"
)

// graphAuth returns t's credential as graph builds it, and the values that
// must never be printed (check's output is scrubbed of them).
func graphAuth(cfg *config.Config, t config.Tenant) (graph.Credential, []string, error) {
	cr, err := cfg.TenantCredential(&t)
	if err != nil {
		return graph.Credential{}, nil, err
	}
	g := graph.Credential{Kind: cr.Kind, Name: cr.Name, ClientID: cr.ClientID, Secret: cr.ClientSecret.Reveal(),
		SendCertificateChain: cr.SendCertificateChain, ResourceID: cr.ResourceID}
	if cr.Certificate != "" {
		g.Certificate = []byte(cr.Certificate.Reveal())
	}
	if cr.CertificatePassword != "" {
		g.CertificatePassword = []byte(cr.CertificatePassword.Reveal())
	}
	if cr.Kind == config.CredentialWorkloadIdentity {
		g.Assertion = func(context.Context) (string, error) { return cr.FederatedToken() }
	}
	return g, []string{cr.ClientSecret.Reveal(), cr.CertificatePassword.Reveal()}, nil
}

// secretSource says how a new client secret reaches t's credential, for
// check's fix of a rejected one.
func secretSource(cfg *config.Config, t config.Tenant) string {
	cr, err := cfg.TenantCredential(&t)
	if err != nil || cr.Kind != config.CredentialSecret {
		return "update the credential"
	}
	if cr.ClientSecretFile != "" {
		return "write it to " + cr.ClientSecretFile
	}
	return "set " + cr.SecretEnv()
}
