package zx

import "golang.org/x/sys/unix"

// Now returns the monotonic clock in nanoseconds (zx_clock_get_monotonic);
// CLOCK_MONOTONIC, so C callers of clock_gettime agree with it.
func Now() Time {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return Time(ts.Nano())
}

// DeadlineAfter returns Now()+d, saturating at TimeInfinite (zx_deadline_after).
func DeadlineAfter(d Duration) Time {
	now := Now()
	if d > 0 && Time(d) > TimeInfinite-now {
		return TimeInfinite
	}
	return now + Time(d)
}
