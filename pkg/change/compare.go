package change

import (
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/item"
)

// equal compares two attribute values exactly, as the API writes them (a number by its
// spelling): an image that differs from its re-encoding in any way is not the API's.
func equal(a, b types.AttributeValue) bool { return reflect.DeepEqual(a, b) }

func sortStrings(s []string) { slices.Sort(s) }

// changedFields names, by their attribute names, the fields in which two record items differ.
func changedFields(a, b item.Record) []string {
	var out []string
	fieldsDiffer(reflect.ValueOf(a), reflect.ValueOf(b), &out)
	return out
}

func fieldsDiffer(a, b reflect.Value, out *[]string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			fieldsDiffer(a.Field(i), b.Field(i), out)
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
			*out = append(*out, name)
		}
	}
}
