// Package functions_test runs the shipped Lambda binaries: each function is built as it is
// deployed (linux, lambda.norpc, -trimpath, -s -w, for this machine's architecture), started
// under the AWS Lambda Runtime Interface Emulator, the same emulator sam local runs inside its
// containers, and invoked with its events/ file against the embedded DynamoDB engine.
package functions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/config"
)

// build compiles pkg with the deployment flags into dir/name and returns the path.
func build(t *testing.T, dir, name, pkg string, deploy bool) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if deploy {
		args = append(args, "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// emulator is one function's binary running under the emulator.
type emulator struct {
	addr    string
	logPath string // the emulator's and the function's output
}

func (e *emulator) logs() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

// start runs rie with bootstrap and waits until it accepts connections.
func start(t *testing.T, rie, bootstrap string, env []string) *emulator {
	t.Helper()
	addr := freePort(t)
	// Each emulator also serves the Runtime API to its function, by default on 127.0.0.1:9001;
	// emulators side by side need one port each.
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freePort(t), bootstrap)
	// A file, not a pipe: the emulator starts the function in a process of its own, and a
	// pipe it inherited would keep Wait from returning.
	logs, err := os.Create(bootstrap + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = env
	cmd.Dir = filepath.Dir(bootstrap)
	// Its own process group, so the function process the emulator starts goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logs.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return &emulator{addr: addr, logPath: logs.Name()}
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke posts an event to the emulator's invocation endpoint and decodes the HTTP API
// response the function returned.
func (e *emulator) invoke(t *testing.T, event []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	url := "http://" + e.addr + "/2015-03-31/functions/function/invocations"
	resp, err := http.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(b, &out); err != nil || out.StatusCode == 0 {
		t.Fatalf("invoke answered %d %s (%v)\nemulator log:\n%s", resp.StatusCode, b, err, e.logs())
	}
	return out
}

// event reads events/<name>.json and points it at recordID.
func event(t *testing.T, name, recordID string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name+".json"))
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("events/%s.json is not a payload 2.0 event: %v", name, err)
	}
	if recordID != "" {
		if ev.PathParameters["record_id"] == "" {
			t.Fatalf("events/%s.json has no record_id path parameter", name)
		}
		old := ev.PathParameters["record_id"]
		ev.PathParameters["record_id"] = recordID
		ev.RawPath = strings.ReplaceAll(ev.RawPath, old, recordID)
		ev.RequestContext.HTTP.Path = strings.ReplaceAll(ev.RequestContext.HTTP.Path, old, recordID)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShippedBinariesUnderEmulator(t *testing.T) {
	dir := t.TempDir()
	rie := build(t, dir, "aws-lambda-rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)

	db := testkit.NewDB(t, testkit.EngineOptions{})
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		config.EnvTableName + "=" + db.Table,
		config.EnvRegion + "=" + testkit.Region,
		config.EnvStage + "=" + config.LocalStage,
		config.EnvDynamoDBEndpoint + "=" + db.URL,
		"AWS_ACCESS_KEY_ID=emulator", "AWS_SECRET_ACCESS_KEY=emulator",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
	}

	emulators := map[string]*emulator{}
	for _, r := range config.Routes {
		bin := build(t, filepath.Join(dir, r.Function), "bootstrap", "github.com/bufdir/export-audit/functions/"+r.Function, true)
		emulators[r.Function] = start(t, rie, bin, env)
	}

	create := emulators["create-record"].invoke(t, event(t, "create-record", ""))
	if create.StatusCode != http.StatusCreated {
		t.Fatalf("create-record: %d %s, want 201", create.StatusCode, create.Body)
	}
	var rec struct {
		RecordID string  `json:"record_id"`
		Status   string  `json:"status"`
		FileURL  *string `json:"file_url"`
	}
	if err := json.Unmarshal([]byte(create.Body), &rec); err != nil || !strings.HasPrefix(rec.RecordID, "rec-") {
		t.Fatalf("create-record body %s: %v", create.Body, err)
	}
	if loc := create.Headers["Location"]; loc != config.BasePath+"/"+rec.RecordID {
		t.Errorf("create-record Location %q, want %s/%s", loc, config.BasePath, rec.RecordID)
	}
	replay := emulators["create-record"].invoke(t, event(t, "create-record", ""))
	if replay.StatusCode != http.StatusOK || replay.Headers["Idempotent-Replayed"] != "true" {
		t.Errorf("create-record again: %d %v, want a 200 replay", replay.StatusCode, replay.Headers)
	}

	// Each step's answer must contain want, with {id} standing for the created record's id.
	steps := []struct {
		function string
		status   int
		want     string
	}{
		{"get-record", 200, `"record_id":"{id}"`},
		{"list-records", 200, `"record_id":"{id}"`},
		{"update-status", 200, `"status":"completed"`},
		{"attach-file-url", 200, `"file_url":"https://`},
		{"delete-record", 200, `{"deleted":true,"record_id":"{id}"}`},
		{"get-record", 404, `"code":"not_found"`},
	}
	for _, s := range steps {
		resp := emulators[s.function].invoke(t, event(t, s.function, idFor(s.function, rec.RecordID)))
		want := strings.ReplaceAll(s.want, "{id}", rec.RecordID)
		if resp.StatusCode != s.status || !strings.Contains(resp.Body, want) {
			t.Errorf("%s: %d %s, want %d containing %s", s.function, resp.StatusCode, resp.Body, s.status, want)
		}
	}
	for name, e := range emulators {
		if !strings.Contains(e.logs(), "Init Duration") {
			t.Errorf("%s: the emulator reported no init, so the binary never ran:\n%s", name, e.logs())
		}
	}
}

// idFor returns the record id for functions that take one.
func idFor(function, id string) string {
	if function == "list-records" || function == "create-record" {
		return ""
	}
	return id
}

func TestShippedBinaryStopsAtInitWithoutConfiguration(t *testing.T) {
	t.Parallel()
	bin := build(t, t.TempDir(), "bootstrap", "github.com/bufdir/export-audit/functions/get-record", true)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), config.EnvRegion + "=eu-north-1"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("without TABLE_NAME the function ran on: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "TABLE_NAME is required") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("want one log line naming TABLE_NAME, got:\n%s", out)
	}
}
