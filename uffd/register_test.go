//go:build linux

package uffd

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRegisterIoctls mirrors the selftests' register-ioctls test: every
// combination of MISSING, WP and MINOR on anonymous and shmem (memfd)
// memory; MINOR on anon and the empty mode fail with EINVAL, and the others
// report at least WAKE plus COPY for MISSING, WRITEPROTECT for WP and
// CONTINUE for MINOR.
func TestRegisterIoctls(t *testing.T) {
	u := newUFFD(t, FeaturePagefaultFlagWP|FeatureMissingShmem|FeatureWPHugetlbfsShmem|FeatureMinorShmem)
	mems := []struct {
		name string
		anon bool
		b    []byte
	}{
		{"anon", true, mmapAnon(t, 1)},
		{"shmem", false, mmapShared(t, newMemfd(t, 1), 1)},
	}
	for _, mem := range mems {
		for mode := RegisterMode(0); mode <= 7; mode++ {
			ioctls, err := u.Register(addrOf(mem.b), pageSize, mode)
			if mode == 0 || (mem.anon && mode&RegisterModeMinor != 0) {
				if !errors.Is(err, unix.EINVAL) {
					t.Errorf("%s %v: %v, want EINVAL", mem.name, mode, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %v: %v", mem.name, mode, err)
				continue
			}
			want := IoctlWake
			if mode&RegisterModeMissing != 0 {
				want |= IoctlCopy | IoctlZeropage | IoctlPoison
			}
			if mode&RegisterModeWP != 0 {
				want |= IoctlWriteProtect
			}
			if mode&RegisterModeMinor != 0 {
				want |= IoctlContinue
			}
			if !ioctls.Has(want) {
				t.Errorf("%s %v: ioctls %v, want at least %v", mem.name, mode, ioctls, want)
			}
			t.Logf("%s %-17v -> %v", mem.name, mode, ioctls)
			if err := u.Unregister(addrOf(mem.b), pageSize); err != nil {
				t.Errorf("%s Unregister: %v", mem.name, err)
			}
		}
	}
}

// TestRegisterErrors checks the errors of UFFDIO_REGISTER and
// UFFDIO_UNREGISTER and what they say.
func TestRegisterErrors(t *testing.T) {
	u := newUFFD(t, 0)
	b := mmapAnon(t, 2)
	if _, err := u.Register(addrOf(b)+1, pageSize, RegisterModeMissing); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned start: %v, want EINVAL", err)
	}
	if _, err := u.Register(addrOf(b), 100, RegisterModeMissing); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned length: %v, want EINVAL", err)
	}
	_, err := u.Register(addrOf(b), pageSize, 1<<5)
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("unknown mode bit: %v, want EINVAL", err)
	}
	var ue *Error
	if !errors.As(err, &ue) || ue.Op != "UFFDIO_REGISTER" || ue.Start != addrOf(b) || ue.Len != pageSize || ue.Fd != u.Fd() {
		t.Errorf("error fields: %#v", ue)
	}
	t.Logf("error text: %v", err)

	register(t, u, b, RegisterModeMissing)
	// The same range with a second userfaultfd.
	u2 := newUFFD(t, 0)
	if _, err := u2.Register(addrOf(b), pageSize, RegisterModeMissing); !errors.Is(err, unix.EBUSY) {
		t.Errorf("register with a second uffd: %v, want EBUSY", err)
	}
	if err := u.Unregister(addrOf(b)+1, pageSize); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned Unregister: %v, want EINVAL", err)
	}
	if err := u.Unregister(addrOf(b), 2*pageSize); err != nil {
		t.Errorf("Unregister: %v", err)
	}
	// Unregistered now: a resolve ioctl on it fails.
	if _, err := u.Zeropage(addrOf(b), pageSize, 0); err == nil {
		t.Errorf("Zeropage on an unregistered range succeeded")
	} else {
		t.Logf("Zeropage on an unregistered range: %v", err)
	}
}
