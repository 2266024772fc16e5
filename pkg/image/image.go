// Package image is the one converter of DynamoDB items between the two forms the service meets
// them in: the stream's images, as aws-lambda-go reads a stream record (events), and the SDK's
// attribute values, which package item decodes and DynamoDB answers reads with. It also says
// when two images hold the same item as DynamoDB compares them: numbers by value, sets in any
// order.
//
// It imports only the standard library, aws-lambda-go's events and the SDK's DynamoDB types,
// so that whatever reads the stream (the local stream, the change judge, the archive's
// verifier) can use it without linking a client.
package image

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"sort"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Image is an item's attributes as a stream record carries them; nil is no item.
type Image = map[string]events.DynamoDBAttributeValue

// Item is an item's attributes as the SDK holds them; nil is no item.
type Item = map[string]types.AttributeValue

// ToSDK turns a stream image into the SDK's attribute values. nil stays nil. A value of a type
// this package does not know is an error naming its attribute.
func ToSDK(img Image) (Item, error) {
	if img == nil {
		return nil, nil
	}
	out := make(Item, len(img))
	for name, v := range img {
		av, err := valueToSDK(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out[name] = av
	}
	return out, nil
}

func valueToSDK(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := make([]types.AttributeValue, len(v.List()))
		for i, e := range v.List() {
			av, err := valueToSDK(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case events.DataTypeMap:
		m, err := ToSDK(v.Map())
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = Item{}
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("a value of no DynamoDB type (%d)", v.DataType())
}

// FromSDK turns an item the SDK read into a stream image. nil stays nil. An attribute of a
// kind the SDK did not know is left out, as the stream leaves out what it cannot type.
func FromSDK(item Item) Image {
	if item == nil {
		return nil
	}
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
		return events.NewMapAttribute(FromSDK(v.Value)), true
	}
	return events.DynamoDBAttributeValue{}, false
}

// Equal says whether two images hold the same item as DynamoDB compares them: numbers by
// value, sets in any order. nil (no item) equals only nil.
func Equal(a, b Image) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !EqualValues(av, bv) {
			return false
		}
	}
	return true
}

// Differing names the attributes in which two images differ, as Equal compares them, in name
// order.
func Differing(a, b Image) []string { return differing(a, b, EqualValues) }

// DifferingExactly names the attributes in which two SDK items differ in any way, a number by
// its spelling too, in name order: what tells an item from its re-encoding.
func DifferingExactly(a, b Item) []string {
	return differing(a, b, func(v, w types.AttributeValue) bool { return reflect.DeepEqual(v, w) })
}

func differing[V any](a, b map[string]V, equal func(V, V) bool) []string {
	var out []string
	for k, av := range a {
		if bv, ok := b[k]; !ok || !equal(av, bv) {
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

// EqualValues says whether two attribute values are the same as DynamoDB compares them.
func EqualValues(a, b events.DynamoDBAttributeValue) bool {
	if a.DataType() != b.DataType() {
		return false
	}
	switch a.DataType() {
	case events.DataTypeString:
		return a.String() == b.String()
	case events.DataTypeNumber:
		return a.Number() == b.Number() || Number(a.Number()) == Number(b.Number())
	case events.DataTypeBinary:
		return bytes.Equal(a.Binary(), b.Binary())
	case events.DataTypeBoolean:
		return a.Boolean() == b.Boolean()
	case events.DataTypeNull:
		return true
	case events.DataTypeStringSet:
		return sameSet(a.StringSet(), b.StringSet(), func(s string) string { return s })
	case events.DataTypeNumberSet:
		return sameSet(a.NumberSet(), b.NumberSet(), Number)
	case events.DataTypeBinarySet:
		return sameSet(a.BinarySet(), b.BinarySet(), func(b []byte) string { return string(b) })
	case events.DataTypeList:
		return slices.EqualFunc(a.List(), b.List(), EqualValues)
	case events.DataTypeMap:
		return Equal(a.Map(), b.Map())
	}
	return false
}

// Number spells a number one way, so that 1, 1.0 and 10e-1 are one spelling; a string that
// is no number stays as it is.
func Number(s string) string {
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
