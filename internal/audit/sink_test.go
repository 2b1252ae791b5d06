package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

func TestParseSink(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "none", "stdout", "stderr"} {
		s, err := audit.ParseSink(spec)
		require.NoError(t, err, spec)
		require.NotNil(t, s, spec)
		require.NoError(t, s.Close(), spec)
	}
	none, err := audit.ParseSink("none")
	require.NoError(t, err)
	require.NoError(t, none.Write(audit.Record{TenantID: "tnt_a"}))

	for _, spec := range []string{"syslog", "file", "File:/tmp/x", "http://collector"} {
		_, err := audit.ParseSink(spec)
		require.ErrorContains(t, err, `"`+spec+`"`)
	}
	_, err = audit.ParseSink("file:")
	require.ErrorContains(t, err, "empty path")
}

// readLines decodes the JSON lines of the file at path.
func readLines(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestFileSink(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "audit.jsonl")
	rec := audit.Record{
		TenantID: "tnt_a", Seq: 1, Time: t0.Truncate(time.Microsecond), Principal: "usr_1",
		Action: "tenant.put", Resource: "tenants/tnt_a", Outcome: audit.OutcomeSuccess,
		RequestID: "req_1", Detail: map[string]any{"k": "v\nwith newline"}, Hash: "h1",
	}

	s, err := audit.ParseSink("file:" + path)
	require.NoError(t, err)
	require.NoError(t, s.Write(rec))
	rec2 := rec
	rec2.Seq, rec2.PrevHash, rec2.Hash, rec2.Detail = 2, "h1", "h2", nil
	require.NoError(t, s.Write(rec2))
	require.NoError(t, s.Close())

	// A second open appends.
	s, err = audit.ParseSink("file:" + path)
	require.NoError(t, err)
	rec3 := rec2
	rec3.Seq = 3
	require.NoError(t, s.Write(rec3))
	require.NoError(t, s.Close())

	require.Equal(t, []audit.Record{rec, rec2, rec3}, readLines(t, path))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 3, bytes.Count(raw, []byte("\n")), "one record per line")
	require.Contains(t, string(raw), `"tenant_id":"tnt_a"`)
	require.Contains(t, string(raw), `"prev_hash":"h1"`)
}

type failingSink struct{}

func (failingSink) Write(audit.Record) error { return errors.New("disk full") }
func (failingSink) Close() error             { return nil }

func TestLogger(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		sink, err := audit.ParseSink("file:" + path)
		require.NoError(t, err)
		l := audit.New(d, sink, nil)

		// A record tied to another write: Record in the tx, Emit after commit.
		var rec audit.Record
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			rec, err = l.Record(ctx, tx, newRecord("tnt_a", 1))
			return err
		}))
		require.Empty(t, readLines(t, path), "Record does not write to the sink")
		l.Emit(rec)

		// A record on its own.
		denied := newRecord("tnt_a", 2)
		denied.Outcome = audit.OutcomeDenied
		require.NoError(t, l.Log(ctx, denied))
		require.Error(t, l.Log(ctx, audit.Record{TenantID: "tnt_a"}), "invalid records are refused")
		require.NoError(t, l.Close())

		lines := readLines(t, path)
		require.Len(t, lines, 2)
		require.Equal(t, rec.Hash, lines[0].Hash)
		require.EqualValues(t, 2, lines[1].Seq)
		require.Equal(t, audit.OutcomeDenied, lines[1].Outcome)
		require.Equal(t, rec.Hash, lines[1].PrevHash)
		require.Equal(t, lines[1].Hash, func() string { r := lines[1]; return r.ComputeHash() }(),
			"a sink line carries everything needed to recompute its hash")
		require.Nil(t, verify(t, d, ""))
	})
}

func TestLoggerSinkErrorIsLogged(t *testing.T) {
	t.Parallel()
	d := dbtest.SQLite(t)
	var buf bytes.Buffer
	l := audit.New(d, failingSink{}, slog.New(slog.NewJSONHandler(&buf, nil)))

	require.NoError(t, l.Log(context.Background(), newRecord("tnt_a", 1)), "sink errors are not returned")
	require.Contains(t, buf.String(), "disk full")
	require.Contains(t, buf.String(), `"tenant_id":"tnt_a"`)
	require.Nil(t, verify(t, d, ""), "the record is in the database")

	// Defaults: nil sink and nil logger.
	require.NoError(t, audit.New(d, nil, nil).Log(context.Background(), newRecord("tnt_b", 1)))
}
