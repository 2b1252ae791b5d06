package features

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
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cucumber/godog"
	"github.com/golang-jwt/jwt/v5"

	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

const (
	jwtIssuer   = "https://issuer.conformance.test"
	jwtAudience = "agentos"
	jwtAdmin    = "agentos:admin"
)

// jwtNode is a second in-process node in jwt auth mode, with RSA and EC keys in a key
// file and an Ed25519 key served as a JWKS.
type jwtNode struct {
	orchURL    string
	adminToken string
	rsa        *rsa.PrivateKey
	ec         *ecdsa.PrivateKey
	ed         ed25519.PrivateKey
	stranger   *rsa.PrivateKey
	pubPEM     []byte
}

func (e *environment) jwtNode() (*jwtNode, error) {
	e.jwtOnce.Do(func() { e.jwt, e.jwtErr = startJWTNode(e) })
	return e.jwt, e.jwtErr
}

func startJWTNode(e *environment) (*jwtNode, error) {
	if !e.inProcess {
		return nil, errors.New("jwt scenarios need the in-process deployment")
	}
	n := &jwtNode{}
	var err error
	if n.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if n.stranger, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if n.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if _, n.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.tmp, "jwt-node")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var keyFile []byte
	for _, pub := range []any{&n.rsa.PublicKey, &n.ec.PublicKey} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, err
		}
		block := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if n.pubPEM == nil {
			n.pubPEM = block
		}
		keyFile = append(keyFile, block...)
	}
	keyPath := filepath.Join(dir, "jwt-keys.pem")
	if err := os.WriteFile(keyPath, keyFile, 0o600); err != nil {
		return nil, err
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": "jwks-ed", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(n.ed.Public().(ed25519.PublicKey)),
	}}})
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))

	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditSink = "none"
	cfg.AdminToken = "adm_" + randomHex(16)
	cfg.AuthMode = config.AuthModeJWT
	cfg.JWTPublicKeyFile = keyPath
	cfg.JWTJWKSURL = jwksSrv.URL
	cfg.JWTIssuer = jwtIssuer
	cfg.JWTAudience = jwtAudience
	cfg.JWTAdminRole = jwtAdmin
	cfg.ShutdownTimeout = 2 * time.Second
	if e.pgBaseURL != "" {
		u, drop, err := createSchema(e.pgBaseURL)
		if err != nil {
			return nil, err
		}
		e.atExit(drop)
		cfg.DatabaseURL = u
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{Services: []string{platform.Orchestrator}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Serve(ctx); close(done) }()
	e.atExit(func() { cancel(); <-done; jwksSrv.Close() })
	n.orchURL = node.URL(platform.Orchestrator)
	n.adminToken = node.AdminToken
	return n, nil
}

func (n *jwtNode) token(alg string, claims jwt.MapClaims) (string, error) {
	base := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		base[k] = v
	}
	switch alg {
	case "RS256":
		return jwt.NewWithClaims(jwt.SigningMethodRS256, base).SignedString(n.rsa)
	case "RS512":
		return jwt.NewWithClaims(jwt.SigningMethodRS512, base).SignedString(n.rsa)
	case "ES256":
		return jwt.NewWithClaims(jwt.SigningMethodES256, base).SignedString(n.ec)
	case "EdDSA":
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, base)
		tok.Header["kid"] = "jwks-ed"
		return tok.SignedString(n.ed)
	}
	return "", fmt.Errorf("unknown algorithm %s", alg)
}

