package testkit

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/item"
)

// Item is an item of the table as the store writes it, read raw. The layout is written out here
// (pkg/store keeps it unexported), so that a test reading the table is a second opinion on it.
type Item struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	RecordID  string `dynamodbav:"record_id"`
	ExportID  string `dynamodbav:"export_id"`
	OrgID     string `dynamodbav:"org_id"`
	Status    string `dynamodbav:"status"`
	FileURL   string `dynamodbav:"file_url"`
	CreatedAt string `dynamodbav:"created_at"`
	UpdatedAt string `dynamodbav:"updated_at"`
	DeletedAt string `dynamodbav:"deleted_at"`
	DeletedBy string `dynamodbav:"deleted_by"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
	Live      *int64 `dynamodbav:"live"`
	Seq       int64  `dynamodbav:"seq"`
	LastAt    string `dynamodbav:"last_at"`
	History   []struct {
		Status string `dynamodbav:"status"`
		At     string `dynamodbav:"at"`
		By     string `dynamodbav:"by"`
	} `dynamodbav:"history"`
}

// Snapshot is every item of the table, sorted out by kind.
type Snapshot struct {
	Records  map[string]Item  // by org|record_id, tombstones too
	Guards   map[string]Item  // by org|export_id
	Stats    map[string]int64 // live records by org
	Counters map[string]int64 // the last sequence number by day
	Items    int
}

// Scan reads the whole table with a consistent Scan (tests only).
func Scan(t testing.TB, db *dynamodb.Client, table string) Snapshot {
	t.Helper()
	s := Snapshot{Records: map[string]Item{}, Guards: map[string]Item{}, Stats: map[string]int64{}, Counters: map[string]int64{}}
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := db.Scan(context.Background(), in)
		if err != nil {
			t.Fatalf("scan the table: %v", err)
		}
		for _, av := range out.Items {
			var it Item
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				t.Fatalf("decode item %v: %v", av, err)
			}
			s.Items++
			org := strings.TrimPrefix(it.PK, "ORG#")
			switch {
			case strings.HasPrefix(it.PK, "SEQ#") && it.SK == "SEQ":
				s.Counters[strings.TrimPrefix(it.PK, "SEQ#")] = it.Seq
			case strings.HasPrefix(it.SK, "REC#"):
				s.Records[org+"|"+it.RecordID] = it
			case strings.HasPrefix(it.SK, "EXP#"):
				s.Guards[org+"|"+strings.TrimPrefix(it.SK, "EXP#")] = it
			case it.SK == "STATS":
				if it.Live != nil {
					s.Stats[org] = *it.Live
				}
			default:
				t.Errorf("unexpected item pk=%q sk=%q", it.PK, it.SK)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return s
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

var skPattern = regexp.MustCompile(`^REC#(\d{8})#(\d{9})$`)

// Figures is what Check counted.
type Figures struct {
	Live, Tombstones, Guards, Orgs int
}

