package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imgbatch/imgbatch/sniff"
)

// File is one input of a dataset, with what its header says.
type File struct {
	Rel    string `json:"rel"` // slash-separated path under the dataset directory; also the S3 key
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Format string `json:"format,omitempty"` // sniffed format; empty when sniff refused the file
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Broken files are refused by imgbatch's guard (sniff, pixel budget).
	// Only imgbatch is given them: libvips 8.14 on its own hangs or aborts
	// on some of them, so the baselines get the good files only.
	Broken bool   `json:"broken,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// MegaPixels of the image (0 for broken files).
func (f File) MegaPixels() float64 {
	if f.Broken {
		return 0
	}
	return float64(f.Width) * float64(f.Height) / 1e6
}

// Dataset is a directory of inputs.
type Dataset struct {
	Name   string `json:"name"`
	Dir    string `json:"dir"`
	Origin string `json:"origin"` // how it was made
	Files  []File `json:"files"`
}

// Path is where f is on disk.
func (d *Dataset) Path(f File) string { return filepath.Join(d.Dir, filepath.FromSlash(f.Rel)) }

// Good is the files imgbatch's guard accepts.
func (d *Dataset) Good() []File {
	var out []File
	for _, f := range d.Files {
		if !f.Broken {
			out = append(out, f)
		}
	}
	return out
}

// Digest identifies the dataset's content: two machines with the same
// digest benchmarked the same bytes.
func (d *Dataset) Digest() string {
	h := sha256.New()
	for _, f := range d.Files {
		fmt.Fprintf(h, "%s %d %s\n", f.Rel, f.Size, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Summary is a one-line description: counts, formats, sizes.
func (d *Dataset) Summary() string {
	formats := map[string]int{}
	var bytes int64
	var mp float64
	broken := 0
	for _, f := range d.Files {
		bytes += f.Size
		if f.Broken {
			broken++
			continue
		}
		formats[f.Format]++
		mp += f.MegaPixels()
	}
	var fs []string
	for k, v := range formats {
		fs = append(fs, fmt.Sprintf("%d %s", v, k))
	}
	slices.Sort(fs)
	good := len(d.Files) - broken
	s := fmt.Sprintf("%d files (%s", len(d.Files), strings.Join(fs, ", "))
	if broken > 0 {
		s += fmt.Sprintf(", %d broken", broken)
	}
	s += fmt.Sprintf("), %.1f MB", float64(bytes)/1e6)
	if good > 0 {
		s += fmt.Sprintf(", %.1f MP per image on average", mp/float64(good))
	}
	return s
}

// Inspect reads one file and fills in what sniff says about it; files over
// maxPixels are marked broken, as the worker would refuse them.
func Inspect(path, rel string, maxPixels int64) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	f := File{Rel: rel, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	info, err := sniff.Inspect(b)
	switch {
	case err != nil:
		f.Broken, f.Reason = true, err.Error()
	case info.Pixels() > maxPixels:
		f.Broken, f.Reason = true, fmt.Sprintf("%dx%d x %d pages is over the %d-pixel budget", info.Width, info.Height, max(info.Pages, 1), maxPixels)
	default:
		f.Format, f.Width, f.Height = string(info.Format), info.Width, info.Height
	}
	return f, nil
}

// LoadDir makes a dataset of every regular file under dir (dot files and
// directories skipped), sorted by path.
func LoadDir(name, dir string, maxPixels int64) (*Dataset, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: name, Dir: abs, Origin: "directory " + abs}
	err = filepath.WalkDir(abs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != abs {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		f, err := Inspect(p, filepath.ToSlash(rel), maxPixels)
		if err != nil {
			return err
		}
		d.Files = append(d.Files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dir, err)
	}
	if len(d.Files) == 0 {
		return nil, fmt.Errorf("dataset %s has no files", dir)
	}
	slices.SortFunc(d.Files, func(a, b File) int { return strings.Compare(a.Rel, b.Rel) })
	return d, nil
}

// A prepared dataset lives in root: root/dataset.json describes it,
// root/images/ holds its files.
const (
	manifestName = "dataset.json"
	imagesDir    = "images"
)

func writeManifest(root string, d *Dataset) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, manifestName), b, 0o644)
}

func readManifest(root string) (*Dataset, error) {
	b, err := os.ReadFile(filepath.Join(root, manifestName))
	if err != nil {
		return nil, err
	}
	var d Dataset
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(root, manifestName), err)
	}
	d.Dir = filepath.Join(root, imagesDir)
	return &d, nil
}
