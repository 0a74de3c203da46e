package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// TestRenderErrorClasses: a libvips failure maps to its item error class
// by its kind; a recovered panic is InternalError, anything else corrupt.
func TestRenderErrorClasses(t *testing.T) {
	info := sniff.Info{Format: sniff.PNG, Width: 1, Height: 60000}
	for _, c := range []struct {
		err  error
		code string
		msg  string
	}{
		{&vips.Error{Kind: vips.ErrLoad, Msg: "VipsJpeg: Premature end"}, CodeCorrupt, "corrupt png 1x60000: VipsJpeg: Premature end"},
		{&vips.Error{Kind: vips.ErrUnsupported, Msg: "operation is blocked"}, CodeUnsupported, "png 1x60000: this libvips build cannot decode it: operation is blocked"},
		{fmt.Errorf("wrapped: %w", &vips.Error{Kind: vips.ErrEncode, Msg: "webpsave: image too large"}), CodeEncode, "png 1x60000 decoded, but encoding a variant failed: wrapped: webpsave: image too large"},
		{&panicError{"boom"}, CodeInternal, "png 1x60000: render panicked: boom"},
		{errors.New("something else"), CodeCorrupt, "corrupt png 1x60000: something else"},
	} {
		ie, ok := renderErr(info, c.err).(*ItemError)
		if !ok || ie.Code != c.code || ie.Msg != c.msg {
			t.Errorf("%v: %+v, want %s %q", c.err, ie, c.code, c.msg)
		}
	}
}
