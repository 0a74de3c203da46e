package localstack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLIConformance is the part of the table the real aws CLI checks: keys
// S3 accepts listed by `aws s3 ls`, Cache-Control from `aws s3 cp`, and
// `aws s3api put-object --if-none-match` answered 412 on an existing key.
func runCLIConformance(t *testing.T, tg s3Target, bucket string) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the aws CLI is not installed (scripts/install-deps.sh test installs it): %v", err)
	}
	file := filepath.Join(t.TempDir(), "f.jpg")
	if err := os.WriteFile(file, []byte("jpeg bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", tg.url, "--region", "us-east-1"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+tg.access, "AWS_SECRET_ACCESS_KEY="+tg.secret,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String() + errb.String(), err
	}
	for _, k := range []string{"/lead.jpg", "a/../b.jpg"} {
		if out, err := cli("s3", "cp", file, "s3://"+bucket+"/"+k, "--cache-control", "max-age=60", "--content-type", "image/jpeg"); err != nil {
			t.Fatalf("%s: aws s3 cp to %q: %v\n%s", tg.name, k, err, out)
		}
	}
	out, err := cli("s3", "ls", "--recursive", "s3://"+bucket+"/")
	if err != nil {
		t.Fatalf("%s: aws s3 ls: %v\n%s", tg.name, err, out)
	}
	want := []string{"/lead.jpg", "a/../b.jpg"}
	if tg.versity {
		want = []string{"lead.jpg", "b.jpg"} // versitygw's posix backend cleans keys to paths (see the table)
	}
	for _, k := range want {
		if !listed(out, k) {
			t.Errorf("%s: aws s3 ls does not list %q:\n%s", tg.name, k, out)
		}
	}
	head, err := cli("s3api", "head-object", "--bucket", bucket, "--key", "/lead.jpg", "--output", "json")
	if err != nil || !strings.Contains(head, `"CacheControl": "max-age=60"`) || !strings.Contains(head, `"ContentType": "image/jpeg"`) {
		t.Errorf("%s: aws s3 cp --cache-control: head-object says (%v):\n%s", tg.name, err, head)
	}
	out, err = cli("s3api", "put-object", "--bucket", bucket, "--key", "/lead.jpg", "--body", file, "--if-none-match", "*")
	if err == nil || !strings.Contains(out, "PreconditionFailed") {
		t.Errorf("%s: put-object --if-none-match * on an existing key: want a PreconditionFailed failure, got err=%v\n%s", tg.name, err, out)
	}
}

// listed reports whether a `aws s3 ls --recursive` line ends in key.
func listed(out, key string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasSuffix(line, " "+key) {
			return true
		}
	}
	return false
}
