package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// MCPServer references an MCP server an agent's tools come from.
type MCPServer struct {
	Transport string            `json:"transport"`
	Command   []string          `json:"command,omitempty"`
	URL       string            `json:"url,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Tools     []string          `json:"tools,omitempty"`
}

// Tool is one tool of an agent definition.
type Tool struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	MCP         *MCPServer      `json:"mcp,omitempty"`
}

// Limits bound a run of the agent; zero means unlimited.
type Limits struct {
	MaxSteps       int32 `json:"max_steps,omitempty"`
	MaxTokens      int64 `json:"max_tokens,omitempty"`
	TimeoutSeconds int32 `json:"timeout_seconds,omitempty"`
}

// AgentSpec is an agent definition, stored as one immutable version.
type AgentSpec struct {
	Model        string            `json:"model"`
	Instructions string            `json:"instructions"`
	Tools        []Tool            `json:"tools"`
	Limits       Limits            `json:"limits"`
	Labels       map[string]string `json:"labels"`
	Description  string            `json:"description"`
}

// Agent is one version of an agent.
type Agent struct {
	ID        string
	Version   int64
	Spec      AgentSpec
	CreatedAt time.Time // of the agent
	UpdatedAt time.Time // of this version
}

// canonical encodes a spec deterministically (sorted keys, compacted tool schemas), so
// equal definitions compare equal as bytes.
func (s AgentSpec) canonical() ([]byte, error) {
	if s.Tools == nil {
		s.Tools = []Tool{}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	tools := make([]Tool, len(s.Tools))
	for i, t := range s.Tools {
		if len(t.Parameters) > 0 {
			var v any
			if err := json.Unmarshal(t.Parameters, &v); err != nil {
				return nil, fmt.Errorf("tools[%d].parameters: %w", i, err)
			}
			norm, err := json.Marshal(v) // maps marshal with sorted keys
			if err != nil {
				return nil, err
			}
			t.Parameters = norm
		}
		tools[i] = t
	}
	s.Tools = tools
	return json.Marshal(s)
}

type agentRow struct {
	bun.BaseModel `bun:"table:agents,alias:a"`
	TenantID      string     `bun:"tenant_id,pk"`
	ID            string     `bun:"id,pk"`
	LatestVersion int64      `bun:"latest_version"`
	CreatedAt     time.Time  `bun:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at"`
	DeletedAt     *time.Time `bun:"deleted_at"`
}

type agentVersionRow struct {
	bun.BaseModel `bun:"table:agent_versions"`
	TenantID      string    `bun:"tenant_id,pk"`
	AgentID       string    `bun:"agent_id,pk"`
	Version       int64     `bun:"version,pk"`
	Spec          string    `bun:"spec"`
	CreatedAt     time.Time `bun:"created_at"`
}

// PutAgent stores spec as the agent's next version, unless it equals the latest one.
// created reports a new agent (also one re-created after a deletion).
func PutAgent(ctx context.Context, db bun.IDB, tenantID, id string, spec AgentSpec, now time.Time) (Agent, bool, error) {
	now = utc(now)
	canon, err := spec.canonical()
	if err != nil {
		return Agent{}, false, err
	}
	var row agentRow
	err = forUpdate(db, db.NewSelect().Model(&row).Where("tenant_id = ? AND id = ?", tenantID, id)).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		row = agentRow{TenantID: tenantID, ID: id, LatestVersion: 1, CreatedAt: now, UpdatedAt: now}
		if _, err := db.NewInsert().Model(&row).Exec(ctx); err != nil {
			return Agent{}, false, fmt.Errorf("insert agent: %w", err)
		}
		if err := insertVersion(ctx, db, tenantID, id, 1, canon, now); err != nil {
			return Agent{}, false, err
		}
		if err := replaceLabels(ctx, db, tenantID, id, spec.Labels); err != nil {
			return Agent{}, false, err
		}
		return Agent{ID: id, Version: 1, Spec: mustDecode(canon), CreatedAt: now, UpdatedAt: now}, true, nil
	case err != nil:
		return Agent{}, false, fmt.Errorf("load agent: %w", err)
	}
	if row.DeletedAt == nil {
		latest, err := getVersion(ctx, db, tenantID, id, row.LatestVersion)
		if err != nil {
			return Agent{}, false, err
		}
		if bytes.Equal([]byte(latest.Spec), canon) {
			return Agent{ID: id, Version: row.LatestVersion, Spec: mustDecode(canon), CreatedAt: utc(row.CreatedAt), UpdatedAt: utc(latest.CreatedAt)}, false, nil
		}
	}
	created := row.DeletedAt != nil
	version := row.LatestVersion + 1
	q := db.NewUpdate().Model((*agentRow)(nil)).
		Set("latest_version = ?", version).
		Set("updated_at = ?", now).
		Set("deleted_at = NULL").
		Where("tenant_id = ? AND id = ?", tenantID, id)
	createdAt := utc(row.CreatedAt)
	if created {
		q = q.Set("created_at = ?", now)
		createdAt = now
	}
	if _, err := q.Exec(ctx); err != nil {
		return Agent{}, false, fmt.Errorf("update agent: %w", err)
	}
	if err := insertVersion(ctx, db, tenantID, id, version, canon, now); err != nil {
		return Agent{}, false, err
	}
	if err := replaceLabels(ctx, db, tenantID, id, spec.Labels); err != nil {
		return Agent{}, false, err
	}
	return Agent{ID: id, Version: version, Spec: mustDecode(canon), CreatedAt: createdAt, UpdatedAt: now}, created, nil
}

