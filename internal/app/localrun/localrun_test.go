package localrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/local"
)

const secret = "a-test-key-of-at-least-32-bytes-for-hs256"

type env struct {
	run   *localrun.Run
	token string
}

func start(t *testing.T, o localrun.Options) *env {
	t.Helper()
	o.Addr, o.EngineAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.Config = config.Config{Stage: config.LocalStage, TableName: "audit-events", Region: "eu-north-1", OrgIDClaim: "org_id", DeletedRetention: 24 * time.Hour}
	o.Auth = local.Authorizer{Secret: secret}
	o.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	run, err := localrun.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(run.Close)
	token, err := o.Auth.Token("org-a", "usr-0042", []string{config.ScopeRead, config.ScopeWrite, config.ScopeDelete}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &env{run: run, token: token}
}

func (e *env) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.run.APIURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// localEvents reads GET /_local/events, without a token.
func (e *env) localEvents(t *testing.T) []bus.Event {
	t.Helper()
	resp, err := http.Get(e.run.APIURL + localrun.EventsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Events []bus.Event `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Events == nil {
		t.Fatalf("GET %s: %d %v %v", localrun.EventsPath, resp.StatusCode, out, err)
	}
	return out.Events
}

func detailOf(t *testing.T, ev bus.Event) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

const createBody = `{"export_id":"exp-1","format":"pdf","period_from":"2025-01-01","period_to":"2025-12-31"}`

// The whole path of a local run: API, repository, the engine's stream, the publisher's handler
// as the mapping invokes it, the EventBridge client, the local bus, /_local/events.
func TestStart_TheAPIsChangesReachTheLocalBus(t *testing.T) {
	t.Parallel()
	e := start(t, localrun.Options{})
	if evs := e.localEvents(t); len(evs) != 0 {
		t.Fatalf("a fresh run lists %d events", len(evs))
	}
	base := config.BasePath
	status, rec := e.call(t, "POST", base, createBody)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, rec)
	}
	id, _ := rec["record_id"].(string)
	// The contract: events within 2 seconds of the API's answer, without waiting on anything.
	deadline := time.Now().Add(2 * time.Second)
	for len(e.run.Bus.Events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(e.run.Bus.Events()) != 1 {
		t.Fatalf("no event 2 seconds after the create's answer")
	}
	steps := []struct{ method, path, body string }{
		{"POST", base, createBody}, // a replay
		{"PUT", base + "/" + id + "/status", `{"status":"processing"}`},
		{"PUT", base + "/" + id + "/status", `{"status":"processing"}`}, // a no-op
		{"PUT", config.DoubledBasePath + "/" + id + "/status", `{"status":"completed","activity_count":3}`},
		{"PUT", base + "/" + id + "/file-url", `{"file_url":"https://storage.example.no/f.pdf"}`},
		{"DELETE", base + "/" + id, ""},
	}
	for _, s := range steps {
		if status, body := e.call(t, s.method, s.path, s.body); status != http.StatusOK {
			t.Fatalf("%s %s: %d %v", s.method, s.path, status, body)
		}
	}
	if err := e.run.WaitForEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs := e.localEvents(t)
	want := []string{"Audit Record Created", "Audit Record Status Changed", "Audit Record Status Changed", "Audit Record File Attached", "Audit Record Deleted"}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %v: %+v", len(evs), want, evs)
	}
	for i, ev := range evs {
		d := detailOf(t, ev)
		if ev.DetailType != want[i] || ev.Source != "no.bufdir.export-audit" || ev.Version != "0" || ev.ID == "" ||
			d["record_id"] != id || d["org_id"] != "org-a" || d["version"] != float64(i+1) || d["changed_by"] != "usr-0042" {
			t.Errorf("event %d: %s %+v, want %s of %s version %d", i, ev.DetailType, d, want[i], id, i+1)
		}
	}
	// Writes straight to the engine's port are the table's changes too: a legal one is
	// published (here a record the AWS CLI could have put, through the SDK).
	db, err := app.NewDynamoDB(config.Config{Region: "eu-north-1", DynamoDBEndpoint: e.run.EngineURL})
	if err != nil {
		t.Fatal(err)
	}
	rid := audit.NewRecordID(time.Now(), 900)
	n := audit.NewRecord{ExportID: "exp-cli", OrgID: "org-a", TriggeredBy: "usr-cli", Status: audit.StatusQueued,
		Format: audit.FormatCSV, PeriodFrom: "2025-01-01", PeriodTo: "2025-01-31", By: "usr-cli"}
	av, err := item.Encode(item.NewRecord(n.Build(rid, time.Now()), rid))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("audit-events"), Item: av}); err != nil {
		t.Fatal(err)
	}
	if err := e.run.WaitForEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs = e.localEvents(t)
	if last := evs[len(evs)-1]; len(evs) != 6 || last.DetailType != "Audit Record Created" || detailOf(t, last)["record_id"] != rid.String() {
		t.Errorf("after a put on the engine's port: %d events, last %+v", len(evs), last)
	}
}

// The token keeper and the fault injector stand in front of the stream: a fault that stops a
// write before the engine, or a retry answered from its token, never reaches the stream, so
// nothing is published twice or for a write that did not happen.
func TestStart_FaultsAndTokenReplaysNeverReachTheStream(t *testing.T) {
	t.Parallel()
	// The day counter's update is throttled once; the transaction is applied and its answer
	// lost, so the SDK sends it again with its token, which the injector's keeper answers.
	inj := faults.New(1,
		faults.Rule{Kind: faults.Throttling, Ops: []string{"UpdateItem"}, Rate: 1, Limit: 1},
		faults.Rule{Kind: faults.DropAfter, Ops: []string{"TransactWriteItems"}, Rate: 1, Limit: 1})
	e := start(t, localrun.Options{Faults: inj})
	if status, body := e.call(t, "POST", config.BasePath, createBody); status != http.StatusCreated {
		t.Fatalf("create through a throttled update and a lost answer: %d %v", status, body)
	}
	if err := e.run.WaitForEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := inj.Counts(); c.Injected[faults.Throttling] != 1 || c.Injected[faults.DropAfter] != 1 {
		t.Fatalf("injected %v, want one throttle and one lost answer", c)
	}
	evs := e.run.Bus.Events()
	if len(evs) != 1 || evs[0].DetailType != "Audit Record Created" || detailOf(t, evs[0])["version"] != 1.0 {
		t.Errorf("events %+v, want one Audit Record Created, version 1", evs)
	}
}

// What the publisher cannot put after its retries goes to the local dead-letter list, as the
// stack's queue would get it: the records' place in the stream.
func TestStart_ExhaustedRetriesGoToTheDeadLetters(t *testing.T) {
	t.Parallel()
	e := start(t, localrun.Options{StreamRetryBackoff: time.Millisecond})
	e.run.Bus.SetFault(func(bus.Call) bus.Fault { return bus.Fault{Call: bus.Denied()} })
	if status, _ := e.call(t, "POST", config.BasePath, createBody); status != http.StatusCreated {
		t.Fatal("create")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.run.WaitForEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dl := e.run.DeadLetters()
	if len(dl) != 1 || dl[0].RequestContext.Condition != "RetryAttemptsExhausted" ||
		dl[0].RequestContext.ApproximateInvokeCount != config.PublisherMapping.MaximumRetryAttempts+1 {
		t.Fatalf("dead letters %+v, want one after %d invocations", dl, config.PublisherMapping.MaximumRetryAttempts+1)
	}
	// The failure names the range of records from the create's on, which is what a redrive
	// reads again; the bus holds nothing.
	if b := dl[0].BatchInfo; b.StartSequenceNumber == "" || b.EndSequenceNumber < b.StartSequenceNumber || !strings.Contains(b.StreamARN, "audit-events") {
		t.Errorf("batch info %+v, want the range of the create's records", b)
	}
	if n := len(e.run.Bus.Events()); n != 0 {
		t.Errorf("%d events on a bus that refused every call", n)
	}
}

// GET /_local/events answers the events as a rule's target receives them, without a token.
func TestEventsPath_AnswersJSONWithoutAToken(t *testing.T) {
	t.Parallel()
	e := start(t, localrun.Options{})
	resp, err := http.Get(e.run.APIURL + localrun.EventsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(bytes.TrimSpace(body), []byte(`{"events":[]}`)) {
		t.Errorf("GET %s: %d %s %s", localrun.EventsPath, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, err = http.Post(e.run.APIURL+localrun.EventsPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", localrun.EventsPath, resp.StatusCode)
	}
}

// A run with an archive starts a fresh one: an earlier run's archive in the directory is moved
// aside, not removed (it is evidence), and the key file is made once. The API's changes are
// written through archive-changes' writer, and the sealer seals each period on its own once it
// is due, with the key in the key file.
func TestStart_ArchivesTheStreamAndSealsOnTime(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	a := config.LocalArchive{Dir: filepath.Join(tmp, "archive"), KeyFile: filepath.Join(tmp, "key.pem"), SealInterval: time.Second}
	earlier := filepath.Join(a.Dir, "changes", "earlier.json")
	if err := os.MkdirAll(filepath.Dir(earlier), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(earlier, []byte(`{"Records":[]}`), 0o444); err != nil {
		t.Fatal(err)
	}
	e := start(t, localrun.Options{Archive: a})
	if e.run.ArchiveDir != a.Dir || e.run.EarlierArchive == "" {
		t.Fatalf("ArchiveDir %q, EarlierArchive %q: want %s and where the earlier archive went", e.run.ArchiveDir, e.run.EarlierArchive, a.Dir)
	}
	if b, err := os.ReadFile(filepath.Join(e.run.EarlierArchive, "changes", "earlier.json")); err != nil || string(b) != `{"Records":[]}` {
		t.Errorf("the earlier archive's file in %s: %q, %v; want it kept as it was", e.run.EarlierArchive, b, err)
	}
	key, err := archive.ReadKey(a.KeyFile)
	if err != nil {
		t.Fatalf("the key file: %v", err)
	}
	st, err := os.Stat(a.KeyFile)
	if err != nil {
		t.Fatalf("the key file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the key file's mode: %v, want 0600", st.Mode())
	}
	if status, rec := e.call(t, "POST", config.BasePath, createBody); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, rec)
	}
	if err := e.run.WaitForArchive(t.Context()); err != nil {
		t.Fatal(err)
	}
	dir := archive.NewDir(a.Dir)
	changes, err := dir.List(t.Context(), archive.ChangesPrefix, "")
	if err != nil || len(changes) == 0 {
		t.Fatalf("change files after a create: %v %v", changes, err)
	}
	if slices.ContainsFunc(changes, func(o archive.Object) bool { return path.Base(o.Key) == "earlier.json" }) {
		t.Errorf("the new archive holds the earlier archive's file: %v", changes)
	}
	b, err := dir.Get(t.Context(), changes[0].Key)
	if err != nil || !strings.Contains(string(b), `"eventName":"INSERT"`) {
		t.Errorf("%s: %s %v, want the create's INSERTs", changes[0].Key, b, err)
	}
	start, _ := archive.ParseChangeKey(changes[0].Key)
	digest := archive.DigestKey(start)
	deadline := time.Now().Add(20 * time.Second)
	for {
		body, err := dir.Get(t.Context(), digest)
		if err == nil {
			d, _, err := archive.OpenDigest(body, key.Public())
			if err != nil || len(d.Files) == 0 || d.Files[0].Key != changes[0].Key {
				t.Errorf("%s: %+v %v, want it signed by the key file's key and naming %s", digest, d, err, changes[0].Key)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no digest %s 20 seconds after its period: %v", digest, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
