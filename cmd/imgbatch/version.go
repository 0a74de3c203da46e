package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/vips"
)

// versionInfo is what `imgbatch version` prints. Libvips is asked of the
// library loaded into this process (vips_version), which is what runs;
// LibvipsHeaders is what the binary was compiled against.
type versionInfo struct {
	Imgbatch       string `json:"imgbatch"`
	Go             string `json:"go"`
	Platform       string `json:"platform"`
	Libvips        string `json:"libvips"`
	LibvipsHeaders string `json:"libvipsHeaders"`
	LibvipsPath    string `json:"libvipsPath"`
}

func currentVersion() versionInfo {
	return versionInfo{
		Imgbatch:       version,
		Go:             runtime.Version(),
		Platform:       runtime.GOOS + "/" + runtime.GOARCH,
		Libvips:        vips.Version(),
		LibvipsHeaders: vips.HeaderVersion(),
		LibvipsPath:    vips.LibraryPath(),
	}
}

// versionUsage and versionHelp are `imgbatch version --help`.
const (
	versionUsage = "print imgbatch's version and the libvips it runs (asked of the loaded library)"
	versionHelp  = `Prints imgbatch's version, the version of the libvips library this process
loaded (asked of the library at run time, not the headers), the libvips headers it
was compiled with, and the file of the loaded library. ldd shows the same file:
   imgbatch version
   imgbatch version --json
   ldd "$(command -v imgbatch)" | grep libvips`
)

func versionFlags() []cli.Flag { return []cli.Flag{jsonFlag("print one JSON object")} }

func versionAction(c *cli.Context) error {
	if c.Args().Present() {
		return withCode(exitUsage, fmt.Errorf("usage: imgbatch version [--json]"))
	}
	v := currentVersion()
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(w, "imgbatch %s (%s %s)\n", v.Imgbatch, v.Go, v.Platform)
	fmt.Fprintf(w, "libvips  %s (running; compiled with headers %s)\n", v.Libvips, v.LibvipsHeaders)
	fmt.Fprintf(w, "library  %s\n", orUnknown(v.LibvipsPath))
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
