// Package catalog writes a run's catalog: one Parquet row per item that
// ran (succeeded, skipped or failed) with the source's facts, its
// placeholders and its outputs, so that questions such as "every CMYK TIFF
// over 50 MP" or "near-duplicates" are one Athena query (README, "The
// catalog"). Rows stream through a Writer into parts of at most PartRows
// rows; memory stays bounded by one row group.
package catalog

import "github.com/imgbatch/imgbatch"

// Row is one item. Column names are snake_case for Glue/Athena; the image
// columns are null for items that were not decoded (skipped: outputs
// current; failed).
type Row struct {
	RunID      string `parquet:"run_id"`
	Bucket     string `parquet:"bucket"`
	Key        string `parquet:"key"`
	VersionID  string `parquet:"version_id,optional"`
	ETag       string `parquet:"etag,optional"`
	Size       int64  `parquet:"size"`
	Status     string `parquet:"status"` // succeeded, skipped, failed
	ErrorCode  string `parquet:"error_code,optional"`
	HTTPStatus int32  `parquet:"http_status,optional"`
	Message    string `parquet:"message,optional"`
	Millis     int64  `parquet:"ms"`
	BytesIn    int64  `parquet:"bytes_in"`
	BytesOut   int64  `parquet:"bytes_out"`

	Format      *string  `parquet:"format"`
	Width       *int32   `parquet:"width"`
	Height      *int32   `parquet:"height"`
	Megapixels  *float64 `parquet:"megapixels"`
	Frames      *int32   `parquet:"frames"`
	Orientation *int32   `parquet:"orientation"`
	ICC         *bool    `parquet:"icc"`
	Space       *string  `parquet:"space"`
	Alpha       *bool    `parquet:"alpha"`
	BlurHash    string   `parquet:"blurhash,optional"`
	ThumbHash   string   `parquet:"thumbhash,optional"`
	Color       string   `parquet:"color,optional"`
	PHash       string   `parquet:"phash,optional"`

	Outputs []Output `parquet:"outputs,list"`
}

// Output is one written variant.
type Output struct {
	Variant string  `parquet:"variant"`
	Key     string  `parquet:"key"`
	Format  string  `parquet:"format"`
	Quality int32   `parquet:"q,optional"` // null: the format has none (PNG)
	Bytes   int64   `parquet:"bytes"`
	Score   float64 `parquet:"score,optional"` // SSIM when measured, else null
	Width   int32   `parquet:"width"`
	Height  int32   `parquet:"height"`
	Frames  int32   `parquet:"frames"`
	Copied  bool    `parquet:"copied"`
}

// RowOf is the catalog row of one result of run runID.
func RowOf(runID string, res imgbatch.Result) Row {
	it := res.Item
	r := Row{
		RunID: runID, Bucket: it.Bucket, Key: it.Key, VersionID: it.VersionID, ETag: it.ETag, Size: it.Size,
		Status: string(res.Status), ErrorCode: res.ErrorCode, HTTPStatus: int32(res.HTTPStatus), Message: res.Message,
		Millis: res.Millis, BytesIn: res.BytesIn, BytesOut: res.BytesOut,
	}
	if img := res.Image; img != nil {
		mp := float64(img.Width) * float64(img.Height) / 1e6
		r.Format, r.Width, r.Height, r.Megapixels = &img.Format, i32(img.Width), i32(img.Height), &mp
		r.Frames, r.Orientation, r.ICC, r.Space, r.Alpha = i32(img.Frames), i32(img.Orientation), &img.ICC, &img.Space, &img.Alpha
		r.BlurHash, r.ThumbHash, r.Color, r.PHash = img.BlurHash, img.ThumbHash, img.Color, img.PHash
	}
	for _, o := range res.Outputs {
		r.Outputs = append(r.Outputs, Output{
			Variant: o.Variant, Key: o.Key, Format: o.Format, Quality: int32(o.Quality), Bytes: o.Bytes, Score: o.Score,
			Width: int32(o.Width), Height: int32(o.Height), Frames: int32(max(1, o.Frames)), Copied: o.Copied,
		})
	}
	return r
}

func i32(v int) *int32 {
	x := int32(v)
	return &x
}
