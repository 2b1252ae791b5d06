package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// Run states.
const (
	StatusQueued     = "queued"
	StatusRunning    = "running"
	StatusCancelling = "cancelling"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
	StatusTimedOut   = "timed_out"
)

// Terminal reports whether a run in status has ended.
func Terminal(status string) bool {
	switch status {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusTimedOut:
		return true
	}
	return false
}

// Event types written by the orchestrator; workers write model.* and tool.* events.
const (
	EventQueued     = "run.queued"
	EventStarted    = "run.started"
	EventCancelling = "run.cancelling"
	EventCompleted  = "run.completed"
	EventFailed     = "run.failed"
	EventCancelled  = "run.cancelled"
	EventTimedOut   = "run.timed_out"

	// The worker's step events, which a resumed attempt reads back (StepEvents).
	EventModelMessage = "model.message"
	EventToolCall     = "tool.call"
	EventToolResult   = "tool.result"
)

// Run is a row of the runs table.
type Run struct {
	bun.BaseModel    `bun:"table:runs,alias:r"`
	ID               string     `bun:"id,pk"`
	TenantID         string     `bun:"tenant_id"`
	AgentID          string     `bun:"agent_id"`
	AgentVersion     int64      `bun:"agent_version"`
	Status           string     `bun:"status"`
	Input            string     `bun:"input"`
	Output           *string    `bun:"output"`
	ErrorCode        *string    `bun:"error_code"`
	ErrorMessage     *string    `bun:"error_message"`
	Attempt          int32      `bun:"attempt"`
	MaxAttempts      int32      `bun:"max_attempts"`
	PromptTokens     int64      `bun:"prompt_tokens"`
	CompletionTokens int64      `bun:"completion_tokens"`
	Metadata         string     `bun:"metadata"`
	CreatedAt        time.Time  `bun:"created_at"`
	StartedAt        *time.Time `bun:"started_at"`
	EndedAt          *time.Time `bun:"ended_at"`
	Deadline         *time.Time `bun:"deadline"`
	LastSeq          int64      `bun:"last_seq"`
	LeaseID          *string    `bun:"lease_id"`
	LeaseExpiresAt   *time.Time `bun:"lease_expires_at"`
	WorkerID         *string    `bun:"worker_id"`
	CancelRequested  bool       `bun:"cancel_requested"`
	LastBatchID      *string    `bun:"last_batch_id"`

	// Written holds the events the call that returned the run wrote for it, as stored,
	// where that call knows them (the claim, an end, a fast-path append): the
	// orchestrator hands them to the run's subscribers without reading them back.
	Written []Event `bun:"-"`
}

// Normalize makes times UTC (drivers differ).
func (r *Run) Normalize() {
	r.CreatedAt = utc(r.CreatedAt)
	r.StartedAt = utcPtr(r.StartedAt)
	r.EndedAt = utcPtr(r.EndedAt)
	r.Deadline = utcPtr(r.Deadline)
	r.LeaseExpiresAt = utcPtr(r.LeaseExpiresAt)
}

// MetadataMap decodes the run's metadata.
func (r *Run) MetadataMap() map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(r.Metadata), &m)
	return m
}

// Event is one entry of a run's event log.
type Event struct {
	bun.BaseModel `bun:"table:run_events,alias:e"`
	RunID         string    `bun:"run_id,pk"`
	Seq           int64     `bun:"seq,pk"`
	TenantID      string    `bun:"tenant_id"`
	Type          string    `bun:"type"`
	Data          string    `bun:"data"`
	Time          time.Time `bun:"time"`
}

// NewEvent is an event to append; Data is a JSON object (nil means {}).
type NewEvent struct {
	Type string
	Data json.RawMessage
}

