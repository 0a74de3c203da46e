package imgbatch

import (
	"strings"
	"testing"
)

func TestNormalizeRefusesSidesTheEncoderCannotWrite(t *testing.T) {
	for _, c := range []struct {
		v  Variant
		ok bool
	}{
		{Variant{Name: "w", Width: 16383, Format: FormatWebP}, true},
		{Variant{Name: "w", Width: 16384, Format: FormatWebP}, false},
		{Variant{Name: "w", Height: 20000, Format: FormatWebP}, false},
		{Variant{Name: "j", Width: 65500, Format: FormatJPEG}, true},
		{Variant{Name: "j", Height: 65501, Format: "jpg"}, false},
		{Variant{Name: "a", Width: 70000, Format: FormatAVIF}, false},
		{Variant{Name: "p", Width: 70000, Format: FormatPNG}, true},
	} {
		r := Recipe{Name: "r", Variants: []Variant{c.v}}
		err := r.Normalize()
		if (err == nil) != c.ok {
			t.Errorf("%+v: error %v, want ok=%v", c.v, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "limit") {
			t.Errorf("%+v: error %q does not name the limit", c.v, err)
		}
	}
}
