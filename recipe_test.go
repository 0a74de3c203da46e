package imgbatch

import (
	"strings"
	"testing"
)

func TestOutputKey(t *testing.T) {
	jpg := Variant{Name: "thumb", Width: 10, Format: FormatJPEG}
	webp := Variant{Name: "w", Width: 10, Format: FormatWebP}
	for _, c := range []struct {
		prefix string
		v      Variant
		key    string
		want   string
	}{
		{"", jpg, "a.jpg", "thumb/a.jpg"},
		{"out", jpg, "a.png", "out/thumb/a.jpg"},
		{"out/", jpg, "a.png", "out/thumb/a.jpg"},
		{"out//", jpg, "a.png", "out/thumb/a.jpg"},
		{"/", jpg, "a.png", "thumb/a.jpg"},
		{"", webp, "photos/2024/IMG_0001.JPG", "w/photos/2024/IMG_0001.webp"},
		// Unicode, spaces, '+', '%': kept byte for byte.
		{"", jpg, "fotos/ünïcode + plus/日本 写真.jpeg", "thumb/fotos/ünïcode + plus/日本 写真.jpg"},
		{"", jpg, "100%/a%2Fb%20c.png", "thumb/100%/a%2Fb%20c.jpg"},
		{"", jpg, "a+b=c&d?e#f.gif", "thumb/a+b=c&d?e#f.jpg"},
		// S3 keys are not paths: "..", "//" and a leading "/" stay.
		{"", jpg, "a/../b.jpg", "thumb/a/../b.jpg"},
		{"", jpg, "../../etc/passwd", "thumb/../../etc/passwd.jpg"},
		{"", jpg, "..", "thumb/...jpg"},
		{"", jpg, "/leading.jpg", "thumb//leading.jpg"},
		{"", jpg, "a//b.jpg", "thumb/a//b.jpg"},
		// No extension, trailing dot, dotfiles, dots in directories.
		{"", jpg, "noext", "thumb/noext.jpg"},
		{"", jpg, "photo.", "thumb/photo..jpg"},
		{"", jpg, ".hidden", "thumb/.hidden.jpg"},
		{"", jpg, "dir/.hidden", "thumb/dir/.hidden.jpg"},
		{"", jpg, "dir/.hidden.png", "thumb/dir/.hidden.jpg"},
		{"", jpg, "dir.v2/file", "thumb/dir.v2/file.jpg"},
		{"", jpg, "dir.v2/file.tar.gz", "thumb/dir.v2/file.tar.jpg"},
		{"", jpg, "dir/", "thumb/dir/.jpg"},
		// The legacy layout lets two sources meet (a.jpg, "a. b" and a.png
		// all go to thumb/a.jpg): new runs use DefaultOutputKey, and the
		// plan refuses collisions (outputkey_test.go, batch).
		{"", jpg, "a. b", "thumb/a.jpg"},
		{"", Variant{Name: "p", Width: 1, Format: FormatPNG}, "x.jpg", "p/x.png"},
		{"", Variant{Name: "a", Width: 1, Format: FormatAVIF}, "x.jpg", "a/x.avif"},
	} {
		got, err := OutputKey(c.prefix, c.v, c.key)
		if err != nil || got != c.want {
			t.Errorf("OutputKey(%q, %s, %q) = %q, %v; want %q", c.prefix, c.v.Name, c.key, got, err, c.want)
		}
	}
}

func TestOutputKeyDistinctSourcesStayDistinct(t *testing.T) {
	// Keys that differ only in what the output key could blur must not meet.
	v := Variant{Name: "t", Width: 1, Format: FormatJPEG}
	seen := map[string]string{}
	for _, k := range []string{"a", "a.", "a..", ".a", "a/b", "a//b", "/a/b", "a/./b", "a/../b", "A"} {
		got, err := OutputKey("p", v, k)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%q and %q both map to %q", prev, k, got)
		}
		seen[got] = k
	}
}

func TestOutputKeyTooLong(t *testing.T) {
	v := Variant{Name: "thumb", Width: 1, Format: FormatWebP}
	// Exactly at the limit: "thumb/" + base + ".webp" = 1024 bytes.
	base := strings.Repeat("k", MaxKeyBytes-len("thumb/")-len(".webp"))
	if k, err := OutputKey("", v, base+".jpg"); err != nil || len(k) != MaxKeyBytes {
		t.Fatalf("key of %d bytes: %v", len(k), err)
	}
	if _, err := OutputKey("", v, base+"k.jpg"); err == nil {
		t.Fatal("1,025-byte output key accepted")
	}
	// Bytes, not characters: 'ü' is two bytes.
	if _, err := OutputKey("", v, strings.Repeat("ü", 510)+".jpg"); err == nil {
		t.Fatal("key of 510 two-byte runes (1,031 bytes with the variant) accepted")
	}
	if _, err := OutputKey(strings.Repeat("p", 1020), v, "a.jpg"); err == nil {
		t.Fatal("long prefix accepted")
	}
}

// TestShrinkOnLoadNormalize: "fast" is the default, spelled or not, so a
// recipe that names it keeps the default's hash (its outputs are the same
// bytes); "fine" and "off" change the outputs and so the hash; anything
// else is refused with the values that are allowed.
func TestShrinkOnLoadNormalize(t *testing.T) {
	base := Recipe{Name: "r", Variants: []Variant{{Name: "v", Width: 512, Format: FormatJPEG}}}
	hash := func(s string) (string, error) {
		r := base
		r.Variants = []Variant{base.Variants[0]}
		r.Variants[0].ShrinkOnLoad = s
		if err := r.Normalize(); err != nil {
			return "", err
		}
		return r.Hash(), nil
	}
	def, err := hash("")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := hash(ShrinkFast); err != nil || h != def {
		t.Errorf(`"fast": hash %s, err %v; want the default's %s`, h, err, def)
	}
	for _, s := range []string{ShrinkFine, ShrinkOff} {
		if h, err := hash(s); err != nil || h == def {
			t.Errorf("%q: hash %s, err %v; want a hash other than the default's", s, h, err)
		}
	}
	if _, err := hash("fastest"); err == nil || !strings.Contains(err.Error(), "fast, fine, off") {
		t.Errorf(`"fastest": error %v, want one naming fast, fine, off`, err)
	}
}
