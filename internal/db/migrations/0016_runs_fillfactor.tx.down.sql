{{if .Postgres}}ALTER TABLE runs RESET (fillfactor);{{end}}
