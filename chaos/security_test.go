package chaos

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/vips"
)

// TestUntrustedLoadersBlocked: libvips' SVG and PDF loaders run scripts,
// fetch URLs and parse with unfuzzed code; imgbatch never lets them run.
// First the control, with the vips command built on the very libvips this
// process loaded (scripts/vips-cli.sh puts it in <prefix>/bin next to
// <prefix>/lib; make libvips builds it): a loader that exists reads these
// files, and VIPS_BLOCK_UNTRUSTED=1 refuses it (a loader this libvips build
// does not have at all cannot run either). Then vips.Start must set that
// variable before libvips starts. The pipeline itself
// (TestSVGAndPDFFailAsRows) refuses them with a failed row.
func TestUntrustedLoadersBlocked(t *testing.T) {
	lib := vips.LibraryPath()
	if lib == "" {
		t.Fatal("vips.LibraryPath: cannot find the loaded libvips")
	}
	cli := filepath.Join(filepath.Dir(filepath.Dir(lib)), "bin", "vips")
	ver, err := exec.Command(cli, "--version").Output()
	if err != nil {
		t.Fatalf("%s (built on the loaded libvips by scripts/vips-cli.sh; make libvips runs it) is needed for the control: %v", cli, err)
	}
	if got := strings.TrimSpace(string(ver)); got != "vips-"+vips.Version() {
		t.Fatalf("%s --version = %q, but this process runs libvips %s: not the same libvips", cli, got, vips.Version())
	}
	vipsCmd := func(block bool, args ...string) (string, error) {
		cmd := exec.Command(cli, args...)
		cmd.Env = withoutEnv(os.Environ(), "VIPS_BLOCK_UNTRUSTED")
		if block {
			cmd.Env = append(cmd.Env, "VIPS_BLOCK_UNTRUSTED=1")
		}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, loader string }{{"x.svg", "svgload"}, {"x.pdf", "pdfload"}} {
		b := map[string][]byte{
			"x.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="red"/></svg>`),
			"x.pdf": badImage(t, "pdf-renamed.jpg"),
		}[tc.name]
		in := filepath.Join(dir, tc.name)
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, tc.name+".png")
		// Blocked: neither format detection (copy) nor the loader by name may read it.
		if msg, err := vipsCmd(true, "copy", in, out); err == nil {
			t.Errorf("VIPS_BLOCK_UNTRUSTED=1: vips copy read %s: %s", tc.name, msg)
		}
		msg, err := vipsCmd(true, tc.loader, in, out)
		switch {
		case err == nil:
			t.Errorf("VIPS_BLOCK_UNTRUSTED=1 did not block %s on %s", tc.loader, tc.name)
		case strings.Contains(msg, `class "`+tc.loader+`" not found`):
			// This libvips has no such loader: nothing to block. The control
			// below must agree that it cannot read the file at all.
			if msg, err := vipsCmd(false, "copy", in, out); err == nil {
				t.Errorf("libvips has no %s, yet reads %s: %s", tc.loader, tc.name, msg)
			}
			t.Logf("libvips %s has no %s: %s cannot be read at all", vips.Version(), tc.loader, tc.name)
			continue
		case !strings.Contains(msg, "blocked"):
			t.Errorf("VIPS_BLOCK_UNTRUSTED=1 %s %s failed, but not as blocked: %v %s", tc.loader, tc.name, err, msg)
		}
		// Control: without the variable the loader exists and reads the file,
		// so the refusals above prove the blocking.
		if msg, err := vipsCmd(false, "copy", in, out); err != nil {
			t.Fatalf("control: libvips cannot read %s at all (%v: %s), so blocking it proves nothing", tc.name, err, msg)
		}
	}
	vips.Start(vips.Config{})
	if os.Getenv("VIPS_BLOCK_UNTRUSTED") != "1" {
		t.Error("vips.Start did not set VIPS_BLOCK_UNTRUSTED=1")
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestSVGAndPDFFailAsRows: SVG, SVGZ and PDF sources, under their own
// names and disguised as JPEG/PNG, are refused with a failed row each; no
// child crashes.
func TestSVGAndPDFFailAsRows(t *testing.T) {
	ds := &dataset{name: "untrusted", objects: map[string][]byte{}, format: "keys", want: map[string]string{}, variants: defaultVariants}
	for key, file := range map[string]string{
		"u/script.svg":       "svg-with-script.svg",
		"u/script-svg.jpg":   "svg-with-script.svg",
		"u/truncated.svgz":   "svgz-truncated-gzip-trailing-garbage.svgz",
		"u/doc.pdf":          "pdf-renamed.jpg",
		"u/doc-pdf.png":      "pdf-renamed.jpg",
		"u/matrix-named.png": "text-matrix-named.png",
		"u/ok.jpg":           "jpeg-progressive-480x360.jpg",
	} {
		ds.objects[key] = badImage(t, file)
		ds.want[key] = "UnsupportedFormat"
		ds.items = append(ds.items, key)
	}
	ds.want["u/ok.jpg"] = ""
	sortStrings(ds.items)
	ds.manifest = []byte(strings.Join(ds.items, "\n") + "\n")
	res := run(t, runSpec{backend: memS3, data: ds, width: 2, shardSize: 3})
	check(t, res, nil)
}

// Recognisable fake credentials: any of these in a log is a leak.
const (
	fakeKeyID  = "AKIAFAKECHAOS1234567"
	fakeSecret = "chaosFAKEsecret/DoNotLog+9f8e7d6c5b4a3210"
)

// TestNoCredentialsInLogs runs the pipeline with recognisable fake
// credentials, debug logging, S3 faults (so errors get logged) and failing
// items, on gofakes3 and on versitygw (which checks the signatures), then
// scans every child log, the submit output, the stack's log, the recorded
// events and notifications and the reports for the key id, the secret,
// signatures and Authorization headers.
func TestNoCredentialsInLogs(t *testing.T) {
	for _, backend := range []backendKind{memS3, versityS3} {
		t.Run(string(backend), func(t *testing.T) {
			ds := photos(t, 12)
			res := run(t, runSpec{backend: backend, data: ds, width: 2, seed: 5, access: fakeKeyID, secret: fakeSecret,
				rates:    scaled(answerFaults(), 0.5),
				childEnv: []string{"IMGBATCH_LOG_LEVEL=debug"}})
			check(t, res, nil)
			scanForSecrets(t, res)
		})
	}
}

func scanForSecrets(t *testing.T, res *runResult) {
	t.Helper()
	needles := []string{fakeKeyID, fakeSecret, url.QueryEscape(fakeSecret), url.PathEscape(fakeSecret),
		"x-amz-signature", "authorization:", "signature=", "x-amz-credential", "credential="}
	texts := map[string]string{"submit output": res.h.submit, "stack log": res.h.log.String()}
	files := res.h.childLogs()
	for _, name := range []string{"events.jsonl", "notifications.jsonl"} {
		files = append(files, filepath.Join(res.h.dir, "stack", name))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		texts[p] = string(b)
	}
	lay := imgbatch.Layout{RunID: res.runID}
	for _, key := range []string{lay.Report(), lay.Failed(), lay.Summary(), lay.Final()} {
		b, err := s3test.Read(res.h.be.client, workBucket, key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		texts[key] = string(b)
	}
	logged := 0
	for name, text := range texts {
		logged += len(text)
		low := strings.ToLower(text)
		for _, n := range needles {
			if i := strings.Index(low, strings.ToLower(n)); i >= 0 {
				from, to := max(0, i-120), min(len(text), i+120)
				t.Errorf("%s contains %q: …%s…", name, n, text[from:to])
			}
		}
	}
	if logged < 10000 {
		t.Errorf("only %d bytes of logs and reports scanned: the scan saw too little to mean anything", logged)
	}
	t.Logf("scanned %d bytes in %d logs and reports", logged, len(texts))
}
