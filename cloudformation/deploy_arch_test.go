package cloudformation

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// TestDeployMakefileArchitecture: make image/deploy ARCH=arm64 build for
// linux/arm64, tag <tag>-arm64 (one repository holds both) and deploy the
// template with Architecture=arm64; the default stays amd64 / x86_64, passed
// explicitly so a stack switched to arm64 goes back with its image. An
// unknown ARCH stops image before any build.
func TestDeployMakefileArchitecture(t *testing.T) {
	mk, err := exec.LookPath("make")
	testutil.Need(t, "make", err)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(mk, append([]string{"-f", "deploy.mk"}, args...)...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "AWS_REGION=", "ARCH=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	deploy := []string{"-n", "deploy", "SUBNET_IDS=subnet-1", "SECURITY_GROUP_IDS=sg-1", "CONTAINER_CLI=true", "REGION=eu-west-1"}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"IMAGE_TAG=t1"}, []string{"--platform linux/amd64", "-t imgbatch:t1 ", "ImageTag=t1 ", "Architecture=x86_64"}},
		{[]string{"IMAGE_TAG=t1", "ARCH=arm64"}, []string{"--platform linux/arm64", "-t imgbatch:t1 ", "ImageTag=t1 ", "Architecture=arm64"}},
		{[]string{"ARCH=arm64", "PARAMS=ArrayWidth=50"}, []string{"--platform linux/arm64", "-arm64 .", "-arm64 ArrayWidth=50 Architecture=arm64"}},
	} {
		out, err := run(append(deploy, c.args...)...)
		if err != nil {
			t.Fatalf("make %v: %v\n%s", c.args, err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("make -n deploy %v lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	out, err := run("image", "ARCH=sparc", "CONTAINER_CLI=true")
	if err == nil || !strings.Contains(out, "use amd64 (x86_64) or arm64") || strings.Contains(out, "build --platform") {
		t.Errorf("make image ARCH=sparc: err %v\n%s", err, out)
	}
}
