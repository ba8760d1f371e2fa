//go:build linux

package uffd

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAPIHandshake mirrors the selftests' UFFDIO_API test for both ways of
// opening a userfaultfd: a wrong api and an unknown feature bit are
// rejected with EINVAL without using the fd up, the first valid call
// succeeds, a second one is rejected, and ioctls before the handshake fail.
func TestAPIHandshake(t *testing.T) {
	for _, c := range []struct {
		name string
		open func(int) (int, error)
	}{
		{"device", OpenDevice},
		{"syscall", OpenSyscall},
	} {
		t.Run(c.name, func(t *testing.T) {
			fd, err := c.open(OpenCloexec | OpenNonblock)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer unix.Close(fd)

			// Range ioctls before UFFDIO_API.
			b := mmapAnon(t, 1)
			u := FromFd(fd, 0)
			if _, err := u.Register(addrOf(b), pageSize, RegisterModeMissing); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Register before UFFDIO_API: %v, want EINVAL", err)
			}
			var m [1]Msg
			if _, err := u.Read(m[:]); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Read before UFFDIO_API: %v, want EINVAL", err)
			}

			if _, _, err := API(fd, 0xab, 0); !errors.Is(err, unix.EINVAL) {
				t.Errorf("API(api=0xab): %v, want EINVAL", err)
			} else if !strings.Contains(err.Error(), "api=0xab") {
				t.Errorf("error does not name the bad api: %v", err)
			}
			if _, _, err := API(fd, APIVersion, 1<<63); !errors.Is(err, unix.EINVAL) {
				t.Errorf("API(features=1<<63): %v, want EINVAL", err)
			}
			feat, ioctls, err := API(fd, APIVersion, 0)
			if err != nil {
				t.Fatalf("API after two failed calls: %v", err)
			}
			want := IoctlAPI | IoctlRegister | IoctlUnregister
			if ioctls != want {
				t.Errorf("ioctls = %v, want %v", ioctls, want)
			}
			if !feat.Has(FeaturePagefaultFlagWP | FeatureEventFork | FeatureMissingShmem | FeatureThreadID) {
				t.Errorf("features = %v: lacks the 4.x features", feat)
			}
			if _, _, err := API(fd, APIVersion, FeaturePagefaultFlagWP); !errors.Is(err, unix.EINVAL) {
				t.Errorf("second API call: %v, want EINVAL", err)
			}
			if _, _, err := API(fd, APIVersion, 0); !errors.Is(err, unix.EINVAL) {
				t.Errorf("third API call (features 0): %v, want EINVAL", err)
			}
			// The fd works after the handshake.
			if _, err := u.Register(addrOf(b), pageSize, RegisterModeMissing); err != nil {
				t.Errorf("Register after handshake: %v", err)
			}
			if n, err := u.Read(m[:]); n != 0 || err != nil {
				t.Errorf("Read on empty queue = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestOpenFlags checks the open flags: O_CLOEXEC and O_NONBLOCK show up in
// the fd's flags, UFFD_USER_MODE_ONLY is accepted, unknown flags are not.
func TestOpenFlags(t *testing.T) {
	for _, open := range []func(int) (int, error){OpenDevice, OpenSyscall, OpenRaw} {
		fd, err := open(OpenCloexec | OpenNonblock | OpenUserModeOnly)
		if err != nil {
			t.Fatalf("open(CLOEXEC|NONBLOCK|USER_MODE_ONLY): %v", err)
		}
		fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		unix.Close(fd)
		if fl&unix.O_NONBLOCK == 0 || fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("flags %#x fd flags %#x: want O_NONBLOCK and FD_CLOEXEC", fl, fdfl)
		}
		fd, err = open(0)
		if err != nil {
			t.Fatalf("open(0): %v", err)
		}
		fl, _ = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		unix.Close(fd)
		if fl&unix.O_NONBLOCK != 0 {
			t.Errorf("open(0) gave O_NONBLOCK")
		}
	}
	if _, err := OpenDevice(0x2); !errors.Is(err, unix.EINVAL) {
		t.Errorf("OpenDevice(0x2): %v, want EINVAL", err)
	}
	if _, err := OpenSyscall(0x2); !errors.Is(err, unix.EINVAL) {
		t.Errorf("OpenSyscall(0x2): %v, want EINVAL", err)
	}
	_, err := OpenRaw(0x2)
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "/dev/userfaultfd") {
		t.Errorf("OpenRaw(0x2): %v, want EINVAL naming both paths", err)
	}
}

// TestProbeAndNew checks Probe, New's negotiated features, the implied
// WP_UNPOPULATED of WP_ASYNC, and the error for unsupported features.
func TestProbeAndNew(t *testing.T) {
	feat, ioctls, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel features: %v (%#x); API ioctls: %v", feat, uint64(feat), ioctls)
	if feat&^KnownFeatures != 0 {
		t.Logf("kernel offers features this package has no name for: %v", feat&^KnownFeatures)
	}
	if !feat.Has(KnownFeatures &^ (FeatureMinorHugetlbfs | FeatureMissingHugetlbfs)) {
		t.Errorf("6.18 kernel lacks %v", (KnownFeatures &^ feat))
	}

	u, err := New(FeatureWPAsync | FeaturePagefaultFlagWP)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Features(), FeatureWPAsync|FeaturePagefaultFlagWP|FeatureWPUnpopulated; got != want {
		t.Errorf("Features() = %v, want %v", got, want)
	}
	if u.Fd() < 0 {
		t.Errorf("Fd() = %d", u.Fd())
	}
	if err := u.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if u.Fd() != -1 {
		t.Errorf("Fd() after Close = %d", u.Fd())
	}
	if err := u.Close(); !errors.Is(err, unix.EBADF) {
		t.Errorf("second Close: %v, want EBADF", err)
	}

	_, err = New(FeatureMove | 1<<62)
	var fe *FeatureError
	if !errors.As(err, &fe) {
		t.Fatalf("New(MOVE|1<<62): %v, want *FeatureError", err)
	}
	if fe.Missing() != 1<<62 {
		t.Errorf("Missing() = %v, want 0x4000000000000000", fe.Missing())
	}
	if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("FeatureError does not match ErrUnsupported and EINVAL")
	}
	if !strings.Contains(err.Error(), "0x4000000000000000") {
		t.Errorf("error does not name the missing bit: %v", err)
	}
	t.Logf("New error: %v", err)
}

// TestHandshakeFromFd does the handshake on a raw fd and wraps it.
func TestHandshakeFromFd(t *testing.T) {
	fd, err := OpenRaw(OpenCloexec | OpenNonblock)
	if err != nil {
		t.Fatal(err)
	}
	got, ioctls, err := Handshake(fd, FeatureThreadID|FeatureEventRemove)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if got != FeatureThreadID|FeatureEventRemove || !ioctls.Has(IoctlRegister|IoctlUnregister|IoctlAPI) {
		t.Errorf("Handshake = %v, %v", got, ioctls)
	}
	if _, _, err := Handshake(fd, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("second Handshake: %v, want EINVAL", err)
	}
	u := FromFd(fd, got)
	defer u.Close()
	if u.Fd() != fd || u.Features() != got {
		t.Errorf("FromFd = fd %d features %v", u.Fd(), u.Features())
	}
	b := mmapAnon(t, 1)
	if _, err := u.Register(addrOf(b), pageSize, RegisterModeMissing); err != nil {
		t.Errorf("Register on FromFd uffd: %v", err)
	}
}

// TestStrings checks the String methods of the bit types.
func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Features(0).String(), "0"},
		{(FeaturePagefaultFlagWP | FeatureMove).String(), "PAGEFAULT_FLAG_WP|MOVE"},
		{(FeatureWPAsync | 1<<40).String(), "WP_ASYNC|0x10000000000"},
		{(IoctlAPI | IoctlRegister | IoctlPoison).String(), "REGISTER|POISON|API"},
		{(RegisterModeMissing | RegisterModeMinor).String(), "MISSING|MINOR"},
		{WriteProtectModeDontWake.String(), "DONTWAKE"},
		{(CopyModeDontWake | CopyModeWP).String(), "DONTWAKE|WP"},
		{MoveModeAllowSrcHoles.String(), "ALLOW_SRC_HOLES"},
		{(PagefaultFlagWrite | PagefaultFlagWP).String(), "WRITE|WP"},
		{EventRemove.String(), "REMOVE"},
		{Event(0x42).String(), "Event(0x42)"},
		{(PageIsWritten | PageIsGuard).String(), "WRITTEN|GUARD"},
		{openFlags(OpenCloexec | OpenNonblock | OpenUserModeOnly).String(), "USER_MODE_ONLY|O_NONBLOCK|O_CLOEXEC"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
