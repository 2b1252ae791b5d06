package features

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
)

type auditRow struct {
	TenantID  string    `bun:"tenant_id"`
	Seq       int64     `bun:"seq"`
	Time      time.Time `bun:"time"`
	Principal string    `bun:"principal"`
	Action    string    `bun:"action"`
	Resource  string    `bun:"resource"`
	Outcome   string    `bun:"outcome"`
	RequestID string    `bun:"request_id"`
	PrevHash  string    `bun:"prev_hash"`
	Hash      string    `bun:"hash"`
}

func (w *world) auditRows(tenantID string) ([]auditRow, error) {
	if w.env.node == nil {
		return nil, errors.New("audit scenarios need the in-process deployment")
	}
	// Records reach their chain through the outbox shortly after commit; chain them now
	// (the background chainer may hold some: wait until none is left for the tenant).
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := w.env.node.Audit.Flush(context.Background()); err != nil {
			return nil, err
		}
		n, err := w.env.node.DB.NewSelect().Table("audit_outbox").Where("tenant_id = ?", tenantID).Count(context.Background())
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d audit records of %s never left the outbox", n, tenantID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var rows []auditRow
	err := w.env.node.DB.NewRaw(
		"SELECT tenant_id, seq, time, principal, action, resource, outcome, request_id, prev_hash, hash FROM audit_records WHERE tenant_id = ? ORDER BY seq",
		tenantID).Scan(context.Background(), &rows)
	return rows, err
}

