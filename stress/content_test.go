package stress

import (
	"encoding/binary"
	"fmt"
)

// ps is the page size.
const ps = 4096

// zeroVer stands for the all-zero content of a grown tail; versions >= 0
// are generated contents (0 is what the pager supplies, >= 1 what workers
// write).
const zeroVer int64 = -1

// pageContent fills b (one page) with the content of page pg of the VMO
// with content id id at version ver: word 0 is (id, pg, ver) in clear, every
// other word a hash of word 0 and its index, so a zero, stale, misplaced or
// torn page differs from it in most bytes.
func pageContent(b []byte, id uint16, pg int, ver int64) {
	if ver == zeroVer {
		clear(b[:ps])
		return
	}
	w0 := uint64(id)<<48 | uint64(uint16(pg))<<32 | uint64(uint32(ver))
	binary.LittleEndian.PutUint64(b, w0)
	for i := 1; i < ps/8; i++ {
		binary.LittleEndian.PutUint64(b[i*8:], mix64(w0+uint64(i)*0x9e3779b97f4a7c15))
	}
}

// mix64 is splitmix64's finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// describe says what a page looks like, for error messages.
func describe(b []byte) string {
	allZero := true
	for _, c := range b {
		if c != 0 {
			allZero = false
			break
		}
	}
	if allZero {
		return "all zeros"
	}
	w0 := binary.LittleEndian.Uint64(b)
	id, pg, ver := uint16(w0>>48), uint16(w0>>32), int64(uint32(w0))
	var want [ps]byte
	pageContent(want[:], id, int(pg), ver)
	same := 0
	for i := range want {
		if want[i] == b[i] {
			same++
		}
	}
	return fmt.Sprintf("header (vmo %d, page %d, version %d), %d of %d bytes match that version", id, pg, ver, same, ps)
}

// checkPage reports whether got (one page) is made of the acceptable
// versions of page pg: exactly one of them, or, when several are
// acceptable (an interrupted write), a byte-by-byte mix of them.
func checkPage(got []byte, id uint16, pg int, acc []int64, scratch *[ps]byte) bool {
	if len(acc) == 0 {
		return false
	}
	if len(acc) == 1 {
		pageContent(scratch[:], id, pg, acc[0])
		return string(got) == string(scratch[:])
	}
	cands := make([][ps]byte, len(acc))
	for i, v := range acc {
		pageContent(cands[i][:], id, pg, v)
	}
	for i, c := range got {
		ok := false
		for j := range cands {
			if cands[j][i] == c {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
