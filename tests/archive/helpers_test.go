package archive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/item"
)

// verifyBin is cmd/verify, built once for the package as make verify builds it.
var verifyBin string

func TestMain(m *testing.M) {
	os.Exit(buildVerifyAndRun(m))
}

func buildVerifyAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "archive-verify-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	verifyBin = filepath.Join(dir, "verify")
	build := exec.Command(cmp.Or(os.Getenv("GO"), "go"), "build", "-o", verifyBin, "github.com/bufdir/export-audit/cmd/verify")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cmd/verify: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// The runs seal every second, so that a case waits about a second for its digests. The grace
// covers a put to a local directory on a busy machine: a batch taken into a period lands before
// the period is sealed.
const (
	interval = time.Second
	grace    = time.Second
)

const org, user = "org-bufdir-042", "usr-0042"

// run is one local run with its archive: the whole API through localrun, as make run starts
// it, archiving into a directory of the test's own.
type run struct {
	*testkit.API
	archive config.LocalArchive
	token   string
}

// start starts a run whose sealer waits sealGrace after each period's end.
func start(t *testing.T, sealGrace time.Duration) *run {
	t.Helper()
	tmp := t.TempDir()
	a := config.LocalArchive{
		Dir: filepath.Join(tmp, "archive"), KeyFile: filepath.Join(tmp, "archive-key.pem"),
		SealInterval: interval, SealGrace: sealGrace,
	}
	return &run{API: testkit.StartAPI(t, localrun.Options{Archive: a}), archive: a, token: testkit.Token(t, org, user)}
}

// call sends a request as the contract's example caller and expects status.
func (r *run) call(t *testing.T, method, path string, body any, status int) testkit.Reply {
	t.Helper()
	rep := r.Must(t, method, path, r.token, body)
	testkit.WantStatus(t, rep, status)
	return rep
}

// records are the record_ids the history left, one in each state the API can leave a record in.
type records struct {
	completed string // queued, processing, completed, with a file URL
	running   string // created in processing
	failed    string // queued, failed, then deleted: a tombstone
	deleted   string // queued, then deleted: a tombstone
}

// history makes every change the API can make (creates in both initial statuses, each of the
// five status moves, a file URL, deletes) and every request that changes nothing (a create's replay, a
// status or file URL set again), and waits until the archive holds all of it.
func (r *run) history(t *testing.T) records {
	t.Helper()
	create := func(status string) string {
		body := testkit.NewRecord(testkit.Fields{"status": status})
		id := r.call(t, "POST", testkit.Prefix, body, http.StatusCreated).Record(t).RecordID
		r.call(t, "POST", testkit.Prefix, body, http.StatusOK) // a replay
		return id
	}
	move := func(id string, body testkit.Fields) {
		r.call(t, "PUT", testkit.Prefix+"/"+id+"/status", body, http.StatusOK)
	}
	var recs records
	recs.completed = create("queued")
	move(recs.completed, testkit.Fields{"status": "processing"})
	move(recs.completed, testkit.Fields{"status": "completed", "activity_count": 312})
	move(recs.completed, testkit.Fields{"status": "completed"}) // a no-op
	file := testkit.Fields{"file_url": "https://storage.example.no/exports/" + recs.completed + ".pdf"}
	r.call(t, "PUT", testkit.Prefix+"/"+recs.completed+"/file-url", file, http.StatusOK)
	r.call(t, "PUT", testkit.Prefix+"/"+recs.completed+"/file-url", file, http.StatusOK) // a no-op

	recs.running = create("processing")
	move(create("queued"), testkit.Fields{"status": "completed", "activity_count": 0})
	move(create("processing"), testkit.Fields{"status": "failed"})

	recs.failed = create("queued")
	move(recs.failed, testkit.Fields{"status": "failed", "failure_reason": "the member register did not answer"})
	r.call(t, "DELETE", testkit.Prefix+"/"+recs.failed, nil, http.StatusOK)

	recs.deleted = create("queued")
	r.call(t, "DELETE", testkit.Prefix+"/"+recs.deleted, nil, http.StatusOK)
	r.settle(t)
	return recs
}

