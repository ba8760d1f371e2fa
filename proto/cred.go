package proto

import (
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pagerd/pagerd/zx"
)

// Cred is a peer's credentials as the kernel recorded them at connect()
// (SO_PEERCRED): pid in the reader's pid namespace, effective uid and gid.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// PeerCred returns the credentials of the process at the other end of the
// unix socket c (a *Conn, *net.UnixConn, ...).
func PeerCred(c syscall.Conn) (pid int32, uid, gid uint32, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, 0, err
	}
	var uc *unix.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		uc, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, 0, err
	}
	if gerr != nil {
		return 0, 0, 0, os.NewSyscallError("getsockopt SO_PEERCRED", gerr)
	}
	return uc.Pid, uc.Uid, uc.Gid, nil
}

// Cred returns the peer's credentials.
func (c *Conn) Cred() (Cred, error) {
	pid, uid, gid, err := PeerCred(c)
	return Cred{PID: pid, UID: uid, GID: gid}, err
}

// Allow is pagerd's client allow-list.
//
// Policy: root (uid 0) and the daemon's own effective uid are always
// permitted — both can already ptrace the daemon or read its memory, so
// refusing them adds no protection, only breakage. Otherwise a peer is
// permitted if its uid is in UIDs or its gid is in GIDs. Only the peer's
// primary (effective) gid is checked: SO_PEERCRED does not carry
// supplementary groups, and reading them from /proc/<pid> would race with
// pid reuse. The zero Allow permits root and the daemon's user only. The
// socket file's mode (0600 by default) is a second, coarser gate; widen it
// when listing other users here.
type Allow struct {
	UIDs []uint32
	GIDs []uint32
}

// Permits reports whether a peer with credentials c may use pagerd.
func (a Allow) Permits(c Cred) bool {
	return c.UID == 0 || c.UID == uint32(os.Geteuid()) ||
		slices.Contains(a.UIDs, c.UID) || slices.Contains(a.GIDs, c.GID)
}

// Check returns the peer's credentials and an error if Allow does not permit it.
func (a Allow) Check(c *Conn) (Cred, error) {
	cred, err := c.Cred()
	if err != nil {
		return cred, err
	}
	if !a.Permits(cred) {
		return cred, &zx.Error{Status: zx.ErrAccessDenied,
			Text: fmt.Sprintf("peer pid %d uid %d gid %d not allowed", cred.PID, cred.UID, cred.GID)}
	}
	return cred, nil
}
