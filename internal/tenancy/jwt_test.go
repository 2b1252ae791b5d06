package tenancy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/tenancy"
)

type keys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return keys{rsa: r, ec: e, ed: ed}
}

func pemFile(t *testing.T, pubs ...any) string {
	t.Helper()
	var buf []byte
	for _, p := range pubs {
		der, err := x509.MarshalPKIXPublicKey(p)
		require.NoError(t, err)
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	return path
}

func baseConfig() tenancy.VerifierConfig {
	return tenancy.VerifierConfig{
		Algorithms: []string{"RS256", "ES256", "EdDSA"},
		Audience:   "agentos",
		Issuer:     "https://issuer.test",
		Leeway:     time.Second,
		RolesClaim: "roles",
	}
}

func claims(mut func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":       "https://issuer.test",
		"aud":       "agentos",
		"sub":       "user-1",
		"tenant_id": "tnt_a",
		"exp":       time.Now().Add(time.Hour).Unix(),
		"iat":       time.Now().Unix(),
	}
	if mut != nil {
		mut(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestVerifierAcceptsEachAlgorithmFromKeyFile(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cfg := baseConfig()
	cfg.PublicKeyFile = pemFile(t, &k.rsa.PublicKey, &k.ec.PublicKey, k.ed.Public())
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)

	for name, tok := range map[string]string{
		"RS256": sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)),
		"ES256": sign(t, jwt.SigningMethodES256, k.ec, claims(nil)),
		"EdDSA": sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil)),
	} {
		c, err := v.Verify(context.Background(), tok)
		require.NoError(t, err, name)
		require.Equal(t, "tnt_a", c.TenantID, name)
		require.Equal(t, "user-1", c.PrincipalID, name)
	}
}

func TestVerifierClaimFallbacks(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cfg := baseConfig()
	cfg.PublicKeyFile = pemFile(t, &k.rsa.PublicKey)
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)

	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) {
		delete(c, "tenant_id")
		c["tid"] = "tnt_b"
		c["principal_id"] = "svc-9"
		c["roles"] = []string{"agentos:admin", "reader"}
	}))
	c, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "tnt_b", c.TenantID)
	require.Equal(t, "svc-9", c.PrincipalID, "principal_id wins over sub")
	require.Equal(t, []string{"agentos:admin", "reader"}, c.Roles)
}

func TestVerifierRejectsBadTokens(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cfg := baseConfig()
	cfg.PublicKeyFile = pemFile(t, &k.rsa.PublicKey, &k.ec.PublicKey)
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	cases := map[string]string{
		"empty":                      "",
		"garbage":                    "not-a-jwt",
		"three garbage parts":        "aaa.bbb.ccc",
		"expired":                    sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"no exp":                     sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"alg none":                   noneTok,
		"HS256 with public key":      sign(t, jwt.SigningMethodHS256, pubPEM, claims(nil)),
		"HS256 with public key DER":  sign(t, jwt.SigningMethodHS256, pubDER, claims(nil)),
		"wrong audience":             sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"no audience":                sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		"wrong issuer":               sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })),
		"no issuer":                  sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "iss") })),
		"unknown key":                sign(t, jwt.SigningMethodRS256, other, claims(nil)),
		"algorithm outside list":     sign(t, jwt.SigningMethodRS512, k.rsa, claims(nil)),
		"future iat":                 sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })),
		"not before in future":       sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
		"tampered payload":           tamper(sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil))),
		"ES256 signed, RS256 header": swapAlg(sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), "RS256"),
	}
	for name, tok := range cases {
		_, err := v.Verify(context.Background(), tok)
		require.Error(t, err, name)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), "tnt_a", "tnt_z", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func swapAlg(tok, alg string) string {
	parts := strings.Split(tok, ".")
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	parts[0] = base64.RawURLEncoding.EncodeToString(h)
	return strings.Join(parts, ".")
}

func jwksFor(t *testing.T, k keys) []byte {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pad := func(b []byte, n int) []byte {
		out := make([]byte, n)
		copy(out[n-len(b):], b)
		return out
	}
	doc := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "n": b64(k.rsa.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(pad(k.ec.X.Bytes(), 32)), "y": b64(pad(k.ec.Y.Bytes(), 32))},
		{"kty": "OKP", "kid": "d1", "crv": "Ed25519", "x": b64(k.ed.Public().(ed25519.PublicKey))},
	}}
	data, err := json.Marshal(doc)
	require.NoError(t, err)
	return data
}

