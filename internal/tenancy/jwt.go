package tenancy

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the identity claims AgentOS reads from a verified token.
type Claims struct {
	TenantID    string
	PrincipalID string
	Roles       []string
}

// VerifierConfig configures JWT verification (RFC 8725: explicit algorithm allowlist,
// required exp, aud and iss).
type VerifierConfig struct {
	PublicKeyFile string
	JWKSURL       string
	JWKSRefresh   time.Duration
	Algorithms    []string
	Audience      string
	Issuer        string
	Leeway        time.Duration
	RolesClaim    string
	HTTPClient    *http.Client
	Logger        *slog.Logger
}

// Verifier verifies bearer JWTs against keys from a PEM file and/or a JWKS URL.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	static []publicKey

	mu          sync.RWMutex
	remote      []publicKey
	fetchedAt   time.Time
	lastAttempt time.Time
}

type publicKey struct {
	kid string
	key crypto.PublicKey
}

// NewVerifier loads the key file (if any) and the JWKS (if any) once, failing when neither
// yields a key.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	v := &Verifier{cfg: cfg}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithAudience(cfg.Audience),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	)
	if cfg.PublicKeyFile != "" {
		data, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read jwt public key file: %w", err)
		}
		keys, err := parsePublicKeysPEM(data)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", cfg.PublicKeyFile, err)
		}
		v.static = keys
	}
	if cfg.JWKSURL != "" {
		if err := v.refresh(ctx); err != nil {
			return nil, err
		}
	}
	if len(v.static) == 0 && len(v.remote) == 0 {
		return nil, errors.New("no JWT verification keys configured")
	}
	return v, nil
}

// Verify checks the token's signature, algorithm, exp, aud and iss and returns its
// identity claims.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, errors.New("empty token")
	}
	mc := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys := v.keysFor(ctx, kid, t.Method)
		if len(keys) == 0 {
			return nil, fmt.Errorf("no key for kid %q and alg %s", kid, t.Method.Alg())
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	if err != nil {
		return Claims{}, simplifyJWTError(err)
	}
	c := Claims{
		TenantID:    firstString(mc, "tenant_id", "tid"),
		PrincipalID: firstString(mc, "principal_id", "sub"),
		Roles:       stringList(mc[v.cfg.RolesClaim]),
	}
	return c, nil
}

func simplifyJWTError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("token is expired")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("token audience is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("token issuer is not accepted")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("token misses a required claim: %w", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("token is unverifiable: %w", err)
	}
	return err
}

func (v *Verifier) keysFor(ctx context.Context, kid string, m jwt.SigningMethod) []jwt.VerificationKey {
	match := func(keys []publicKey) []jwt.VerificationKey {
		var out []jwt.VerificationKey
		for _, k := range keys {
			if kid != "" && k.kid != "" && k.kid != kid {
				continue
			}
			if keyFits(k.key, m) {
				out = append(out, k.key)
			}
		}
		return out
	}
	out := match(v.static)
	v.mu.RLock()
	out = append(out, match(v.remote)...)
	stale := v.cfg.JWKSURL != "" && (len(out) == 0 || time.Since(v.fetchedAt) > v.cfg.JWKSRefresh)
	v.mu.RUnlock()
	if stale && v.mayRetry() {
		if err := v.refresh(ctx); err != nil {
			v.cfg.Logger.Warn("jwks refresh failed", "url", v.cfg.JWKSURL, "error", err)
		}
		out = match(v.static)
		v.mu.RLock()
		out = append(out, match(v.remote)...)
		v.mu.RUnlock()
	}
	return out
}

// mayRetry rate-limits JWKS fetches triggered by unknown kids to one per 10 seconds.
func (v *Verifier) mayRetry() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Since(v.lastAttempt) < 10*time.Second && !v.fetchedAt.IsZero() {
		return false
	}
	v.lastAttempt = time.Now()
	return true
}

// keyFits reports whether key's type is the one the signing method needs, so that a
// public key can never be used as an HMAC secret or for another algorithm family.
func keyFits(key crypto.PublicKey, m jwt.SigningMethod) bool {
	switch m.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		return k.Curve.Params().BitSize == m.(*jwt.SigningMethodECDSA).CurveBits
	case *jwt.SigningMethodEd25519:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

func (v *Verifier) refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("build jwks request: %w", err)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read jwks: %w", err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.remote, v.fetchedAt = keys, time.Now()
	v.mu.Unlock()
	return nil
}

// parsePublicKeysPEM parses every PUBLIC KEY (PKIX) or RSA PUBLIC KEY block in data.
func parsePublicKeysPEM(data []byte) ([]publicKey, error) {
	var out []publicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			out = append(out, publicKey{kid: block.Headers["kid"], key: k})
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse rsa public key: %w", err)
			}
			out = append(out, publicKey{kid: block.Headers["kid"], key: k})
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			out = append(out, publicKey{key: c.PublicKey})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block found")
	}
	return out, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JSON Web Key Set; keys of unknown types and encryption keys are skipped.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	var out []publicKey
	for _, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks key %q: %w", k.Kid, err)
		}
		if key != nil {
			out = append(out, publicKey{kid: k.Kid, key: key})
		}
	}
	return out, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err := b64(k.N)
		if err != nil {
			return nil, fmt.Errorf("decode n: %w", err)
		}
		e, err := b64(k.E)
		if err != nil {
			return nil, fmt.Errorf("decode e: %w", err)
		}
		if len(e) > 4 {
			return nil, errors.New("exponent too large")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil {
			return nil, fmt.Errorf("decode x: %w", err)
		}
		y, err := b64(k.Y)
		if err != nil {
			return nil, fmt.Errorf("decode y: %w", err)
		}
		size := (curve.Params().BitSize + 7) / 8
		raw := make([]byte, 1+2*size)
		raw[0] = 4
		copy(raw[1+size-len(x):1+size], x)
		copy(raw[1+2*size-len(y):], y)
		pk, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("invalid EC point: %w", err)
		}
		return pk, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("invalid Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

func firstString(mc jwt.MapClaims, names ...string) string {
	for _, n := range names {
		if s, ok := mc[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
