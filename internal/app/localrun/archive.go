package localrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/bufdir/export-audit/internal/app/archiver"
	"github.com/bufdir/export-audit/internal/app/sealer"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/config"
)

// localArchive is the run's archive: archive-changes' writer reading the stream into a
// directory, and seal-digest's sealer on a timer.
type localArchive struct {
	sealer *archive.Sealer
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// startArchive starts a fresh archive in o.Archive.Dir, moving an earlier run's archive aside
// (the engine starts empty, so an old archive no longer describes the table, but it is
// evidence: it is kept, and the log says where), subscribes the writer to the stream as the
// stack's mapping (config.ArchiveMapping) reads it, from the trim horizon before anything can
// write, and seals each period as soon as it is due.
func (r *Run) startArchive(o Options, cfg config.Config) error {
	a := o.Archive
	if a.Dir == "" {
		return nil
	}
	if r.Stream == nil {
		o.Log.Warn("DYNAMODB_ENDPOINT names another engine, which has no stream here: nothing is archived")
		return nil
	}
	if a.KeyFile == "" {
		return errors.New("the archive needs a key file (ARCHIVE_KEY_FILE)")
	}
	a.SealInterval = cmp.Or(a.SealInterval, config.DefaultSealInterval)
	moved, err := moveAside(a.Dir, time.Now())
	if err != nil {
		return err
	}
	if moved != "" {
		o.Log.Info("an earlier run's archive was moved aside; this run starts a new one",
			slog.String("archive_dir", a.Dir), slog.String("earlier_archive", moved))
	}
	// Made now, so that the sealer and make verify find an archive with nothing in it yet
	// rather than none.
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return fmt.Errorf("archive directory: %w", err)
	}
	r.ArchiveDir, r.EarlierArchive, r.ArchiveKeyFile = a.Dir, moved, a.KeyFile
	key, err := archive.LoadOrCreateKey(a.KeyFile)
	if err != nil {
		return err
	}
	dir := archive.NewDir(a.Dir)
	acfg := config.ArchiveConfig{
		Stage: cfg.Stage, Region: cfg.Region, Bucket: a.Dir, SealInterval: a.SealInterval, SealGrace: a.SealGrace, LogLevel: cfg.LogLevel,
	}
	log := cmp.Or(o.ArchiveLog, slog.New(slog.DiscardHandler))
	w, err := archiver.NewOn(dir, acfg, log.With(slog.String("function", config.ArchiveFunction)), o.ArchiveMetrics)
	if err != nil {
		return err
	}
	s, err := sealer.NewOn(dir, key, acfg, log.With(slog.String("function", config.SealFunction)), o.ArchiveMetrics)
	if err != nil {
		return err
	}
	if err := r.subscribe(o, cfg, config.ArchiveFunction, w.Handle, config.ArchiveMapping); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	r.archive = &localArchive{sealer: s, stop: stop}
	periods, _ := archive.NewPeriods(a.SealInterval) // checked by NewOn
	r.archive.done.Go(func() { sealOnTime(ctx, s, periods, a.SealGrace) })
	return nil
}

// sealOnTime runs the sealer as each period falls due (its end plus the grace), as
// seal-digest's schedule does, until ctx ends.
func sealOnTime(ctx context.Context, s *archive.Sealer, periods archive.Periods, grace time.Duration) {
	for {
		// The period that now-grace lies in is the next to fall due; the one before it is due
		// already.
		due := periods.Start(time.Now().Add(-grace)).Add(periods.Length() + grace)
		t := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Run logs its own failure, and the next run makes up what this one left.
		_ = s.Run(ctx)
	}
}

// moveAside renames an archive left in dir by an earlier run to dir.<now, as a period's
// stamp>, with a numbered suffix if that is taken, and returns the new name; "" when dir
// holds nothing (an empty directory is removed, a missing one is fine).
func moveAside(dir string, now time.Time) (string, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("archive directory: %w", err)
	case !st.IsDir():
		return "", fmt.Errorf("archive directory %s is not a directory", dir)
	}
	if os.Remove(dir) == nil {
		return "", nil // it was empty: nothing to keep
	}
	base := dir + "." + archive.Stamp(now)
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move the earlier archive aside: %w", err)
	}
	return to, nil
}

// Seal seals every period that is due now, as the sealer's timer does, and returns the
// digests it wrote. Tests call it rather than wait for the timer.
func (r *Run) Seal(ctx context.Context) ([]string, error) {
	if r.archive == nil {
		return nil, errors.New("this run keeps no archive")
	}
	return r.archive.sealer.Seal(ctx)
}

// WaitForArchive returns once the archive writer (and every other reader of the stream) has
// written, or given up on, every change written before the call, or with ctx's error.
func (r *Run) WaitForArchive(ctx context.Context) error {
	if r.Stream == nil {
		return nil
	}
	return r.Stream.Wait(ctx)
}

func (a *localArchive) close() {
	a.stop()
	a.done.Wait()
}
