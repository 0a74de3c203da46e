package worker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch"
)

// bucketAccess is what every request on one side of a run (its sources or
// its output bucket) carries: the expected owner and requester pays.
type bucketAccess struct {
	owner *string            // x-amz-expected-bucket-owner (nil: not sent)
	payer types.RequestPayer // x-amz-request-payer ("": not sent)
}

func sourceAccess(run *imgbatch.Run) bucketAccess {
	return newAccess(run.Access.SourceOwner, run.Access.SourceRequesterPays)
}

func outputAccess(run *imgbatch.Run) bucketAccess {
	return newAccess(run.Access.OutputOwner, run.Access.OutputRequesterPays)
}

func newAccess(owner string, pays bool) bucketAccess {
	var a bucketAccess
	if owner != "" {
		a.owner = aws.String(owner)
	}
	if pays {
		a.payer = types.RequestPayerRequester
	}
	return a
}

// encrypt sets the run's server-side encryption on an output PUT: a bucket
// policy that demands SSE-KMS with a given key refuses PUTs without these
// headers, whatever the bucket's default encryption.
func encrypt(in *s3.PutObjectInput, a imgbatch.Access) {
	if a.SSE == "" {
		return
	}
	in.ServerSideEncryption = types.ServerSideEncryption(a.SSE)
	if a.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(a.SSEKMSKeyID)
	}
	if a.BucketKey {
		in.BucketKeyEnabled = aws.Bool(true)
	}
}

// ownerHint adds to an access-denied error that the bucket may belong to
// another account than the expected owner: S3 answers a wrong
// x-amz-expected-bucket-owner with a plain 403.
func ownerHint(err error, owner, flag string) error {
	if owner == "" {
		return err
	}
	var ie *ItemError
	if errors.As(err, &ie) && ie.Code == CodeAccessDenied {
		ie.Msg += fmt.Sprintf(" (or the bucket is not owned by account %s, %s)", owner, flag)
	}
	var fe *FatalError
	if errors.As(err, &fe) && strings.Contains(fe.Err.Error(), "access denied") {
		fe.Err = fmt.Errorf("%w (or the bucket is not owned by account %s, %s)", fe.Err, owner, flag)
	}
	return err
}
