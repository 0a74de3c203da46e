package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	// urfave/cli reads os.Args for completion, so ask a real process (this
	// test binary acting as imgbatch, see TestMain).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--generate-bash-completion")
	cmd.Env = append(os.Environ(), "IMGBATCH_BE_MAIN=1")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("--generate-bash-completion: %v", err)
	}
	out := bytes.NewBuffer(b)
	var errb bytes.Buffer
	for _, c := range []string{"local", "submit", "work", "status", "completion"} {
		if !strings.Contains(out.String(), c+"\n") {
			t.Errorf("completion candidates lack %q:\n%s", c, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"imgbatch", "completion", "bash"}, out, &errb); code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = out
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n on the completion script: %v\n%s", err, b)
		}
	}
	if code := run([]string{"imgbatch", "completion", "fish"}, out, &errb); code != exitUsage {
		t.Errorf("completion fish: exit %d, want %d", code, exitUsage)
	}
}
