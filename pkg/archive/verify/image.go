package verify

import (
	"encoding/base64"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/image"
)

// Image is an item's attributes as a stream record carries them.
type Image = image.Image

// itemKey is the canonical spelling of an item's key, one string per item whatever the order
// of its attributes or the spelling of its numbers.
func itemKey(keys Image) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
		b.WriteByte('=')
		v := keys[n]
		switch v.DataType() {
		case events.DataTypeString:
			b.WriteString(v.String())
		case events.DataTypeNumber:
			b.WriteString(image.Number(v.Number()))
		case events.DataTypeBinary:
			b.WriteString(base64.StdEncoding.EncodeToString(v.Binary()))
		}
	}
	return b.String()
}

// keysOf picks an item's key attributes out of its image.
func keysOf(img Image, names []string) Image {
	k := make(Image, len(names))
	for _, n := range names {
		if v, ok := img[n]; ok {
			k[n] = v
		}
	}
	return k
}

// seqLess orders stream sequence numbers, decimal strings of 21 to 40 digits, as numbers.
func seqLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
