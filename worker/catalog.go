package worker

import (
	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/placeholder"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// imageInfo is the catalog's record of a rendered source: format, size
// (the first frame as stored, before EXIF orientation) and frames from the
// header (sniff); orientation, ICC, colour space and alpha from what
// libvips saw (facts, nil when the render said nothing); the recipe's
// placeholders from the small copy. A HEIC the helper decoded reaches
// libvips as an upright TIFF, so its orientation is the header's (0 when
// sniff cannot read it cheaply), not the TIFF's. Placeholders that cannot
// be made are left out and logged: they are worth no item.
func (w *Worker) imageInfo(j *job, si sniff.Info, facts *vips.Info, placeholders []string) *imgbatch.ImageInfo {
	img := &imgbatch.ImageInfo{
		Format: string(si.Format), Width: si.Width, Height: si.Height, Frames: max(1, si.Pages),
		Orientation: si.Orientation,
	}
	if facts == nil {
		return img
	}
	if !viaHelper(si.Format) && facts.Orientation > 0 {
		img.Orientation = facts.Orientation
	}
	img.ICC, img.Alpha, img.Space = facts.ICC, facts.Alpha, facts.Space
	if len(placeholders) == 0 {
		return img
	}
	if facts.Small == nil {
		w.cfg.Log.Warn("no small image for the placeholders", "item", j.task.Item.String())
		return img
	}
	s := facts.Small
	set, err := placeholder.Compute(placeholder.Image{Width: s.Width, Height: s.Height, Bands: s.Bands, Pix: s.Pix}, placeholders)
	if err != nil {
		w.cfg.Log.Warn("placeholders failed", "item", j.task.Item.String(), "small", s.String(), "err", err)
		return img
	}
	img.BlurHash, img.ThumbHash, img.Color, img.PHash = set.BlurHash, set.ThumbHash, set.Color, set.PHash
	return img
}
