package hnsw

import (
	"fmt"
	"io"

	"github.com/infergate/infergate/internal/atomicfile"
)

// SaveFile writes a snapshot of the index (see WriteTo) to path with
// atomicfile.Write: a crash at any moment leaves either the previous file or
// the complete new one there, never a torn mixture. The file gets mode 0600,
// as it holds the collection's embeddings.
func (x *Index) SaveFile(path string) error {
	return writeFileAtomic(path, x.WriteTo)
}

// writeFileAtomic is SaveFile with the snapshot writer passed in, so that
// tests can make a save fail midway.
func writeFileAtomic(path string, write func(io.Writer) (int64, error)) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("hnsw: saving snapshot: %w", err)
	}
	return nil
}