func mustDecode(canon []byte) AgentSpec {
	var s AgentSpec
	_ = json.Unmarshal(canon, &s)
	return s
}

func insertVersion(ctx context.Context, db bun.IDB, tenantID, id string, version int64, canon []byte, now time.Time) error {
	_, err := db.NewInsert().Model(&agentVersionRow{TenantID: tenantID, AgentID: id, Version: version, Spec: string(canon), CreatedAt: now}).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert agent version: %w", err)
	}
	return nil
}

func replaceLabels(ctx context.Context, db bun.IDB, tenantID, id string, labels map[string]string) error {
	if _, err := db.NewDelete().TableExpr("agent_labels").Where("tenant_id = ? AND agent_id = ?", tenantID, id).Exec(ctx); err != nil {
		return fmt.Errorf("clear agent labels: %w", err)
	}
	if len(labels) == 0 {
		return nil
	}
	type labelRow struct {
		bun.BaseModel `bun:"table:agent_labels"`
		TenantID      string `bun:"tenant_id"`
		AgentID       string `bun:"agent_id"`
		Key           string `bun:"key"`
		Value         string `bun:"value"`
	}
	rows := make([]labelRow, 0, len(labels))
	for k, v := range labels {
		rows = append(rows, labelRow{TenantID: tenantID, AgentID: id, Key: k, Value: v})
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert agent labels: %w", err)
	}
	return nil
}

func getVersion(ctx context.Context, db bun.IDB, tenantID, id string, version int64) (agentVersionRow, error) {
	var v agentVersionRow
	err := db.NewSelect().Model(&v).Where("tenant_id = ? AND agent_id = ? AND version = ?", tenantID, id, version).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("load agent version: %w", err)
	}
	return v, nil
}

// LatestAgent returns the latest version of a live agent in one query (for run creation).
func LatestAgent(ctx context.Context, db bun.IDB, tenantID, id string) (Agent, error) {
	var row struct {
		Version   int64     `bun:"version"`
		Spec      string    `bun:"spec"`
		CreatedAt time.Time `bun:"created_at"`
		UpdatedAt time.Time `bun:"updated_at"`
	}
	const query = `SELECT v.version, v.spec, a.created_at, v.created_at AS updated_at
		FROM agents a JOIN agent_versions v ON v.tenant_id = a.tenant_id AND v.agent_id = a.id AND v.version = a.latest_version
		WHERE a.tenant_id = %s AND a.id = %s AND a.deleted_at IS NULL`
	var err error
	if isPostgres(db) { // every run creation reads it: a prepared statement (prepared.go)
		var found bool
		found, err = pgQueryRow(ctx, db, fmt.Sprintf(query, "$1", "$2"), []any{tenantID, id}, &row.Version, &row.Spec, &row.CreatedAt, &row.UpdatedAt)
		if err == nil && !found {
			err = sql.ErrNoRows
		}
	} else {
		err = db.NewRaw(fmt.Sprintf(query, "?", "?"), tenantID, id).Scan(ctx, &row)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, ErrNotFound
	}
	if err != nil {
		return Agent{}, fmt.Errorf("load agent: %w", err)
	}
	var spec AgentSpec
	if err := json.Unmarshal([]byte(row.Spec), &spec); err != nil {
		return Agent{}, fmt.Errorf("decode agent spec: %w", err)
	}
	return Agent{ID: id, Version: row.Version, Spec: spec, CreatedAt: utc(row.CreatedAt), UpdatedAt: utc(row.UpdatedAt)}, nil
}

