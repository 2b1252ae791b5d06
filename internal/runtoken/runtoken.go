// Package runtoken signs and verifies run tokens: short-lived, run-scoped credentials the
// orchestrator mints for each lease so that a worker can call Model Policy and the memory
// API on the run's tenant's behalf, in every auth mode.
//
// A run token is `art_<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "art_" + payload))>`.
// It is deliberately not a JWT (one dot, a prefix): JWT parsing never sees it, and no
// `alg` header can be chosen by whoever presents it. The key is a service secret shared by
// the orchestrator (which signs) and Model Policy (which verifies); workers never hold it.
package runtoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Prefix starts every run token.
const Prefix = "art_"

// MinKeyLen is the shortest accepted signing key.
const MinKeyLen = 32

// maxLen bounds what Verify decodes: a token is a few hundred bytes.
const maxLen = 4096

// Errors Verify returns, wrapped with detail; callers branch with errors.Is.
var (
	ErrMalformed    = errors.New("run token is malformed")
	ErrBadSignature = errors.New("run token signature is invalid")
	ErrExpired      = errors.New("run token is expired")
)

// Claims are what a run token asserts: the worker holding the lease of attempt Attempt of
// run RunID in tenant TenantID, until Exp (Unix seconds).
type Claims struct {
	TenantID string `json:"tenant_id"`
	RunID    string `json:"run_id"`
	WorkerID string `json:"worker_id"`
	Attempt  int32  `json:"attempt"`
	Exp      int64  `json:"exp"`
}

// verifiedCacheSize bounds the tokens a Signer remembers as verified; the memory starts
// over when it is full.
const verifiedCacheSize = 4096

// Signer signs and verifies run tokens with one key.
type Signer struct {
	key []byte

	// verified holds the claims of tokens whose signature checked out, by the token's
	// exact text: a worker presents one token for every call of a run, and decoding it
	// again each time was most of Verify's cost. Expiry is still checked on every use.
	mu       sync.Mutex
	verified map[string]Claims
}

// New returns a Signer for key, which must be at least MinKeyLen bytes.
func New(key string) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("run token key must be at least %d characters, got %d", MinKeyLen, len(key))
	}
	return &Signer{key: []byte(key)}, nil
}

// Is reports whether token has the shape of a run token (its prefix), so that callers
// can route it here rather than to JWT verification.
func Is(token string) bool { return strings.HasPrefix(token, Prefix) }

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.TenantID == "" || c.RunID == "" || c.Exp == 0 {
		return "", errors.New("sign run token: tenant_id, run_id and exp are required")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign run token: %w", err)
	}
	body := Prefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body)), nil
}

// Verify checks token's signature (in constant time) and that it has not expired at now,
// and returns its claims.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	s.mu.Lock()
	c, ok := s.verified[token]
	s.mu.Unlock()
	if !ok {
		var err error
		if c, err = s.verify(token); err != nil {
			return Claims{}, err
		}
		s.mu.Lock()
		if len(s.verified) >= verifiedCacheSize || s.verified == nil {
			s.verified = make(map[string]Claims)
		}
		s.verified[token] = c
		s.mu.Unlock()
	}
	if now.Unix() >= c.Exp {
		return Claims{}, fmt.Errorf("%w: expired at %s", ErrExpired, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// verify checks token's form and signature and decodes its claims.
func (s *Signer) verify(token string) (Claims, error) {
	if len(token) > maxLen || !Is(token) {
		return Claims{}, ErrMalformed
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(sig, ".") || len(body) == len(Prefix) {
		return Claims{}, ErrMalformed
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(mac, s.mac(body)) {
		return Claims{}, ErrBadSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(Prefix):])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.TenantID == "" || c.RunID == "" || c.Exp == 0 {
		return Claims{}, fmt.Errorf("%w: tenant_id, run_id and exp are required", ErrMalformed)
	}
	return c, nil
}

func (s *Signer) mac(body string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(body))
	return h.Sum(nil)
}
