//go:build !linux || !cgo

package bench

func mallocTrim() {}

const canTrim = false
