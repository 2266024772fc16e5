// Command local runs the whole service on this machine (make run): the embedded
// DynamoDB-compatible engine with its stream on 127.0.0.1:8000 and the API on 127.0.0.1:8080
// (PORT), or the engine at DYNAMODB_ENDPOINT when that is set; the change events, published
// from the stream to a local bus that GET /_local/events lists; and the archive, written from
// the stream into ARCHIVE_DIR and sealed every SEAL_INTERVAL with the key in ARCHIVE_KEY_FILE,
// which make verify checks.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
)

func main() {
	// Local defaults for what Lambda and the stack set in AWS.
	for k, v := range map[string]string{
		config.EnvTableName: "bufdir-export-audit-local",
		config.EnvRegion:    "eu-north-1",
		config.EnvStage:     config.LocalStage,
	} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	cfg, err := config.Load(os.Getenv)
	log := app.NewLogger(os.Stdout, cfg.LogLevel)
	if err != nil {
		log.Error("configuration is incomplete", "error", err.Error())
		os.Exit(1)
	}
	auth, err := local.AuthorizerFromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration is incomplete", "error", err.Error())
		os.Exit(1)
	}
	// ARCHIVE_DIR, ARCHIVE_KEY_FILE, SEAL_INTERVAL and SEAL_GRACE, as make verify reads them.
	archiveCfg, err := config.LoadLocalArchive(os.Getenv)
	if err != nil {
		log.Error("configuration is incomplete", "error", err.Error())
		os.Exit(1)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	// SAM's containers on Linux reach the host through the Docker bridge, not 127.0.0.1:
	// ENGINE_ADDR=0.0.0.0:8000 lets them in (and everything else on the network: local use only).
	engineAddr := os.Getenv("ENGINE_ADDR")
	if engineAddr == "" {
		engineAddr = "127.0.0.1:8000"
	}
	// The local event bus, for an EventBridge client such as the one sam local invoke's
	// publish-events makes (EventBridgeEndpoint=http://host.docker.internal:8010).
	busAddr := os.Getenv("BUS_ADDR")
	if busAddr == "" {
		busAddr = "127.0.0.1:8010"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := localrun.Start(ctx, localrun.Options{
		Addr: "127.0.0.1:" + port, EngineAddr: engineAddr, BusAddr: busAddr,
		Config: cfg, Auth: auth, Log: log, Metrics: os.Stdout,
		PublisherLog: log.With(slog.String("function", config.PublisherFunction)), PublisherMetrics: os.Stdout,
		Archive: archiveCfg, ArchiveLog: log, ArchiveMetrics: os.Stdout,
	})
	if err != nil {
		log.Error("cannot start the local API", "error", err.Error())
		os.Exit(1)
	}
	defer run.Close()
	token, err := auth.Token("org-bufdir-042", "usr-0042",
		[]string{"audit:read", "audit:write", "audit:delete"}, 12*time.Hour, time.Now())
	if err != nil {
		log.Error("cannot sign a token", "error", err.Error())
		os.Exit(1)
	}
	log.Info("ready", slog.String("api", run.APIURL), slog.String("dynamodb_endpoint", run.EngineURL), slog.String("table", cfg.TableName),
		slog.String("event_bus", localrun.EventBusName), slog.String("eventbridge_endpoint", run.BusURL),
		slog.String("jwt_issuer", auth.Issuer), slog.Any("jwt_audience", auth.Audiences),
		slog.String("archive_dir", run.ArchiveDir), slog.String("archive_key_file", run.ArchiveKeyFile),
		slog.String("seal_interval", archiveCfg.SealInterval.String()))
	fmt.Fprintf(os.Stderr, "\nThe API is ready on %s (DynamoDB endpoint %s).\n"+
		"A token for org-bufdir-042, valid 12 hours, with every scope:\n\n  export TOKEN=%s\n\n"+
		"  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/v1/bufdir-audit-records\n\n"+
		"The change events, as an EventBridge rule's target receives them:\n\n  curl -s %s%s\n\n",
		run.APIURL, run.EngineURL, token, run.APIURL, run.APIURL, localrun.EventsPath)
	if run.ArchiveDir != "" {
		fmt.Fprintf(os.Stderr, "Every change is archived in %s and sealed every %s; check the trail with\n\n  make verify\n\n",
			run.ArchiveDir, archiveCfg.SealInterval)
		if run.EarlierArchive != "" {
			fmt.Fprintf(os.Stderr, "The earlier run's archive is kept in %s.\n\n", run.EarlierArchive)
		}
	}
	fmt.Fprintf(os.Stderr, "Press Ctrl-C to stop; the data is kept only while it runs.\n\n")
	<-ctx.Done()
	log.Info("stopping")
}
