// Package change reads one record of the audit table's stream and says what happened to an
// audit record: it was created, its status changed, its file was attached, or it was deleted;
// or nothing worth publishing happened (an item that is not a record, the TTL's removal of a
// tombstone, a write that changed nothing); or something happened that the API cannot do,
// which is evidence that someone wrote to the table around it.
//
// Judge is the rule set, a function of what a stream record holds (its event name, its old and
// new images, its userIdentity) and of nothing else, so that whatever reads the stream judges
// alike: the publisher (functions/publish-events) publishes a Change and logs an Illegal one at
// ERROR; the archive's verifier (make verify, point 3) reports every Illegal change, naming the
// record. JudgeImages takes the images as aws-lambda-go reads them, as the archive keeps them.
//
// What the API can do to a record item, each in one write that also sets version (one more)
// and changed_by (the caller's sub):
//   - create it (INSERT): version 1, one history entry, an initial status, no file, no failure
//     reason, no tombstone, every field valid;
//   - move its status (MODIFY): a move of the status machine, dated at or after the last one,
//     appending exactly one history entry {status, updated_at, changed_by}, perhaps setting
//     activity_count, and failure_reason with failed;
//   - attach its file (MODIFY): file_url set once, a valid https URL, not on a failed record,
//     with updated_at;
//   - delete it (MODIFY): deleted_at, deleted_by (the changed_by) and expires_at set on a live
//     record;
//   - and DynamoDB's TTL (userIdentity Service dynamodb.amazonaws.com) removes a tombstone
//     (REMOVE).
//
// Anything else to a record item is Illegal: a field that never changes changed (record_id,
// export_id, org_id, format, the period, triggered_by_user_id, created_at, earlier history
// entries), the status moved backwards or out of a final status, two changes in one write, a
// version that is not one more, a tombstone changed, a record removed other than by the TTL,
// an attribute the API never writes, an item that does not decode. Every image is checked
// against the layout of package item: re-encoded, it must be exactly what the stream carried.
package change

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/image"
	"github.com/bufdir/export-audit/pkg/item"
)

// Kind is what happened to a record.
type Kind int

// The kinds of change; None means there is nothing to publish (Change.Skip says why).
const (
	None Kind = iota
	Created
	StatusChanged
	FileAttached
	Deleted
)

func (k Kind) String() string {
	switch k {
	case Created:
		return "created"
	case StatusChanged:
		return "status changed"
	case FileAttached:
		return "file attached"
	case Deleted:
		return "deleted"
	}
	return "none"
}

// Change is what one stream record did to an audit record.
type Change struct {
	Kind Kind
	// Skip says why there is nothing to publish, when Kind is None.
	Skip string

	OrgID    string
	RecordID string
	// Version is the record's version after the change: 1 at creation, one more at each change.
	Version int64
	// At is when the change was made: the creation's created_at, the status move's updated_at,
	// the file's updated_at, the delete's deleted_at.
	At time.Time
	// By is the sub of the caller who made the change.
	By string
	// PreviousStatus is the status before a status move; empty on the other kinds.
	PreviousStatus audit.Status
	// Record is the record after the change, with its history, as a GET answers it; on Deleted,
	// the record as it was before.
	Record audit.Record
}

// Illegal is a change to a record item that the API cannot make.
type Illegal struct {
	OrgID, RecordID string // as far as the item's key tells them
	EventName       string
	Reason          string
}

func (e *Illegal) Error() string {
	return fmt.Sprintf("record %s of %s: %s (%s): no API operation makes this change", e.RecordID, e.OrgID, e.Reason, e.EventName)
}

// ttl is who DynamoDB Streams names as the author of a TTL deletion.
const (
	ttlType      = "Service"
	ttlPrincipal = "dynamodb.amazonaws.com"
)

// ByTTL reports whether who is DynamoDB's TTL.
func ByTTL(who *events.DynamoDBUserIdentity) bool {
	return who != nil && who.Type == ttlType && who.PrincipalID == ttlPrincipal
}

// Read judges one stream record as Lambda hands it over (a stream with new and old images). Its
// error is an *Illegal, and nothing else.
func Read(r events.DynamoDBEventRecord) (Change, error) {
	return JudgeImages(r.EventName, r.Change.Keys, r.Change.OldImage, r.Change.NewImage, r.UserIdentity)
}

