package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nexixai/agentos/internal/apierr"
)

// Mux serves /metrics beside a service's wrapped ogen server.
func Mux(api http.Handler, m *Metrics) http.Handler {
	metrics := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				WriteProblem(w, ProblemFor(r.Context(), apierr.New(apierr.CodeMethodNotAllowed, "method %s is not allowed on /metrics; allowed: GET, HEAD", r.Method)))
				return
			}
			metrics.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// Server is one listening service.
type Server struct {
	Name     string
	srv      *http.Server
	listener net.Listener
	logger   *slog.Logger
}

// Listen binds addr (":0" picks a free port) for handler h.
func Listen(name, addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	return &Server{
		Name:     name,
		listener: ln,
		logger:   logger,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL returns the base URL of the bound address.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Serve serves until Shutdown; it returns nil after a graceful shutdown.
func (s *Server) Serve() error {
	s.logger.Info("serving", "addr", s.Addr())
	if err := s.srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", s.Name, err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("drain %s: %w", s.Name, err)
	}
	return nil
}

// Route is what a generated ogen server's FindRoute returns.
type Route interface{ OperationID() string }

// Routes adapts a generated server's FindRoute to a RouteFinder.
func Routes[R Route](find func(method, path string) (R, bool)) RouteFinder {
	return func(method, path string) (string, bool) {
		r, ok := find(method, path)
		return r.OperationID(), ok
	}
}

// Handler assembles a service's HTTP handler: api (its generated server, already behind
// any service middleware), wrapped by inner when a test injects faults, inside the shared
// middleware chain, with /metrics beside it.
func Handler(api http.Handler, o Options, inner func(http.Handler) http.Handler) http.Handler {
	if inner != nil {
		api = inner(api) // tests only: fault injection inside the middleware chain
	}
	return Mux(Wrap(api, o), o.Metrics)
}
