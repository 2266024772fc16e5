package contract

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/config"
)

// urlOfLength is an https URL on storage.example.no exactly n bytes long.
func urlOfLength(n int) string {
	u := "https://storage.example.no/exports/"
	return u + strings.Repeat("a", n-len(u))
}

func TestFileURL_AttachesToALiveRecord(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for _, from := range []string{"queued", "processing", "completed"} {
		t.Run(from, func(t *testing.T) {
			t.Parallel()
			rec := c.inStatus(t, from)
			url := "https://storage.example.no/exports/" + rec.ExportID + ".pdf"
			before := time.Now().UTC().Truncate(time.Second)
			r := c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": url})
			after := time.Now().UTC()
			testkit.WantStatus(t, r, http.StatusOK)
			got := r.Record(t)
			if got.FileURL == nil || *got.FileURL != url {
				t.Errorf("want file_url %s, got %s", url, r)
			}
			if got.Status != rec.Status || !equalHistory(got.History, rec.History) {
				t.Errorf("want status and history unchanged by a file, got %s", r)
			}
			if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
				t.Errorf("want updated_at the time of attaching, between %v and %v, got %v", before, after, got.UpdatedAt)
			}
			if stored := c.get(t, single+"/"+rec.RecordID); string(stored.Body) != string(r.Body) {
				t.Errorf("want the answer to be the whole stored record\nanswer %s\nstored %s", r, stored)
			}
		})
	}
}

func TestFileURL_RefusesInvalidURLs(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	tests := []struct {
		name string
		body any
	}{
		{"missing", testkit.Fields{}},
		{"null", testkit.Fields{"file_url": nil}},
		{"empty", testkit.Fields{"file_url": ""}},
		{"a number", testkit.Fields{"file_url": 42}},
		{"http", testkit.Fields{"file_url": "http://storage.example.no/exports/x.pdf"}},
		{"ftp", testkit.Fields{"file_url": "ftp://storage.example.no/exports/x.pdf"}},
		{"s3", testkit.Fields{"file_url": "s3://bucket/exports/x.pdf"}},
		{"relative path", testkit.Fields{"file_url": "/exports/x.pdf"}},
		{"no scheme", testkit.Fields{"file_url": "storage.example.no/exports/x.pdf"}},
		{"scheme-relative", testkit.Fields{"file_url": "//storage.example.no/exports/x.pdf"}},
		{"no host", testkit.Fields{"file_url": "https:///exports/x.pdf"}},
		{"opaque", testkit.Fields{"file_url": "https:storage.example.no/x.pdf"}},
		{"user and password", testkit.Fields{"file_url": "https://user:secret@storage.example.no/x.pdf"}},
		{"user only", testkit.Fields{"file_url": "https://user@storage.example.no/x.pdf"}},
		{"a space", testkit.Fields{"file_url": "https://storage.example.no/my file.pdf"}},
		{"a newline", testkit.Fields{"file_url": "https://storage.example.no/x.pdf\r\nX-Injected: 1"}},
		{"2049 characters", testkit.Fields{"file_url": urlOfLength(2049)}},
		{"unknown field", testkit.Fields{"file_url": "https://storage.example.no/x.pdf", "status": "completed"}},
	}
	rec := c.create(t, testkit.NewRecord(nil))
	before := c.get(t, single+"/"+rec.RecordID)
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				field := "file_url"
				if tt.name == "unknown field" {
					field = "status"
				}
				testkit.WantFieldError(t, c.put(t, single+"/"+rec.RecordID+"/file-url", tt.body), field)
			})
		}
	})
	c.wantUnchanged(t, rec.RecordID, before, "refused URLs to change nothing")
}

func TestFileURL_AcceptsEveryValidShape(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	for _, tt := range []struct{ name, url string }{
		{"2048 characters", urlOfLength(2048)},
		{"a port", "https://storage.example.no:8443/exports/x.pdf"},
		{"a query", "https://storage.example.no/exports/x.pdf?X-Amz-Signature=abc&X-Amz-Expires=3600"},
		{"an IP address", "https://192.0.2.10/exports/x.pdf"},
		{"capitals in the scheme", "HTTPS://storage.example.no/exports/x.pdf"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(nil))
			r := c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": tt.url})
			testkit.WantStatus(t, r, http.StatusOK)
			if got := r.Record(t); got.FileURL == nil || *got.FileURL != tt.url {
				t.Errorf("want file_url stored as sent, got %s", r)
			}
		})
	}
}

