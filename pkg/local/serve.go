package local

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bufdir/export-audit/pkg/clienttoken"
	"github.com/truora/minidyn/server"
)

// Server is an HTTP server that Serve or StartEngine started.
type Server struct {
	URL string // e.g. http://127.0.0.1:8080
	srv *http.Server
}

// Serve serves h on addr (port 0 picks a free one). It returns once the address accepts
// connections.
func Serve(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("server stopped", "addr", addr, "error", err.Error())
		}
	}()
	return &Server{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Shutdown stops the server, letting calls in flight finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close stops the server at once, closing every connection.
func (s *Server) Close() error { return s.srv.Close() }

// EngineLayers are what stands in front of the embedded engine, innermost first.
type EngineLayers struct {
	// Inner, when set, stands right in front of the engine, inside Front: it sees only what the
	// engine does (a retry answered from its ClientRequestToken, or a fault Front injects, never
	// reaches it). The table's stream (pkg/stream) stands here.
	Inner func(http.Handler) http.Handler
	// Front keeps ClientRequestTokens, which the engine does not: nil puts a clienttoken.Keeper
	// there; a front of its own must keep them too (faults.Injector's Wrap does).
	Front func(http.Handler) http.Handler
	// Outer, when set, goes in front of everything: tests and make bench watch or answer the
	// engine's calls there.
	Outer func(http.Handler) http.Handler
}

// StartEngine serves the embedded DynamoDB-compatible engine (minidyn) on addr, behind l; its
// data lives as long as the server.
func StartEngine(addr string, l EngineLayers) (*Server, error) {
	var h http.Handler = server.NewServer()
	if l.Inner != nil {
		h = l.Inner(h)
	}
	if l.Front == nil {
		l.Front = clienttoken.New().Wrap
	}
	h = l.Front(h)
	if l.Outer != nil {
		h = l.Outer(h)
	}
	return Serve(addr, h)
}