// EverExisted reports whether the tenant has, or had, an agent with this id.
func EverExisted(ctx context.Context, db bun.IDB, tenantID, id string) (bool, error) {
	return db.NewSelect().Model((*agentRow)(nil)).Where("tenant_id = ? AND id = ?", tenantID, id).Exists(ctx)
}

// GetAgent returns the agent at version (0 = latest). A deleted agent is not found.
func GetAgent(ctx context.Context, db bun.IDB, tenantID, id string, version int64) (Agent, error) {
	var row agentRow
	err := db.NewSelect().Model(&row).Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, ErrNotFound
	}
	if err != nil {
		return Agent{}, fmt.Errorf("load agent: %w", err)
	}
	if version == 0 {
		version = row.LatestVersion
	}
	if version > row.LatestVersion {
		return Agent{}, ErrNotFound
	}
	return AgentVersion(ctx, db, tenantID, id, version, utc(row.CreatedAt))
}

// AgentVersion returns one stored version, also of a deleted agent (runs keep theirs).
func AgentVersion(ctx context.Context, db bun.IDB, tenantID, id string, version int64, createdAt time.Time) (Agent, error) {
	v, err := getVersion(ctx, db, tenantID, id, version)
	if err != nil {
		return Agent{}, err
	}
	var spec AgentSpec
	if err := json.Unmarshal([]byte(v.Spec), &spec); err != nil {
		return Agent{}, fmt.Errorf("decode agent spec: %w", err)
	}
	if createdAt.IsZero() {
		createdAt = utc(v.CreatedAt)
	}
	return Agent{ID: id, Version: version, Spec: spec, CreatedAt: createdAt, UpdatedAt: utc(v.CreatedAt)}, nil
}

// DeleteAgent marks an agent deleted; its versions stay.
func DeleteAgent(ctx context.Context, db bun.IDB, tenantID, id string, now time.Time) error {
	res, err := db.NewUpdate().Model((*agentRow)(nil)).Set("deleted_at = ?", utc(now)).
		Where("tenant_id = ? AND id = ? AND deleted_at IS NULL", tenantID, id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete agent: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := db.NewDelete().TableExpr("agent_labels").Where("tenant_id = ? AND agent_id = ?", tenantID, id).Exec(ctx); err != nil {
		return fmt.Errorf("clear agent labels: %w", err)
	}
	return nil
}

// ListAgents pages through the tenant's live agents, most recently changed first,
// keeping those that carry every label in labels.
func ListAgents(ctx context.Context, db bun.IDB, tenantID string, limit int, cursor string, labels map[string]string) ([]Agent, string, error) {
	q := db.NewSelect().Model((*agentRow)(nil)).Column("id", "latest_version", "created_at", "updated_at").
		Where("tenant_id = ? AND deleted_at IS NULL", tenantID)
	if cursor != "" {
		at, id, err := decodeTimeCursor(cursor)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		q = q.Where("(updated_at < ? OR (updated_at = ? AND id < ?))", at, at, id)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q = q.Where("EXISTS (SELECT 1 FROM agent_labels l WHERE l.tenant_id = a.tenant_id AND l.agent_id = a.id AND l.key = ? AND l.value = ?)", k, labels[k])
	}
	var rows []agentRow
	if err := q.OrderExpr("updated_at DESC, id DESC").Limit(int64(limit+1)).Scan(ctx, &rows); err != nil {
		return nil, "", fmt.Errorf("list agents: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeTimeCursor(utc(last.UpdatedAt), last.ID)
	}
	out := make([]Agent, 0, len(rows))
	for _, r := range rows {
		a, err := AgentVersion(ctx, db, tenantID, r.ID, r.LatestVersion, utc(r.CreatedAt))
		if err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, next, nil
}

func encodeTimeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "|" + id))
}

func decodeTimeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	micros, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" {
		return time.Time{}, "", errors.New("malformed cursor")
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", err
	}
	return time.UnixMicro(n).UTC(), id, nil
}
