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
// libvips 8.18.8 (@img/sharp-libvips-linux-x64@1.3.5), the libvips
// imgbatch links (scripts/libvips-npm.sh).
const SharpVersion = "0.35.6"

// sharpScript converts files with sharp, spec.pool operations in flight,
// and prints counts, output bytes, per-image latencies, versions and the
// concurrency sharp ran with. One variant: one pipeline per file. Several:
// one pipeline per file and a clone() per variant (sharp's documented way
// to make several outputs of one input), all awaited together. Variant v
// of the i-th distinct file goes to outDir/<v.name>/<i, 6 digits>.<ext>.
const sharpScript = `'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');
const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
sharp.cache(false);
if (spec.concurrency > 0) sharp.concurrency(spec.concurrency);
for (const v of spec.variants) fs.mkdirSync(path.join(spec.outDir, v.name), { recursive: true });
const index = new Map();
const lat = [];
const errors = {};
let ok = 0, failed = 0, bytesOut = 0, next = 0;
// opts adds a variant's encoder options (imgbatch.EncoderOptions) to
// sharp's output options, only those set: without any, sharp's defaults.
function opts(o, v) {
  const e = v.encoder || {};
  const sub = { on: '4:2:0', off: '4:4:4' }[e.subsample];
  const set = (k, x) => { if (x !== undefined && x !== false) o[k] = x; };
  switch (v.format) {
    case 'jpeg': set('progressive', e.progressive); set('chromaSubsampling', sub); set('trellisQuantisation', e.trellis); set('quantisationTable', e.quantTable); break;
    case 'webp': set('lossless', e.lossless); set('smartSubsample', e.subsample === 'off'); set('effort', e.effort); break;
    case 'avif': set('lossless', e.lossless); set('chromaSubsampling', sub); set('effort', e.effort); break;
    case 'png': set('progressive', e.progressive); set('compressionLevel', e.effort); break;
  }
  return o;
}
function variant(img, v) {
  img = img.resize(v.width || null, v.height || null,
    { fit: v.fit, withoutEnlargement: !v.upscale, background: v.format === 'jpeg' ? '#ffffff' : { r: 0, g: 0, b: 0, alpha: 0 } });
  const icc = (v.encoder || {}).icc;
  if (icc === 'keep') img = img.keepIccProfile();
  if (icc === 'p3') img = img.withIccProfile('p3');
  switch (v.format) {
    case 'jpeg': return img.flatten({ background: '#ffffff' }).jpeg(opts({ quality: v.quality }, v));
    case 'webp': return img.webp(opts({ quality: v.quality }, v));
    case 'png': return img.png(opts({}, v));
    case 'avif': return img.avif(opts({ quality: v.quality }, v));
  }
  return img;
}
async function one(file) {
  if (!index.has(file)) index.set(file, String(index.size).padStart(6, '0'));
  const name = (v) => path.join(spec.outDir, v.name, index.get(file) + '.' + v.ext);
  const vs = spec.variants;
  if (vs.length === 1) {
    return (await variant(sharp(file).rotate(), vs[0]).toFile(name(vs[0]))).size;
  }
  const pipeline = sharp(file).rotate();
  const infos = await Promise.all(vs.map((v) => variant(pipeline.clone(), v).toFile(name(v))));
  return infos.reduce((n, info) => n + info.size, 0);
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

// runSharp converts files with sharp into recipe r, pool operations in
// flight and UV_THREADPOOL_SIZE large enough for them; setting SharpConc1
// sets sharp.concurrency(1), SharpDefault leaves sharp's default.
func runSharp(ctx context.Context, g *procGroup, env []string, dir string, files []string, r imgbatch.Recipe, pool int, setting, out string) (extOutcome, error) {
	var o extOutcome
	if err := os.MkdirAll(out, 0o755); err != nil {
		return o, err
	}
	type sv struct {
		imgbatch.Variant
		Ext string `json:"ext"`
	}
	vs := make([]sv, len(r.Variants))
	for i, v := range r.Variants {
		vs[i] = sv{v, imgbatch.Ext(v.Format)}
	}
	conc := 0
	if setting == SharpConc1 {
		conc = 1
	}
	spec, err := json.Marshal(map[string]any{"files": files, "outDir": out, "pool": pool, "concurrency": conc, "variants": vs})
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
	var res struct {
		OK, Failed  int
		BytesOut    int64
		Lat         []float64
		Errors      map[string]int
		Versions    map[string]string
		Concurrency int
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		return o, fmt.Errorf("sharp output %q: %w", stdout.String(), err)
	}
	lat := make([]time.Duration, len(res.Lat))
	for i, l := range res.Lat {
		lat[i] = time.Duration(l * float64(time.Millisecond))
	}
	o.succeeded, o.failed, o.bytesOut, o.errors = res.OK, res.Failed, res.BytesOut, res.Errors
	o.stages = map[string]Latency{"item": Summarize(lat)}
	o.version = res.Versions["vips"]
	o.sharpConcurrency = res.Concurrency
	return o, nil
}
