// Package buildcheck holds only tests: that the build links the one pinned
// libvips (scripts/libvips-npm.sh) whatever Go's build cache holds. It lives
// here rather than next to the scripts so that `go test ./...` (make test,
// CI) runs it like any other package, without a Go package inside scripts/.
package buildcheck
