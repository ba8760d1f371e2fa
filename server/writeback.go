package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/store"
	"github.com/pagerd/pagerd/uffd"
)

// writebackGroup bounds the bytes of one store.WritePages call.
const writebackGroup = 8 << 20

// run is a range of pages [start, start+n).
type run struct{ start, n uint64 }

// writebackVMO writes v's dirty pages back to its store object:
// BEGIN (re-protect them in every writable mapping and mark them
// awaiting-clean, under v.mu), write and fsync (store.WritePages, in
// groups), END (pages still awaiting-clean become clean). It returns the
// bytes written.
func (s *Server) writebackVMO(ctx context.Context, v *sharedVMO) (uint64, error) {
	if v.readOnly {
		return 0, nil
	}
	v.writeback.Lock()
	defer v.writeback.Unlock()
	begin := time.Now()

	v.mu.Lock()
	var runs []run
	for p := uint64(0); p < uint64(len(v.state)); p++ {
		if v.state[p]&pgDirty == 0 {
			continue
		}
		v.state[p] |= pgAwaiting
		if k := len(runs); k > 0 && runs[k-1].start+runs[k-1].n == p {
			runs[k-1].n++
		} else {
			runs = append(runs, run{p, 1})
		}
	}
	for _, r := range runs {
		for _, m := range v.mappings {
			if !m.writable {
				continue
			}
			lo := max(r.start*pageSize, m.off)
			hi := min((r.start+r.n)*pageSize, m.off+m.length)
			if lo >= hi {
				continue
			}
			err := m.c.uf.WriteProtect(uintptr(m.addr+lo-m.off), uintptr(hi-lo), uffd.WriteProtectModeWP)
			if err != nil && !clientGone(err) && !m.c.dead.Load() {
				s.log.Warn("write-protect for write-back failed", zap.String("vmo", v.name), zap.Uint64("client", m.c.id), zap.Error(err))
			}
		}
	}
	v.mu.Unlock()
	if len(runs) == 0 {
		return 0, nil
	}

	var written uint64
	var err error
	buf := make([]byte, writebackGroup)
	i := 0
	for i < len(runs) && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		// A group: whole runs (split if one is larger than the buffer).
		var pages []store.Page
		var group []run
		used := uint64(0)
		for i < len(runs) && used < writebackGroup {
			r := runs[i]
			take := min(r.n, (writebackGroup-used)/pageSize)
			data := buf[used : used+take*pageSize]
			if err = preadFull(v.memfd, data, r.start*pageSize); err != nil {
				err = fmt.Errorf("read memfd of %q at %#x: %w", v.name, r.start*pageSize, err)
				break
			}
			pages = append(pages, store.Page{Off: r.start * pageSize, Data: data})
			group = append(group, run{r.start, take})
			used += take * pageSize
			if take == r.n {
				i++
			} else {
				runs[i] = run{r.start + take, r.n - take}
			}
		}
		if err == nil {
			err = v.obj.WritePages(pages)
		}
		v.mu.Lock()
		for _, g := range group {
			for p := g.start; p < g.start+g.n; p++ {
				st := v.state[p]
				if st&pgAwaiting == 0 {
					continue // written since BEGIN: stays dirty
				}
				if err == nil {
					st &^= pgDirty
					v.dirty--
					s.m.AddDirtyPages(-1)
				}
				v.state[p] = st &^ pgAwaiting
			}
		}
		v.mu.Unlock()
		if err == nil {
			written += used
		}
	}
	if err != nil {
		// The pages not written stay dirty for the next attempt.
		v.mu.Lock()
		for _, r := range runs[i:] {
			for p := r.start; p < r.start+r.n; p++ {
				v.state[p] &^= pgAwaiting
			}
		}
		v.mu.Unlock()
	}
	s.m.Writeback(int(written), time.Since(begin), err)
	return written, err
}

func preadFull(fd int, b []byte, off uint64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("unexpected end of file")
		}
		b = b[n:]
		off += uint64(n)
	}
	return nil
}

// writebackAll writes back every open VMO and returns the first error.
func (s *Server) writebackAll(ctx context.Context) error {
	var first error
	for _, v := range s.sortedVMOs() {
		if _, err := s.writebackVMO(ctx, v); err != nil {
			s.log.Error("write-back failed", zap.String("vmo", v.name), zap.Error(err))
			if first == nil {
				first = fmt.Errorf("write-back of %q: %w", v.name, err)
			}
		}
	}
	return first
}

// Sync writes every dirty page of every open VMO back now.
func (s *Server) Sync(ctx context.Context) error { return s.writebackAll(ctx) }

func (s *Server) periodicWriteback() {
	defer s.connWG.Done()
	t := time.NewTicker(s.cfg.WritebackInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		for _, v := range s.sortedVMOs() {
			if v.stats().dirty == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*s.cfg.WritebackInterval+time.Minute)
			if _, err := s.writebackVMO(ctx, v); err != nil {
				s.log.Error("periodic write-back failed", zap.String("vmo", v.name), zap.Error(err))
			}
			cancel()
		}
	}
}

// dirtyRanges lists the dirty runs of [off, off+length), at most max of
// them; more says there are further runs after the last.
func (v *sharedVMO) dirtyRanges(off, length uint64, maxRanges int) (rs []proto.Range, more bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	first := off / pageSize
	end := min((off+length+pageSize-1)/pageSize, uint64(len(v.state)))
	for p := first; p < end; p++ {
		if v.state[p]&pgDirty == 0 {
			continue
		}
		if k := len(rs); k > 0 && rs[k-1].Offset+rs[k-1].Length == p*pageSize {
			rs[k-1].Length += pageSize
			continue
		}
		if len(rs) == maxRanges {
			return rs, true
		}
		rs = append(rs, proto.Range{Offset: p * pageSize, Length: pageSize})
	}
	return rs, false
}
