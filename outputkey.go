package imgbatch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Output key templates (--output-key, Run.OutputKey) say where variant v of
// a source key goes, under the run's output prefix. A template is literal
// text with placeholders:
//
//	{key}     the whole source key, byte for byte
//	{dir}     the source key up to and including its last "/" ("" at the top)
//	{name}    the last segment of the key without its extension
//	{ext}     the source extension without the dot ("" if none)
//	{bucket}  the source bucket
//	{variant} the variant's name
//	{outext}  the output's extension (jpg, png, webp, avif)
//	{format}  the output's format (jpeg, png, webp, avif)
//	{hash}    4 hex digits of the SHA-256 of the source key (KeyHash)
//
// "{{" and "}}" are a literal "{" and "}". The extension is the last "." of
// the last segment and what follows it, when something precedes and follows
// the dot: ".hidden" and "name." have none, nor has "dir.v2/file".
const (
	// DefaultOutputKey is the template of new runs. It is injective: for a
	// given variant, stripping "<variant>/" and ".<outext>" gives back the
	// source key, so two source keys of one bucket never share an output,
	// whatever their extensions (photo.jpg → thumb/photo.jpg.jpg,
	// photo.png → thumb/photo.png.jpg).
	DefaultOutputKey = "{variant}/{key}.{outext}"
	// LegacyOutputKey is the layout of runs planned before templates (a
	// run.json without outputKey): the source extension is replaced, so
	// photo.jpg and photo.png both map to thumb/photo.jpg.
	LegacyOutputKey = "{variant}/{dir}{name}.{outext}"
)

// KeyTemplate is a parsed output key template.
type KeyTemplate struct {
	text  string
	parts []keyPart
}

// keyPart is a literal (field "") or a placeholder.
type keyPart struct {
	lit   string
	field string
}

var keyFields = map[string]bool{"key": true, "dir": true, "name": true, "ext": true, "bucket": true, "variant": true, "outext": true, "format": true, "hash": true}

// ParseKeyTemplate parses and checks an output key template; "" is
// LegacyOutputKey (the layout of a run.json without outputKey).
func ParseKeyTemplate(text string) (KeyTemplate, error) {
	if text == "" {
		text = LegacyOutputKey
	}
	t := KeyTemplate{text: text}
	var lit strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case (c == '{' || c == '}') && i+1 < len(text) && text[i+1] == c:
			lit.WriteByte(c)
			i++
		case c == '}':
			return t, fmt.Errorf("output key template %q: unmatched \"}\" at byte %d (write \"}}\" for a literal one)", text, i)
		case c == '{':
			end := strings.IndexByte(text[i:], '}')
			if end < 0 {
				return t, fmt.Errorf("output key template %q: unclosed \"{\" at byte %d (write \"{{\" for a literal one)", text, i)
			}
			f := text[i+1 : i+end]
			if !keyFields[f] {
				return t, fmt.Errorf("output key template %q: unknown placeholder {%s} (known: {key} {dir} {name} {ext} {bucket} {variant} {outext} {format} {hash})", text, f)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, keyPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, keyPart{field: f})
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, keyPart{lit: lit.String()})
	}
	if !t.Has("key") && !t.Has("name") {
		return t, fmt.Errorf("output key template %q names no source: use {key}, or {dir}{name}", text)
	}
	return t, nil
}

// String is the template's text.
func (t KeyTemplate) String() string { return t.text }

// Has reports whether the template uses placeholder field (without braces).
func (t KeyTemplate) Has(field string) bool {
	for _, p := range t.parts {
		if p.field == field {
			return true
		}
	}
	return false
}

// CheckRecipe refuses a template that cannot tell the variants of r apart.
func (t KeyTemplate) CheckRecipe(r Recipe) error {
	if len(r.Variants) > 1 && !t.Has("variant") {
		return fmt.Errorf("output key template %q has no {variant}, but recipe %q has %d variants: they would overwrite each other", t.text, r.Name, len(r.Variants))
	}
	return nil
}

// Key renders the output key of variant v of the source bucket/key, under
// prefix (trailing slashes of prefix are dropped). A key over S3's
// 1,024-byte limit is an error.
func (t KeyTemplate) Key(prefix string, v Variant, bucket, key string) (string, error) {
	var b strings.Builder
	if p := strings.TrimRight(prefix, "/"); p != "" {
		b.WriteString(p)
		b.WriteByte('/')
	}
	dir, name, ext := SplitKey(key)
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.lit)
		case "key":
			b.WriteString(key)
		case "dir":
			b.WriteString(dir)
		case "name":
			b.WriteString(name)
		case "ext":
			b.WriteString(ext)
		case "bucket":
			b.WriteString(bucket)
		case "variant":
			b.WriteString(v.Name)
		case "outext":
			b.WriteString(Ext(v.Format))
		case "format":
			b.WriteString(v.Format)
		case "hash":
			b.WriteString(KeyHash(key))
		}
	}
	k := b.String()
	if len(k) > MaxKeyBytes {
		return "", fmt.Errorf("output key for variant %q would be %d bytes, over S3's %d-byte limit", v.Name, len(k), MaxKeyBytes)
	}
	return k, nil
}

// KeyHash is the {hash} of a source key: the first 4 hex digits of its
// SHA-256. At the front of a template ("{hash}/{variant}/{key}.{outext}")
// it spreads a run's writes over 16 first characters (65,536 prefixes in
// all) where S3 can split a bucket's partitions, instead of the few hot
// prefixes the source's own layout would give (issue 20: a cold output
// bucket starts as one partition, about 3,500 PUTs a second). The cost:
// URLs change, and a person browsing the bucket no longer finds an image
// by its path. It depends on the key only, so every variant of a source
// sits under the same hash and anyone can compute it (sha256 of the key).
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:2])
}

// SplitKey splits a source key into its directory (up to and including the
// last "/"), the name of its last segment without extension, and the
// extension without its dot: dir+name+"."+ext is the key when ext != "",
// dir+name when ext == "".
func SplitKey(key string) (dir, name, ext string) {
	i := strings.LastIndexByte(key, '/')
	dir, name = key[:i+1], key[i+1:]
	if j := strings.LastIndexByte(name, '.'); j > 0 && j < len(name)-1 {
		name, ext = name[:j], name[j+1:]
	}
	return dir, name, ext
}

// KeyTemplate is the run's output key template (LegacyOutputKey when
// run.json has none).
func (r *Run) KeyTemplate() (KeyTemplate, error) { return ParseKeyTemplate(r.OutputKey) }

// OutputKeyOf is where variant v of item it goes in this run.
func (r *Run) OutputKeyOf(v Variant, it Item) (string, error) {
	t, err := r.KeyTemplate()
	if err != nil {
		return "", err
	}
	return t.Key(r.OutputPrefix, v, it.Bucket, it.Key)
}
