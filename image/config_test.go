package image

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// config is an image's runtime configuration and the instructions that make its files, as
// a Dockerfile stage (or `runtime-layer.sh --config`) states them.
type config struct {
	env, labels         map[string]string
	user, workdir       string
	entrypoint, cmd     []string
	runs, copies, froms []string
}

var (
	labelPair = regexp.MustCompile(`([A-Za-z0-9._-]+)="([^"]*)"`)
	argRef    = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)
)

// instructions joins continued lines and drops comments and blank lines.
func instructions(text string) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// parseConfig reads instructions; ARG defaults expand later ${NAME}s (args, when not nil,
// holds the ARGs declared before).
func parseConfig(t *testing.T, text string, args map[string]string) *config {
	t.Helper()
	c := &config{env: map[string]string{}, labels: map[string]string{}}
	if args == nil {
		args = map[string]string{}
	}
	for _, in := range instructions(text) {
		cmd, rest, _ := strings.Cut(in, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(cmd) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = strings.Trim(v, `"`)
			continue
		case "RUN":
			c.runs = append(c.runs, rest)
			continue
		}
		rest = argRef.ReplaceAllStringFunc(rest, func(m string) string {
			if v, ok := args[argRef.FindStringSubmatch(m)[1]]; ok {
				return v
			}
			return m
		})
		switch strings.ToUpper(cmd) {
		case "FROM":
			c.froms = append(c.froms, rest)
		case "ENV":
			for _, f := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(f, "="); ok {
					c.env[k] = strings.Trim(v, `"`)
				}
			}
		case "LABEL":
			for _, m := range labelPair.FindAllStringSubmatch(rest, -1) {
				c.labels[m[1]] = m[2]
			}
		case "USER":
			c.user = rest
		case "WORKDIR":
			c.workdir = rest
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s %s: want the exec (JSON) form: %v", cmd, rest, err)
			}
			if strings.ToUpper(cmd) == "CMD" {
				c.cmd = v
			} else {
				c.entrypoint = v
			}
		case "COPY", "ADD":
			c.copies = append(c.copies, in)
		}
	}
	return c
}

func (c *config) uid(t *testing.T) int { return c.id(t, 0) }
func (c *config) gid(t *testing.T) int { return c.id(t, 1) }

func (c *config) id(t *testing.T, i int) int {
	t.Helper()
	f := strings.Split(c.user, ":")
	n, err := strconv.Atoi(f[min(i, len(f)-1)])
	if err != nil || n == 0 {
		t.Fatalf("USER %q: want numeric, non-root uid:gid", c.user)
	}
	return n
}

// dockerfileRuntime is the Dockerfile's last stage with the global ARGs' defaults.
func dockerfileRuntime(t *testing.T) *config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(text, -1)
	if len(i) < 2 {
		t.Fatalf("Dockerfile has %d stages", len(i))
	}
	global := map[string]string{}
	parseConfig(t, text[:i[0][0]], global)
	return parseConfig(t, text[i[len(i)-1][0]:], global)
}

// scriptConfig is `scripts/runtime-layer.sh --config` with the defaults the Dockerfile's
// ARGs have (no VERSION, REVISION, … from the environment).
func scriptConfig(t *testing.T) *config {
	t.Helper()
	cmd := exec.Command(filepath.Join(testutil.RepoRoot(), "scripts", "runtime-layer.sh"), "--config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("runtime-layer.sh --config: %v", err)
	}
	return parseConfig(t, string(out), nil)
}

// TestDockerfileMatchesRuntimeLayer: the Dockerfile's runtime stage and the local build say
// the same about the image. Its files and users come only from scripts/runtime-layer.sh (its
// two steps, no COPY or other RUN), and its ENV, LABEL, USER, WORKDIR, ENTRYPOINT and CMD
// equal the script's --config, which the local build writes as the image's config.
func TestDockerfileMatchesRuntimeLayer(t *testing.T) {
	df, sc := dockerfileRuntime(t), scriptConfig(t)
	if len(df.copies) > 0 {
		t.Errorf("the runtime stage copies files itself (%q): scripts/runtime-layer.sh must place every file, or the local build drifts", df.copies)
	}
	var steps []string
	for _, r := range df.runs {
		m := regexp.MustCompile(`runtime-layer\.sh / --step (\w+)`).FindStringSubmatch(r)
		if m == nil || !strings.Contains(r, "source=scripts/runtime-layer.sh") {
			t.Errorf("the runtime stage runs %q: only scripts/runtime-layer.sh (bind-mounted) may change the layer", r)
			continue
		}
		steps = append(steps, m[1])
	}
	if !reflect.DeepEqual(steps, []string{"packages", "files"}) {
		t.Errorf("runtime-layer.sh steps %q in the Dockerfile, want [packages files]", steps)
	}
	for _, c := range []struct {
		what     string
		df, want any
	}{
		{"ENV", df.env, sc.env}, {"LABEL", df.labels, sc.labels}, {"USER", df.user, sc.user},
		{"WORKDIR", df.workdir, sc.workdir}, {"ENTRYPOINT", df.entrypoint, sc.entrypoint}, {"CMD", df.cmd, sc.cmd},
	} {
		if !reflect.DeepEqual(c.df, c.want) {
			t.Errorf("%s: Dockerfile %v, runtime-layer.sh --config %v", c.what, c.df, c.want)
		}
	}
	if len(sc.labels) < 10 || sc.labels["io.imgbatch.libvips.version"] == "" || sc.env["MALLOC_ARENA_MAX"] != "2" {
		t.Errorf("runtime-layer.sh --config says little: labels %v, env %v", sc.labels, sc.env)
	}
}

// TestDockerfileDriftIsCaught changes the Dockerfile's runtime stage one way at a time and
// proves the comparison notices.
func TestDockerfileDriftIsCaught(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	sc := scriptConfig(t)
	for _, tc := range []struct{ old, new string }{
		{"VIPS_BLOCK_UNTRUSTED=1", "VIPS_BLOCK_UNTRUSTED=0"},
		{"USER 10001:10001", "USER 10002:10002"},
		{`CMD ["--help"]`, `CMD ["work"]`},
		{`io.imgbatch.libvips.license="LGPL-2.1-or-later"`, `io.imgbatch.libvips.license="MIT"`},
		{"--step files", "--step all"},
	} {
		src := string(orig)
		if !strings.Contains(src, tc.old) {
			t.Errorf("Dockerfile no longer contains %q: update the test", tc.old)
			continue
		}
		i := strings.LastIndex(src, "\nFROM ")
		df := parseConfig(t, strings.Replace(src[i:], tc.old, tc.new, 1), map[string]string{})
		same := reflect.DeepEqual(df.env, sc.env) && df.user == sc.user && reflect.DeepEqual(df.cmd, sc.cmd) &&
			reflect.DeepEqual(df.labels, sc.labels) && strings.Contains(strings.Join(df.runs, "\n"), "--step files")
		if same {
			t.Errorf("replacing %q with %q went unnoticed", tc.old, tc.new)
		}
	}
}
