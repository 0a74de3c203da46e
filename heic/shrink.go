package heic

// shrinkRows box-filters rows of w pixels of channels bytes by an integer
// factor k in both directions: each output pixel is the mean of a k × k
// block (smaller at the right and bottom edges), alpha-weighted for RGBA
// so transparent pixels lend no colour. rows calls its argument with each
// input row in order; emit receives each output row (reused: copy to keep).
// The output is ceil(w/k) × ceil(h/k).
func shrinkRows(w, h, channels, k int, rows func(func([]byte) error) error, emit func([]byte) error) error {
	ow := (w + k - 1) / k
	sums := make([]uint64, ow*channels)
	counts := make([]uint32, ow)
	out := make([]byte, ow*channels)
	y := 0
	flush := func() error {
		for x := 0; x < ow; x++ {
			s := sums[x*channels : x*channels+channels]
			o := out[x*channels : x*channels+channels]
			n := uint64(counts[x])
			if channels == 4 {
				a := s[3] // sum of alpha (weights of the colour sums)
				o[3] = byte((a + n/2) / n)
				for c := 0; c < 3; c++ {
					if a == 0 {
						o[c] = 0
					} else {
						o[c] = byte((s[c] + a/2) / a)
					}
				}
			} else {
				for c := range s {
					o[c] = byte((s[c] + n/2) / n)
				}
			}
		}
		clear(sums)
		clear(counts)
		return emit(out)
	}
	err := rows(func(row []byte) error {
		for x := 0; x < w; x++ {
			p := row[x*channels : x*channels+channels]
			ox := x / k
			s := sums[ox*channels : ox*channels+channels]
			if channels == 4 {
				a := uint64(p[3])
				s[0] += uint64(p[0]) * a
				s[1] += uint64(p[1]) * a
				s[2] += uint64(p[2]) * a
				s[3] += a
			} else {
				for c := range p {
					s[c] += uint64(p[c])
				}
			}
			counts[ox]++
		}
		y++
		if y%k == 0 || y == h {
			return flush()
		}
		return nil
	})
	return err
}
