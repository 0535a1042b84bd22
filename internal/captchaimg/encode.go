package captchaimg

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"io"
	"sync"
)

// encoder writes a canvas, distorted, as a two-colour paletted PNG: 1 bit per
// pixel, no filter (noise-heavy pictures gain nothing from filters), and the
// pixel data in stored (uncompressed) zlib blocks (zlibStored: a 240×80
// picture is 2.4 kB packed, and deflating noise saves little for its CPU).
// image/png reads sub-byte pixels through ColorIndexAt, one interface call
// each; this packs them directly and costs a fraction of that.
type encoder struct {
	pool sync.Pool // *encodeState
}

type encodeState struct {
	raw  []byte // filter byte + packed row, per row
	row  []byte // one distorted row, a byte per pixel
	idat bytes.Buffer
	out  bytes.Buffer
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func (e *encoder) encode(w io.Writer, c *canvas) error {
	st, _ := e.pool.Get().(*encodeState)
	if st == nil {
		st = &encodeState{}
	}
	defer e.pool.Put(st)
	width, height := c.w, c.h
	rowBytes := 1 + (width+7)/8
	if n := rowBytes * height; cap(st.raw) < n {
		st.raw = make([]byte, n)
	} else {
		st.raw = st.raw[:n]
	}
	if cap(st.row) < width {
		st.row = make([]byte, width)
	}
	for y := range height {
		out := st.raw[y*rowBytes : (y+1)*rowBytes]
		out[0] = 0 // filter: none
		px := st.row[:width]
		c.distortRow(y, px)
		packed := out[1:]
		for i := range width / 8 {
			packed[i] = pack8(px[8*i:])
		}
		if r := width % 8; r != 0 {
			var last [8]byte
			copy(last[:], px[width-r:])
			packed[width/8] = pack8(last[:])
		}
	}
	st.idat.Reset()
	zlibStored(&st.idat, st.raw)
	st.out.Reset()
	st.out.Write(pngSignature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:4], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:8], uint32(height))
	ihdr[8] = 1 // bit depth
	ihdr[9] = 3 // colour type: palette
	chunk(&st.out, "IHDR", ihdr[:])
	var plte [3 * colours]byte
	var trns [colours]byte
	for i, col := range c.pal {
		plte[3*i], plte[3*i+1], plte[3*i+2], trns[i] = col.R, col.G, col.B, col.A
	}
	chunk(&st.out, "PLTE", plte[:])
	chunk(&st.out, "tRNS", trns[:])
	chunk(&st.out, "IDAT", st.idat.Bytes())
	chunk(&st.out, "IEND", nil)
	_, err := w.Write(st.out.Bytes())
	return err
}

// chunk appends one PNG chunk: length, type, data, CRC of type and data.
func chunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

// zlibStored appends data as a zlib stream of stored (uncompressed) deflate
// blocks. A picture is a few KB at 1 bit per pixel; compressing it would
// save about a KB for more CPU than the whole drawing (building the Huffman
// tables alone), and a flood of picture requests is what the portal must
// absorb cheaply.
func zlibStored(b *bytes.Buffer, data []byte) {
	b.Write([]byte{0x78, 0x01}) // deflate, 32 KB window, no dictionary, fastest
	sum := adler32.Checksum(data)
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), 0xFFFF)
		final := byte(0)
		if n == len(data) {
			final = 1
		}
		b.Write([]byte{final, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
		b.Write(data[:n])
		data = data[n:]
	}
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], sum)
	b.Write(tail[:])
}
