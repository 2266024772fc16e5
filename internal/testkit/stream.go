package testkit

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/bufdir/export-audit/pkg/stream"
)

// Streamed is the embedded engine with the table's stream in front of it, as every local run
// has them: the token keeper, then the stream, then the engine.
type Streamed struct {
	Layer *stream.Layer
	// URL reaches the engine through the keeper and the stream, as the API and anyone on the
	// engine's port do: every write there is a change the stream carries.
	URL string
	// Behind reaches the engine itself, behind the stream's back: a write there is one no
	// stream record tells of, as nothing should be able to make.
	Behind string
}

// StreamEngine starts an engine of t's own behind a stream layer made with o (the kit's region
// and a logger that writes nothing when o leaves them unset); both stop when t ends.
func StreamEngine(t testing.TB, o stream.Options) *Streamed {
	t.Helper()
	if o.Region == "" {
		o.Region = Region
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := stream.New(o)
	var engine http.Handler
	url := Engine(t, EngineOptions{Inner: func(h http.Handler) http.Handler {
		engine = h
		return l.Wrap(h)
	}})
	behind := httptest.NewServer(engine)
	t.Cleanup(func() {
		l.Close()
		behind.Close()
	})
	return &Streamed{Layer: l, URL: url, Behind: behind.URL}
}

// Wait waits until every subscriber has passed every record so far, with a deadline only a
// stuck subscriber reaches.
func (s *Streamed) Wait(t testing.TB) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Layer.Wait(c); err != nil {
		t.Fatalf("the stream's subscribers did not catch up: %v", err)
	}
}

// StreamStore is the repository on a table of the engine behind the stream, through the
// service's own client, on a clock the test moves: every change it makes is on the stream.
type StreamStore struct {
	*Streamed
	DB    *dynamodb.Client // the service's client, through the stream
	Table string
	Store *store.Store
	Clock *Clock
}

// NewStreamStore starts a StreamStore for t: an engine of its own behind a stream made with o
// (see StreamEngine), table created from the store's schema, and the store on it with opts and
// a Clock at start.
func NewStreamStore(t testing.TB, o stream.Options, table string, start time.Time, opts ...store.Option) *StreamStore {
	t.Helper()
	s := &StreamStore{Streamed: StreamEngine(t, o), Table: table, Clock: NewClock(start)}
	s.DB = Client(t, s.URL)
	CreateTable(t, s.DB, table)
	s.Store = store.New(s.DB, table, append([]store.Option{store.WithClock(s.Clock.Now)}, opts...)...)
	return s
}
