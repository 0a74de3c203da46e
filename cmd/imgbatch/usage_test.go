package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrors runs bad invocations through run: each exits 2 with one
// line on stderr that says what is wrong (before any S3 or AWS call).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"local width 0", []string{"local", "--dir", dir, "--images", dir, "--width", "0"}, "--width 0: the array width must be at least 1"},
		{"local width -3", []string{"local", "--dir", dir, "--images", dir, "--width", "-3"}, "--width -3: the array width must be at least 1"},
		{"plan width 0", []string{"plan", "--manifest", filepath.Join(dir, "m.txt"), "--bucket", "b", "--output-bucket", "o", "--width", "0"}, "--width 0: the array width must be at least 1"},
		{"submit width -3", []string{"submit", "--work-bucket", "w", "--manifest", filepath.Join(dir, "m.txt"), "--bucket", "b", "--output-bucket", "o", "--width", "-3"}, "--width -3: the array width must be at least 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"imgbatch"}, c.args...), &out, &errb)
			msg := strings.TrimSpace(errb.String())
			if code != exitUsage || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, msg, c.want)
			}
		})
	}
}

// TestNoArguments: imgbatch alone prints its help to stderr and exits 2.
func TestNoArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"imgbatch"}, &out, &errb); code != exitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "imgbatch local --images ./photos") {
		t.Errorf("stdout %q; stderr %.200q: want the help on stderr", out.String(), errb.String())
	}
}

// TestLocalHelpShowsLocalDefaults: local plans for two children in shards
// of 10, and its --help says so (it used to show submit's 4 and 200).
func TestLocalHelpShowsLocalDefaults(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"imgbatch", "local", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	help := out.String()
	for flag, want := range map[string]string{"--width": "(default: 2)", "--shard-size": "(default: 10)"} {
		line := ""
		for _, l := range strings.Split(help, "\n") {
			if strings.Contains(l, flag+" value") {
				line = l
			}
		}
		if !strings.Contains(line, want) {
			t.Errorf("local --help: %s line %q, want %s", flag, line, want)
		}
	}
	if code := run([]string{"imgbatch", "submit", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "(default: 4)") {
		t.Errorf("submit --help lost its own --width default 4")
	}
}
