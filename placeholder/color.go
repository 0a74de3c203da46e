package placeholder

import "fmt"

// DominantColor is the image's dominant colour as #rrggbb: the mode of a
// coarse histogram (8 levels a channel, 512 bins, each pixel weighed by
// its alpha), reported as the mean colour of the pixels in that bin, so a
// flat colour comes back exactly. A histogram mode is the colour covering
// most of the picture, where a mean would give the grey-brown of a busy
// photo; it costs one pass (k-means would cost several for little more).
// A fully transparent image has none: "".
func DominantColor(m Image) (string, error) {
	if err := m.check(); err != nil {
		return "", err
	}
	var weight [512]float64
	var sum [512][3]float64
	for i := range m.Width * m.Height {
		r, g, b, a := m.rgba(i)
		if a == 0 {
			continue
		}
		bin := int(r>>5)<<6 | int(g>>5)<<3 | int(b>>5)
		weight[bin] += a
		sum[bin][0] += a * float64(r)
		sum[bin][1] += a * float64(g)
		sum[bin][2] += a * float64(b)
	}
	best := 0
	for bin := range weight {
		if weight[bin] > weight[best] {
			best = bin
		}
	}
	w := weight[best]
	if w == 0 {
		return "", nil
	}
	s := sum[best]
	return fmt.Sprintf("#%02x%02x%02x", byte(s[0]/w+0.5), byte(s[1]/w+0.5), byte(s[2]/w+0.5)), nil
}