// JudgeImages is Judge of a stream record's parts as aws-lambda-go reads them (the archive keeps
// the stream's records so): its keys, its old and new images, its userIdentity. An image that
// does not convert to the SDK's attribute values is no change the API makes, when it is a
// record's.
func JudgeImages(name string, keys, old, now map[string]events.DynamoDBAttributeValue, who *events.DynamoDBUserIdentity) (Change, error) {
	o, err := image.ToSDK(old)
	if err == nil {
		var n map[string]types.AttributeValue
		if n, err = image.ToSDK(now); err == nil {
			return Judge(name, o, n, who)
		}
	}
	k, _ := image.ToSDK(keys)
	if item.KindOf(k) != item.KindRecord {
		return skip("an item of no record with an image that does not read: " + err.Error()), nil
	}
	return Change{}, illegal(name, k, "an image that does not read: "+err.Error())
}

// Judge decides what a change of an item of the table means: name is the stream's event name
// (INSERT, MODIFY, REMOVE), old and now the item before and after (nil: none), who the
// record's userIdentity (nil unless DynamoDB itself made the change). It returns the Change, or
// an *Illegal error when no API operation makes that change.
func Judge(name string, old, now map[string]types.AttributeValue, who *events.DynamoDBUserIdentity) (Change, error) {
	keys := now
	if keys == nil {
		keys = old
	}
	if k := item.KindOf(keys); k != item.KindRecord {
		if k == item.Unknown {
			return skip("an item of no kind the service writes"), nil
		}
		return skip("a " + k.String() + " item, not a record"), nil
	}
	j := judgement{name: name, keys: keys}
	switch {
	case name == "INSERT" && old == nil && now != nil:
		return j.created(now)
	case name == "MODIFY" && old != nil && now != nil:
		return j.modified(old, now)
	case name == "REMOVE" && old != nil && now == nil:
		return j.removed(old, who)
	}
	return Change{}, j.illegal("a %s record with old image %t and new image %t", name, old != nil, now != nil)
}

func skip(why string) Change { return Change{Kind: None, Skip: why} }

// judgement is one record's judging: enough to name the record in a problem.
type judgement struct {
	name string
	keys map[string]types.AttributeValue
}

func (j judgement) illegal(format string, args ...any) error {
	return illegal(j.name, j.keys, fmt.Sprintf(format, args...))
}

func illegal(name string, keys map[string]types.AttributeValue, reason string) *Illegal {
	e := &Illegal{EventName: name, Reason: reason, OrgID: "?", RecordID: "?"}
	if pk, ok := keys[item.AttrPK].(*types.AttributeValueMemberS); ok {
		e.OrgID = strings.TrimPrefix(pk.Value, item.OrgPrefix)
	}
	if sk, ok := keys[item.AttrSK].(*types.AttributeValueMemberS); ok {
		if id, ok := item.ParseRecordSK(sk.Value); ok {
			e.RecordID = id.String()
		} else {
			e.RecordID = sk.Value
		}
	}
	return e
}

// record is a decoded record image and the record it reads as.
type record struct {
	it  item.Record
	rec audit.Record
}

