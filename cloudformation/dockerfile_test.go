package cloudformation

// Checks of the Dockerfile, the build scripts and deploy.mk (the repository root is
// the parent directory). hadolint is not packaged for Debian 12, so the essentials
// are checked here; hadolint and shellcheck also run when they are installed.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

const repoRoot = ".."

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

type stage struct {
	from, name string
	instrs     []instruction
}

// parseDockerfile splits a Dockerfile into stages, joining continuation lines and
// dropping comments. globalArgs are the ARGs before the first FROM with defaults.
func parseDockerfile(t *testing.T, path string) (globalArgs map[string]string, stages []*stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	globalArgs = map[string]string{}
	var cur *stage
	var buf strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if buf.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if buf.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment inside a continued instruction
		}
		if buf.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, `\`) {
			buf.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		buf.WriteString(line)
		full := buf.String()
		buf.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var from, name string
			for j := 0; j < len(f); j++ {
				switch {
				case strings.HasPrefix(f[j], "--"):
				case strings.EqualFold(f[j], "AS") && j+1 < len(f):
					name = f[j+1]
					j++
				default:
					from = f[j]
				}
			}
			cur = &stage{from: from, name: name}
			stages = append(stages, cur)
			continue
		}
		if cur == nil {
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				globalArgs[k] = strings.Trim(v, `"`)
			}
			continue
		}
		cur.instrs = append(cur.instrs, in)
	}
	return globalArgs, stages
}

func expandArgs(s string, args map[string]string) string {
	return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := args[name]; ok {
			return v
		}
		return m
	})
}

