package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imgbatch/imgbatch"
)

// SharpVersion is the sharp release the sharp baseline installs: it ships
// libvips 8.18.7 (@img/sharp-libvips-linux-x64@1.3.4), the same build
// scripts/libvips-npm.sh installs for imgbatch.
const SharpVersion = "0.35.5"

// sharpScript converts files with sharp, spec.pool operations in flight,
// and prints counts, output bytes, per-image latencies and versions.
const sharpScript = `'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');
const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
sharp.cache(false);
if (spec.vipsConcurrency > 0) sharp.concurrency(spec.vipsConcurrency);
const names = new Map();
const lat = [];
const errors = {};
let ok = 0, failed = 0, bytesOut = 0, next = 0;
async function one(file) {
  if (!names.has(file)) names.set(file, path.join(spec.outDir, names.size + '.' + spec.ext));
  let img = sharp(file).rotate().resize(spec.width || null, spec.height || null,
    { fit: spec.fit, withoutEnlargement: !spec.upscale, background: spec.format === 'jpeg' ? '#ffffff' : { r: 0, g: 0, b: 0, alpha: 0 } });
  switch (spec.format) {
    case 'jpeg': img = img.flatten({ background: '#ffffff' }).jpeg({ quality: spec.quality }); break;
    case 'webp': img = img.webp({ quality: spec.quality }); break;
    case 'png': img = img.png(); break;
    case 'avif': img = img.avif({ quality: spec.quality }); break;
  }
  const info = await img.toFile(names.get(file));
  return info.size;
}
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= spec.files.length) return;
    const t0 = process.hrtime.bigint();
    try {
      const size = await one(spec.files[i]); // not "bytesOut += await": that reads bytesOut before awaiting
      bytesOut += size;
      ok++;
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } catch (e) {
      failed++;
      const m = String(e.message || e).split('\n')[0];
      errors[m] = (errors[m] || 0) + 1;
    }
  }
}
Promise.all(Array.from({ length: spec.pool }, worker)).then(() => {
  process.stdout.write(JSON.stringify({ ok, failed, bytesOut, lat, errors,
    versions: sharp.versions, concurrency: sharp.concurrency() }) + '\n');
});
`

// sharpDir installs sharp into cacheDir/sharp-<version> once (npm) and
// writes the script; it returns the directory.
func sharpDir(ctx context.Context, cacheDir string, log io.Writer) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("the sharp baseline needs node and npm (apt-get install nodejs npm)")
	}
	dir := filepath.Join(cacheDir, "sharp-"+SharpVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "sharp", "package.json")); err != nil {
		if _, err := exec.LookPath("npm"); err != nil {
			return "", errors.New("the sharp baseline needs npm to install sharp")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true,"name":"imgbatch-bench-sharp"}`+"\n"), 0o644); err != nil {
			return "", err
		}
		fmt.Fprintf(log, "npm install sharp@%s into %s (once)\n", SharpVersion, dir)
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--save-exact", "sharp@"+SharpVersion)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm install sharp@%s: %v: %s", SharpVersion, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-sharp.js"), []byte(sharpScript), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// runSharp converts files with sharp, pool operations in flight and
// UV_THREADPOOL_SIZE large enough for them; libvips keeps sharp's default
// concurrency unless vipsConcurrency is set.
func runSharp(ctx context.Context, g *procGroup, env []string, dir string, files []string, v imgbatch.Variant, pool, vipsConcurrency int, out string) (extOutcome, error) {
	var o extOutcome
	if err := os.MkdirAll(out, 0o755); err != nil {
		return o, err
	}
	spec, err := json.Marshal(map[string]any{
		"files": files, "outDir": out, "ext": imgbatch.Ext(v.Format), "pool": pool, "vipsConcurrency": vipsConcurrency,
		"width": v.Width, "height": v.Height, "fit": v.Fit, "upscale": v.Upscale, "format": v.Format, "quality": v.Quality,
	})
	if err != nil {
		return o, err
	}
	cmd := command(ctx, append(env, "UV_THREADPOOL_SIZE="+strconv.Itoa(max(4, pool))), "node", filepath.Join(dir, "bench-sharp.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(spec)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := g.run(cmd); err != nil {
		return o, err
	}
	var r struct {
		OK, Failed  int
		BytesOut    int64
		Lat         []float64
		Errors      map[string]int
		Versions    map[string]string
		Concurrency int
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		return o, fmt.Errorf("sharp output %q: %w", stdout.String(), err)
	}
	lat := make([]time.Duration, len(r.Lat))
	for i, l := range r.Lat {
		lat[i] = time.Duration(l * float64(time.Millisecond))
	}
	o.succeeded, o.failed, o.bytesOut = r.OK, r.Failed, r.BytesOut
	o.stages = map[string]Latency{"item": Summarize(lat)}
	o.version = r.Versions["vips"]
	return o, nil
}
