package web

import (
	"crypto/tls"
	"fmt"
)

// TLSConfig returns the listener's TLS configuration for a PEM certificate
// chain and its private key (worker.tls_cert, worker.tls_key): TLS 1.2 and
// later, HTTP/2 and HTTP/1.1. The error says what is wrong without quoting
// the key.
func TLSConfig(certPEM, keyPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("worker.tls_cert and worker.tls_key are not a certificate and its key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}, nil
}