// lintDockerfile checks a Dockerfile (scripts and COPY sources are looked up in the
// repository) and returns the problems found.
func lintDockerfile(t *testing.T, dockerfile string) (errs []string) {
	t.Helper()
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	globalArgs, stages := parseDockerfile(t, dockerfile)

	// Multi-stage, named stages, the final one being the small runtime image.
	if len(stages) < 2 {
		fail("%d stages, want a multi-stage build", len(stages))
		return errs
	}
	names := map[string]bool{}
	for _, s := range stages[:len(stages)-1] {
		if s.name == "" {
			fail("stage FROM %s has no name (AS …)", s.from)
		}
		names[s.name] = true
	}
	final := stages[len(stages)-1]

	// Base images pinned: an explicit tag other than latest (or a digest).
	for _, s := range stages {
		img := expandArgs(s.from, globalArgs)
		if names[img] {
			continue
		}
		if strings.Contains(img, "$") {
			fail("FROM %s: ARG without a default", s.from)
			continue
		}
		if strings.Contains(img, "@sha256:") {
			continue
		}
		repo, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
		if !ok || tag == "" || tag == "latest" {
			fail("FROM %s (%s): base image not pinned to a tag", s.from, repo)
		}
	}
	if img := expandArgs(final.from, globalArgs); !strings.HasPrefix(img, "debian:") || !strings.Contains(img, "slim") {
		fail("runtime stage is %s, want debian:*-slim", img)
	}
	if img := expandArgs(stages[1].from, globalArgs); !strings.HasPrefix(img, "golang:1.26") {
		fail("build stage is %s, want golang:1.26-*", img)
	}

	runScript := regexp.MustCompile(`(?:^|[\s;&|])(scripts/[A-Za-z0-9._-]+)`)
	secretName := regexp.MustCompile(`(?i)(secret|passw|token|credential|access_key|private_key|api_key)`)
	for _, s := range stages {
		for _, in := range s.instrs {
			where := func(format string, a ...any) {
				fail("Dockerfile:%d %s: "+format, append([]any{in.line, in.cmd}, a...)...)
			}
			switch in.cmd {
			case "ADD":
				if regexp.MustCompile(`https?://`).MatchString(in.args) {
					where("ADD of a URL (fetch in a script with a checksum instead)")
				} else {
					where("use COPY, not ADD")
				}
			case "RUN":
				for _, m := range runScript.FindAllStringSubmatch(in.args, -1) {
					fi, err := os.Stat(filepath.Join(repoRoot, m[1]))
					if err != nil {
						where("runs %s, which is not in the repository", m[1])
					} else if fi.Mode()&0o111 == 0 {
						where("runs %s, which is not executable", m[1])
					}
				}
				if strings.Contains(in.args, "apt-get install") {
					if !strings.Contains(in.args, "--no-install-recommends") {
						where("apt-get install without --no-install-recommends")
					}
					if !strings.Contains(in.args, "rm -rf /var/lib/apt/lists") {
						where("apt lists not removed in the same RUN")
					}
				}
				if regexp.MustCompile(`(curl|wget)[^|]*\|\s*(ba)?sh`).MatchString(in.args) {
					where("pipes a download into a shell")
				}
			case "COPY":
				if strings.Contains(in.args, "--from=") {
					continue
				}
				f := strings.Fields(in.args)
				for _, src := range f[:len(f)-1] {
					if strings.HasPrefix(src, "--") {
						continue
					}
					if matches, _ := filepath.Glob(filepath.Join(repoRoot, src)); len(matches) == 0 {
						where("copies %s, which is not in the repository", src)
					}
				}
				if s == final {
					where("the runtime stage copies from the build context; copy from a build stage")
				}
			case "ARG", "ENV":
				for _, f := range strings.Fields(in.args) {
					k, _, _ := strings.Cut(f, "=")
					if secretName.MatchString(k) {
						where("%s looks like a secret; images must not carry secrets", k)
					}
				}
			}
			if regexp.MustCompile(`AKIA[0-9A-Z]{16}|aws_secret_access_key`).MatchString(in.args) {
				where("contains what looks like AWS credentials")
			}
		}
	}

	// Final stage: non-root user, entrypoint, environment, labels.
	var user, entrypoint string
	env := map[string]string{}
	labels := map[string]string{}
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "ENV":
			for _, f := range strings.Fields(in.args) {
				if k, v, ok := strings.Cut(f, "="); ok {
					env[k] = v
				}
			}
		case "LABEL":
			for _, m := range regexp.MustCompile(`([a-z0-9.-]+)="([^"]*)"`).FindAllStringSubmatch(in.args, -1) {
				labels[m[1]] = m[2]
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		fail("runtime stage runs as %q, want a non-root USER", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/usr/local/bin/imgbatch" {
		fail(`ENTRYPOINT %s, want exec form ["/usr/local/bin/imgbatch"]`, entrypoint)
	}
	if env["MALLOC_ARENA_MAX"] != "2" {
		fail("runtime ENV MALLOC_ARENA_MAX = %q, want 2", env["MALLOC_ARENA_MAX"])
	}
	for _, l := range []string{
		"org.opencontainers.image.source", "org.opencontainers.image.version",
		"org.opencontainers.image.licenses", "io.imgbatch.libvips.version", "io.imgbatch.libvips.license",
	} {
		if labels[l] == "" {
			fail("runtime stage has no label %s", l)
		}
	}
	if labels["io.imgbatch.libvips.license"] != "LGPL-2.1-or-later" {
		fail("libvips licence label %q", labels["io.imgbatch.libvips.license"])
	}

	// The libvips versions the Dockerfile labels are the ones the script installs.
	script, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "libvips-npm.sh"))
	if err != nil {
		fail("%v", err)
		return errs
	}
	for _, v := range []string{"SHARP_LIBVIPS_VERSION", "SHARP_LIBVIPS_DEV_VERSION", "LIBVIPS_VERSION", "LIBVIPS_HEADERS_VERSION"} {
		m := regexp.MustCompile(`(?m)^` + v + `=\$\{` + v + `:-([^}]+)\}`).FindSubmatch(script)
		if m == nil {
			fail("scripts/libvips-npm.sh has no default for %s", v)
			continue
		}
		for _, s := range stages {
			for _, in := range s.instrs {
				if in.cmd == "ARG" && strings.HasPrefix(in.args, v+"=") && in.args != v+"="+string(m[1]) {
					fail("Dockerfile:%d ARG %s, but scripts/libvips-npm.sh defaults to %s", in.line, in.args, m[1])
				}
			}
		}
	}

	return errs
}