// Check checks every invariant of the table in s and returns what it counted:
//   - every guard points at a live record of its organisation with its export_id, and every
//     live record has that guard: a create wrote both or neither, one live record per export;
//   - each organisation's STATS live count is its number of live records;
//   - a tombstone has deleted_at, deleted_by and expires_at, and no guard points at it;
//   - a record's key is its record_id, and its day's counter has reached its sequence, so no
//     id is handed out twice;
//   - every history starts with a status a record may be created in, at created_at, takes only
//     moves the status machine allows, and ends in the record's status.
func Check(t testing.TB, s Snapshot) Figures {
	t.Helper()
	var f Figures
	liveByOrg := map[string]int64{}
	orgs := map[string]bool{}
	for k, r := range s.Records {
		org := strings.SplitN(k, "|", 2)[0]
		orgs[org] = true
		m := skPattern.FindStringSubmatch(r.SK)
		id, err := audit.ParseRecordID(r.RecordID)
		if m == nil || err != nil || id.DayKey() != m[1] || fmt.Sprintf("%09d", id.Seq) != m[2] {
			t.Errorf("record %s is kept under sk %s", r.RecordID, r.SK)
		} else if s.Counters[m[1]] < id.Seq {
			t.Errorf("record %s is beyond its day's counter %d: the id could be handed out again", r.RecordID, s.Counters[m[1]])
		}
		if r.OrgID != org {
			t.Errorf("record %s of org %s is in the partition of %s", r.RecordID, r.OrgID, org)
		}
		checkHistory(t, r)
		g, guarded := s.Guards[org+"|"+r.ExportID]
		if r.DeletedAt != "" {
			f.Tombstones++
			if r.DeletedBy == "" || r.ExpiresAt == 0 {
				t.Errorf("tombstone %s lacks deleted_by or expires_at: %+v", r.RecordID, r)
			}
			if guarded && g.RecordID == r.RecordID {
				t.Errorf("the guard of export_id %s points at tombstone %s", r.ExportID, r.RecordID)
			}
			continue
		}
		f.Live++
		liveByOrg[org]++
		if !guarded || g.RecordID != r.RecordID {
			t.Errorf("live record %s (export_id %s) has no guard of its own; guard: %+v", r.RecordID, r.ExportID, g)
		}
	}
	for k, g := range s.Guards {
		f.Guards++
		org := strings.SplitN(k, "|", 2)[0]
		r, ok := s.Records[org+"|"+g.RecordID]
		if !ok || r.DeletedAt != "" || r.ExportID != g.ExportID {
			t.Errorf("guard %s points at %s, which is not a live record of that export_id", k, g.RecordID)
		}
	}
	for org := range s.Stats {
		orgs[org] = true
	}
	for org := range orgs {
		if s.Stats[org] != liveByOrg[org] {
			t.Errorf("org %s: STATS live is %d, but %d records are live", org, s.Stats[org], liveByOrg[org])
		}
	}
	f.Orgs = len(orgs)
	return f
}

func checkHistory(t testing.TB, r Item) {
	t.Helper()
	h := r.History
	if len(h) == 0 {
		t.Errorf("record %s has no history", r.RecordID)
		return
	}
	if !audit.InitialStatus(audit.Status(h[0].Status)) || h[0].At != r.CreatedAt {
		t.Errorf("record %s: history starts with %+v, want a creation at %s", r.RecordID, h[0], r.CreatedAt)
	}
	for i := 1; i < len(h); i++ {
		if !audit.Status(h[i-1].Status).CanMoveTo(audit.Status(h[i].Status)) {
			t.Errorf("record %s: history moves %s → %s, which the status machine forbids", r.RecordID, h[i-1].Status, h[i].Status)
		}
		if h[i].At < r.CreatedAt {
			t.Errorf("record %s: history entry %d at %s is before created_at %s", r.RecordID, i, h[i].At, r.CreatedAt)
		}
	}
	if last := h[len(h)-1]; last.Status != r.Status {
		t.Errorf("record %s is %s but its history ends in %s", r.RecordID, r.Status, last.Status)
	}
}

// Scan reads the API's whole table, with any fault switched off first: the look must not fail.
func (a *API) Scan(t testing.TB) Snapshot {
	t.Helper()
	if a.Faults != nil {
		a.Faults.Set()
	}
	return Scan(t, a.DB, a.Table)
}

// Check checks every invariant of the API's table (see Check), faults off.
func (a *API) Check(t testing.TB) Figures {
	t.Helper()
	return Check(t, a.Scan(t))
}

// SetDayCounter starts the counter of day (UTC) at seq, as though seq records had been created
// that day, so that a test of the numbering near a boundary need not create them.
func SetDayCounter(t testing.TB, db *dynamodb.Client, table string, day time.Time, seq int) {
	t.Helper()
	counter := item.CounterKey(day.UTC().Format("20060102"))
	counter["seq"] = &types.AttributeValueMemberN{Value: strconv.Itoa(seq)}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: counter}); err != nil {
		t.Fatalf("seed the day counter: %v", err)
	}
}