// TestFileURL_AllowedHostsMatchWholeLabels runs a server with FILE_URL_ALLOWED_HOSTS set.
func TestFileURL_AllowedHostsMatchWholeLabels(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.FileURLAllowedHosts = []string{"example.no", "files.bufdir.no"} })
	c := s.as(t, "org-bufdir-042", "usr-0042")
	tests := []struct {
		host string
		ok   bool
	}{
		{"storage.example.no", true},
		{"example.no", true},
		{"a.b.example.no", true},
		{"STORAGE.EXAMPLE.NO", true},
		{"storage.example.no:8443", true},
		{"files.bufdir.no", true},
		{"eu.files.bufdir.no", true},
		{"badexample.no", false},
		{"example.no.evil.com", false},
		{"example.com", false},
		{"other.bufdir.no", false},
		{"bufdir.no", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			rec := c.create(t, testkit.NewRecord(nil))
			url := "https://" + tt.host + "/exports/x.pdf"
			r := c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": url})
			if !tt.ok {
				testkit.WantFieldError(t, r, "file_url")
				return
			}
			testkit.WantStatus(t, r, http.StatusOK)
			if got := r.Record(t); got.FileURL == nil || *got.FileURL != url {
				t.Errorf("want file_url %s, got %s", url, r)
			}
		})
	}
}

func TestFileURL_OnceSetDoesNotChange(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.create(t, testkit.NewRecord(nil))
	url := "https://storage.example.no/exports/" + rec.ExportID + ".pdf"
	path := single + "/" + rec.RecordID + "/file-url"
	testkit.WantStatus(t, c.put(t, path, testkit.Fields{"file_url": url}), http.StatusOK)
	stored := c.get(t, single+"/"+rec.RecordID)

	t.Run("same URL again is a no-op", func(t *testing.T) {
		r := c.put(t, path, testkit.Fields{"file_url": url})
		testkit.WantStatus(t, r, http.StatusOK)
		if string(r.Body) != string(stored.Body) {
			t.Errorf("want the record unchanged (updated_at too)\nstored %s\nanswer %s", stored, r)
		}
	})
	for _, other := range []string{
		"https://storage.example.no/exports/other.pdf",
		"https://STORAGE.example.no/exports/" + rec.ExportID + ".pdf",
		url + "?v=2",
	} {
		t.Run("different URL "+other, func(t *testing.T) {
			r := c.put(t, path, testkit.Fields{"file_url": other})
			p := testkit.WantProblem(t, r, http.StatusConflict, "file_url_already_set")
			if p["record_id"] != rec.RecordID {
				t.Errorf("want the conflict to name %s, got %s", rec.RecordID, r)
			}
		})
	}
	t.Run("after the record completes", func(t *testing.T) {
		c.move(t, rec.RecordID, "completed", rec.CreatedAt.Add(time.Second))
		testkit.WantStatus(t, c.put(t, path, testkit.Fields{"file_url": url}), http.StatusOK)
		testkit.WantProblem(t, c.put(t, path, testkit.Fields{"file_url": url + "x"}), http.StatusConflict, "file_url_already_set")
	})
	if got := c.get(t, single+"/"+rec.RecordID).Record(t); got.FileURL == nil || *got.FileURL != url {
		t.Errorf("want file_url still %s, got %v", url, show(got.FileURL))
	}
}

func TestFileURL_FailedRecordTakesNoFile(t *testing.T) {
	t.Parallel()
	c := newOwner(t)
	rec := c.inStatus(t, "failed")
	before := c.get(t, single+"/"+rec.RecordID)
	r := c.put(t, single+"/"+rec.RecordID+"/file-url", testkit.Fields{"file_url": "https://storage.example.no/exports/x.pdf"})
	p := testkit.WantProblem(t, r, http.StatusConflict, "record_failed")
	if p["record_id"] != rec.RecordID {
		t.Errorf("want the conflict to name %s, got %s", rec.RecordID, r)
	}
	c.wantUnchanged(t, rec.RecordID, before, "a refused file to change nothing")
}
