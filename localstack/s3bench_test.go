package localstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"

	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/localstack/s3disk"
)

// BenchmarkS3Backends compares the embedded S3's disk store (s3disk) with
// the gofakes3 s3afero layout it replaced: PUT, GET and LIST of 4 KiB
// objects through the SDK, as `imgbatch local` uses them.
//
//	go test -run - -bench S3Backends ./localstack
func BenchmarkS3Backends(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(dir string) (gofakes3.Backend, error)
	}{
		{"s3afero", func(dir string) (gofakes3.Backend, error) {
			return s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
		}},
		{"s3disk", func(dir string) (gofakes3.Backend, error) { return s3disk.Open(dir) }},
	} {
		b.Run(be.name, func(b *testing.B) { benchBackend(b, be.open) })
	}
}

func benchBackend(b *testing.B, open func(string) (gofakes3.Backend, error)) {
	backend, err := open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := backend.CreateBucket("bench"); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s3disk.KeepHeaders(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()))
	defer srv.Close()
	c := s3test.NewClient(srv.URL)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 4096)
	key := func(i int) string { return fmt.Sprintf("runs/r1/shards/%03d/item-%06d.jpg", i%100, i) }
	b.Run("put", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key(i)), Body: bytes.NewReader(body)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	const n = 2000
	for i := 0; i < n; i++ {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key(i)), Body: bytes.NewReader(body)}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("get", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(key(i % n))})
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	})
	b.Run("list-prefix", func(b *testing.B) { // one shard's 20 keys, as the planner and reporter list
		for i := 0; i < b.N; i++ {
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bench"), Prefix: aws.String(fmt.Sprintf("runs/r1/shards/%03d/", i%100))}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
