-- A run's row is updated several times in its life. Room left on each page lets the
-- updates that change no indexed column (event appends: last_seq, last_batch_id) stay
-- on the page as heap-only tuples, with no new entry in any of the table's indexes.
{{if .Postgres}}ALTER TABLE runs SET (fillfactor = 70);{{end}}