func TestDockerfileLint(t *testing.T) {
	dockerfile := filepath.Join(repoRoot, "Dockerfile")
	for _, e := range lintDockerfile(t, dockerfile) {
		t.Error(e)
	}

	// The build context must not carry the repository's history or secrets.
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(".dockerignore: ", err)
	}
	for _, want := range []string{".git", ".env", "**/*.pem"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `/?$`).Match(ignore) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		if l := strings.TrimSpace(line); l == "cloudformation" || l == "scripts" || l == "go.mod" || l == "**/*.yaml" {
			t.Errorf(".dockerignore excludes %s, which the build needs", l)
		}
	}

	if bin, err := exec.LookPath("hadolint"); err == nil {
		out, err := exec.Command(bin, "--failure-threshold", "error", dockerfile).CombinedOutput()
		if err != nil {
			t.Errorf("hadolint: %v\n%s", err, out)
		}
	}
}

// TestDockerfileLintCatches breaks a copy of the Dockerfile in one way at a time and
// proves the lint notices.
func TestDockerfileLintCatches(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"USER 10001:10001", "USER root", "non-root USER"},
		{`ENTRYPOINT ["/usr/local/bin/imgbatch"]`, "ENTRYPOINT /usr/local/bin/imgbatch", "exec form"},
		{"ARG RUNTIME_IMAGE=debian:bookworm-slim", "ARG RUNTIME_IMAGE=debian", "not pinned"},
		{"ARG GO_IMAGE=golang:1.26-bookworm", "ARG GO_IMAGE=golang:latest", "not pinned"},
		{"RUN scripts/libvips-npm.sh /opt/libvips", "RUN scripts/libvips-nmp.sh /opt/libvips", "not in the repository"},
		{"COPY scripts/libvips-npm.sh scripts/libvips-npm.sh", "ADD https://example.com/v.sh scripts/libvips-npm.sh", "ADD of a URL"},
		{"ENV MALLOC_ARENA_MAX=2", "ENV MALLOC_ARENA_MAX=8", "MALLOC_ARENA_MAX"},
		{"ARG VERSION=dev\nARG REVISION", "ARG VERSION=dev\nARG AWS_SECRET_ACCESS_KEY=x\nARG REVISION", "looks like a secret"},
		{"WORKDIR /tmp", "RUN apt-get install -y gcc && rm -rf /var/lib/apt/lists/*\nWORKDIR /tmp", "--no-install-recommends"},
		{"ARG LIBVIPS_VERSION=8.18.8\nARG LIBVIPS_HEADERS_VERSION=8.18.7\nWORKDIR", "ARG LIBVIPS_VERSION=8.18.6\nARG LIBVIPS_HEADERS_VERSION=8.18.7\nWORKDIR", "defaults to 8.18.8"},
		{"ARG SHARP_LIBVIPS_DEV_VERSION=1.3.4\nARG LIBVIPS_VERSION=8.18.8\nARG LIBVIPS_HEADERS", "ARG SHARP_LIBVIPS_DEV_VERSION=1.3.3\nARG LIBVIPS_VERSION=8.18.8\nARG LIBVIPS_HEADERS", "defaults to 1.3.4"},
		{"USER 10001:10001", "COPY . /src\nUSER 10001:10001", "runtime stage copies from the build context"},
	} {
		src := string(orig)
		if !strings.Contains(src, tc.old) {
			t.Errorf("Dockerfile no longer contains %q: update the test", tc.old)
			continue
		}
		path := filepath.Join(t.TempDir(), "Dockerfile")
		if err := os.WriteFile(path, []byte(strings.Replace(src, tc.old, tc.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		errs := strings.Join(lintDockerfile(t, path), "\n")
		if !strings.Contains(errs, tc.want) {
			t.Errorf("replacing %q with %q: no problem mentions %q; got:\n%s", tc.old, tc.new, tc.want, errs)
		}
	}
}

// ourScripts are the scripts this package's owners maintain (scripts/ is shared).
var ourScripts = []string{"scripts/libvips-npm.sh", "scripts/build.sh", "scripts/vips-cli.sh", "scripts/install-deps.sh",
	"scripts/runtime-layer.sh", "scripts/image-local.sh"}

func TestScripts(t *testing.T) {
	shellcheck, _ := exec.LookPath("shellcheck")
	for _, s := range ourScripts {
		path := filepath.Join(repoRoot, s)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
		data, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(data), "#!/usr/bin/env bash\n") || !strings.Contains(string(data), "set -euo pipefail") {
			t.Errorf("%s: want a bash shebang and set -euo pipefail", s)
		}
		if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if shellcheck != "" {
			if out, err := exec.Command(shellcheck, path).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		}
	}
	if shellcheck == "" {
		t.Log("shellcheck not installed: only bash -n ran")
	}
}

// TestBuildScriptsRefuseMisuse runs the scripts' argument checks (no network, no build).
func TestBuildScriptsRefuseMisuse(t *testing.T) {
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "build.sh"))
	cmd.Env = append(os.Environ(), "LIBVIPS_PREFIX="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run scripts/libvips-npm.sh") {
		t.Errorf("build.sh without libvips: err %v, output %s", err, out)
	}
	cmd = exec.Command("bash", filepath.Join(repoRoot, "scripts", "libvips-npm.sh"), t.TempDir())
	cmd.Env = append(os.Environ(), "LIBVIPS_TARBALLS="+t.TempDir())
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not found") {
		t.Errorf("libvips-npm.sh with missing tarballs: err %v, output %s", err, out)
	}
	cmd = exec.Command("bash", filepath.Join(repoRoot, "scripts", "libvips-npm.sh"), t.TempDir())
	cmd.Env = append(os.Environ(), "SHARP_LIBVIPS_VERSION=0.0.0", "LIBVIPS_TARBALLS="+t.TempDir())
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no pinned integrity") {
		t.Errorf("libvips-npm.sh with an unpinned version: err %v, output %s", err, out)
	}
	cmd = exec.Command("bash", filepath.Join(repoRoot, "scripts", "libvips-npm.sh"), "relative/prefix")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "absolute") {
		t.Errorf("libvips-npm.sh with a relative prefix: err %v, output %s", err, out)
	}
}

