package verify

import (
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Rules are what the service knows of its own items; the rest of the check knows nothing of
// any item's meaning.
type Rules struct {
	// Name names an item in a problem line, from its key and its latest image (the one before
	// its removal, for a removed item); nil, or "", names it by its key.
	Name func(keys, image Image) string
	// Change judges one change of an item, in the item's stream order, once the change has
	// been found to follow from the item's previous archived image: the API could have made
	// it, or the error says what is wrong, in a problem line that names the item.
	Change []func(Change) error
	// State judges the items the archive's changes left (each item's last image), all
	// together: what must hold across items.
	State []func([]Item) []Problem
}

// Change is one change of one item as the archive shows it.
type Change struct {
	// Item is the item's name, as Rules.Name gives it.
	Item string
	// EventName is INSERT, MODIFY or REMOVE.
	EventName string
	Keys      Image
	// Old is the item before the change (nil for INSERT), New after it (nil for REMOVE).
	Old, New Image
	// Identity is the record's userIdentity: nil for a write through the API, or anyone's
	// write; DynamoDB's TTL names itself (Type "Service", PrincipalID "dynamodb.amazonaws.com").
	Identity       *events.DynamoDBUserIdentity
	SequenceNumber string
	EventID        string
	At             time.Time
	// File is the change object the record was first found in.
	File string
}

// ByTTL says whether the change is a removal by DynamoDB's time to live.
func (c Change) ByTTL() bool {
	return c.EventName == "REMOVE" && c.Identity != nil &&
		c.Identity.Type == "Service" && c.Identity.PrincipalID == "dynamodb.amazonaws.com"
}

// Item is an item the archive's changes left.
type Item struct {
	Name  string
	Keys  Image
	Image Image
}

// String is an image's string attribute, and whether it has one by that name: the safe read
// for rules, since DynamoDBAttributeValue.String panics on an attribute of another type.
func String(img Image, name string) (string, bool) {
	v, ok := img[name]
	if !ok || v.DataType() != events.DataTypeString {
		return "", false
	}
	return v.String(), true
}
