package sniff

import (
	"encoding/binary"
	"sort"
)

// box is one ISOBMFF box: its type (one of boxTypes, or "" for others) and
// its payload, clipped to the data.
type box struct {
	typ     string
	payload []byte
}

// forEachBox calls fn for each box in b, in order, until fn returns false,
// the data ends or a box header is invalid. Each box advances at least 8
// bytes. A truncated last box is passed with its payload clipped.
func forEachBox(b []byte, fn func(box) bool) {
	for pos := uint64(0); pos+8 <= uint64(len(b)); {
		size := uint64(binary.BigEndian.Uint32(b[pos:]))
		typ := boxType(b[pos+4 : pos+8])
		hdr := uint64(8)
		switch size {
		case 0: // to the end of the enclosing box
			size = uint64(len(b)) - pos
		case 1: // 64-bit size follows
			if pos+16 > uint64(len(b)) {
				return
			}
			size = binary.BigEndian.Uint64(b[pos+8:])
			hdr = 16
		}
		if size < hdr {
			return
		}
		end := uint64(len(b))
		if size <= end-pos {
			end = pos + size
		}
		if !fn(box{typ, b[pos+hdr : end]}) {
			return
		}
		pos = end
	}
}

// boxTypes are the box types inspectHEIF looks at.
var boxTypes = [...]string{"meta", "pitm", "iprp", "ipco", "ipma", "ispe", "irot"}

// boxType returns t as one of boxTypes, or "" for any other type, without
// allocating.
func boxType(t []byte) string {
	for _, k := range boxTypes {
		if string(t) == k {
			return k
		}
	}
	return ""
}

// fullBoxPayload strips the version and flags of a FullBox.
func fullBoxPayload(p []byte) (version byte, flags uint32, rest []byte, ok bool) {
	if len(p) < 4 {
		return 0, 0, nil, false
	}
	return p[0], uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), p[4:], true
}

// heifProp is an ispe or irot property, with its 1-based index in ipco.
type heifProp struct {
	index         int
	typ           string
	width, height uint32 // ispe
	angle         byte   // irot: anticlockwise quarter turns
}

// maxHEIFProps bounds the properties and ipma boxes remembered.
const maxHEIFProps = 1024

// inspectHEIF finds the primary item (pitm) and its ispe property through
// meta/iprp/ipco and ipma. If the primary item's ispe cannot be resolved it
// falls back to the largest ispe in the file; no ispe at all is Corrupt.
func inspectHEIF(d []byte, f Format) (Info, *Error) {
	info := Info{Format: f, Pages: 1}
	major, _ := ftypBrands(d)
	info.Animated = sequenceBrands[major]

	var meta []byte
	forEachBox(d, func(b box) bool {
		if b.typ == "meta" {
			meta = b.payload
			return false
		}
		return true
	})
	_, _, meta, ok := fullBoxPayload(meta)
	if !ok {
		return info, corrupt(f, "no meta box: no image size")
	}

	var (
		primary     uint32
		havePrimary bool
		props       []heifProp
		ipmas       [][]byte
	)
	forEachBox(meta, func(b box) bool {
		switch b.typ {
		case "pitm":
			v, _, p, ok := fullBoxPayload(b.payload)
			if ok && v == 0 && len(p) >= 2 {
				primary, havePrimary = uint32(binary.BigEndian.Uint16(p)), true
			} else if ok && len(p) >= 4 {
				primary, havePrimary = binary.BigEndian.Uint32(p), true
			}
		case "iprp":
			forEachBox(b.payload, func(b box) bool {
				switch b.typ {
				case "ipco":
					index := 0
					forEachBox(b.payload, func(b box) bool {
						index++
						if len(props) >= maxHEIFProps {
							return false
						}
						switch b.typ {
						case "ispe":
							if _, _, p, ok := fullBoxPayload(b.payload); ok && len(p) >= 8 {
								props = append(props, heifProp{index: index, typ: "ispe",
									width: binary.BigEndian.Uint32(p), height: binary.BigEndian.Uint32(p[4:])})
							}
						case "irot":
							if len(b.payload) >= 1 {
								props = append(props, heifProp{index: index, typ: "irot", angle: b.payload[0] & 3})
							}
						}
						return true
					})
				case "ipma":
					if len(ipmas) < maxHEIFProps {
						ipmas = append(ipmas, b.payload)
					}
				}
				return true
			})
		}
		return true
	})

	var ispe, irot *heifProp
	if havePrimary {
		for _, m := range ipmas {
			forEachAssociation(m, primary, func(index int) {
				// props is sorted by index (ipco order); at most two share one.
				i := sort.Search(len(props), func(i int) bool { return props[i].index >= index })
				for ; i < len(props) && props[i].index == index; i++ {
					switch {
					case props[i].typ == "ispe" && ispe == nil:
						ispe = &props[i]
					case props[i].typ == "irot" && irot == nil:
						irot = &props[i]
					}
				}
			})
		}
	}
	if ispe == nil { // best effort: the largest ispe anywhere
		for i := range props {
			p := &props[i]
			if p.typ == "ispe" && (ispe == nil ||
				uint64(p.width)*uint64(p.height) > uint64(ispe.width)*uint64(ispe.height)) {
				ispe = p
			}
		}
	}
	if ispe == nil {
		return info, corrupt(f, "no image size (no ispe property)")
	}
	const maxDim = 1<<31 - 1
	if ispe.width == 0 || ispe.height == 0 || ispe.width > maxDim || ispe.height > maxDim {
		return info, corrupt(f, "ispe declares %dx%d", ispe.width, ispe.height)
	}
	info.Width, info.Height = int(ispe.width), int(ispe.height)
	if irot != nil && irot.angle&1 == 1 { // 90 or 270 degrees: libheif swaps
		info.Width, info.Height = info.Height, info.Width
	}
	return info, nil
}

// forEachAssociation calls fn with the property indices ipma (a FullBox
// payload) associates with item.
func forEachAssociation(ipma []byte, item uint32, fn func(index int)) {
	version, flags, p, ok := fullBoxPayload(ipma)
	if !ok || len(p) < 4 {
		return
	}
	entries := binary.BigEndian.Uint32(p)
	p = p[4:]
	idSize := 2
	if version >= 1 {
		idSize = 4
	}
	assocSize := 1
	if flags&1 != 0 {
		assocSize = 2
	}
	for e := uint32(0); e < entries && len(p) >= idSize+1; e++ {
		var id uint32
		if idSize == 2 {
			id = uint32(binary.BigEndian.Uint16(p))
		} else {
			id = binary.BigEndian.Uint32(p)
		}
		n := int(p[idSize])
		p = p[idSize+1:]
		for a := 0; a < n && len(p) >= assocSize; a++ {
			var index int
			if assocSize == 1 {
				index = int(p[0] & 0x7f)
			} else {
				index = int(binary.BigEndian.Uint16(p) & 0x7fff)
			}
			p = p[assocSize:]
			if id == item {
				fn(index)
			}
		}
	}
}
