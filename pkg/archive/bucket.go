package archive

import (
	"context"
	"errors"
)

// Bucket is what the archive needs of its storage: objects that, once written, are only read.
type Bucket interface {
	// Create writes body under key if no object has that key, and answers ErrExists if one has
	// (whatever its bytes): the archive never overwrites.
	Create(ctx context.Context, key string, body []byte) error
	// Get reads an object; ErrNotFound when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the objects whose keys begin with prefix and sort after startAfter ("" for
	// all), in key order (bytewise, as S3 lists).
	List(ctx context.Context, prefix, startAfter string) ([]Object, error)
}

// Object is an object a list names.
type Object struct {
	Key  string
	Size int64
}

var (
	// ErrExists answers Create when the key is taken.
	ErrExists = errors.New("archive object already exists")
	// ErrNotFound answers Get when there is no such object.
	ErrNotFound = errors.New("archive object not found")
)
