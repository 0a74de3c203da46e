package imgbatch

import (
	"fmt"
	"regexp"
)

// Server-side encryption of the outputs (x-amz-server-side-encryption).
const (
	SSES3      = "AES256"       // S3-managed keys
	SSEKMS     = "aws:kms"      // a KMS key (the account's aws/s3 key unless one is named)
	SSEKMSDSSE = "aws:kms:dsse" // dual-layer encryption with a KMS key
)

// Access is how a run reaches buckets it does not simply own: the
// encryption of every output PUT, the account that must own each bucket
// (S3 answers 403 when another account does, so a renamed or re-created
// bucket is never written to or read from by mistake), and requester pays.
// The zero value sends none of these headers: run.json of plain runs
// (and of runs planned before these fields existed) omits it.
type Access struct {
	SSE         string `json:"sse,omitempty"`         // "", AES256, aws:kms, aws:kms:dsse
	SSEKMSKeyID string `json:"sseKmsKeyId,omitempty"` // key ID, ARN or alias of aws:kms and aws:kms:dsse
	// BucketKey asks S3 for an S3 Bucket Key with aws:kms: far fewer KMS
	// calls (and KMS charges) on a run of millions of PUTs.
	BucketKey bool `json:"bucketKeyEnabled,omitempty"`
	// SourceOwner and OutputOwner are the account IDs expected to own the
	// source buckets (every bucket of the manifest, and a listed bucket)
	// and the output bucket: x-amz-expected-bucket-owner on every call.
	SourceOwner string `json:"sourceBucketOwner,omitempty"`
	OutputOwner string `json:"outputBucketOwner,omitempty"`
	// SourceRequesterPays and OutputRequesterPays send
	// x-amz-request-payer: requester (the run's account pays the requests
	// and transfer of a Requester Pays bucket).
	SourceRequesterPays bool `json:"sourceRequesterPays,omitempty"`
	OutputRequesterPays bool `json:"outputRequesterPays,omitempty"`
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// Check refuses settings S3 would refuse on every request.
func (a Access) Check() error {
	switch a.SSE {
	case "", SSES3, SSEKMS, SSEKMSDSSE:
	default:
		return fmt.Errorf("--sse %q: use %s, %s or %s", a.SSE, SSES3, SSEKMS, SSEKMSDSSE)
	}
	kms := a.SSE == SSEKMS || a.SSE == SSEKMSDSSE
	if a.SSEKMSKeyID != "" && !kms {
		return fmt.Errorf("--sse-kms-key-id needs --sse %s (or %s)", SSEKMS, SSEKMSDSSE)
	}
	if a.BucketKey && a.SSE != SSEKMS {
		return fmt.Errorf("--sse-bucket-key needs --sse %s (S3 Bucket Keys do not apply to %q)", SSEKMS, a.SSE)
	}
	for flag, id := range map[string]string{"--source-bucket-owner": a.SourceOwner, "--output-bucket-owner": a.OutputOwner} {
		if id != "" && !accountID.MatchString(id) {
			return fmt.Errorf("%s %q: want a 12-digit AWS account ID", flag, id)
		}
	}
	return nil
}
