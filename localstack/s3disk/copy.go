package s3disk

import (
	"maps"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// A copy's request carries to CopyObject (KeepHeaders) what gofakes3
// drops: the metadata directive, the request's own metadata headers (it
// merges the source's in) and x-amz-copy-source-if-match.
const (
	carryDirective = carryPrefix + "Copy-Directive"
	carryKeys      = carryPrefix + "Copy-Keys"
	carryIfMatch   = carryPrefix + "Copy-If-Match"
)

// carryCopy marks a copy request (PUT with x-amz-copy-source) for
// CopyObject.
func carryCopy(r *http.Request) {
	if r.Method != http.MethodPut || r.Header.Get("X-Amz-Copy-Source") == "" {
		return
	}
	r.Header.Set(carryDirective, strings.ToUpper(r.Header.Get("X-Amz-Metadata-Directive")))
	if m := r.Header.Get("X-Amz-Copy-Source-If-Match"); m != "" {
		r.Header.Set(carryIfMatch, m)
	}
	var keys []string
	for k := range r.Header {
		if ck := http.CanonicalHeaderKey(k); storedHeader(ck) {
			keys = append(keys, ck)
		}
	}
	r.Header.Set(carryKeys, strings.Join(keys, ","))
}

// storedHeader: the request headers gofakes3 passes on that S3 stores.
func storedHeader(ck string) bool {
	return strings.HasPrefix(ck, "X-Amz-Meta-") || ck == "Content-Type" || ck == "Content-Disposition" ||
		ck == "Content-Encoding" || ck == "X-Amz-Website-Redirect-Location"
}

// CopyObject copies as S3 does: If-Match on the source's ETag (412, nothing
// written, when it differs); metadata REPLACE stores the request's headers
// only, COPY (the default) the source's only. gofakes3 merged the
// source's metadata into the request's: the carried list of the request's
// own headers tells them apart.
func (b *Backend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	src, _, err := b.find(srcBucket, srcKey)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	if m, ok := meta[carryIfMatch]; ok && m != "*" && !etagIn(m, src.ETag) {
		return gofakes3.CopyObjectResult{}, gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	}
	directive, own := meta[carryDirective], map[string]bool{}
	for _, k := range strings.Split(meta[carryKeys], ",") {
		own[k] = true
	}
	for _, k := range []string{carryDirective, carryKeys, carryIfMatch} {
		delete(meta, k)
	}
	if directive != "REPLACE" {
		meta = maps.Clone(src.Meta)
	} else {
		for k := range meta {
			if _, fromSource := src.Meta[k]; fromSource && !own[k] && !strings.HasPrefix(k, carryPrefix) {
				delete(meta, k)
			}
		}
	}
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}
