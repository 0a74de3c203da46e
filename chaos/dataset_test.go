package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// dataset is what a run works on: the source bucket's objects and the
// manifest naming them.
type dataset struct {
	name     string
	objects  map[string][]byte // the source bucket
	manifest []byte
	format   string            // submit --format: keys, csv, jsonl
	items    []string          // the distinct keys the report must have, once each
	want     map[string]string // key -> the ErrorCode it must fail with ("" = succeeded); keys not here are not pinned
	badLines int64             // malformed manifest lines (-1: not checked)
	dups     int64             // duplicate manifest lines (-1: not checked)
	variants []string          // --variant flags
}

// defaultVariants are small so that a run is quick: one JPEG, one WebP.
var defaultVariants = []string{"thumb:96x96:jpeg:80", "small:48x:webp:70"}

// picture is a deterministic, photo-like image; seeds give different ones.
func picture(t testing.TB, w, h int, seed int, asPNG bool) []byte {
	if asPNG {
		return testutil.PNG(t, testutil.Photo(w, h, seed))
	}
	return testutil.JPEG(t, testutil.Photo(w, h, seed), 85)
}

var (
	photoMu    sync.Mutex
	photoCache = map[int]*dataset{}
)

// photos is the dataset of the chaos runs: n generated photos (every
// seventh a PNG), an empty object, random bytes named .jpg, an SVG, and a
// key in the manifest that does not exist — as a plain key list.
func photos(t *testing.T, n int) *dataset {
	t.Helper()
	photoMu.Lock()
	defer photoMu.Unlock()
	if ds := photoCache[n]; ds != nil {
		return ds
	}
	ds := &dataset{name: fmt.Sprintf("photos-%d", n), objects: map[string][]byte{}, format: "keys",
		want: map[string]string{}, badLines: 0, dups: 0, variants: defaultVariants}
	sizes := [][2]int{{640, 480}, {480, 640}, {720, 360}, {320, 240}, {96, 96}, {200, 150}, {400, 300}}
	for i := 0; i < n; i++ {
		s := sizes[i%len(sizes)]
		asPNG := i%7 == 3
		ext := ".jpg"
		if asPNG {
			ext = ".png"
		}
		key := fmt.Sprintf("photos/%02d/img-%03d%s", i%5, i, ext)
		ds.objects[key] = picture(t, s[0], s[1], i, asPNG)
		ds.want[key] = ""
	}
	ds.objects["broken/empty.jpg"] = nil
	ds.want["broken/empty.jpg"] = "EmptySource"
	ds.objects["broken/random.jpg"] = randomBytes(3000, 9)
	ds.want["broken/random.jpg"] = "UnsupportedFormat"
	ds.objects["broken/script.svg"] = []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
	ds.want["broken/script.svg"] = "UnsupportedFormat"
	ds.want["missing/not-there.jpg"] = "NotFound"
	var m strings.Builder
	for key := range ds.want {
		ds.items = append(ds.items, key)
	}
	sortStrings(ds.items)
	for _, k := range ds.items {
		m.WriteString(k + "\n")
	}
	ds.manifest = []byte(m.String())
	photoCache[n] = ds
	return ds
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// badImage reads a file of testdata/bad-images.
func badImage(t *testing.T, name string) []byte { return testutil.BadImage(t, name) }
