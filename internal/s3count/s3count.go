// Package s3count counts the S3 requests a process sends, by method and by
// plane: control (the work bucket: plans, claims, checkpoints, results,
// done markers, reports) or data (sources and outputs). Issue 20: S3's
// request rates, not CPU, are the wall at scale, so a run says what it
// asked of S3 (summary.json, the EMF lines), with the control requests per
// item as its first figure.
//
// The counter is an SDK middleware after the retryer: every attempt is a
// request S3 answers (and rate-limits), so every attempt counts.
package s3count

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// Counts are the requests of one plane by method. COPY is a PUT with a
// copy source, LIST a ListObjects(V2) GET; POST covers multipart uploads
// and multi-object deletes.
type Counts struct {
	GET    int64 `json:"GET,omitempty"`
	HEAD   int64 `json:"HEAD,omitempty"`
	PUT    int64 `json:"PUT,omitempty"`
	COPY   int64 `json:"COPY,omitempty"`
	LIST   int64 `json:"LIST,omitempty"`
	POST   int64 `json:"POST,omitempty"`
	DELETE int64 `json:"DELETE,omitempty"`
}

// Total is the sum over methods.
func (c Counts) Total() int64 { return c.GET + c.HEAD + c.PUT + c.COPY + c.LIST + c.POST + c.DELETE }

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.GET += o.GET
	c.HEAD += o.HEAD
	c.PUT += o.PUT
	c.COPY += o.COPY
	c.LIST += o.LIST
	c.POST += o.POST
	c.DELETE += o.DELETE
}

// Sub is c minus o (the requests between two snapshots).
func (c Counts) Sub(o Counts) Counts {
	return Counts{GET: c.GET - o.GET, HEAD: c.HEAD - o.HEAD, PUT: c.PUT - o.PUT, COPY: c.COPY - o.COPY,
		LIST: c.LIST - o.LIST, POST: c.POST - o.POST, DELETE: c.DELETE - o.DELETE}
}

// Requests are the requests of both planes.
type Requests struct {
	Control Counts `json:"control"`
	Data    Counts `json:"data"`
}

// Add adds o to r.
func (r *Requests) Add(o Requests) {
	r.Control.Add(o.Control)
	r.Data.Add(o.Data)
}

// Sub is r minus o.
func (r Requests) Sub(o Requests) Requests {
	return Requests{Control: r.Control.Sub(o.Control), Data: r.Data.Sub(o.Data)}
}

// IsZero reports whether nothing was counted.
func (r Requests) IsZero() bool { return r.Control.Total() == 0 && r.Data.Total() == 0 }

// method indexes the counters.
type method int

const (
	mGET method = iota
	mHEAD
	mPUT
	mCOPY
	mLIST
	mPOST
	mDELETE
	nMethods
)

// Counter counts requests; its zero value counts every request as data
// until SetWorkBucket names the control plane's bucket. Safe for
// concurrent use; a nil *Counter counts nothing.
type Counter struct {
	mu   sync.RWMutex
	work string
	n    [2][nMethods]atomic.Int64 // [0] control, [1] data
}

// SetWorkBucket names the work bucket: its requests are the control plane.
func (c *Counter) SetWorkBucket(bucket string) {
	c.mu.Lock()
	c.work = bucket
	c.mu.Unlock()
}

// Snapshot is what was counted so far.
func (c *Counter) Snapshot() Requests {
	var r Requests
	if c == nil {
		return r
	}
	for p, dst := range []*Counts{&r.Control, &r.Data} {
		n := &c.n[p]
		*dst = Counts{GET: n[mGET].Load(), HEAD: n[mHEAD].Load(), PUT: n[mPUT].Load(), COPY: n[mCOPY].Load(),
			LIST: n[mLIST].Load(), POST: n[mPOST].Load(), DELETE: n[mDELETE].Load()}
	}
	return r
}

// Install adds the counter to an S3 client's options:
// s3.NewFromConfig(cfg, counter.Install).
func (c *Counter) Install(o *s3.Options) {
	if c == nil {
		return
	}
	o.APIOptions = append(o.APIOptions, c.register)
}

type bucketKey struct{}

// register puts the bucket of each operation on its context (Initialize
// sees the typed input) and counts each attempt after the retryer.
func (c *Counter) register(st *middleware.Stack) error {
	err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("s3count.Bucket",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			ctx = middleware.WithStackValue(ctx, bucketKey{}, bucketOf(in.Parameters))
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	if err != nil {
		return err
	}
	return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("s3count.Count",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.count(middleware.GetOperationName(ctx), middleware.GetStackValue(ctx, bucketKey{}))
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func (c *Counter) count(op string, bucket any) {
	m, ok := methodOf(op)
	if !ok {
		return // an operation that is no object request (none imgbatch sends)
	}
	plane := 1
	c.mu.RLock()
	if b, _ := bucket.(string); b != "" && b == c.work {
		plane = 0
	}
	c.mu.RUnlock()
	c.n[plane][m].Add(1)
}

// methodOf maps an S3 operation to the request kind S3's rates count.
func methodOf(op string) (method, bool) {
	switch op {
	case "GetObject", "GetBucketLocation", "GetObjectTagging", "GetObjectAttributes":
		return mGET, true
	case "HeadObject", "HeadBucket":
		return mHEAD, true
	case "PutObject", "UploadPart", "PutObjectTagging":
		return mPUT, true
	case "CopyObject", "UploadPartCopy":
		return mCOPY, true
	case "ListObjectsV2", "ListObjects", "ListObjectVersions", "ListMultipartUploads", "ListParts":
		return mLIST, true
	case "CreateMultipartUpload", "CompleteMultipartUpload", "DeleteObjects":
		return mPOST, true
	case "DeleteObject", "AbortMultipartUpload":
		return mDELETE, true
	}
	return 0, false
}

// bucketOf is the Bucket field of an S3 operation's input (every object
// operation has one), or "".
func bucketOf(in any) string {
	v := reflect.ValueOf(in)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName("Bucket")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() || f.Elem().Kind() != reflect.String {
		return ""
	}
	return f.Elem().String()
}
