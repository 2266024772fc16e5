package change

import (
	"reflect"
	"strings"

	"github.com/bufdir/export-audit/pkg/item"
)

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
