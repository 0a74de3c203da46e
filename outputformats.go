package imgbatch

import "slices"

// OutputFormats are the formats variant v may write, in the order of its
// recipe: its Format, or for FormatAuto its candidate Formats (the first
// one, webp, when it names none, as the renderer does). A KeepSmallerSource
// copy is one of them too: a source is copied only in a format the
// variant may write. Output keys, the plan's collision check and the
// incremental check all go over this list.
func (v Variant) OutputFormats() []string {
	if v.Format != FormatAuto {
		return []string{canonFormat(v.Format)}
	}
	if len(v.Formats) == 0 {
		return []string{FormatWebP}
	}
	var fs []string
	for _, f := range v.Formats {
		if f = canonFormat(f); !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Writing is v as it wrote format f: the variant whose Format is the choice
// of a FormatAuto variant, for its output key ({outext}, {format}) and
// Content-Type.
func (v Variant) Writing(f string) Variant {
	v.Format = canonFormat(f)
	return v
}

func canonFormat(f string) string {
	if f == "jpg" {
		return FormatJPEG
	}
	return f
}

// Keys are the output keys variant v of bucket/key may have, one per
// format of OutputFormats, in that order (fewer when the template names
// neither {outext} nor {format}: the formats share one key). An error is
// Key's, for the first key over S3's limit.
func (t KeyTemplate) Keys(prefix string, v Variant, bucket, key string) ([]string, error) {
	var keys []string
	for _, f := range v.OutputFormats() {
		k, err := t.Key(prefix, v.Writing(f), bucket, key)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
