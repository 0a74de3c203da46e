package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/heic"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// heifDecodeUsage and heifDecodeHelp are `imgbatch heif-decode --help`:
// the HEIC helper the worker starts per HEVC-coded HEIF when its libvips
// cannot decode HEVC (package heic): HEIC on stdin, an uncompressed TIFF
// on stdout, typed failures as exit code + stderr.
const (
	heifDecodeUsage = "decode one HEIC from stdin to an uncompressed TIFF on stdout in a limited process (started by imgbatch work)"
	heifDecodeHelp  = `Limits itself (no core dumps, RLIMIT_CPU, RLIMIT_AS), opens Debian's
libheif.so.1 with dlopen (or $IMGBATCH_HEIC_LIBHEIF), refuses a primary image over
--max-pixels from its header, decodes it upright (irot/imir applied by libheif) to
8-bit RGB or RGBA and writes a TIFF with its ICC profile. Exit codes: 0 ok,
3 corrupt, 4 too many pixels or bytes, 5 unsupported (libheif or its HEVC decoder
missing), 6 over the memory limit, 7 usage or internal.

Flags:
`
)

// heifDecodeAction runs the helper; heic.RunHelper parses its own flags.
func heifDecodeAction(c *cli.Context) error {
	args := c.Args().Slice()
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return cli.ShowSubcommandHelp(c)
		}
	}
	os.Exit(heic.RunHelper(args, os.Stdin, os.Stdout, os.Stderr))
	return nil
}

// heicFlag is --heic of work and local.
var heicFlag = &cli.StringFlag{Name: "heic", Value: "on", EnvVars: []string{heic.EnvMode},
	Usage: "decode HEVC-coded HEIC (iPhone photos) in a limited helper process with Debian's libheif1 + libde265 when the linked libvips cannot (on: when libheif1 is installed, otherwise such items fail as UnsupportedFormat naming it; off: they fail as UnsupportedFormat). HEVC is patent-encumbered and libde265 is LGPL-3.0: see the README"}

// heicDecoder is the decoder --heic asks for.
func heicDecoder(c *cli.Context) (*heic.Decoder, error) {
	on, err := heic.ParseMode(c.String("heic"))
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("%w", err))
	}
	return &heic.Decoder{Off: !on}, nil
}

// logHEIC says at start-up how this worker decodes HEIC: libvips itself,
// the helper (one probe run: libheif's version), or not at all and why.
func logHEIC(ctx context.Context, log *slog.Logger, d *heic.Decoder) {
	switch {
	case vips.Supported(sniff.HEIF):
		log.Info("heic: decoded by libvips", "libvips", vips.Version())
	case !d.Enabled():
		log.Info("heic: off (--heic=off): HEIC items fail as UnsupportedFormat")
	default:
		if v, err := d.Probe(ctx); err != nil {
			log.Warn("heic: on, but the helper cannot decode HEVC here: HEIC items fail as UnsupportedFormat", "reason", err.Error())
		} else {
			log.Info("heic: decoded in a helper process", "helper", v)
		}
	}
}
