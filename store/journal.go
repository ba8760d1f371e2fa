package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// Journal format (little endian). A journal is empty when no write-back is
// in flight. Otherwise it holds one group:
//
//	record: magic "PGDR" | off u64 | len u32 | crc u32 | data[len]
//	        crc = CRC-32C(off | len | data)
//	commit: magic "PGDC" | count u32 | crc u32
//	        crc = CRC-32C(every byte before the commit | magic | count)
//
// The group counts only if the commit record is present, its count matches
// and all checksums hold; trailing bytes after the commit are ignored.
const (
	recMagic    = 0x52444750 // "PGDR"
	commitMagic = 0x43444750 // "PGDC"
	recHdrLen   = 4 + 8 + 4 + 4
	commitLen   = 4 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type journalRecord struct {
	off  uint64
	data []byte
}

// encodeJournal returns the journal bytes for pages, clipped to size.
func encodeJournal(pages []Page, size uint64) []byte {
	n := commitLen
	for _, p := range pages {
		n += recHdrLen + int(clipLen(p, size))
	}
	buf := make([]byte, 0, n)
	for _, p := range pages {
		data := p.Data[:clipLen(p, size)]
		var h [recHdrLen]byte
		binary.LittleEndian.PutUint32(h[0:], recMagic)
		binary.LittleEndian.PutUint64(h[4:], p.Off)
		binary.LittleEndian.PutUint32(h[12:], uint32(len(data)))
		c := crc32.Update(0, castagnoli, h[4:16])
		c = crc32.Update(c, castagnoli, data)
		binary.LittleEndian.PutUint32(h[16:], c)
		buf = append(buf, h[:]...)
		buf = append(buf, data...)
	}
	var c [commitLen]byte
	binary.LittleEndian.PutUint32(c[0:], commitMagic)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(pages)))
	sum := crc32.Update(crc32.Checksum(buf, castagnoli), castagnoli, c[:8])
	binary.LittleEndian.PutUint32(c[8:], sum)
	return append(buf, c[:]...)
}

func clipLen(p Page, size uint64) uint64 {
	n := uint64(len(p.Data))
	if p.Off+n > size {
		n = size - p.Off
	}
	return n
}

// decodeJournal parses a journal. ok is false when buf holds no complete,
// committed, checksum-valid group; why then says what was wrong.
func decodeJournal(buf []byte) (recs []journalRecord, ok bool, why string) {
	pos := 0
	for {
		if len(buf)-pos < 4 {
			return nil, false, fmt.Sprintf("truncated at byte %d (no commit record)", pos)
		}
		switch binary.LittleEndian.Uint32(buf[pos:]) {
		case recMagic:
			if len(buf)-pos < recHdrLen {
				return nil, false, fmt.Sprintf("record %d header truncated at byte %d", len(recs), pos)
			}
			h := buf[pos : pos+recHdrLen]
			off := binary.LittleEndian.Uint64(h[4:])
			n := int(binary.LittleEndian.Uint32(h[12:]))
			if n > len(buf)-pos-recHdrLen {
				return nil, false, fmt.Sprintf("record %d (offset %#x) data truncated: %d bytes of %d", len(recs), off, len(buf)-pos-recHdrLen, n)
			}
			data := buf[pos+recHdrLen : pos+recHdrLen+n]
			c := crc32.Update(crc32.Checksum(h[4:16], castagnoli), castagnoli, data)
			if want := binary.LittleEndian.Uint32(h[16:]); c != want {
				return nil, false, fmt.Sprintf("record %d (offset %#x) checksum %#x, want %#x", len(recs), off, c, want)
			}
			recs = append(recs, journalRecord{off: off, data: data})
			pos += recHdrLen + n
		case commitMagic:
			if len(buf)-pos < commitLen {
				return nil, false, fmt.Sprintf("commit record truncated at byte %d", pos)
			}
			c := buf[pos : pos+commitLen]
			if cnt := int(binary.LittleEndian.Uint32(c[4:])); cnt != len(recs) {
				return nil, false, fmt.Sprintf("commit record counts %d records, journal has %d", cnt, len(recs))
			}
			sum := crc32.Update(crc32.Checksum(buf[:pos], castagnoli), castagnoli, c[:8])
			if want := binary.LittleEndian.Uint32(c[8:]); sum != want {
				return nil, false, fmt.Sprintf("commit checksum %#x, want %#x", sum, want)
			}
			return recs, true, ""
		default:
			return nil, false, fmt.Sprintf("bad record magic %#x at byte %d", binary.LittleEndian.Uint32(buf[pos:]), pos)
		}
	}
}

// RecoveryResult says what recovery did with a journal; see LastRecovery.
type RecoveryResult struct {
	Replayed  int    // records replayed from a committed journal
	Discarded bool   // an incomplete or corrupt journal was thrown away
	Reason    string // why it was discarded
}

// recover replays or discards the journal j into data.
func recoverJournal(data, j *os.File) (RecoveryResult, error) {
	buf, err := io.ReadAll(io.NewSectionReader(j, 0, 1<<62))
	if err != nil {
		return RecoveryResult{}, fmt.Errorf("store: reading journal %s: %w", j.Name(), err)
	}
	if len(buf) == 0 {
		return RecoveryResult{}, nil
	}
	recs, ok, why := decodeJournal(buf)
	res := RecoveryResult{Discarded: !ok, Reason: why}
	if ok {
		for _, r := range recs {
			if _, err := data.WriteAt(r.data, int64(r.off)); err != nil {
				return res, fmt.Errorf("store: replaying journal %s into %s at %#x: %w", j.Name(), data.Name(), r.off, err)
			}
		}
		if err := syscall.Fdatasync(int(data.Fd())); err != nil {
			return res, fmt.Errorf("store: fdatasync %s after replay: %w", data.Name(), err)
		}
		res.Replayed = len(recs)
	}
	if err := truncateJournal(j); err != nil {
		return res, err
	}
	return res, nil
}

func truncateJournal(j *os.File) error {
	if err := j.Truncate(0); err != nil {
		return fmt.Errorf("store: truncating journal %s: %w", j.Name(), err)
	}
	if err := syscall.Fdatasync(int(j.Fd())); err != nil {
		return fmt.Errorf("store: fdatasync journal %s: %w", j.Name(), err)
	}
	return nil
}
