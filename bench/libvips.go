package bench

import (
	"log/slog"
	"sync"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch/vips"
)

// startLibvips readies libvips for the bench's own calls to it through
// govips (the quality reference, decoding outputs, making the built-in
// datasets): vips.Start (one thread per operation, the sources are made in
// parallel; libvips' messages discarded), then govips on that same libvips
// with the same settings. Without the explicit govips.Startup, govips' first
// call would start it with its own defaults, a 100-operation cache among
// them, for every libvips user in the process. govips' log handler replaces
// vips.Start's; it drops libvips' messages, as the discarding logger did.
// Every function that calls govips first calls this.
var startLibvips = sync.OnceFunc(func() {
	vips.Start(vips.Config{Concurrency: 1, Log: slog.New(slog.DiscardHandler)})
	govips.LoggingSettings(func(string, govips.LogLevel, string) {}, govips.LogLevelWarning)
	govips.Startup(&govips.Config{ConcurrencyLevel: vips.Concurrency()}) // MaxCache*: 0, no operation cache
})