// decode reads an image as a record item and checks it is one the API writes: it re-encodes
// to exactly the image, its keys are its org_id's and record_id's, its times read, and its
// status, history and time stamps agree.
func (j judgement) decode(which string, av map[string]types.AttributeValue) (record, error) {
	var r record
	odd, err := item.DecodeAsWritten(av, &r.it)
	if err != nil {
		return r, j.illegal("the %s image is no record item: %v", which, err)
	}
	if len(odd) > 0 {
		return r, j.illegal("the %s image has attributes the API does not write so: %s", which, strings.Join(odd, ", "))
	}
	it := r.it
	id, err := audit.ParseRecordID(it.RecordID)
	if err != nil || it.PK != item.OrgPK(it.OrgID) || it.SK != item.RecordSK(id) {
		return r, j.illegal("the %s image's record_id %q and org_id %q are not its key's", which, it.RecordID, it.OrgID)
	}
	if r.rec, err = it.Audit(); err != nil {
		return r, j.illegal("the %s image: %v", which, err)
	}
	h := it.History
	times := []string{it.CreatedAt, it.UpdatedAt, it.StatusAt}
	for _, e := range h {
		times = append(times, e.At)
	}
	if it.Deleted() {
		times = append(times, it.DeletedAt)
	}
	for _, s := range times {
		if t, err := item.ParseTime(s); err != nil || item.FormatTime(t) != s {
			return r, j.illegal("the %s image has a time %q not written as the API writes times (UTC, whole seconds)", which, s)
		}
	}
	switch {
	case len(h) == 0:
		return r, j.illegal("the %s image has no status history", which)
	case h[len(h)-1].Status != it.Status || h[len(h)-1].At != it.StatusAt:
		return r, j.illegal("the %s image's status %s at %s is not its last history entry's", which, it.Status, it.StatusAt)
	case h[0].At != it.CreatedAt:
		return r, j.illegal("the %s image's first history entry is not its creation", which)
	case !r.rec.Status.Valid() || !r.rec.Format.Valid():
		return r, j.illegal("the %s image's status %q or format %q is not one the API knows", which, it.Status, it.Format)
	}
	for i, e := range h {
		if !audit.Status(e.Status).Valid() || e.By == "" {
			return r, j.illegal("the %s image's history entry %d (%s by %q) is not one the API writes", which, i, e.Status, e.By)
		}
		if i > 0 && e.At < h[i-1].At {
			return r, j.illegal("the %s image's history is out of order at entry %d", which, i)
		}
	}
	return r, nil
}

// created judges an INSERT: the record as a create stores it.
func (j judgement) created(now map[string]types.AttributeValue) (Change, error) {
	r, err := j.decode("new", now)
	if err != nil {
		return Change{}, err
	}
	it := r.it
	switch {
	case it.Version != 1:
		return Change{}, j.illegal("a record created at version %d, not 1", it.Version)
	case len(it.History) != 1:
		return Change{}, j.illegal("a record created with %d history entries, not one", len(it.History))
	case it.UpdatedAt != it.CreatedAt:
		return Change{}, j.illegal("a record created with updated_at %s, not its created_at %s", it.UpdatedAt, it.CreatedAt)
	case it.ChangedBy == "" || it.History[0].By != it.ChangedBy:
		return Change{}, j.illegal("a record created by %q with its history naming %q", it.ChangedBy, it.History[0].By)
	case it.FileURL != nil || it.FailureReason != nil:
		return Change{}, j.illegal("a record created with a file_url or a failure_reason")
	case it.Deleted() || it.DeletedBy != "" || it.ExpiresAt != 0:
		return Change{}, j.illegal("a record created deleted")
	}
	n := audit.NewRecord{
		ExportID: it.ExportID, OrgID: it.OrgID, TriggeredBy: it.TriggeredBy, Status: audit.Status(it.Status),
		Format: audit.Format(it.Format), PeriodFrom: it.PeriodFrom, PeriodTo: it.PeriodTo, ActivityCount: it.ActivityCount,
	}
	if err := n.Validate(); err != nil {
		return Change{}, j.illegal("a record created with %s", describe(err))
	}
	return j.change(Created, r, r.rec.CreatedAt, ""), nil
}

