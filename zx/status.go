package zx

import (
	"errors"
	"fmt"
	"strconv"
)

// Status is zx_status_t: zero for success, a negative ZX_ERR_* code otherwise.
type Status int32

// Statuses, with Zircon's numeric values (zircon/errors.h).
const (
	ErrOk                   Status = 0
	ErrInternal             Status = -1
	ErrNotSupported         Status = -2
	ErrNoResources          Status = -3
	ErrNoMemory             Status = -4
	ErrInternalIntrRetry    Status = -6
	ErrInvalidArgs          Status = -10
	ErrBadHandle            Status = -11
	ErrWrongType            Status = -12
	ErrBadSyscall           Status = -13
	ErrOutOfRange           Status = -14
	ErrBufferTooSmall       Status = -15
	ErrBadState             Status = -20
	ErrTimedOut             Status = -21
	ErrShouldWait           Status = -22
	ErrCanceled             Status = -23
	ErrPeerClosed           Status = -24
	ErrNotFound             Status = -25
	ErrAlreadyExists        Status = -26
	ErrAlreadyBound         Status = -27
	ErrUnavailable          Status = -28
	ErrAccessDenied         Status = -30
	ErrIO                   Status = -40
	ErrIORefused            Status = -41
	ErrIODataIntegrity      Status = -42
	ErrIODataLoss           Status = -43
	ErrIONotPresent         Status = -44
	ErrIOOverrun            Status = -45
	ErrIOMissedDeadline     Status = -46
	ErrIOInvalid            Status = -47
	ErrBadPath              Status = -50
	ErrNotDir               Status = -51
	ErrNotFile              Status = -52
	ErrFileBig              Status = -53
	ErrNoSpace              Status = -54
	ErrNotEmpty             Status = -55
	ErrStop                 Status = -60
	ErrNext                 Status = -61
	ErrAsync                Status = -62
	ErrProtocolNotSupported Status = -70
	ErrAddressUnreachable   Status = -71
	ErrAddressInUse         Status = -72
	ErrNotConnected         Status = -73
	ErrConnectionRefused    Status = -74
	ErrConnectionReset      Status = -75
	ErrConnectionAborted    Status = -76
	ErrInternalIntrKilled   Status = -502
)

var statusNames = map[Status]string{
	ErrOk: "ZX_OK", ErrInternal: "ZX_ERR_INTERNAL", ErrNotSupported: "ZX_ERR_NOT_SUPPORTED",
	ErrNoResources: "ZX_ERR_NO_RESOURCES", ErrNoMemory: "ZX_ERR_NO_MEMORY",
	ErrInternalIntrRetry: "ZX_ERR_INTERNAL_INTR_RETRY", ErrInvalidArgs: "ZX_ERR_INVALID_ARGS",
	ErrBadHandle: "ZX_ERR_BAD_HANDLE", ErrWrongType: "ZX_ERR_WRONG_TYPE",
	ErrBadSyscall: "ZX_ERR_BAD_SYSCALL", ErrOutOfRange: "ZX_ERR_OUT_OF_RANGE",
	ErrBufferTooSmall: "ZX_ERR_BUFFER_TOO_SMALL", ErrBadState: "ZX_ERR_BAD_STATE",
	ErrTimedOut: "ZX_ERR_TIMED_OUT", ErrShouldWait: "ZX_ERR_SHOULD_WAIT",
	ErrCanceled: "ZX_ERR_CANCELED", ErrPeerClosed: "ZX_ERR_PEER_CLOSED",
	ErrNotFound: "ZX_ERR_NOT_FOUND", ErrAlreadyExists: "ZX_ERR_ALREADY_EXISTS",
	ErrAlreadyBound: "ZX_ERR_ALREADY_BOUND", ErrUnavailable: "ZX_ERR_UNAVAILABLE",
	ErrAccessDenied: "ZX_ERR_ACCESS_DENIED", ErrIO: "ZX_ERR_IO", ErrIORefused: "ZX_ERR_IO_REFUSED",
	ErrIODataIntegrity: "ZX_ERR_IO_DATA_INTEGRITY", ErrIODataLoss: "ZX_ERR_IO_DATA_LOSS",
	ErrIONotPresent: "ZX_ERR_IO_NOT_PRESENT", ErrIOOverrun: "ZX_ERR_IO_OVERRUN",
	ErrIOMissedDeadline: "ZX_ERR_IO_MISSED_DEADLINE", ErrIOInvalid: "ZX_ERR_IO_INVALID",
	ErrBadPath: "ZX_ERR_BAD_PATH", ErrNotDir: "ZX_ERR_NOT_DIR", ErrNotFile: "ZX_ERR_NOT_FILE",
	ErrFileBig: "ZX_ERR_FILE_BIG", ErrNoSpace: "ZX_ERR_NO_SPACE", ErrNotEmpty: "ZX_ERR_NOT_EMPTY",
	ErrStop: "ZX_ERR_STOP", ErrNext: "ZX_ERR_NEXT", ErrAsync: "ZX_ERR_ASYNC",
	ErrProtocolNotSupported: "ZX_ERR_PROTOCOL_NOT_SUPPORTED",
	ErrAddressUnreachable:   "ZX_ERR_ADDRESS_UNREACHABLE", ErrAddressInUse: "ZX_ERR_ADDRESS_IN_USE",
	ErrNotConnected: "ZX_ERR_NOT_CONNECTED", ErrConnectionRefused: "ZX_ERR_CONNECTION_REFUSED",
	ErrConnectionReset: "ZX_ERR_CONNECTION_RESET", ErrConnectionAborted: "ZX_ERR_CONNECTION_ABORTED",
	ErrInternalIntrKilled: "ZX_ERR_INTERNAL_INTR_KILLED",
}

// String returns the status's C name, as zx_status_get_string does
// ("ZX_ERR_BAD_HANDLE"); unknown values print as "(UNKNOWN)" like Zircon.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "(UNKNOWN)"
}

// Error is the error every pagerd call returns for a Zircon status, like
// *zx.Error in Fuchsia's Go binding. Text, when set, says what was wrong and
// with which value; Error() always starts with the status name.
type Error struct {
	Status Status
	Text   string
}

// Error returns "ZX_ERR_NAME" or "ZX_ERR_NAME: text".
func (e *Error) Error() string {
	if e.Text == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Text
}

// Is makes errors.Is(err, &Error{Status: s}) and errors.Is(err, s) match on the status alone.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Status == e.Status
	case Status:
		return t == e.Status
	}
	return false
}

// Error lets a bare Status be used as an error value (errors.Is(err, zx.ErrBadState)).
func (s Status) Error() string { return s.String() }

// Errorf returns an *Error with the given status and a formatted explanation.
func Errorf(s Status, format string, args ...any) error {
	return &Error{Status: s, Text: fmt.Sprintf(format, args...)}
}

// StatusOf returns the Zircon status carried by err: ErrOk for nil, the
// status of an *Error or a bare Status anywhere in its chain, ErrInternal
// for any other error.
func StatusOf(err error) Status {
	if err == nil {
		return ErrOk
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var s Status
	if errors.As(err, &s) {
		return s
	}
	return ErrInternal
}

// GoString prints the numeric value beside the name, for test failure messages.
func (s Status) GoString() string { return s.String() + "(" + strconv.Itoa(int(s)) + ")" }
