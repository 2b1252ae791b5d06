package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-faster/jx"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/apierr"
	"github.com/nexixai/agentos/internal/httpserver"
	"github.com/nexixai/agentos/internal/tenancy"
)

// idempotentOps are the operations that honour Idempotency-Key.
var idempotentOps = map[string]bool{"createRun": true}

// keyLock bounds how long a crashed request can hold a key before another may take over.
const keyLock = time.Minute

// idempotent implements Idempotency-Key (and the body's idempotency_key) in front of the
// generated server, at the HTTP level so that replays are the first answer's exact bytes.
// Keys are scoped to the tenant: the same key and body answer the stored response with
// Idempotent-Replayed: true; another body is a 422; a key whose first request is still
// being processed is a 409. 5xx answers, and 401/403/408/409/429, free the key again.
func (s *Service) idempotent(next http.Handler, findRoute func(method, path string) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := findRoute(r.Method, r.URL.Path)
		if !ok || !idempotentOps[op] {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			httpserver.ErrorHandler(r.Context(), w, r, err) // over the body limit: a 413
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		key, err := idempotencyKey(r.Header.Get("Idempotency-Key"), body)
		if err != nil {
			httpserver.WriteProblem(w, httpserver.ProblemFor(r.Context(), err))
			return
		}
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := s.requestPrincipal(r)
		if !ok {
			next.ServeHTTP(w, r) // the generated server answers the credential problem
			return
		}
		ctx := r.Context()
		hash := requestHash(r.Method, r.URL.Path, body)
		outcome, stored, err := store.BeginKey(ctx, s.db.DB, p.TenantID, key, hash, s.cfg.IdempotencyTTL, keyLock, s.now())
		if err != nil {
			httpserver.WriteProblem(w, httpserver.ProblemFor(ctx, err))
			return
		}
		switch outcome {
		case store.KeyInFlight:
			s.metrics.idempotencyRejects.WithLabelValues("in_flight").Inc()
			httpserver.WriteProblem(w, httpserver.ProblemFor(ctx, apierr.New(apierr.CodeIdempotencyInFlight, "a request with Idempotency-Key %q is still being processed; retry later", key)))
			return
		case store.KeyMismatch:
			s.metrics.idempotencyRejects.WithLabelValues("body_mismatch").Inc()
			httpserver.WriteProblem(w, httpserver.ProblemFor(ctx, apierr.New(apierr.CodeIdempotencyReused, "Idempotency-Key %q was already used with a different request body", key)))
			return
		case store.KeyReplay:
			s.metrics.idempotentReplays.Inc()
			w.Header().Set("Content-Type", stored.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(stored.Status)
			_, _ = w.Write(stored.Body)
			return
		}
		rec := &recordingWriter{ResponseWriter: w}
		finished := false
		defer func() {
			if !finished { // a panic below: free the key so a retry can proceed
				_ = store.ReleaseKey(context.WithoutCancel(ctx), s.db.DB, p.TenantID, key)
			}
		}()
		next.ServeHTTP(rec, r)
		finished = true
		wctx := context.WithoutCancel(ctx)
		if replayable(rec.status) {
			err = store.FinishKey(wctx, s.db.DB, p.TenantID, key, store.StoredResponse{Status: rec.status, ContentType: rec.Header().Get("Content-Type"), Body: rec.body.Bytes()})
		} else {
			err = store.ReleaseKey(wctx, s.db.DB, p.TenantID, key)
		}
		if err != nil {
			httpserver.Logger(ctx).Error("store idempotency key", "error", err)
		}
	})
}

func replayable(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return status < 500
}

// idempotencyKey returns the request's key from the header or the body's
// idempotency_key (which must agree when both are given).
func idempotencyKey(header string, body []byte) (string, error) {
	var fromBody string
	d := jx.DecodeBytes(body)
	if d.Next() == jx.Object {
		_ = d.ObjBytes(func(d *jx.Decoder, k []byte) error {
			if string(k) == "idempotency_key" && d.Next() == jx.String {
				v, err := d.Str()
				fromBody = v
				return err
			}
			return d.Skip()
		})
	}
	key := header
	if key == "" {
		key = fromBody
	} else if fromBody != "" && fromBody != header {
		return "", apierr.InvalidField("idempotency_key", "differs from the Idempotency-Key header")
	}
	if len(key) > 255 || !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", apierr.InvalidField("Idempotency-Key", "must be 1-255 printable characters")
	}
	return key, nil
}

// requestHash identifies a request: method, path and the body as canonical JSON (keys
// sorted, whitespace dropped, without idempotency_key, which the header may carry
// instead), so formatting differences are the same request.
func requestHash(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		if obj, ok := v.(map[string]any); ok {
			delete(obj, "idempotency_key")
		}
		if canon, err := json.Marshal(v); err == nil {
			body = canon
		}
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// requestPrincipal resolves the tenant as the generated server's security will.
func (s *Service) requestPrincipal(r *http.Request) (tenancy.Principal, bool) {
	ctx := r.Context()
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if c, err := s.auth.Bearer(ctx, tok); err == nil {
			p, ok := tenancy.FromContext(c)
			return p, ok && p.TenantID != ""
		}
	}
	if h := r.Header.Get("X-Tenant-Id"); h != "" {
		if c, err := s.auth.TenantHeader(ctx, h); err == nil {
			p, ok := tenancy.FromContext(c)
			return p, ok && p.TenantID != ""
		}
	}
	return tenancy.Principal{}, false
}

// recordingWriter passes a response through and keeps a copy of its status and body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}
