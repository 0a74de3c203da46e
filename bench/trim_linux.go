//go:build linux && cgo

package bench

/*
#include <malloc.h>
*/
import "C"

// mallocTrim returns free memory at the top of glibc's heaps and in its
// arenas to the kernel (malloc_trim(0)).
func mallocTrim() { C.malloc_trim(0) }

const canTrim = true
