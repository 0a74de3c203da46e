package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
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

// writeFileAt writes b at root/key (a slash-separated S3-style key),
// making the directories.
func writeFileAt(t testing.TB, root, key string, b []byte) {
	t.Helper()
	testutil.WriteFile(t, filepath.Join(root, filepath.FromSlash(key)), b)
}