// badToken makes each kind of token that must be refused.
func (n *jwtNode) badToken(kind, tenant string) (string, error) {
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{"tenant_id": tenant, "sub": "mallory", k: v}
		return c
	}
	switch kind {
	case "missing":
		return "", nil
	case "garbage":
		return "garbage.garbage.garbage", nil
	case "expired":
		return n.token("RS256", with("exp", time.Now().Add(-time.Hour).Unix()))
	case "alg none":
		c := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "exp": time.Now().Add(time.Hour).Unix(), "tenant_id": tenant, "sub": "mallory"}
		return jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	case "HS256 signed with public key":
		c := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "exp": time.Now().Add(time.Hour).Unix(), "tenant_id": tenant, "sub": "mallory"}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(n.pubPEM)
	case "wrong audience":
		return n.token("RS256", with("aud", "not-agentos"))
	case "wrong issuer":
		return n.token("RS256", with("iss", "https://evil.test"))
	case "no exp":
		c := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "tenant_id": tenant, "sub": "mallory"}
		return jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(n.rsa)
	case "unknown key":
		c := jwt.MapClaims{"iss": jwtIssuer, "aud": jwtAudience, "exp": time.Now().Add(time.Hour).Unix(), "tenant_id": tenant, "sub": "mallory"}
		return jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(n.stranger)
	}
	return "", fmt.Errorf("unknown bad token kind %q", kind)
}

func (w *world) registerJWT(sc *godog.ScenarioContext) {
	sc.Step(`^a node in jwt mode with a tenant "([^"]*)"$`, func(alias string) error {
		n, err := w.env.jwtNode()
		if err != nil {
			return err
		}
		return w.putTenantAt(n.orchURL, n.adminToken, w.env.tenantID(alias), "", nil, nil)
	})
	sc.Step(`^I ask the jwt node who I am with a (RS256|RS512|ES256|EdDSA) token from the (key file|JWKS) with claims:$`, func(alg, _ string, table *godog.Table) error {
		n, err := w.env.jwtNode()
		if err != nil {
			return err
		}
		claims := jwt.MapClaims{}
		for _, row := range table.Rows {
			k, v := row.Cells[0].Value, row.Cells[1].Value
			if k == "tenant_id" || k == "tid" {
				v = w.env.tenantID(v)
			}
			claims[k] = v
		}
		tok, err := n.token(alg, claims)
		if err != nil {
			return err
		}
		return w.whoami(n.orchURL, creds{token: tok})
	})
	sc.Step(`^I ask the jwt node who I am with a ([a-zA-Z0-9 ]+) token$`, func(kind string) error {
		n, err := w.env.jwtNode()
		if err != nil {
			return err
		}
		tok, err := n.badToken(kind, w.env.tenantID("jwt_tenant"))
		if err != nil {
			return err
		}
		h := http.Header{}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		// Raw, because the generated client refuses to send a request without credentials.
		if err := w.send(http.MethodGet, n.orchURL+"/v1/whoami", h, nil); err != nil {
			return err
		}
		w.clientErr = nil
		return nil
	})
	sc.Step(`^I ask the jwt node who I am as tenant "([^"]*)" without a token$`, func(alias string) error {
		n, err := w.env.jwtNode()
		if err != nil {
			return err
		}
		return w.send(http.MethodGet, n.orchURL+"/v1/whoami", http.Header{"X-Tenant-Id": {w.env.tenantID(alias)}}, nil)
	})
	sc.Step(`^I list tenants on the jwt node with a token (with|without) the admin role$`, func(with string) error {
		n, err := w.env.jwtNode()
		if err != nil {
			return err
		}
		claims := jwt.MapClaims{"tenant_id": w.env.tenantID("jwt_tenant"), "sub": "operator"}
		if with == "with" {
			claims["roles"] = []string{"reader", jwtAdmin}
		} else {
			claims["roles"] = []string{"reader"}
		}
		tok, err := n.token("RS256", claims)
		if err != nil {
			return err
		}
		w.listTenants(n.orchURL, creds{admin: tok})
		return nil
	})
	sc.Step(`^the tenant list contains "([^"]*)"$`, func(alias string) error {
		if w.clientErr != nil {
			return w.clientErr
		}
		if !slices.Contains(w.listing, w.env.tenantID(alias)) {
			return fmt.Errorf("tenant list %v lacks %s", w.listing, w.env.tenantID(alias))
		}
		return nil
	})
}