// modified judges a MODIFY: exactly one of a status move, a file, a delete.
func (j judgement) modified(oldAV, nowAV map[string]types.AttributeValue) (Change, error) {
	if len(image.DifferingExactly(oldAV, nowAV)) == 0 {
		return skip("a write that changed nothing"), nil
	}
	old, err := j.decode("old", oldAV)
	if err != nil {
		return Change{}, err
	}
	now, err := j.decode("new", nowAV)
	if err != nil {
		return Change{}, err
	}
	o, n := old.it, now.it
	switch {
	case o.Deleted():
		return Change{}, j.illegal("a deleted record changed (%s)", strings.Join(changedFields(o, n), ", "))
	case n.Version != o.Versioned()+1:
		return Change{}, j.illegal("version %d followed by %d, not %d, in a write that changed %s",
			o.Versioned(), n.Version, o.Versioned()+1, strings.Join(changedFields(o, n), ", "))
	case n.ChangedBy == "":
		return Change{}, j.illegal("a change without changed_by")
	}
	// want is the new image as the change it seems to be would write it; any other difference
	// is a second change in the same write, which no API operation makes.
	want := o
	want.Version, want.ChangedBy = n.Version, n.ChangedBy
	var c Change
	switch {
	case n.Deleted():
		want.DeletedAt, want.DeletedBy, want.ExpiresAt = n.DeletedAt, n.DeletedBy, n.ExpiresAt
		at, err := item.ParseTime(n.DeletedAt)
		switch {
		case err != nil:
			return Change{}, j.illegal("deleted_at %q is not a time", n.DeletedAt)
		case n.DeletedBy != n.ChangedBy:
			return Change{}, j.illegal("deleted by %q but changed by %q", n.DeletedBy, n.ChangedBy)
		case n.ExpiresAt <= at.Unix():
			return Change{}, j.illegal("a tombstone that expires (%d) before its delete (%s)", n.ExpiresAt, n.DeletedAt)
		}
		c = j.change(Deleted, now, at, "")
		c.Record = old.rec
	case n.Status != o.Status:
		sc := audit.StatusChange{To: audit.Status(n.Status), At: now.rec.UpdatedAt, ActivityCount: n.ActivityCount, By: n.ChangedBy}
		if n.FailureReason != nil && o.FailureReason == nil {
			sc.FailureReason = n.FailureReason
		}
		// The clock rule (at most five minutes ahead) needs the server's clock at the time,
		// which no image carries; every other rule of a status change applies.
		if err := sc.Validate(sc.At); err != nil {
			return Change{}, j.illegal("a status move with %s", describe(err))
		}
		if _, err := sc.Decide(old.rec); err != nil {
			return Change{}, j.illegal("a status move from %s: %s", o.Status, describe(err))
		}
		next := sc.Apply(old.rec)
		want.Status, want.UpdatedAt, want.StatusAt = n.Status, n.UpdatedAt, n.UpdatedAt
		want.ActivityCount, want.FailureReason = next.ActivityCount, next.FailureReason
		want.History = append(append([]item.History(nil), o.History...), item.NewHistory(next.History[len(next.History)-1]))
		c = j.change(StatusChanged, now, now.rec.UpdatedAt, audit.Status(o.Status))
	case o.FileURL == nil && n.FileURL != nil:
		if err := audit.ValidateFileURL(*n.FileURL, nil); err != nil {
			return Change{}, j.illegal("a file with %s", describe(err))
		}
		if _, err := audit.DecideFileURL(old.rec, *n.FileURL); err != nil {
			return Change{}, j.illegal("a file attached: %s", describe(err))
		}
		want.FileURL, want.UpdatedAt = n.FileURL, n.UpdatedAt
		c = j.change(FileAttached, now, now.rec.UpdatedAt, "")
	default:
		changed := changedFields(o, n)
		if len(changed) == 0 {
			changed = []string{"version", "changed_by"}
		}
		return Change{}, j.illegal("changed %s", strings.Join(changed, ", "))
	}
	if extra := changedFields(want, n); len(extra) > 0 {
		return Change{}, j.illegal("a %s that also changed %s", c.Kind, strings.Join(extra, ", "))
	}
	return c, nil
}

// removed judges a REMOVE: only the TTL removes a record item, and only a tombstone.
func (j judgement) removed(oldAV map[string]types.AttributeValue, who *events.DynamoDBUserIdentity) (Change, error) {
	old, err := j.decode("old", oldAV)
	if err != nil {
		return Change{}, err
	}
	switch {
	case !ByTTL(who):
		return Change{}, j.illegal("a record removed, not by the TTL")
	case !old.it.Deleted() || old.it.ExpiresAt == 0:
		return Change{}, j.illegal("the TTL removed a record that was not deleted")
	}
	return skip("the TTL removed a deleted record's tombstone"), nil
}

func (j judgement) change(k Kind, r record, at time.Time, previous audit.Status) Change {
	return Change{
		Kind: k, OrgID: r.it.OrgID, RecordID: r.it.RecordID, Version: r.it.Version,
		At: at, By: r.it.ChangedBy, PreviousStatus: previous, Record: r.rec,
	}
}

// describe spells out every problem of a validation error.
func describe(err error) string {
	var ve *audit.ValidationError
	if errors.As(err, &ve) {
		parts := make([]string, len(ve.Errors))
		for i, e := range ve.Errors {
			parts[i] = e.Field + " that " + e.Message
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}