func TestDeployMakefile(t *testing.T) {
	mk, err := exec.LookPath("make")
	testutil.Need(t, "make", err)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(mk, append([]string{"-f", "deploy.mk"}, args...)...)
		cmd.Dir = repoRoot
		// No AWS call may happen in a test: make -n only prints commands, and the
		// region is given so no `aws configure` is consulted.
		cmd.Env = append(os.Environ(), "AWS_REGION=", "PATH="+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-n", "deploy", "SUBNET_IDS=subnet-1,subnet-2", "SECURITY_GROUP_IDS=sg-1",
		"CONTAINER_CLI=true", "REGION=eu-west-1", "IMAGE_TAG=t1", "PARAMS=ArrayWidth=50")
	if err != nil {
		t.Fatalf("make -n deploy: %v\n%s", err, out)
	}
	for _, want := range []string{
		"$cli build --platform linux/amd64",
		`cli="true"`,
		"ecr get-login-password",
		"cloudformation deploy --template-file cloudformation/imgbatch.yaml --stack-name imgbatch",
		"--capabilities CAPABILITY_IAM",
		"--parameter-overrides SubnetIds=subnet-1,subnet-2 SecurityGroupIds=sg-1 ImageTag=t1 ArrayWidth=50",
		"--region eu-west-1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make -n deploy does not run %q:\n%s", want, out)
		}
	}
	out, err = run("-n", "undeploy", "STACK=s1")
	if err != nil || !strings.Contains(out, "cloudformation delete-stack --stack-name s1") {
		t.Errorf("make -n undeploy: %v\n%s", err, out)
	}
	// With no working container engine, image fails with a clear message.
	out, err = run("image", "CONTAINER_CLI=false")
	if err == nil || !strings.Contains(out, "no working docker or podman") {
		t.Errorf("make image without an engine: err %v\n%s", err, out)
	}
	out, err = run("deploy", "CONTAINER_CLI=false")
	if err == nil || !strings.Contains(out, "set SUBNET_IDS") {
		t.Errorf("make deploy without SUBNET_IDS: err %v\n%s", err, out)
	}
}