func TestVerifierJWKS(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	body := jwksFor(t, k)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)

	cfg := baseConfig()
	cfg.JWKSURL = srv.URL
	cfg.JWKSRefresh = time.Minute
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)

	withKid := func(m jwt.SigningMethod, key any, kid string) string {
		tok := jwt.NewWithClaims(m, claims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		require.NoError(t, err)
		return s
	}
	for _, tok := range []string{
		withKid(jwt.SigningMethodRS256, k.rsa, "r1"),
		withKid(jwt.SigningMethodES256, k.ec, "e1"),
		withKid(jwt.SigningMethodEdDSA, k.ed, "d1"),
	} {
		c, err := v.Verify(context.Background(), tok)
		require.NoError(t, err)
		require.Equal(t, "tnt_a", c.TenantID)
	}
	_, err = v.Verify(context.Background(), withKid(jwt.SigningMethodRS256, k.rsa, "e1"))
	require.Error(t, err, "a kid naming an EC key cannot verify an RSA signature")
}

type fakeTenants map[string]bool

func (f fakeTenants) Exists(_ context.Context, id string) (bool, error) { return f[id], nil }

func TestAuthenticatorModes(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cfg := baseConfig()
	cfg.PublicKeyFile = pemFile(t, &k.rsa.PublicKey)
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)
	tenants := fakeTenants{"tnt_a": true}
	ctx := context.Background()

	t.Run("dev", func(t *testing.T) {
		a, err := tenancy.NewAuthenticator("dev", "admin-token-0123456789", "agentos:admin", nil, tenants)
		require.NoError(t, err)
		got, err := a.TenantHeader(ctx, "tnt_a")
		require.NoError(t, err)
		p, ok := tenancy.FromContext(got)
		require.True(t, ok)
		require.Equal(t, "tnt_a", p.TenantID)

		_, err = a.TenantHeader(ctx, "tnt_missing")
		require.Equal(t, apierr.CodeTenantNotFound, apierr.CodeOf(err))
		_, err = a.TenantHeader(ctx, "Bad Tenant!")
		require.Equal(t, apierr.CodeInvalidArgument, apierr.CodeOf(err))
		_, err = a.Bearer(ctx, "whatever")
		require.ErrorIs(t, err, ogenerrors.ErrSkipServerSecurity)

		_, err = a.Admin(ctx, "admin-token-0123456789")
		require.NoError(t, err)
		_, err = a.Admin(ctx, "admin-token-wrong")
		require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err))
	})

	t.Run("jwt", func(t *testing.T) {
		a, err := tenancy.NewAuthenticator("jwt", "admin-token-0123456789", "agentos:admin", v, tenants)
		require.NoError(t, err)
		_, err = a.TenantHeader(ctx, "tnt_a")
		require.True(t, errors.Is(err, ogenerrors.ErrSkipServerSecurity), "X-Tenant-Id alone is not a credential in jwt mode")

		got, err := a.Bearer(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)))
		require.NoError(t, err)
		p, _ := tenancy.FromContext(got)
		require.Equal(t, "tnt_a", p.TenantID)
		require.Equal(t, "user-1", p.PrincipalID)
		require.False(t, p.Admin)

		_, err = a.Bearer(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["tenant_id"] = "tnt_nope" })))
		require.Equal(t, apierr.CodeTenantNotFound, apierr.CodeOf(err))
		_, err = a.Bearer(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "tenant_id") })))
		require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err))
		_, err = a.Bearer(ctx, "garbage")
		require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err))

		_, err = a.Admin(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)))
		require.Equal(t, apierr.CodePermissionDenied, apierr.CodeOf(err), "a valid token without the admin role is forbidden")
		_, err = a.Admin(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["roles"] = "reader agentos:admin" })))
		require.NoError(t, err)
		_, err = a.Admin(ctx, "admin-token-0123456789")
		require.NoError(t, err, "the admin token works in jwt mode too")
	})
}
