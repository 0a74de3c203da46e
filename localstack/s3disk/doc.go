// Package s3disk is the on-disk store behind the embedded S3 of `imgbatch
// local`: a gofakes3 Backend with S3's key fidelity. Any key S3 accepts —
// a leading "/", "//", "." and ".." segments, a trailing "/", unicode, 1,024
// bytes — is stored, listed in S3's order (UTF-8 byte order) and read back
// exactly, across restarts, because a key never becomes a file path:
//
//	<dir>/FORMAT                                   marks the layout (version)
//	<dir>/objects/<bucket>/bucket.json             the bucket's creation time
//	<dir>/objects/<bucket>/<h2>/<h>.json           the object: key, size, ETag, headers
//	<dir>/objects/<bucket>/<h2>/<h>.<n>            its bytes (n: a fresh number per write)
//	<dir>/buckets/<bucket>/<key>                   a hard link, for people (clean keys only)
//
// h is the SHA-256 of the key in hex. A write puts the bytes under a fresh
// name and then renames the .json over the old one: that rename is the
// commit, so a crash leaves the old object or the new one, never a mix
// (unreferenced byte files are removed at the next start). The index of
// keys lives in memory, sorted, rebuilt from the .json files at start.
//
// buckets/ is a view that lets a person open the outputs as files, as the
// gofakes3 layout did; keys that are not clean relative paths, or that clash
// with a directory of another key ("a" beside "a/b"), are simply not in it.
package s3disk
