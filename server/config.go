package server

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/pagerd/pagerd/metrics"
	"github.com/pagerd/pagerd/proto"
	"github.com/pagerd/pagerd/readahead"
	"github.com/pagerd/pagerd/store"
)

// DefaultSocket is where pagerd listens unless told otherwise
// (proto.DefaultSocket, which clients use too).
func DefaultSocket() string { return proto.DefaultSocket() }

// Defaults for Config fields left zero.
const (
	DefaultMaxClients        = 1024
	DefaultMaxVMOs           = 256
	DefaultMaxMappedBytes    = 1 << 40
	DefaultMaxOutstanding    = 256
	DefaultWritebackInterval = 5 * time.Second
	// MaxVMOSize bounds one VMO: its page table costs one byte per page.
	MaxVMOSize = 1 << 40
)

// Config configures a Server. Only Store is required.
type Config struct {
	// Socket is the unix socket path; "" means DefaultSocket(). Its
	// directory is created (0700) if missing.
	Socket string
	// SocketMode is the socket file's mode; 0 means 0600.
	SocketMode os.FileMode
	// Allow lists the uids and gids besides root and pagerd's own uid
	// that may connect (checked with SO_PEERCRED).
	Allow proto.Allow
	// Store is the backing store VMOs are served from.
	Store store.Store
	// StoreDesc describes the store in Status replies and logs.
	StoreDesc string
	// Workers is the size of the fault worker pool; 0 means
	// 2*GOMAXPROCS (at least 4).
	Workers int
	// MaxClients bounds concurrent connections; 0 means DefaultMaxClients.
	MaxClients int
	// Limits are the per-client limits; zero fields take the defaults
	// DefaultMaxVMOs, DefaultMaxMappedBytes and DefaultMaxOutstanding.
	Limits proto.Limits
	// Readahead configures prefetch.
	Readahead readahead.Config
	// WritebackInterval is how often dirty pages are written back; 0 means
	// DefaultWritebackInterval, negative disables periodic write-back
	// (Sync and Shutdown still write back).
	WritebackInterval time.Duration
	// NoStoreMapping turns off copying straight from a read-only mapping
	// of the store file (objects of file and directory stores): every
	// fill then preads into a buffer and copies from there, as for other
	// stores. For comparison and as a safety valve.
	NoStoreMapping bool
	// Logger receives structured logs (never per fault); nil means none.
	Logger *zap.Logger
	// Metrics receives the service's metrics; nil means none.
	Metrics *metrics.Metrics
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return fmt.Errorf("server: Config.Store is nil")
	}
	if c.Socket == "" {
		c.Socket = DefaultSocket()
	}
	if c.SocketMode == 0 {
		c.SocketMode = proto.DefaultSocketMode
	}
	if c.Workers == 0 {
		c.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if c.Workers < 1 || c.Workers > 4096 {
		return fmt.Errorf("server: Workers %d out of range 1..4096", c.Workers)
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxClients < 1 || c.MaxClients > 1<<20 {
		return fmt.Errorf("server: MaxClients %d out of range 1..%d", c.MaxClients, 1<<20)
	}
	if c.Limits.MaxVMOs == 0 {
		c.Limits.MaxVMOs = DefaultMaxVMOs
	}
	if c.Limits.MaxMappedBytes == 0 {
		c.Limits.MaxMappedBytes = DefaultMaxMappedBytes
	}
	if c.Limits.MaxOutstanding == 0 {
		c.Limits.MaxOutstanding = DefaultMaxOutstanding
	}
	if c.WritebackInterval == 0 {
		c.WritebackInterval = DefaultWritebackInterval
	}
	if err := c.Readahead.Validate(); err != nil {
		return fmt.Errorf("server: read-ahead: %w", err)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}