func (w *world) registerAudit(sc *godog.ScenarioContext) {
	sc.Step(`^the database holds an audit record "([^"]*)" for tenant "([^"]*)" with outcome "([^"]*)", principal "([^"]*)" and the request id$`,
		func(action, alias, outcome, principal string) error {
			id := w.env.tenantID(alias)
			rows, err := w.auditRows(id)
			if err != nil {
				return err
			}
			if len(rows) != 1 {
				return fmt.Errorf("tenant %s has %d audit records, want exactly 1", id, len(rows))
			}
			r := rows[0]
			if r.Action != action || r.Outcome != outcome || r.Principal != principal || r.Resource != "tenants/"+id {
				return fmt.Errorf("audit record %+v", r)
			}
			if r.RequestID == "" || r.RequestID != w.lastReqID {
				return fmt.Errorf("audit request_id %q, want the request's %q", r.RequestID, w.lastReqID)
			}
			if r.Hash == "" || r.Seq != 1 {
				return fmt.Errorf("audit record not chained: %+v", r)
			}
			return nil
		})
	sc.Step(`^the audit sink holds the same record$`, func() error {
		rows, err := w.auditRows(w.env.tenantID("audited"))
		if err != nil || len(rows) == 0 {
			return fmt.Errorf("no audit rows: %v", err)
		}
		want := rows[len(rows)-1]
		path := strings.TrimPrefix(w.env.cfg.AuditSink, "file:")
		// The sink is written after commit; give it a moment.
		deadline := time.Now().Add(5 * time.Second)
		for {
			found, err := sinkHas(path, want)
			if err != nil {
				return err
			}
			if found {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("audit sink %s lacks record %s/%d", path, want.TenantID, want.Seq)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	sc.Step(`^the audit chain of tenant "([^"]*)" links each record to the previous one$`, func(alias string) error {
		rows, err := w.auditRows(w.tenantRef(alias))
		if err != nil {
			return err
		}
		prev := ""
		for i, r := range rows {
			if r.Seq != int64(i+1) || r.PrevHash != prev {
				return fmt.Errorf("record %d: seq %d prev_hash %q, want seq %d prev_hash %q", i, r.Seq, r.PrevHash, i+1, prev)
			}
			prev = r.Hash
		}
		return nil
	})
	sc.Step(`^tenant "([^"]*)" has (\d+) audit records$`, func(alias string, n int) error {
		id := w.env.tenantID(alias)
		for i := range n {
			if err := w.putTenant(id, fmt.Sprintf("v%d", i), nil, nil); err != nil {
				return err
			}
		}
		rows, err := w.auditRows(id)
		if err != nil {
			return err
		}
		if len(rows) != n {
			return fmt.Errorf("tenant %s has %d audit records, want %d", id, len(rows), n)
		}
		return nil
	})
	sc.Step(`^someone edits the action of audit record (\d+) of tenant "([^"]*)"$`, func(seq int, alias string) error {
		_, err := w.env.node.DB.NewRaw("UPDATE audit_records SET action = 'tenant.tampered' WHERE tenant_id = ? AND seq = ?", w.env.tenantID(alias), seq).Exec(context.Background())
		return err
	})
	sc.Step(`^someone deletes audit record (\d+) of tenant "([^"]*)"$`, func(seq int, alias string) error {
		_, err := w.env.node.DB.NewRaw("DELETE FROM audit_records WHERE tenant_id = ? AND seq = ?", w.env.tenantID(alias), seq).Exec(context.Background())
		return err
	})
	sc.Step(`^someone inserts a forged audit record after record (\d+) of tenant "([^"]*)"$`, func(after int, alias string) error {
		return w.forgeAuditRecord(w.env.tenantID(alias), int64(after))
	})
	sc.Step(`^I run agentos audit verify for tenant "([^"]*)"$`, func(alias string) error {
		return w.runCLI([]string{"audit", "verify", "--tenant", w.env.tenantID(alias), "--data-dir", w.env.cfg.DataDir}, w.nodeEnviron())
	})

	// Configuration.
	sc.Step(`^a configuration file with:$`, func(doc *godog.DocString) error {
		dir, err := os.MkdirTemp(w.env.tmp, "cfg")
		if err != nil {
			return err
		}
		w.configFile = filepath.Join(dir, "agentos.yaml")
		return os.WriteFile(w.configFile, []byte(doc.Content+"\n"), 0o600)
	})
	sc.Step(`^I start agentos serve with that configuration file$`, func() error {
		return w.runServeExpectingFailure([]string{"--config", w.configFile}, nil)
	})
	sc.Step(`^I start agentos serve with environment "([^"]*)"$`, func(kv string) error {
		return w.runServeExpectingFailure(nil, []string{kv})
	})
}

// forgeAuditRecord shifts every record after `after` up by one and inserts a record with
// a self-consistent hash in the gap, as an attacker who can write the table would.
func (w *world) forgeAuditRecord(tenantID string, after int64) error {
	ctx := context.Background()
	rows, err := w.auditRows(tenantID)
	if err != nil {
		return err
	}
	if int(after) > len(rows) || after < 1 {
		return fmt.Errorf("tenant %s has %d records", tenantID, len(rows))
	}
	d := w.env.node.DB
	for i := len(rows) - 1; i >= int(after); i-- {
		if _, err := d.NewRaw("UPDATE audit_records SET seq = seq + 1 WHERE tenant_id = ? AND seq = ?", tenantID, rows[i].Seq).Exec(ctx); err != nil {
			return err
		}
	}
	forged := audit.Record{
		TenantID: tenantID, Seq: after + 1, Time: time.Now().UTC().Truncate(time.Microsecond),
		Principal: "mallory", Action: "tenant.update", Resource: "tenants/" + tenantID, Outcome: "success",
		RequestID: "req_forged", PrevHash: rows[after-1].Hash,
	}
	forged.Hash = forged.ComputeHash()
	_, err = d.NewRaw(
		"INSERT INTO audit_records (tenant_id, seq, time, principal, action, resource, outcome, request_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		forged.TenantID, forged.Seq, forged.Time, forged.Principal, forged.Action, forged.Resource, forged.Outcome, forged.RequestID, "{}", forged.PrevHash, forged.Hash,
	).Exec(ctx)
	return err
}

func sinkHas(path string, want auditRow) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec audit.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return false, fmt.Errorf("audit sink line is not a record: %w", err)
		}
		if rec.TenantID == want.TenantID && rec.Seq == want.Seq {
			if rec.Hash != want.Hash || rec.Action != want.Action || rec.RequestID != want.RequestID {
				return false, fmt.Errorf("sink record %+v differs from the database's %+v", rec, want)
			}
			return true, nil
		}
	}
	return false, sc.Err()
}

// nodeEnviron is the environment under which a CLI command reaches the in-process node's
// database.
func (w *world) nodeEnviron() []string {
	env := []string{}
	if w.env.cfg.DatabaseURL != "" {
		env = append(env, "AGENTOS_DATABASE_URL="+w.env.cfg.DatabaseURL)
	}
	return env
}

func (w *world) runServeExpectingFailure(extraArgs, environ []string) error {
	args := append([]string{"serve", "--data-dir", filepath.Join(w.env.tmp, "serve-"+randomHex(3)),
		"--orchestrator-addr", "127.0.0.1:0", "--modelpolicy-addr", "127.0.0.1:0", "--federation-addr", "127.0.0.1:0"}, extraArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return w.runCLIContext(ctx, args, environ)
}

func (w *world) secondNodeWithClosedDB() error {
	if !w.env.inProcess {
		return errors.New("needs the in-process deployment")
	}
	w.env.secondOnce.Do(func() {
		cfg := config.Defaults()
		cfg.DataDir = filepath.Join(w.env.tmp, "second-node")
		cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.AuditSink = "none"
		cfg.AdminToken = "adm_" + randomHex(16)
		if err := cfg.Validate(); err != nil {
			w.env.secondErr = err
			return
		}
		node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{})
		if err != nil {
			w.env.secondErr = err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = node.Serve(ctx); close(done) }()
		w.env.atExit(func() { cancel(); <-done })
		w.env.secondURLs = map[string]string{
			"orchestrator": node.URL(platform.Orchestrator),
			"modelpolicy":  node.URL(platform.ModelPolicy),
			"federation":   node.URL(platform.Federation),
		}
		w.env.secondErr = node.DB.Close()
	})
	w.secondURLs = w.env.secondURLs
	return w.env.secondErr
}
