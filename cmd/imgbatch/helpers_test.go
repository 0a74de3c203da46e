package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// setLocalAWSEnv points this process's SDK clients (and the environment
// handed to children) at a local S3 and EventBridge, with test
// credentials and the work bucket "work", plus extra NAME=VALUE settings.
func setLocalAWSEnv(t testing.TB, s3URL, eventBridgeURL string, extra ...string) ([]string, *clients) {
	t.Helper()
	env := append([]string{
		"AWS_ENDPOINT_URL_S3=" + s3URL, "AWS_ENDPOINT_URL_EVENTBRIDGE=" + eventBridgeURL,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=",
		"IMGBATCH_S3_PATH_STYLE=true", "IMGBATCH_WORK_BUCKET=work",
	}, extra...)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cl, err := loadClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return env, cl
}

// syncBuffer is a bytes.Buffer safe to write from one goroutine while
// another reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds, failing the test after limit.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// encodeImage is a w×h JPEG (quality 85) or PNG of the pixels pixel draws.
func encodeImage(t testing.TB, w, h int, asPNG bool, pixel func(x, y int) color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, pixel(x, y))
		}
	}
	var buf bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFileAt writes b at root/key, making the directories.
func writeFileAt(t testing.TB, root, key string, b []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