func eventData(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// Quota is a tenant's run limits; zero means unlimited.
type Quota struct {
	MaxActive int64
	QPS       int64
}

// QuotaError says which limit a create hit and when to retry.
type QuotaError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string { return e.Err.Error() }
func (e *QuotaError) Unwrap() error { return e.Err }

// CreateRuns inserts queued runs, each with its run.queued event, in two multi-row
// statements; each run's CreatedAt is its creation time. The caller takes each run's
// quota slot first (TakeSlot) and gives it back if tx does not commit.
func CreateRuns(ctx context.Context, tx bun.IDB, runs []*Run) error {
	events := make([]Event, len(runs))
	for i, r := range runs {
		r.Status = StatusQueued
		r.CreatedAt = utc(r.CreatedAt)
		r.Deadline = utcPtr(r.Deadline)
		r.LastSeq = 1
		if r.Metadata == "" {
			r.Metadata = "{}"
		}
		events[i] = Event{RunID: r.ID, Seq: 1, TenantID: r.TenantID, Type: EventQueued, Time: r.CreatedAt,
			Data: string(eventData(map[string]any{"attempt": 0, "agent_version": r.AgentVersion}))}
	}
	if isPostgres(tx) {
		return createRunsPostgres(ctx, tx, runs, events)
	}
	if _, err := tx.NewInsert().Model(&runs).Exec(ctx); err != nil {
		return fmt.Errorf("insert runs: %w", err)
	}
	if _, err := tx.NewInsert().Model(&events).Exec(ctx); err != nil {
		return fmt.Errorf("insert run events: %w", err)
	}
	return nil
}

// createRunsPostgres is CreateRuns in one prepared statement: the runs and their
// run.queued events from arrays, whatever their number. A queued run's other columns
// are their defaults (no output, error, lease or tokens yet).
func createRunsPostgres(ctx context.Context, tx bun.IDB, runs []*Run, events []Event) error {
	n := len(runs)
	var (
		ids, tenants, agents, inputs, metadata = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                               = make([]int64, n)
		maxAttempts                            = make([]int32, n)
		created                                = make([]time.Time, n)
		deadlines                              = make([]*time.Time, n)
		data                                   = make([]string, n)
	)
	for i, r := range runs {
		ids[i], tenants[i], agents[i], inputs[i], metadata[i] = r.ID, r.TenantID, r.AgentID, r.Input, r.Metadata
		versions[i], maxAttempts[i], created[i], deadlines[i] = r.AgentVersion, r.MaxAttempts, r.CreatedAt, r.Deadline
		data[i] = events[i].Data
	}
	err := pgExec(ctx, tx, `WITH r AS (
		INSERT INTO runs (id, tenant_id, agent_id, agent_version, status, input, max_attempts, metadata, created_at, deadline, last_seq)
		SELECT id, tenant_id, agent_id, agent_version, 'queued', input, max_attempts, metadata, created_at, deadline, 1
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::timestamptz[], $9::timestamptz[])
			AS u(id, tenant_id, agent_id, agent_version, input, max_attempts, metadata, created_at, deadline)
	)
	INSERT INTO run_events (run_id, seq, tenant_id, type, data, time)
	SELECT id, 1, tenant_id, $11, data, created_at
	FROM unnest($1::text[], $2::text[], $10::text[], $8::timestamptz[]) AS e(id, tenant_id, data, created_at)`,
		ids, tenants, agents, versions, inputs, maxAttempts, metadata, created, deadlines, data, EventQueued)
	if err != nil {
		return fmt.Errorf("insert runs: %w", err)
	}
	return nil
}

// TakeSlot reserves one of the tenant's concurrent-run slots and one run creation in the
// current one-second window, or returns a *QuotaError: TakeSlots for one run.
func TakeSlot(ctx context.Context, db bun.IDB, tenantID string, q Quota, now time.Time) error {
	k, qe, err := TakeSlots(ctx, db, tenantID, q, 1, now)
	if err != nil {
		return err
	}
	if k == 0 {
		return qe
	}
	return nil
}

// TakeSlots reserves up to n run slots of the tenant at once (concurrent runs and
// creations in the current one-second window), for a group of creations: it returns how
// many it took and, when that is fewer than n, the *QuotaError the others get.
//
// The tenant's quota row is every creation's and every ending's hot spot, so it is held
// as briefly as can be, apart from the run's own transaction. On PostgreSQL, db is the
// pool, not a transaction: the read, the decision and the write are one statement that
// commits without waiting for its WAL flush (synchronous_commit off; a count lost in a
// crash is repaired by ReconcileSlots), so the row is locked for no round trip at all. On
// SQLite db is a transaction of its own (one writer at a time).
func TakeSlots(ctx context.Context, db bun.IDB, tenantID string, q Quota, n int64, now time.Time) (int64, *QuotaError, error) {
	window := now.Unix()
	maxActive, qps := q.MaxActive, q.QPS
	if maxActive <= 0 {
		maxActive = 1 << 62
	}
	if qps <= 0 {
		qps = 1 << 62
	}
	for range 2 {
		g, found, err := grantSlots(ctx, db, tenantID, n, maxActive, qps, now)
		if err != nil {
			return 0, nil, fmt.Errorf("take run quota: %w", err)
		}
		if !found {
			if _, err := db.NewRaw("INSERT INTO tenant_run_quota (tenant_id) VALUES (?) ON CONFLICT (tenant_id) DO NOTHING", tenantID).Exec(ctx); err != nil {
				return 0, nil, fmt.Errorf("init run quota: %w", err)
			}
			continue
		}
		var qe *QuotaError
		switch {
		case g.K == n:
		case g.Active+g.K >= maxActive:
			qe = &QuotaError{Err: ErrQuotaActive, RetryAfter: time.Second}
		default:
			qe = &QuotaError{Err: ErrQuotaRate, RetryAfter: time.Unix(window+1, 0).Sub(now)}
		}
		return g.K, qe, nil
	}
	return 0, nil, errors.New("take run quota: the quota row keeps changing")
}

// slotGrant is what TakeSlots found (active runs, creations in the current window) and
// granted (K).
type slotGrant struct {
	Active int64 `bun:"active"`
	Used   int64 `bun:"used"`
	K      int64 `bun:"k"`
}

// grantSlots grants up to n slots of the tenant's quota row; found is false when the
// tenant has no row yet.
func grantSlots(ctx context.Context, db bun.IDB, tenantID string, n, maxActive, qps int64, now time.Time) (slotGrant, bool, error) {
	window := now.Unix()
	if isPostgres(db) {
		var g slotGrant
		found, err := pgQueryRow(ctx, db, `WITH cur AS (
			SELECT active, CASE WHEN window_start = $1 THEN window_count ELSE 0 END AS used
			FROM tenant_run_quota WHERE tenant_id = $2 FOR UPDATE
		), g AS (
			SELECT active, used, GREATEST(0, LEAST($3::bigint, $4::bigint - active, $5::bigint - used)) AS k FROM cur
		), u AS (
			UPDATE tenant_run_quota SET active = g.active + g.k, window_start = $1, window_count = g.used + g.k, updated_ms = $6
			FROM g WHERE tenant_id = $2 AND g.k > 0
		)
		SELECT active, used, k FROM g, (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed`,
			[]any{window, tenantID, n, maxActive, qps, now.UnixMilli()}, &g.Active, &g.Used, &g.K)
		return g, found, err
	}
	var cur []struct {
		Active      int64 `bun:"active"`
		WindowStart int64 `bun:"window_start"`
		WindowCount int64 `bun:"window_count"`
	}
	if err := db.NewRaw("SELECT active, window_start, window_count FROM tenant_run_quota WHERE tenant_id = ?", tenantID).Scan(ctx, &cur); err != nil || len(cur) == 0 {
		return slotGrant{}, false, err
	}
	g := slotGrant{Active: cur[0].Active}
	if cur[0].WindowStart == window {
		g.Used = cur[0].WindowCount
	}
	g.K = max(0, min(n, maxActive-g.Active, qps-g.Used))
	if g.K > 0 {
		if _, err := db.NewRaw("UPDATE tenant_run_quota SET active = active + ?, window_start = ?, window_count = ?, updated_ms = ? WHERE tenant_id = ?",
			g.K, window, g.Used+g.K, now.UnixMilli(), tenantID).Exec(ctx); err != nil {
			return slotGrant{}, false, err
		}
	}
	return g, true, nil
}

// ReleaseSlots gives back n concurrent-run slots (runs ended, or their creation
// failed), like TakeSlots in one statement on PostgreSQL (db the pool) and in a
// transaction of its own on SQLite.
func ReleaseSlots(ctx context.Context, db bun.IDB, tenantID string, n int64, now time.Time) error {
	var err error
	if isPostgres(db) { // every run's end: prepared
		err = pgExec(ctx, db, `UPDATE tenant_run_quota SET active = CASE WHEN active > $1 THEN active - $1 ELSE 0 END, updated_ms = $2
			WHERE tenant_id = $3 RETURNING set_config('synchronous_commit', 'off', true)`, n, now.UnixMilli(), tenantID)
	} else {
		_, err = db.NewRaw("UPDATE tenant_run_quota SET active = CASE WHEN active > ? THEN active - ? ELSE 0 END, updated_ms = ? WHERE tenant_id = ?",
			n, n, now.UnixMilli(), tenantID).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("release run quota: %w", err)
	}
	return nil
}

// ReconcileSlots resets the concurrent-run count of tenants idle for quiet (no slot taken
// or given back meanwhile) to their number of active runs, repairing a count left wrong
// by a process that died between taking a slot and committing its run, or between
// ending a run and giving its slot back.
func ReconcileSlots(ctx context.Context, db bun.IDB, quiet time.Duration, now time.Time) (int64, error) {
	res, err := db.NewRaw(`UPDATE tenant_run_quota SET active = (
			SELECT count(*) FROM runs WHERE runs.tenant_id = tenant_run_quota.tenant_id AND runs.status IN (?, ?, ?))
		WHERE updated_ms < ? AND active <> (
			SELECT count(*) FROM runs WHERE runs.tenant_id = tenant_run_quota.tenant_id AND runs.status IN (?, ?, ?))`,
		StatusQueued, StatusRunning, StatusCancelling, now.Add(-quiet).UnixMilli(), StatusQueued, StatusRunning, StatusCancelling).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile run quotas: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// AppendEvents appends events to r's log with the next seqs and updates r.LastSeq, in tx.
// The runs row update serialises appends per run, so seqs are gap-free.
func AppendEvents(ctx context.Context, tx bun.IDB, r *Run, events []NewEvent, now time.Time) (int64, error) {
	if len(events) == 0 {
		return r.LastSeq, nil
	}
	now = utc(now)
	var last int64
	if err := tx.NewRaw("UPDATE runs SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq", len(events), r.ID).Scan(ctx, &last); err != nil {
		return 0, fmt.Errorf("advance run seq: %w", err)
	}
	rows := make([]Event, len(events))
	first := last - int64(len(events)) + 1
	for i, e := range events {
		data := string(e.Data)
		if len(e.Data) == 0 {
			data = "{}"
		}
		rows[i] = Event{RunID: r.ID, Seq: first + int64(i), TenantID: r.TenantID, Type: e.Type, Data: data, Time: now}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return 0, fmt.Errorf("insert run events: %w", err)
	}
	r.LastSeq = last
	return last, nil
}

// insertEvents writes events with seqs after r.LastSeq and advances r.LastSeq; the caller
// holds r locked and stores the new last_seq in the same transaction.
func insertEvents(ctx context.Context, tx bun.IDB, r *Run, events []NewEvent, now time.Time) error {
	return insertRows(ctx, tx, eventRows(r, events, now))
}

// eventRows numbers events after r.LastSeq and advances r.LastSeq.
func eventRows(r *Run, events []NewEvent, now time.Time) []Event {
	rows := make([]Event, len(events))
	for i, e := range events {
		data := string(e.Data)
		if len(e.Data) == 0 {
			data = "{}"
		}
		rows[i] = Event{RunID: r.ID, Seq: r.LastSeq + int64(i) + 1, TenantID: r.TenantID, Type: e.Type, Data: data, Time: utc(now)}
	}
	r.LastSeq += int64(len(events))
	return rows
}

// insertRows inserts event rows in one statement.
func insertRows(ctx context.Context, tx bun.IDB, rows []Event) error {
	if len(rows) == 0 {
		return nil
	}
	if isPostgres(tx) { // a prepared statement, whatever the number of rows
		n := len(rows)
		ids, tenants, types, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs, times := make([]int64, n), make([]time.Time, n)
		for i, e := range rows {
			ids[i], seqs[i], tenants[i], types[i], data[i], times[i] = e.RunID, e.Seq, e.TenantID, e.Type, e.Data, e.Time
		}
		if err := pgExec(ctx, tx, `INSERT INTO run_events (run_id, seq, tenant_id, type, data, time)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])`,
			ids, seqs, tenants, types, data, times); err != nil {
			return fmt.Errorf("insert run events: %w", err)
		}
		return nil
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert run events: %w", err)
	}
	return nil
}

// PostgreSQL notification channels (payload: space-separated run ids; for the queue,
// empty). The orchestrator sends them after commit, coalesced (see stream.Notifier).
const (
	NotifyEvents = "agentos_run_events"
	NotifyQueue  = "agentos_run_queue"
)

// GetRun returns the tenant's run.
func GetRun(ctx context.Context, db bun.IDB, tenantID, runID string) (*Run, error) {
	if isPostgres(db) { // every :wait and every read of a run: prepared
		rows, err := pgLookup(ctx, db, `SELECT `+runColumns+` FROM runs WHERE id = $1 AND tenant_id = $2`, runID, tenantID)
		if err != nil {
			return nil, fmt.Errorf("load run: %w", err)
		}
		runs, err := scanRuns(rows)
		if err != nil {
			return nil, fmt.Errorf("load run: %w", err)
		}
		if len(runs) == 0 {
			return nil, ErrNotFound
		}
		return runs[0], nil
	}
	r := new(Run)
	err := db.NewSelect().Model(r).Where("id = ? AND tenant_id = ?", runID, tenantID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load run: %w", err)
	}
	r.Normalize()
	return r, nil
}

// RunFilter selects runs to list.
type RunFilter struct {
	AgentID       string
	Statuses      []string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// ListRuns pages through the tenant's runs, newest first.
func ListRuns(ctx context.Context, db bun.IDB, tenantID string, f RunFilter, limit int, cursor string) ([]*Run, string, error) {
	var runs []*Run
	q := db.NewSelect().Model(&runs).Where("tenant_id = ?", tenantID)
	if f.AgentID != "" {
		q = q.Where("agent_id = ?", f.AgentID)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("status IN (?)", bun.In(f.Statuses))
	}
	if f.CreatedAfter != nil {
		q = q.Where("created_at > ?", utc(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		q = q.Where("created_at < ?", utc(*f.CreatedBefore))
	}
	if cursor != "" {
		at, id, err := decodeTimeCursor(cursor)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, id)
	}
	if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	next := ""
	if len(runs) > limit {
		runs = runs[:limit]
		last := runs[len(runs)-1]
		next = encodeTimeCursor(utc(last.CreatedAt), last.ID)
	}
	for _, r := range runs {
		r.Normalize()
	}
	return runs, next, nil
}

// lockRun loads a run for update (on PostgreSQL; SQLite's write lock is already held).
func lockRun(ctx context.Context, tx bun.IDB, runID string) (*Run, error) {
	r := new(Run)
	err := forUpdate(tx, tx.NewSelect().Model(r).Where("id = ?", runID)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("lock run: %w", err)
	}
	r.Normalize()
	return r, nil
}

// Transition is a state change of a run, with what the terminal states record.
type Transition struct {
	To           string
	Event        string
	EventData    map[string]any
	Output       *string
	ErrorCode    string
	ErrorMessage string
	Usage        *[2]int64 // prompt, completion tokens to add
	// Before are worker events appended just before the transition's own event.
	Before []NewEvent
}

// apply writes t to r (already locked) and appends its event, in tx. Entering a terminal
// state clears the lease; the caller gives the tenant's quota slot back after commit.
func apply(ctx context.Context, tx bun.IDB, r *Run, t Transition, now time.Time) error {
	rows := transit(r, t, now)
	if err := saveRuns(ctx, tx, []*Run{r}); err != nil {
		return err
	}
	return insertRows(ctx, tx, rows)
}

// transit applies t to r in memory (r is locked, so its values are current) and returns
// the events that record it: t.Before, then t's own event, with r's next seqs.
func transit(r *Run, t Transition, now time.Time) []Event {
	now = utc(now)
	r.Status = t.To
	if Terminal(t.To) {
		r.EndedAt, r.LeaseID, r.LeaseExpiresAt = &now, nil, nil
	}
	if t.Output != nil {
		r.Output = t.Output
	}
	if t.ErrorCode != "" {
		r.ErrorCode, r.ErrorMessage = &t.ErrorCode, &t.ErrorMessage
	}
	if t.Usage != nil {
		r.PromptTokens += t.Usage[0]
		r.CompletionTokens += t.Usage[1]
	}
	if t.To == StatusCancelling {
		r.CancelRequested = true
	}
	data := t.EventData
	if data == nil {
		data = map[string]any{}
	}
	if t.ErrorCode != "" {
		data["error"] = map[string]string{"code": t.ErrorCode, "message": t.ErrorMessage}
	}
	rows := eventRows(r, append(t.Before[:len(t.Before):len(t.Before)], NewEvent{Type: t.Event, Data: eventData(data)}), now)
	r.Written = append(r.Written, rows...)
	return rows
}

// transitionColumns are the columns of a run that a transition changes (transit), which
// saveRuns writes.
var transitionColumns = []string{"status", "ended_at", "lease_id", "lease_expires_at", "worker_id", "output",
	"error_code", "error_message", "prompt_tokens", "completion_tokens", "cancel_requested", "last_seq"}

// saveRunsPostgres is saveRuns in one prepared statement, from arrays.
func saveRunsPostgres(ctx context.Context, tx bun.IDB, runs []*Run) error {
	n := len(runs)
	var (
		ids, statuses                         = make([]string, n), make([]string, n)
		leases, workers, outputs, codes, msgs = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		ended, expires                        = make([]*time.Time, n), make([]*time.Time, n)
		prompt, completion, seqs              = make([]int64, n), make([]int64, n), make([]int64, n)
		cancel                                = make([]bool, n)
	)
	for i, r := range runs {
		ids[i], statuses[i], leases[i], workers[i], outputs[i], codes[i], msgs[i] = r.ID, r.Status, r.LeaseID, r.WorkerID, r.Output, r.ErrorCode, r.ErrorMessage
		ended[i], expires[i] = utcPtr(r.EndedAt), utcPtr(r.LeaseExpiresAt)
		prompt[i], completion[i], seqs[i], cancel[i] = r.PromptTokens, r.CompletionTokens, r.LastSeq, r.CancelRequested
	}
	err := pgLookupExec(ctx, tx, `UPDATE runs SET status = u.status, ended_at = u.ended_at, lease_id = u.lease_id,
			lease_expires_at = u.lease_expires_at, worker_id = u.worker_id, output = u.output, error_code = u.error_code,
			error_message = u.error_message, prompt_tokens = u.prompt_tokens, completion_tokens = u.completion_tokens,
			cancel_requested = u.cancel_requested, last_seq = u.last_seq
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::bigint[], $11::bigint[], $12::bool[], $13::bigint[])
			AS u(id, status, ended_at, lease_id, lease_expires_at, worker_id, output, error_code, error_message,
				prompt_tokens, completion_tokens, cancel_requested, last_seq)
		WHERE runs.id = u.id`,
		ids, statuses, ended, leases, expires, workers, outputs, codes, msgs, prompt, completion, cancel, seqs)
	if err != nil {
		return fmt.Errorf("update runs: %w", err)
	}
	return nil
}

// saveRuns writes the transitionColumns of locked runs: one statement for all of them
// on PostgreSQL, one each on SQLite.
func saveRuns(ctx context.Context, tx bun.IDB, runs []*Run) error {
	if len(runs) == 0 {
		return nil
	}
	if isPostgres(tx) {
		return saveRunsPostgres(ctx, tx, runs)
	}
	for _, r := range runs {
		if _, err := tx.NewUpdate().Model(r).Column(transitionColumns...).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update run: %w", err)
		}
	}
	return nil
}

// CancelRun requests cancellation: a queued run is cancelled at once, a running one
// becomes cancelling. Cancelling a cancelling or cancelled run changes nothing; any other
// ended run is ErrConflict. changed reports whether anything was written.
func CancelRun(ctx context.Context, tx bun.IDB, tenantID, runID string, now time.Time) (*Run, bool, error) {
	r, err := lockRun(ctx, tx, runID)
	if err != nil || r.TenantID != tenantID {
		if err == nil {
			err = ErrNotFound
		}
		return nil, false, err
	}
	switch r.Status {
	case StatusQueued:
		err = apply(ctx, tx, r, Transition{To: StatusCancelled, Event: EventCancelled, EventData: map[string]any{"reason": "cancel_requested"}}, now)
	case StatusRunning:
		err = apply(ctx, tx, r, Transition{To: StatusCancelling, Event: EventCancelling}, now)
	case StatusCancelling, StatusCancelled:
		return r, false, nil
	default:
		return r, false, fmt.Errorf("%w: run is %s", ErrConflict, r.Status)
	}
	return r, err == nil, err
}

// Lease identifies a worker's claim on a run.
type Lease struct {
	ID       string
	Token    int32
	Deadline time.Time
}

// ClaimRuns leases up to n queued runs, oldest first, to workerID until now+ttl, moving
// them to running with attempt+1 and a run.started event each: Claim for one worker.
func ClaimRuns(ctx context.Context, tx bun.IDB, workerID string, n int, ttl time.Duration, now time.Time) ([]*Run, error) {
	runs, err := Claim(ctx, tx, []ClaimRequest{{WorkerID: workerID, N: n}}, ttl, now)
	if err != nil {
		return nil, err
	}
	return runs[0], nil
}

// ClaimRequest asks for up to N runs for a worker.
type ClaimRequest struct {
	WorkerID string
	N        int
}

// Claim leases queued runs, oldest first, for several lease requests at once: runs[i]
// are those of reqs[i], each leased to its worker until now+ttl, moved to running with
// attempt+1 and a run.started event. The oldest runs go to the first requests. On
// PostgreSQL it is one statement, and concurrent claimers skip each other's rows (FOR
// UPDATE SKIP LOCKED).
func Claim(ctx context.Context, tx bun.IDB, reqs []ClaimRequest, ttl time.Duration, now time.Time) ([][]*Run, error) {
	now = utc(now)
	var (
		workers []string // the worker of each slot, in order
		owner   []int    // the request of each slot
	)
	for i, r := range reqs {
		for range r.N {
			workers = append(workers, r.WorkerID)
			owner = append(owner, i)
		}
	}
	var runs []*Run
	var err error
	if isPostgres(tx) {
		runs, err = claimPostgres(ctx, tx, workers, ttl, now)
	} else {
		runs, err = claimEach(ctx, tx, workers, ttl, now)
	}
	if err != nil {
		return nil, err
	}
	out := make([][]*Run, len(reqs))
	for i, r := range runs { // runs[i] went to slot i
		out[owner[i]] = append(out[owner[i]], r)
	}
	return out, nil
}

// claimEach is Claim on SQLite (whose write lock the transaction holds): one update and
// one event per run.
func claimEach(ctx context.Context, tx bun.IDB, workers []string, ttl time.Duration, now time.Time) ([]*Run, error) {
	var ids []string
	err := tx.NewSelect().Model((*Run)(nil)).Column("id").
		Where("status = ?", StatusQueued).
		Where("(deadline IS NULL OR deadline > ?)", now).
		OrderExpr("created_at, id").Limit(int64(len(workers))).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("select queued runs: %w", err)
	}
	out := make([]*Run, 0, len(ids))
	expires := now.Add(ttl)
	for i, id := range ids {
		r := new(Run)
		err := tx.NewUpdate().Model(r).
			Set("status = ?", StatusRunning).
			Set("attempt = attempt + 1").
			Set("lease_id = ?", NewLeaseID(now)).
			Set("lease_expires_at = ?", expires).
			Set("worker_id = ?", workers[i]).
			Set("started_at = COALESCE(started_at, ?)", now).
			Set("last_batch_id = NULL").
			Set("last_seq = last_seq + 1"). // its run.started event, inserted below
			Where("id = ? AND status = ?", id, StatusQueued).
			Returning("*").Scan(ctx)
		if err != nil {
			return nil, fmt.Errorf("lease run: %w", err)
		}
		r.Normalize()
		r.LastSeq-- // eventRows advances it again
		r.Written = eventRows(r, []NewEvent{{Type: EventStarted, Data: eventData(map[string]any{"attempt": r.Attempt, "worker_id": workers[i]})}}, now)
		if err := insertRows(ctx, tx, r.Written); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// claimPostgres is Claim in one statement: the claim, the updates and the run.started
// events, the run in slot i (the i-th oldest claimed) leased to workers[i] with a lease
// id made beforehand.
func claimPostgres(ctx context.Context, tx bun.IDB, workers []string, ttl time.Duration, now time.Time) ([]*Run, error) {
	// Walk the queue index in order (an index scan stops at the limit and marks the
	// entries of runs that left the queue dead as it passes them, so the next scan skips
	// them); a bitmap scan visits every entry, dead ones included, each time, which grows
	// with the number of runs since the last vacuum.
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"); err != nil {
		return nil, fmt.Errorf("plan queue scan: %w", err)
	}
	leases := make([]string, len(workers))
	quoted := make([]string, len(workers)) // as JSON strings, for the events
	for i, w := range workers {
		leases[i] = NewLeaseID(now)
		b, err := json.Marshal(w)
		if err != nil {
			return nil, err
		}
		quoted[i] = string(b)
	}
	rows, err := pgQuery(ctx, tx, `WITH c AS (
		SELECT id, created_at FROM runs
		WHERE status = 'queued' AND (deadline IS NULL OR deadline > $1)
		ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
	), l AS (
		SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM c
	), u AS (
		UPDATE runs AS r SET status = 'running', attempt = r.attempt + 1, lease_id = ($3::text[])[l.rn],
			lease_expires_at = $4, worker_id = ($5::text[])[l.rn], started_at = COALESCE(r.started_at, $1),
			last_batch_id = NULL, last_seq = r.last_seq + 1
		FROM l WHERE r.id = l.id
		RETURNING r.*, l.rn
	), ins AS (
		INSERT INTO run_events (run_id, seq, tenant_id, type, data, time)
		SELECT id, last_seq, tenant_id, 'run.started', '{"attempt":' || attempt || ',"worker_id":' || ($6::text[])[rn] || '}', $1 FROM u
	)
	SELECT `+runColumns+` FROM u ORDER BY rn`,
		now, len(workers), leases, now.Add(ttl), workers, quoted)
	if err != nil {
		return nil, fmt.Errorf("lease runs: %w", err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("lease runs: %w", err)
	}
	for i, r := range runs {
		// the run.started event as the statement wrote it
		r.Written = []Event{{RunID: r.ID, Seq: r.LastSeq, TenantID: r.TenantID, Type: EventStarted, Time: now,
			Data: `{"attempt":` + strconv.Itoa(int(r.Attempt)) + `,"worker_id":` + quoted[i] + `}`}}
	}
	return runs, nil
}

// runColumns are the columns scanRuns reads, in its order.
const runColumns = `id, tenant_id, agent_id, agent_version, status, input, output, error_code, error_message,
	attempt, max_attempts, prompt_tokens, completion_tokens, metadata, created_at, started_at, ended_at, deadline,
	last_seq, lease_id, lease_expires_at, worker_id, cancel_requested, last_batch_id`

// scanRuns reads rows of runColumns and closes rows.
func scanRuns(rows *sql.Rows) ([]*Run, error) {
	defer rows.Close()
	var runs []*Run
	for rows.Next() {
		r := new(Run)
		if err := rows.Scan(&r.ID, &r.TenantID, &r.AgentID, &r.AgentVersion, &r.Status, &r.Input, &r.Output, &r.ErrorCode, &r.ErrorMessage,
			&r.Attempt, &r.MaxAttempts, &r.PromptTokens, &r.CompletionTokens, &r.Metadata, &r.CreatedAt, &r.StartedAt, &r.EndedAt, &r.Deadline,
			&r.LastSeq, &r.LeaseID, &r.LeaseExpiresAt, &r.WorkerID, &r.CancelRequested, &r.LastBatchID); err != nil {
			return nil, err
		}
		r.Normalize()
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// lockLeased loads the run a lease is for and checks the lease is current
// (leaseCurrent).
func lockLeased(ctx context.Context, tx bun.IDB, runID, leaseID string, token int32, now time.Time) (*Run, error) {
	r, err := lockRun(ctx, tx, runID)
	if err != nil {
		return nil, err
	}
	return r, leaseCurrent(r, leaseID, token, now)
}

// leaseCurrent returns ErrLeaseLost unless the lease is r's current one: same lease id
// and fencing token, the run still active, the lease not lapsed.
func leaseCurrent(r *Run, leaseID string, token int32, now time.Time) error {
	if r.LeaseID == nil || *r.LeaseID != leaseID || r.Attempt != token ||
		(r.Status != StatusRunning && r.Status != StatusCancelling) ||
		r.LeaseExpiresAt == nil || !r.LeaseExpiresAt.After(utc(now)) {
		return ErrLeaseLost
	}
	return nil
}

// Heartbeat extends a current lease to now+ttl, in one statement: the lease must be the
// run's current one (same id and fencing token, the run active, the lease not lapsed).
func Heartbeat(ctx context.Context, db bun.IDB, leaseID string, token int32, ttl time.Duration, now time.Time) (*Run, error) {
	now = utc(now)
	r := new(Run)
	err := db.NewUpdate().Model(r).
		Set("lease_expires_at = ?", now.Add(ttl)).
		Where("lease_id = ? AND attempt = ?", leaseID, token).
		Where("status IN (?, ?)", StatusRunning, StatusCancelling).
		Where("lease_expires_at > ?", now).
		Returning("*").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrLeaseLost
	}
	if err != nil {
		return nil, fmt.Errorf("extend lease: %w", err)
	}
	r.Normalize()
	return r, nil
}

// WorkerAppend appends a worker's event batch under its lease. A retried batch (same
// batchID as the last one) is not appended again.
func WorkerAppend(ctx context.Context, tx bun.IDB, runID, leaseID string, token int32, batchID string, events []NewEvent, now time.Time) (*Run, error) {
	r, err := lockLeased(ctx, tx, runID, leaseID, token, now)
	if err != nil {
		return nil, err
	}
	if batchID != "" && r.LastBatchID != nil && *r.LastBatchID == batchID {
		return r, nil
	}
	q := tx.NewUpdate().Model(r).Set("last_seq = ?", r.LastSeq+int64(len(events))).WherePK()
	if batchID != "" {
		q = q.Set("last_batch_id = ?", batchID)
	}
	if _, err := q.Exec(ctx); err != nil {
		return nil, fmt.Errorf("advance run seq: %w", err)
	}
	if err := insertEvents(ctx, tx, r, events, now); err != nil {
		return nil, err
	}
	if batchID != "" {
		r.LastBatchID = &batchID
	}
	return r, nil
}

// AppendLeased appends a batch of worker events in one statement outside any
// transaction, when it can (AppendLeasedMany for one batch). ok is false when the fast
// path does not apply; the caller then uses WorkerAppend in a transaction, which tells
// the cases apart.
func AppendLeased(ctx context.Context, db bun.IDB, runID, leaseID string, token int32, batchID string, events []NewEvent, now time.Time) (*Run, bool, error) {
	runs, err := AppendLeasedMany(ctx, db, []LeasedAppend{{RunID: runID, LeaseID: leaseID, Token: token, BatchID: batchID, Events: events}}, now)
	if err != nil || runs[0] == nil {
		return nil, false, err
	}
	return runs[0], true, nil
}

// LeasedAppend is a batch of events a worker posts under its lease; BatchID (optional)
// makes a retried batch count once.
type LeasedAppend struct {
	RunID, LeaseID string
	Token          int32
	BatchID        string
	Events         []NewEvent
}

// AppendLeasedMany appends the batches of several runs in one statement outside any
// transaction: on PostgreSQL the lease checks, the seq advances and the inserts for all
// of them are one round trip (and one commit) instead of five each (BEGIN, lock,
// update, insert, COMMIT). The rows are locked in id order, as EndLeased locks them.
// runs[i] is the run batches[i] was appended to (its ID, TenantID, LastSeq and
// CancelRequested), or nil where the fast path does not apply: SQLite, an empty batch,
// a second batch for one run, or no row matched (the lease is not current, the run is
// unknown, or the batch was appended already). The caller then uses WorkerAppend in a
// transaction, which tells those cases apart.
func AppendLeasedMany(ctx context.Context, db bun.IDB, batches []LeasedAppend, now time.Time) ([]*Run, error) {
	runs := make([]*Run, len(batches))
	if !isPostgres(db) {
		return runs, nil
	}
	now = utc(now)
	var (
		ids, leases, batchIDs []*string
		tokens, counts        []int64
		idx                   []int64 // the batch of each row of arrays above
		evIdx, evOrd          []int64
		types, datas          []string
	)
	seen := map[string]bool{}
	for i, b := range batches {
		if len(b.Events) == 0 || seen[b.RunID] {
			continue
		}
		seen[b.RunID] = true
		var batch *string
		if b.BatchID != "" {
			batch = &b.BatchID
		}
		ids, leases, batchIDs = append(ids, &b.RunID), append(leases, &b.LeaseID), append(batchIDs, batch)
		tokens, counts, idx = append(tokens, int64(b.Token)), append(counts, int64(len(b.Events))), append(idx, int64(i))
		for k, e := range b.Events {
			data := string(e.Data)
			if len(e.Data) == 0 {
				data = "{}"
			}
			evIdx, evOrd = append(evIdx, int64(i)), append(evOrd, int64(k+1))
			types, datas = append(types, e.Type), append(datas, data)
		}
	}
	if len(ids) == 0 {
		return runs, nil
	}
	rows, err := pgLookup(ctx, db, `WITH b AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[]) AS b(id, lease_id, token, batch_id, n, idx)
	), lk AS MATERIALIZED (
		SELECT id FROM runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
	), r AS (
		UPDATE runs SET last_seq = runs.last_seq + b.n, last_batch_id = COALESCE(b.batch_id, runs.last_batch_id)
		FROM b JOIN lk ON lk.id = b.id
		WHERE runs.id = b.id AND runs.lease_id = b.lease_id AND runs.attempt = b.token
			AND runs.status IN ('running', 'cancelling') AND runs.lease_expires_at > $7
			AND (b.batch_id IS NULL OR runs.last_batch_id IS DISTINCT FROM b.batch_id)
		RETURNING runs.id, runs.tenant_id, runs.last_seq, runs.cancel_requested, b.n, b.idx
	), ins AS (
		INSERT INTO run_events (run_id, seq, tenant_id, type, data, time)
		SELECT r.id, r.last_seq - r.n + e.ord, r.tenant_id, e.type, e.data, $7
		FROM r JOIN unnest($8::bigint[], $9::bigint[], $10::text[], $11::text[]) AS e(idx, ord, type, data) ON e.idx = r.idx
	)
	SELECT id, tenant_id, last_seq, cancel_requested, idx FROM r`,
		ids, leases, tokens, batchIDs, counts, idx, now, evIdx, evOrd, types, datas)
	if err != nil {
		return nil, fmt.Errorf("append run events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := new(Run)
		var i int64
		if err := rows.Scan(&r.ID, &r.TenantID, &r.LastSeq, &r.CancelRequested, &i); err != nil {
			return nil, fmt.Errorf("append run events: %w", err)
		}
		r.Written = eventRows(&Run{ID: r.ID, TenantID: r.TenantID, LastSeq: r.LastSeq - int64(len(batches[i].Events))}, batches[i].Events, now)
		runs[i] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("append run events: %w", err)
	}
	return runs, nil
}

// LeasedEnd is a worker's report that its run ended: completed with Output, or, when
// Failed, failed with the error (cancelled if cancellation was requested), after the
// worker's last Events.
type LeasedEnd struct {
	RunID, LeaseID          string
	Token                   int32
	Failed                  bool
	Output                  string
	ErrorCode, ErrorMessage string
	Usage                   [2]int64
	Events                  []NewEvent
}

func (e LeasedEnd) transition(r *Run) Transition {
	switch {
	case !e.Failed:
		return Transition{To: StatusCompleted, Event: EventCompleted, Output: &e.Output, Usage: &e.Usage, Before: e.Events,
			EventData: map[string]any{"output": e.Output, "usage": map[string]int64{"prompt_tokens": r.PromptTokens + e.Usage[0], "completion_tokens": r.CompletionTokens + e.Usage[1]}}}
	case r.Status == StatusCancelling:
		return Transition{To: StatusCancelled, Event: EventCancelled, Usage: &e.Usage, Before: e.Events, EventData: map[string]any{"reason": "cancel_requested"}}
	default:
		return Transition{To: StatusFailed, Event: EventFailed, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage, Usage: &e.Usage, Before: e.Events}
	}
}

// EndLeased ends the runs of several leases in tx, with one lock, one update and one
// insert of events for all of them on PostgreSQL. runs[i] is the run ends[i] ended and
// errs[i] is nil, or errs[i] says why it did not: ErrNotFound, or ErrLeaseLost (the
// lease is not current; also for a second end of one run in ends). err is a failure of
// the whole.
func EndLeased(ctx context.Context, tx bun.IDB, ends []LeasedEnd, now time.Time) (runs []*Run, errs []error, err error) {
	ids := make([]string, len(ends))
	for i, e := range ends {
		ids[i] = e.RunID
	}
	var locked []*Run
	if isPostgres(tx) { // prepared
		rows, err := pgLookup(ctx, tx, `SELECT `+runColumns+` FROM runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`, ids)
		if err == nil {
			locked, err = scanRuns(rows)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("lock runs: %w", err)
		}
	} else {
		q := tx.NewSelect().Model(&locked).Where("id IN (?)", bun.In(ids)).OrderExpr("id") // one lock order for all groups
		if err := forUpdate(tx, q).Scan(ctx); err != nil {
			return nil, nil, fmt.Errorf("lock runs: %w", err)
		}
	}
	byID := make(map[string]*Run, len(locked))
	for _, r := range locked {
		r.Normalize()
		byID[r.ID] = r
	}
	runs, errs = make([]*Run, len(ends)), make([]error, len(ends))
	var (
		ended []*Run
		rows  []Event
	)
	for i, e := range ends {
		r := byID[e.RunID]
		if r == nil {
			errs[i] = ErrNotFound
			continue
		}
		if errs[i] = leaseCurrent(r, e.LeaseID, e.Token, now); errs[i] != nil {
			continue
		}
		rows = append(rows, transit(r, e.transition(r), now)...)
		runs[i] = r
		ended = append(ended, r)
	}
	if err := saveRuns(ctx, tx, ended); err != nil {
		return nil, nil, err
	}
	if err := insertRows(ctx, tx, rows); err != nil {
		return nil, nil, err
	}
	return runs, errs, nil
}

// EndLeasedRun ends one leased run (EndLeased).
func EndLeasedRun(ctx context.Context, tx bun.IDB, end LeasedEnd, now time.Time) (*Run, error) {
	runs, errs, err := EndLeased(ctx, tx, []LeasedEnd{end}, now)
	if err != nil {
		return nil, err
	}
	return runs[0], errs[0]
}

// Expiry is what a sweep did to one run.
type Expiry struct {
	Run    *Run
	Status string // the new status
}

// ExpireLeases handles up to limit runs whose lease lapsed: a running run goes back to
// the queue (run.queued, attempt kept for the next lease to increment) until it has used
// max_attempts, then fails with lease_expired; a cancelling run is cancelled.
func ExpireLeases(ctx context.Context, tx bun.IDB, limit int, now time.Time) ([]Expiry, error) {
	now = utc(now)
	var ids []string
	q := tx.NewSelect().Model((*Run)(nil)).Column("id").
		Where("status IN (?, ?)", StatusRunning, StatusCancelling).
		Where("lease_expires_at <= ?", now).
		OrderExpr("lease_expires_at").Limit(int64(limit))
	if isPostgres(tx) {
		q = q.For("UPDATE SKIP LOCKED")
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("select lapsed leases: %w", err)
	}
	var out []Expiry
	for _, id := range ids {
		r, err := lockRun(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if (r.Status != StatusRunning && r.Status != StatusCancelling) || r.LeaseExpiresAt == nil || r.LeaseExpiresAt.After(now) {
			continue
		}
		var t Transition
		switch {
		case r.Status == StatusCancelling:
			t = Transition{To: StatusCancelled, Event: EventCancelled, EventData: map[string]any{"reason": "lease_expired"}}
		case r.Attempt >= r.MaxAttempts:
			t = Transition{To: StatusFailed, Event: EventFailed, ErrorCode: "lease_expired",
				ErrorMessage: fmt.Sprintf("the worker's lease lapsed on attempt %d of %d", r.Attempt, r.MaxAttempts)}
		default:
			r.LeaseID, r.LeaseExpiresAt, r.WorkerID = nil, nil, nil // apply writes them
			t = Transition{To: StatusQueued, Event: EventQueued, EventData: map[string]any{"attempt": r.Attempt, "reason": "lease_expired"}}
		}
		if err := apply(ctx, tx, r, t, now); err != nil {
			return nil, err
		}
		out = append(out, Expiry{Run: r, Status: t.To})
	}
	return out, nil
}

// ExpireDeadlines ends up to limit runs whose deadline passed: timed_out, or cancelled
// when cancellation was already requested.
func ExpireDeadlines(ctx context.Context, tx bun.IDB, limit int, now time.Time) ([]Expiry, error) {
	now = utc(now)
	var ids []string
	q := tx.NewSelect().Model((*Run)(nil)).Column("id").
		Where("status IN (?, ?, ?)", StatusQueued, StatusRunning, StatusCancelling).
		Where("deadline IS NOT NULL AND deadline <= ?", now).
		OrderExpr("deadline").Limit(int64(limit))
	if isPostgres(tx) {
		q = q.For("UPDATE SKIP LOCKED")
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("select passed deadlines: %w", err)
	}
	var out []Expiry
	for _, id := range ids {
		r, err := lockRun(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if Terminal(r.Status) {
			continue
		}
		t := Transition{To: StatusTimedOut, Event: EventTimedOut, ErrorCode: "deadline_exceeded", ErrorMessage: "the run's deadline passed"}
		if r.Status == StatusCancelling {
			t = Transition{To: StatusCancelled, Event: EventCancelled, EventData: map[string]any{"reason": "deadline_exceeded"}}
		}
		if err := apply(ctx, tx, r, t, now); err != nil {
			return nil, err
		}
		out = append(out, Expiry{Run: r, Status: t.To})
	}
	return out, nil
}

// ListEvents returns up to limit events of a run with seq > after.
func ListEvents(ctx context.Context, db bun.IDB, runID string, after int64, limit int) ([]Event, error) {
	if isPostgres(db) { // every stream's replay and every feed's read: prepared
		rows, err := pgLookup(ctx, db, `SELECT run_id, seq, tenant_id, type, data, time FROM run_events
	WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, runID, after, limit)
		if err != nil {
			return nil, fmt.Errorf("list run events: %w", err)
		}
		defer rows.Close()
		var evs []Event
		for rows.Next() {
			var e Event
			if err := rows.Scan(&e.RunID, &e.Seq, &e.TenantID, &e.Type, &e.Data, &e.Time); err != nil {
				return nil, fmt.Errorf("list run events: %w", err)
			}
			e.Time = utc(e.Time)
			evs = append(evs, e)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list run events: %w", err)
		}
		return evs, nil
	}
	var evs []Event
	err := db.NewSelect().Model(&evs).Where("run_id = ? AND seq > ?", runID, after).OrderExpr("seq").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list run events: %w", err)
	}
	for i := range evs {
		evs[i].Time = utc(evs[i].Time)
	}
	return evs, nil
}

// StepEvents returns a run's model.message, tool.call and tool.result events in seq
// order: the steps an earlier attempt recorded, for the worker that resumes the run.
func StepEvents(ctx context.Context, db bun.IDB, runID string) ([]Event, error) {
	var evs []Event
	err := db.NewSelect().Model(&evs).Where("run_id = ?", runID).
		Where("type IN (?)", bun.In([]string{EventModelMessage, EventToolCall, EventToolResult})).
		OrderExpr("seq").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list run steps: %w", err)
	}
	for i := range evs {
		evs[i].Time = utc(evs[i].Time)
	}
	return evs, nil
}

// CountByStatus counts runs by status (for metrics).
func CountByStatus(ctx context.Context, db bun.IDB) (map[string]int64, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int64  `bun:"n"`
	}
	if err := db.NewRaw("SELECT status, count(*) AS n FROM runs GROUP BY status").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}
