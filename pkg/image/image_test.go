package image_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/image"
)

// every holds a value of each of DynamoDB's types, nested in a list and a map.
func every() image.Item {
	return image.Item{
		"s": &types.AttributeValueMemberS{Value: "x"}, "n": &types.AttributeValueMemberN{Value: "1.50"},
		"b": &types.AttributeValueMemberB{Value: []byte{1, 2}}, "bool": &types.AttributeValueMemberBOOL{Value: true},
		"null": &types.AttributeValueMemberNULL{Value: true},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "y"}}},
		"m":  &types.AttributeValueMemberM{Value: image.Item{"k": &types.AttributeValueMemberN{Value: "7"}}},
		"em": &types.AttributeValueMemberM{Value: image.Item{}},
	}
}

func TestConvert_BothWaysKeepsEveryType(t *testing.T) {
	t.Parallel()
	img := image.FromSDK(every())
	if len(img) != len(every()) {
		t.Fatalf("FromSDK kept %d of %d attributes", len(img), len(every()))
	}
	back, err := image.ToSDK(img)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, every()) {
		t.Errorf("round trip:\n got %#v\nwant %#v", back, every())
	}
	if got, err := image.ToSDK(nil); got != nil || err != nil {
		t.Errorf("ToSDK(nil) = %v, %v; want nil: no item", got, err)
	}
	if got := image.FromSDK(nil); got != nil {
		t.Errorf("FromSDK(nil) = %v, want nil: no item", got)
	}
}

func TestEqual_AsDynamoDBCompares(t *testing.T) {
	t.Parallel()
	num := func(s string) image.Image { return image.Image{"v": events.NewNumberAttribute(s)} }
	cases := map[string]struct {
		a, b image.Image
		want bool
	}{
		"numbers by value":           {num("1"), num("10e-1"), true},
		"other numbers":              {num("1"), num("1.01"), false},
		"a string set in any order":  {image.Image{"v": events.NewStringSetAttribute([]string{"a", "b"})}, image.Image{"v": events.NewStringSetAttribute([]string{"b", "a"})}, true},
		"a number set by value":      {image.Image{"v": events.NewNumberSetAttribute([]string{"1", "2.0"})}, image.Image{"v": events.NewNumberSetAttribute([]string{"2", "1"})}, true},
		"a binary set in any order":  {image.Image{"v": events.NewBinarySetAttribute([][]byte{{1}, {2}})}, image.Image{"v": events.NewBinarySetAttribute([][]byte{{2}, {1}})}, true},
		"a list in its order":        {image.Image{"v": events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewStringAttribute("a"), events.NewStringAttribute("b")})}, image.Image{"v": events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewStringAttribute("b"), events.NewStringAttribute("a")})}, false},
		"a number is not its string": {num("1"), image.Image{"v": events.NewStringAttribute("1")}, false},
		"no item is only no item":    {nil, image.Image{}, false},
		"two of no item":             {nil, nil, true},
		"an attribute more":          {num("1"), image.Image{"v": events.NewNumberAttribute("1"), "w": events.NewNullAttribute()}, false},
		"maps by their values":       {image.Image{"v": events.NewMapAttribute(num("2"))}, image.Image{"v": events.NewMapAttribute(num("2.00"))}, true},
	}
	for name, c := range cases {
		if got := image.Equal(c.a, c.b); got != c.want {
			t.Errorf("%s: Equal = %t, want %t", name, got, c.want)
		}
	}
}

func TestDiffering_NamesTheAttributesInOrder(t *testing.T) {
	t.Parallel()
	a := image.Image{"x": events.NewStringAttribute("1"), "n": events.NewNumberAttribute("1"), "gone": events.NewNullAttribute()}
	b := image.Image{"x": events.NewStringAttribute("2"), "n": events.NewNumberAttribute("1.0"), "new": events.NewNullAttribute()}
	if got := image.Differing(a, b); !slices.Equal(got, []string{"gone", "new", "x"}) {
		t.Errorf("Differing = %q, want gone, new, x", got)
	}
}

func TestDifferingExactly_ANumberBySpellingToo(t *testing.T) {
	t.Parallel()
	a := image.Item{"n": &types.AttributeValueMemberN{Value: "1"}, "s": &types.AttributeValueMemberS{Value: "x"}}
	b := image.Item{"n": &types.AttributeValueMemberN{Value: "1.0"}, "s": &types.AttributeValueMemberS{Value: "x"}}
	if got := image.DifferingExactly(a, b); !slices.Equal(got, []string{"n"}) {
		t.Errorf("DifferingExactly = %q, want n: 1 and 1.0 are two spellings", got)
	}
	if got := image.DifferingExactly(a, a); len(got) != 0 {
		t.Errorf("an item differs from itself in %q", got)
	}
}
