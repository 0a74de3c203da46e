package imgbatch

import (
	"fmt"
	"slices"
	"strings"
)

// Placeholders a recipe may ask for (Recipe.Placeholders): each is
// computed from the small decoded image and recorded in the result's
// ImageInfo and the run's catalog.
const (
	PlaceholderBlurHash  = "blurhash"  // BlurHash, 4x3 components
	PlaceholderThumbHash = "thumbhash" // ThumbHash, base64
	PlaceholderColor     = "color"     // dominant colour, #rrggbb
	PlaceholderPHash     = "phash"     // 64-bit DCT perceptual hash, hex
)

// Placeholders is every placeholder name, sorted.
var Placeholders = []string{PlaceholderBlurHash, PlaceholderColor, PlaceholderPHash, PlaceholderThumbHash}

// normalizePlaceholders checks the recipe's placeholder names and puts them
// in a stable form: lower case, sorted, each once. Placeholders change no
// output, so they are not part of Recipe.Hash (which hashes the variants
// only): adding them to a recipe does not make an incremental run render
// its images again.
func (r *Recipe) normalizePlaceholders() error {
	if len(r.Placeholders) == 0 {
		r.Placeholders = nil
		return nil
	}
	names := make([]string, 0, len(r.Placeholders))
	for _, p := range r.Placeholders {
		n := strings.ToLower(strings.TrimSpace(p))
		if !slices.Contains(Placeholders, n) {
			return fmt.Errorf("placeholder %q is not one of %s", p, strings.Join(Placeholders, ", "))
		}
		names = append(names, n)
	}
	slices.Sort(names)
	r.Placeholders = slices.Compact(names)
	return nil
}
