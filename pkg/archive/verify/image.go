package verify

import (
	"bytes"
	"encoding/base64"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Image is an item's attributes as a stream record carries them.
type Image = map[string]events.DynamoDBAttributeValue

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
			b.WriteString(canonNumber(v.Number()))
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

// equalImages says whether two images hold the same values as DynamoDB compares them:
// numbers by value, sets in any order. nil (no item) equals only nil.
func equalImages(a, b Image) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !equalValues(av, bv) {
			return false
		}
	}
	return true
}

// differing names the attributes in which two images differ, in name order.
func differing(a, b Image) []string {
	var out []string
	for k, av := range a {
		if bv, ok := b[k]; !ok || !equalValues(av, bv) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func equalValues(a, b events.DynamoDBAttributeValue) bool {
	if a.DataType() != b.DataType() {
		return false
	}
	switch a.DataType() {
	case events.DataTypeString:
		return a.String() == b.String()
	case events.DataTypeNumber:
		return a.Number() == b.Number() || canonNumber(a.Number()) == canonNumber(b.Number())
	case events.DataTypeBinary:
		return bytes.Equal(a.Binary(), b.Binary())
	case events.DataTypeBoolean:
		return a.Boolean() == b.Boolean()
	case events.DataTypeNull:
		return true
	case events.DataTypeStringSet:
		return sameSet(a.StringSet(), b.StringSet(), func(s string) string { return s })
	case events.DataTypeNumberSet:
		return sameSet(a.NumberSet(), b.NumberSet(), canonNumber)
	case events.DataTypeBinarySet:
		return sameSet(a.BinarySet(), b.BinarySet(), func(b []byte) string { return string(b) })
	case events.DataTypeList:
		return slices.EqualFunc(a.List(), b.List(), equalValues)
	case events.DataTypeMap:
		return equalImages(a.Map(), b.Map())
	}
	return false
}

// canonNumber spells a number one way, so that 1, 1.0 and 10e-1 compare equal.
func canonNumber(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	return r.RatString()
}

func sameSet[T any](a, b []T, canon func(T) string) bool {
	if len(a) != len(b) {
		return false
	}
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i], bs[i] = canon(a[i]), canon(b[i])
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// fromSDK turns an item the SDK read into a stream image. An attribute of a kind the SDK did
// not know is left out, as the stream leaves out what it cannot type.
func fromSDK(item map[string]types.AttributeValue) Image {
	out := make(Image, len(item))
	for k, v := range item {
		if ev, ok := valueFromSDK(v); ok {
			out[k] = ev
		}
	}
	return out
}

func valueFromSDK(v types.AttributeValue) (events.DynamoDBAttributeValue, bool) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), true
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), true
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), true
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), true
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), true
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), true
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), true
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), true
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, 0, len(v.Value))
		for _, e := range v.Value {
			if ev, ok := valueFromSDK(e); ok {
				l = append(l, ev)
			}
		}
		return events.NewListAttribute(l), true
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(fromSDK(v.Value)), true
	}
	return events.DynamoDBAttributeValue{}, false
}

// toSDK turns an item's key into the SDK's form, for GetItem.
func toSDK(keys Image) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(keys))
	for k, v := range keys {
		switch v.DataType() {
		case events.DataTypeString:
			out[k] = &types.AttributeValueMemberS{Value: v.String()}
		case events.DataTypeNumber:
			out[k] = &types.AttributeValueMemberN{Value: v.Number()}
		case events.DataTypeBinary:
			out[k] = &types.AttributeValueMemberB{Value: v.Binary()}
		}
	}
	return out
}

// seqLess orders stream sequence numbers, decimal strings of 21 to 40 digits, as numbers.
func seqLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
