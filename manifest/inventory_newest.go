package manifest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgbatch/imgbatch/internal/s3err"
)

// inventoryDate is the folder S3 Inventory writes each delivery into,
// under its destination prefix: YYYY-MM-DDTHH-MMZ/ (the names sort by time).
var inventoryDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z/$`)

// SkippedInventory is a newer inventory delivery that NewestInventory
// passed over, and why.
type SkippedInventory struct {
	Manifest string // s3://bucket/…/YYYY-MM-DDTHH-MMZ/manifest.json
	Reason   string
}

// InventoryChoice is the delivery NewestInventory picked.
type InventoryChoice struct {
	Manifest string             // s3://… manifest.json of the newest complete delivery
	Skipped  []SkippedInventory // newer deliveries that were incomplete, newest first
}

// NewestInventory reads uri, s3://bucket/prefix/, as an S3 Inventory
// destination (…/source-bucket/config-id/) and returns the manifest.json
// of its newest complete delivery. ok is false when no dated delivery
// folder is under the prefix: it is not an inventory destination (one
// ListObjectsV2 with a delimiter tells). A delivery is complete when
//
//   - manifest.checksum exists and is the MD5 of manifest.json: S3 writes
//     it last, so a delivery in progress has none; and
//   - every data file manifest.json lists exists with its size: data
//     files of old deliveries are often expired by a lifecycle rule.
//
// One HEAD per data file is cheap (an inventory of 10⁸ objects has a few
// hundred files); the data files' MD5s are checked while they are read
// (inventorySource.finishFile), not here, which would read them twice.
//
// acc is sent on every request (expected owner, requester pays): the URI is
// the run's --source, so it names the source bucket unless it turns out to
// be an inventory destination; give a zero BucketAccess for a bucket of
// the user's own (--format inventory).
func NewestInventory(ctx context.Context, client S3API, uri string, acc BucketAccess) (choice InventoryChoice, ok bool, err error) {
	client = acc.wrap(client)
	bucket, prefix, isS3 := parseS3URI(uri)
	if !isS3 || bucket == "" || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
		return choice, false, nil
	}
	dates, err := deliveryFolders(ctx, client, bucket, prefix)
	if err != nil || len(dates) == 0 {
		return choice, false, err
	}
	for _, d := range slices.Backward(dates) {
		m := "s3://" + bucket + "/" + d + "manifest.json"
		reason, err := inventoryIncomplete(ctx, client, bucket, d)
		if err != nil {
			return choice, true, fmt.Errorf("manifest: inventory %s: %w", m, err)
		}
		if reason == "" {
			choice.Manifest = m
			return choice, true, nil
		}
		choice.Skipped = append(choice.Skipped, SkippedInventory{Manifest: m, Reason: reason})
	}
	return choice, true, fmt.Errorf("manifest: %s: none of its %d inventory deliveries is complete (the newest: %s)", uri, len(dates), choice.Skipped[0].Reason)
}

// deliveryFolders lists the dated delivery folders under prefix, oldest first.
func deliveryFolders(ctx context.Context, client S3API, bucket, prefix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	var dates []string
	for p := s3.NewListObjectsV2Paginator(client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("manifest: s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			if p := aws.ToString(cp.Prefix); inventoryDate.MatchString(strings.TrimPrefix(p, prefix)) {
				dates = append(dates, p)
			}
		}
	}
	slices.Sort(dates)
	return dates, nil
}

// inventoryIncomplete says why the delivery in folder dir is not complete
// ("" when it is); an error is a failure to look (access, network).
func inventoryIncomplete(ctx context.Context, client S3API, bucket, dir string) (string, error) {
	sum, err := getSmall(ctx, client, bucket, dir+"manifest.checksum", 1<<10)
	if s3err.IsNoSuchKey(err) {
		return "no manifest.checksum yet (S3 writes it last: the delivery is still being written)", nil
	} else if err != nil {
		return "", err
	}
	body, err := getSmall(ctx, client, bucket, dir+"manifest.json", maxInventoryManifest)
	if s3err.IsNoSuchKey(err) {
		return "manifest.checksum without manifest.json", nil
	} else if err != nil {
		return "", err
	}
	want, _, _ := strings.Cut(strings.TrimSpace(string(sum)), " ")
	if got := md5.Sum(body); !strings.EqualFold(hex.EncodeToString(got[:]), want) {
		return fmt.Sprintf("manifest.json's MD5 %x is not manifest.checksum's %q", got, want), nil
	}
	var m inventoryManifest
	if err := json.Unmarshal(body, &m); err != nil || m.Files == nil {
		return "manifest.json is not an S3 Inventory manifest", nil
	}
	dest := destinationBucket(m.DestinationBucket, bucket)
	for _, f := range m.Files {
		h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(dest), Key: aws.String(f.Key)})
		if s3err.IsNotFound(err) {
			return fmt.Sprintf("data file s3://%s/%s is missing", dest, f.Key), nil
		} else if err != nil {
			return "", fmt.Errorf("data file s3://%s/%s: %w", dest, f.Key, err)
		}
		if f.Size > 0 && aws.ToInt64(h.ContentLength) != f.Size {
			return fmt.Sprintf("data file s3://%s/%s has %d bytes, manifest.json says %d", dest, f.Key, aws.ToInt64(h.ContentLength), f.Size), nil
		}
	}
	return "", nil
}

// destinationBucket is the bucket of an inventory's data files: the
// manifest's destinationBucket ARN (arn:aws:s3:::b, other partitions too),
// else the manifest's own bucket.
func destinationBucket(arn, fallback string) string {
	dest := strings.TrimPrefix(arn, "arn:aws:s3:::")
	if i := strings.LastIndexByte(dest, ':'); i >= 0 {
		dest = dest[i+1:]
	}
	if dest == "" {
		return fallback
	}
	return dest
}

// getSmall reads a whole object of at most limit bytes.
func getSmall(ctx context.Context, client S3API, bucket, key string, limit int64) ([]byte, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, fmt.Errorf("s3://%s/%s: %d bytes, more than %d", bucket, key, n, limit)
	}
	return s3err.ReadAll(io.LimitReader(out.Body, limit), out.ContentLength)
}

// BucketAccess is what requests to a bucket of someone else's carry.
type BucketAccess struct {
	Owner         string // x-amz-expected-bucket-owner
	RequesterPays bool   // x-amz-request-payer: requester
}

// wrap returns client with acc set on every request it makes.
func (acc BucketAccess) wrap(client S3API) S3API {
	if acc == (BucketAccess{}) {
		return client
	}
	return accessClient{client, acc}
}

// accessClient sets a BucketAccess on GET, HEAD and LIST requests.
type accessClient struct {
	S3API
	acc BucketAccess
}

func (c accessClient) payer() types.RequestPayer {
	if c.acc.RequesterPays {
		return types.RequestPayerRequester
	}
	return ""
}

func (c accessClient) owner() *string {
	if c.acc.Owner == "" {
		return nil
	}
	return aws.String(c.acc.Owner)
}

func (c accessClient) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	in.ExpectedBucketOwner, in.RequestPayer = c.owner(), c.payer()
	return c.S3API.GetObject(ctx, in, opts...)
}

func (c accessClient) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	in.ExpectedBucketOwner, in.RequestPayer = c.owner(), c.payer()
	return c.S3API.HeadObject(ctx, in, opts...)
}

func (c accessClient) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	in.ExpectedBucketOwner, in.RequestPayer = c.owner(), c.payer()
	return c.S3API.ListObjectsV2(ctx, in, opts...)
}
