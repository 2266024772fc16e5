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

// StartEngine serves the embedded DynamoDB-compatible engine (minidyn) on addr; its data lives
// as long as the server. The engine keeps no ClientRequestToken, so front stands in front of it
// to keep them as DynamoDB does: nil puts a clienttoken.Keeper there; a front of its own must
// keep them too (faults.Injector's Wrap does). wrap, when set, goes in front of both.
func StartEngine(addr string, front, wrap func(http.Handler) http.Handler) (*Server, error) {
	if front == nil {
		front = clienttoken.New().Wrap
	}
	h := front(server.NewServer())
	if wrap != nil {
		h = wrap(h)
	}
	return Serve(addr, h)
}
