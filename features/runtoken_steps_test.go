package features

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/runtoken"
)

// accessClaims decodes the claims of the lease's run token (without verifying it).
func (w *world) accessClaims() (runtoken.Claims, error) {
	var claims runtoken.Claims
	if w.lease == nil {
		return claims, errors.New("no lease (add: a test worker has leased the run)")
	}
	tok, ok := w.lease.Lease.AccessToken.Get()
	if !ok || !runtoken.Is(tok) {
		return claims, fmt.Errorf("the lease carries no run token as access_token: %q", tok)
	}
	body, _, _ := strings.Cut(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(body, runtoken.Prefix))
	if err != nil {
		return claims, fmt.Errorf("decode the access token's claims: %w", err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return claims, fmt.Errorf("decode the access token's claims: %w", err)
	}
	return claims, nil
}

// accessToken is the lease's run token, changed as a step names.
func (w *world) accessToken(change string) (string, error) {
	claims, err := w.accessClaims()
	if err != nil {
		return "", err
	}
	tok := w.lease.Lease.AccessToken.Or("")
	body, sig, _ := strings.Cut(tok, ".")
	switch change {
	case "":
		return tok, nil
	case "with its tenant changed":
		claims.TenantID = w.env.defaultTenant
		edited, _ := json.Marshal(claims)
		return runtoken.Prefix + base64.RawURLEncoding.EncodeToString(edited) + "." + sig, nil
	case "signed with another key":
		var key [32]byte
		_, _ = rand.Read(key[:])
		s, err := runtoken.New(hex.EncodeToString(key[:]))
		if err != nil {
			return "", err
		}
		return s.Sign(claims)
	case "cut short":
		return body, nil
	}
	return "", fmt.Errorf("unknown change %q", change)
}

func (w *world) registerRunTokenSteps(sc *godog.ScenarioContext) {
	const changed = `(?: (with its tenant changed|signed with another key|cut short))?`
	var beat *orchestratorapi.HeartbeatResult

	sc.Step(`^I ask the orchestrator who I am with the lease's access token`+changed+`$`, func(change string) error {
		tok, err := w.accessToken(change)
		if err != nil {
			return err
		}
		return w.whoami(w.env.urls["orchestrator"], creds{token: tok})
	})
	sc.Step(`^I am the run's tenant as principal "([^"]*)"$`, func(principal string) error {
		if w.clientErr != nil {
			return fmt.Errorf("whoami failed: %w", w.clientErr)
		}
		if w.caller.TenantID != w.run.TenantID || w.caller.PrincipalID != principal {
			return fmt.Errorf("caller %+v, want tenant %s principal %s", *w.caller, w.run.TenantID, principal)
		}
		return nil
	})
	listModels := func(tok string) error {
		c, err := w.mpClient(w.env.urls["modelpolicy"], mpCreds{token: tok})
		if err != nil {
			return err
		}
		_, err = c.ListModels(context.Background())
		w.noteErr(err)
		return nil
	}
	sc.Step(`^I list Model Policy's models with the lease's access token`+changed+`$`, func(change string) error {
		tok, err := w.accessToken(change)
		if err != nil {
			return err
		}
		return listModels(tok)
	})
	sc.Step(`^the call succeeded$`, func() error { return w.clientErr })
	sc.Step(`^the problem says "([^"]*)"$`, func(want string) error {
		if w.problem == nil || !strings.Contains(w.problem.Detail, want) {
			return fmt.Errorf("problem %+v does not say %q", w.problem, want)
		}
		return nil
	})
	sc.Step(`^I remember "([^"]*)" as "([^"]*)" with the lease's access token$`, func(value, ref string) error {
		tok, err := w.accessToken("")
		if err != nil {
			return err
		}
		c, err := w.orch(w.env.urls["orchestrator"], creds{token: tok})
		if err != nil {
			return err
		}
		ns, key := splitRef(ref)
		_, err = c.PutMemory(context.Background(), &orchestratorapi.MemoryInput{Value: value}, orchestratorapi.PutMemoryParams{Namespace: ns, Key: key})
		return err
	})
	sc.Step(`^I list the tenant's agents with the lease's access token$`, func() error {
		tok, err := w.accessToken("")
		if err != nil {
			return err
		}
		c, err := w.orch(w.env.urls["orchestrator"], creds{token: tok})
		if err != nil {
			return err
		}
		_, err = c.ListAgents(context.Background(), orchestratorapi.ListAgentsParams{})
		w.noteErr(err)
		return nil
	})
	sc.Step(`^I list tenants with the lease's access token as the admin credential$`, func() error {
		tok, err := w.accessToken("")
		if err != nil {
			return err
		}
		w.listTenants(w.env.urls["orchestrator"], creds{admin: tok})
		return nil
	})
	sc.Step(`^the lease's access token expires with the lease$`, func() error {
		c, err := w.accessClaims()
		if err != nil {
			return err
		}
		// exp is the lease's expiry rounded up to the second; expires_at is sent in whole
		// seconds too.
		if d := time.Unix(c.Exp, 0).Sub(w.lease.Lease.ExpiresAt); d < 0 || d > time.Second {
			return fmt.Errorf("token exp %s, lease expires_at %s", time.Unix(c.Exp, 0).UTC(), w.lease.Lease.ExpiresAt.UTC())
		}
		return nil
	})
	sc.Step(`^the worker stops heartbeating until the lease's access token expires$`, func() error {
		c, err := w.accessClaims()
		if err != nil {
			return err
		}
		time.Sleep(time.Until(time.Unix(c.Exp, 0)) + 200*time.Millisecond)
		return nil
	})
	sc.Step(`^the worker heartbeats after (\d+) ms$`, func(ms int) error {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		var err error
		beat, err = w.heartbeat(w.lease)
		return err
	})
	sc.Step(`^the heartbeat's access token differs from the lease's and Model Policy accepts it$`, func() error {
		tok, ok := beat.AccessToken.Get()
		if !ok || !runtoken.Is(tok) {
			return fmt.Errorf("the heartbeat carries no run token: %q", tok)
		}
		if tok == w.lease.Lease.AccessToken.Or("") {
			return errors.New("the heartbeat's token is the lease's: it should expire with the extended lease")
		}
		if err := listModels(tok); err != nil {
			return err
		}
		return w.clientErr
	})
}
