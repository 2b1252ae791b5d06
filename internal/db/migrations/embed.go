// Package migrations embeds AgentOS's SQL schema migrations, applied by
// db.DB.Migrate through bun/migrate on SQLite and PostgreSQL alike.
//
// # Adding a migration
//
// Add a pair of files named NNNN_name.tx.up.sql and NNNN_name.tx.down.sql,
// where NNNN is the next zero-padded number (names sort as strings). The
// ".tx" infix runs each file in one transaction. Separate statements with a
// line holding only "--bun:split".
//
// Files are Go text/template documents rendered with db's template data, so
// one file serves both backends:
//
//	{{.Timestamp}}   timestamptz on PostgreSQL, timestamp on SQLite
//	{{.Postgres}}    true on PostgreSQL   ({{if .Postgres}}…{{end}})
//	{{.SQLite}}      true on SQLite
//
// JSON documents are stored as text on both backends, so the bytes read back
// are the bytes written (the audit hash chain depends on that).
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
