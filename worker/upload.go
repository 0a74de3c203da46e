package worker

import (
	"bytes"
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
)

// upload writes every rendered variant with its Content-Type,
// Cache-Control and the metadata that makes a re-run skip it (source key
// and ETag, recipe hash); a keepSmallerSource output is a copy of the
// source (copy.go).
func (w *Worker) upload(ctx context.Context, run *imgbatch.Run, j *job) error {
	for _, o := range j.outputs {
		put := w.put
		if o.copied {
			put = w.copySource
		}
		if err := put(ctx, run, j, o); err != nil {
			return err
		}
	}
	return nil
}

func (w *Worker) put(ctx context.Context, run *imgbatch.Run, j *job, o rendered) error {
	octx, cancel := context.WithTimeout(ctx, w.cfg.S3Timeout)
	defer cancel()
	out := outputAccess(run)
	in := &s3.PutObjectInput{
		Bucket:              aws.String(run.OutputBucket),
		ExpectedBucketOwner: out.owner,
		RequestPayer:        out.payer,
		Key:                 aws.String(o.key),
		Body:                bytes.NewReader(o.data),
		ContentLength:       aws.Int64(int64(len(o.data))),
		ContentType:         aws.String(imgbatch.ContentType(o.format)),
		CacheControl:        aws.String(w.cfg.CacheControl),
		Metadata:            outputMeta(run, j, o),
	}
	encrypt(in, run.Access)
	_, err := w.s3.PutObject(octx, in)
	if err != nil {
		return ownerHint(w.s3Err(ctx, err, "put s3://"+run.OutputBucket+"/"+o.key, true), run.Access.OutputOwner, "--output-bucket-owner")
	}
	return nil
}