// settle waits until the archive writer has every change made so far.
func (r *run) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitForArchive(ctx); err != nil {
		t.Fatalf("wait for the archive: %v", err)
	}
}

// sealed waits until the digests seal every change file and number at least digests, sealing
// as each period falls due rather than waiting for the run's timer.
func (r *run) sealed(t *testing.T, digests int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.Seal(ctx); err != nil {
			t.Fatalf("seal: %v", err)
		}
		changes, ds := r.list(t, archive.ChangesPrefix), r.list(t, archive.DigestsPrefix)
		sealedAll := len(ds) > 0
		for _, c := range changes {
			start, _ := archive.ParseChangeKey(c)
			sealedAll = sealedAll && slices.Contains(ds, archive.DigestKey(start))
		}
		if sealedAll && len(ds) >= digests {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the digests %v do not seal every change file of %v, or are fewer than %d", ds, changes, digests)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// list returns the keys of the archive's objects under prefix, in key order.
func (r *run) list(t *testing.T, prefix string) []string {
	t.Helper()
	objs, err := archive.NewDir(r.archive.Dir).List(context.Background(), prefix, "")
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

// path is the file of the archive's object key.
func (r *run) path(key string) string {
	return filepath.Join(r.archive.Dir, filepath.FromSlash(key))
}

// rewrite changes an archive file's bytes with edit, which must change them. The files are
// read-only, as the writer leaves them: whoever owns the directory makes them writable first.
func (r *run) rewrite(t *testing.T, key string, edit func([]byte) []byte) {
	t.Helper()
	p := r.path(key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(slices.Clone(b))
	if string(changed) == string(b) {
		t.Fatalf("the edit left %s as it was", key)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, changed, 0o644); err != nil {
		t.Fatal(err)
	}
}

// remove removes an archive file.
func (r *run) remove(t *testing.T, key string) {
	t.Helper()
	if err := os.Remove(r.path(key)); err != nil {
		t.Fatal(err)
	}
}

// recordKey is the key of a record's item in the table, as the store keys it.
func (r *run) recordKey(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	rid, err := audit.ParseRecordID(id)
	if err != nil {
		t.Fatal(err)
	}
	return item.RecordKey(org, rid)
}

// verdict is what the built cmd/verify printed and how it exited.
type verdict struct {
	code   int
	stdout string
	stderr string
}

// problems are the problem lines: every line but the summary.
func (v verdict) problems() []string {
	lines := strings.Split(strings.TrimSuffix(v.stdout, "\n"), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "verify: ") {
		lines = lines[:len(lines)-1]
	}
	return slices.DeleteFunc(lines, func(l string) bool { return l == "" })
}

// names says whether a problem line names subject, as its first word.
func (v verdict) names(subject string) bool {
	return slices.ContainsFunc(v.problems(), func(l string) bool { return strings.HasPrefix(l, subject+": ") })
}

func (v verdict) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", v.code, v.stdout, v.stderr)
}

// verify runs the built cmd/verify with no arguments but those for timing, as make verify runs
// it, against the run: the environment names its engine, table, archive and key file as make
// run's environment would. A digest is overdue only after a minute, so that a busy machine
// cannot make a missed seal of a case that did not remove one.
func (r *run) verify(t *testing.T) verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, verifyBin, "-settle", "1s", "-overdue", "1m")
	cmd.Env = append(os.Environ(),
		"ENGINE_ADDR="+r.EngineURL, "TABLE_NAME="+r.Table,
		config.EnvArchiveDir+"="+r.archive.Dir, config.EnvArchiveKeyFile+"="+r.archive.KeyFile,
		config.EnvSealInterval+"="+r.archive.SealInterval.String(), config.EnvSealGrace+"="+r.archive.SealGrace.String(),
		// A shell that deploys may have these; they would point verify at a stage.
		config.EnvArchiveBucket+"=", config.EnvArchiveKMSKey+"=")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	v := verdict{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		v.code = exit.ExitCode()
	default:
		t.Fatalf("run %s: %v", verifyBin, err)
	}
	return v
}
