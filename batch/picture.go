package batch

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/imgbatch/imgbatch"
)

// Picture is one line of picture.jsonl: what a run wrote for one source,
// in the shape an HTML <picture> needs. Sources are the <source> elements,
// the preferred type first (a browser takes the first it supports); each
// srcset lists the outputs of that type by width. Img is the <img>
// fallback: the largest JPEG, PNG or GIF output (any browser shows it),
// else the largest output. Variants record each variant's choice.
type Picture struct {
	Bucket   string           `json:"bucket"`
	Key      string           `json:"key"`
	Variants []PictureVariant `json:"variants"`
	Sources  []PictureSource  `json:"sources"`
	Img      PictureImg       `json:"img"`
}

// PictureVariant is what one variant of a source chose.
type PictureVariant struct {
	Variant string `json:"variant"`
	Key     string `json:"key"`
	Format  string `json:"format"`
	Type    string `json:"type"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bytes   int64  `json:"bytes"`
	Copied  bool   `json:"copied,omitempty"`
}

// PictureSource is one <source type="…" srcset="key 640w, …">.
type PictureSource struct {
	Type   string       `json:"type"`
	Srcset []SrcsetItem `json:"srcset"`
}

// SrcsetItem is one candidate of a srcset: an output key and its width.
type SrcsetItem struct {
	Key   string `json:"key"`
	Width int    `json:"w"`
}

// PictureImg is the <img src width height> fallback.
type PictureImg struct {
	Key    string `json:"key"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// typeRank orders <source> types: the smallest formats first, those every
// browser decodes last (they are the <img> fallback's kind).
var typeRank = map[string]int{"image/avif": 0, "image/webp": 1, "image/png": 2, "image/jpeg": 3, "image/gif": 4}

// pictureOf is the <picture> of a succeeded result; ok is false when it
// has no outputs.
func pictureOf(res imgbatch.Result) (Picture, bool) {
	if res.Status != imgbatch.StatusSucceeded || len(res.Outputs) == 0 {
		return Picture{}, false
	}
	p := Picture{Bucket: res.Item.Bucket, Key: res.Item.Key}
	byType := map[string]*PictureSource{}
	var fallback, largest *PictureVariant
	for _, o := range res.Outputs {
		pv := PictureVariant{Variant: o.Variant, Key: o.Key, Format: o.Format, Type: imgbatch.ContentType(o.Format),
			Width: o.Width, Height: o.Height, Bytes: o.Bytes, Copied: o.Copied}
		p.Variants = append(p.Variants, pv)
		src := byType[pv.Type]
		if src == nil {
			src = &PictureSource{Type: pv.Type}
			byType[pv.Type] = src
		}
		src.Srcset = append(src.Srcset, SrcsetItem{Key: o.Key, Width: o.Width})
		v := &p.Variants[len(p.Variants)-1]
		if largest == nil || v.Width > largest.Width {
			largest = v
		}
		if r := typeRank[v.Type]; r >= 2 && (fallback == nil || v.Width > fallback.Width) {
			fallback = v
		}
	}
	for _, s := range byType {
		slices.SortStableFunc(s.Srcset, func(a, b SrcsetItem) int { return cmp.Compare(a.Width, b.Width) })
		p.Sources = append(p.Sources, *s)
	}
	slices.SortFunc(p.Sources, func(a, b PictureSource) int {
		return cmp.Or(cmp.Compare(rankOf(a.Type), rankOf(b.Type)), cmp.Compare(a.Type, b.Type))
	})
	img := cmp.Or(fallback, largest)
	p.Img = PictureImg{Key: img.Key, Width: img.Width, Height: img.Height}
	return p, true
}

func rankOf(typ string) int {
	if r, ok := typeRank[typ]; ok {
		return r
	}
	return len(typeRank)
}

// pictureFile is picture.jsonl while the reports are written: a temporary
// file (constant memory), uploaded beside report.csv.
type pictureFile struct {
	f   *os.File
	b   *bufio.Writer
	enc *json.Encoder
	err error
}

func newPictureFile() (*pictureFile, error) {
	f, err := os.CreateTemp("", "imgbatch-picture-*.jsonl")
	if err != nil {
		return nil, err
	}
	p := &pictureFile{f: f, b: bufio.NewWriter(f)}
	p.enc = json.NewEncoder(p.b)
	p.enc.SetEscapeHTML(false)
	return p, nil
}

// add writes the line of a result with outputs; it returns the line.
func (p *pictureFile) add(res imgbatch.Result) (Picture, bool) {
	pic, ok := pictureOf(res)
	if ok && p.err == nil {
		p.err = p.enc.Encode(pic)
	}
	return pic, ok
}

func (p *pictureFile) upload(ctx context.Context, s *Store, key string) error {
	if p.err != nil {
		return p.err
	}
	if err := p.b.Flush(); err != nil {
		return err
	}
	return s.PutFile(ctx, key, p.f, "application/x-ndjson")
}

func (p *pictureFile) remove() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// Markup is the <picture> element of p, its keys as relative URLs
// (percent-encoded; prefix them with the output bucket's base URL).
func (p Picture) Markup() string {
	var b strings.Builder
	b.WriteString("<picture>\n")
	for _, s := range p.Sources {
		b.WriteString(`  <source type="` + s.Type + `" srcset="`)
		for i, c := range s.Srcset {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %dw", keyURL(c.Key), c.Width)
		}
		b.WriteString("\">\n")
	}
	fmt.Fprintf(&b, "  <img src=\"%s\" width=\"%d\" height=\"%d\" alt=\"\">\n</picture>", keyURL(p.Img.Key), p.Img.Width, p.Img.Height)
	return b.String()
}

// keyURL is a key as a relative URL path: percent-encoded, commas too (a
// srcset splits its candidates at them), quotes too (the attribute).
func keyURL(key string) string {
	u := (&url.URL{Path: key}).EscapedPath()
	return strings.NewReplacer(",", "%2C", `"`, "%22", "'", "%27").Replace(u)
}
