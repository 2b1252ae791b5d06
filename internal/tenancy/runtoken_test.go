package tenancy_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/runtoken"
	"github.com/nexixai/agentos/internal/tenancy"
)

const runKey = "run-token-key-0123456789abcdef-0123456789"

func TestAuthenticatorRunTokens(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cfg := baseConfig()
	cfg.PublicKeyFile = pemFile(t, &k.rsa.PublicKey)
	v, err := tenancy.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)
	signer, err := runtoken.New(runKey)
	require.NoError(t, err)
	forger, err := runtoken.New("another-key-0123456789abcdef-0123456789")
	require.NoError(t, err)
	now := time.Now()
	clock := func() time.Time { return now }
	tenants := fakeTenants{"tnt_a": true}
	ctx := context.Background()

	mint := func(s *runtoken.Signer, tenant string, exp time.Time) string {
		t.Helper()
		tok, err := s.Sign(runtoken.Claims{TenantID: tenant, RunID: "run_1", WorkerID: "w-7", Attempt: 2, Exp: exp.Unix()})
		require.NoError(t, err)
		return tok
	}
	valid := mint(signer, "tnt_a", now.Add(30*time.Second))

	for _, mode := range []string{"dev", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var verifier *tenancy.Verifier
			if mode == "jwt" {
				verifier = v
			}
			a, err := tenancy.NewAuthenticator(mode, "admin-token-0123456789", "agentos:admin", verifier, tenants,
				tenancy.WithRunTokens(signer), tenancy.WithClock(clock))
			require.NoError(t, err)

			got, err := a.Bearer(ctx, valid)
			require.NoError(t, err)
			p, ok := tenancy.FromContext(got)
			require.True(t, ok)
			require.Equal(t, tenancy.Principal{TenantID: "tnt_a", PrincipalID: "worker:w-7", AuthMode: mode, Token: valid, RunID: "run_1"}, p)
			require.False(t, p.Admin)

			for name, tok := range map[string]string{
				"expired":      mint(signer, "tnt_a", now.Add(-time.Second)),
				"expires now":  mint(signer, "tnt_a", now),
				"forged":       mint(forger, "tnt_a", now.Add(time.Minute)),
				"tampered":     tamperRunToken(t, valid),
				"malformed":    runtoken.Prefix + "garbage",
				"empty claims": runtoken.Prefix + ".",
			} {
				_, err := a.Bearer(ctx, tok)
				require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err), name)
				require.Contains(t, err.Error(), "run token", "%s: the problem says why", name)
			}
			_, err = a.Bearer(ctx, mint(signer, "tnt_gone", now.Add(time.Minute)))
			require.Equal(t, apierr.CodeTenantNotFound, apierr.CodeOf(err), "an unknown tenant, as for other credentials")

			_, err = a.Admin(ctx, valid)
			require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err), "a run token never grants admin")
		})
	}

	t.Run("jwt still works beside run tokens", func(t *testing.T) {
		t.Parallel()
		a, err := tenancy.NewAuthenticator("jwt", "", "agentos:admin", v, tenants, tenancy.WithRunTokens(signer))
		require.NoError(t, err)
		got, err := a.Bearer(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)))
		require.NoError(t, err)
		p, _ := tenancy.FromContext(got)
		require.Equal(t, "user-1", p.PrincipalID)
		require.Empty(t, p.RunID)
	})

	t.Run("without the key", func(t *testing.T) {
		t.Parallel()
		dev, err := tenancy.NewAuthenticator("dev", "", "agentos:admin", nil, tenants)
		require.NoError(t, err)
		_, err = dev.Bearer(ctx, valid)
		require.ErrorIs(t, err, ogenerrors.ErrSkipServerSecurity, "dev mode ignores bearer tokens it cannot check, as before")

		jwtMode, err := tenancy.NewAuthenticator("jwt", "", "agentos:admin", v, tenants)
		require.NoError(t, err)
		_, err = jwtMode.Bearer(ctx, valid)
		require.Equal(t, apierr.CodeUnauthenticated, apierr.CodeOf(err))
		require.Contains(t, err.Error(), "no run token key")
	})
}

func tamperRunToken(t *testing.T, tok string) string {
	t.Helper()
	b := []byte(tok)
	i := len(runtoken.Prefix) + 3 // a character of the claims
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
