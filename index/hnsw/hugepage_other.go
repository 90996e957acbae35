//go:build !linux

package hnsw

// adviseHugePages is a no-op where transparent huge pages cannot be asked
// for.
func adviseHugePages[T any](s []T) {}
