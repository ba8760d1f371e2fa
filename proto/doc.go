// Package proto is the wire protocol between the pagerd service and its
// clients, and the unix-socket plumbing both sides use (DESIGN.md §4).
//
// # Transport
//
// A SOCK_SEQPACKET unix socket: one message is one packet, with its file
// descriptors (if any) as one SCM_RIGHTS control message. Listen creates the
// socket file with mode 0600 unless told otherwise (bound under a temporary
// name, chmod'ed, then renamed into place, so it never exists with a wider
// mode) and replaces an existing socket only if it is stale (connect gives
// ECONNREFUSED); a live socket or a non-socket file is left alone. Recv
// receives with MSG_CMSG_CLOEXEC, rejects MSG_TRUNC (packet > 64 KiB) and
// MSG_CTRUNC (too many fds) and closes every fd of a rejected packet; on
// success the caller owns exactly the fds the message takes. Deadlines
// (SetDeadline) bound every Send/Recv/Accept.
//
// # Access control
//
// pagerd reads the peer's SO_PEERCRED (PeerCred, Conn.Cred) — recorded by
// the kernel at connect(), so it cannot be forged by the client — and checks
// it against an Allow list. Root and the daemon's own uid are always
// permitted (they can ptrace the daemon anyway); others need their uid in
// Allow.UIDs or their primary gid in Allow.GIDs (supplementary groups are
// not visible through SO_PEERCRED). Hello.PID is informational only.
//
// # Encoding
//
// Little-endian, no padding, no alignment. Every packet is a 20-byte header
// then the payload:
//
//	off size field
//	  0    4 magic      0x44524750 ("PGRD")
//	  4    2 version    WireVersion (1): the envelope's version, fixed
//	  6    2 type       Type
//	  8    4 length     payload bytes; must equal packet size - 20
//	 12    8 request id chosen by the client, echoed in the reply; 0 = unsolicited
//
// The envelope version is distinct from the protocol version negotiated by
// Hello/Welcome, so a client and a server of any versions can always parse
// each other's Hello, Welcome and Error. Strings are a length prefix (u8
// for names, u16 for error text) followed by the bytes; booleans are one
// byte, 0 or 1; lists are a u16 count followed by fixed-size elements.
// Limits: a packet ≤ MaxMessageSize (64 KiB), names 1..255 bytes of
// printable UTF-8 without '/', '\\', C0/C1 controls or DEL and not "." or
// "..", error text ≤ 1024 bytes of UTF-8 without NUL, ≤ MaxDirtyRanges
// (2048) ranges per reply, sorted and non-overlapping.
//
// The decoder is strict and the encoding canonical: Decode(b) succeeds only
// if Marshal of the result gives b back byte for byte. It rejects a wrong
// magic or envelope version, an unknown type, a length that disagrees with
// the packet, short or trailing bytes, unknown flag bits, zero ids,
// non-canonical booleans, bad names, a request with request id 0, and an fd
// count other than what the message takes (too many or too few). Every
// such failure is a *DecodeError (errors.Is(err, ErrMalformed)), which a
// daemon answers with an Error (DecodeError.Status) and by closing the
// connection; I/O errors (EOF, deadlines, resets) are never *DecodeError.
//
// # Messages
//
//	type  name                 dir  fds  payload                                          reply
//	0x01  Hello                c→s   0   magic u32 "HELO", min u16, max u16,              Welcome | Error
//	                                     pid i32, page size u32
//	0x02  Welcome              s→c   0   version u16, page size u32, features u64,
//	                                     max vmos u32, max mapped bytes u64,
//	                                     max outstanding u32
//	0x03  Error                s→c   0   code i32 (zx status < 0), text (u16 len)
//	0x04  Goodbye              both  0   (empty)                                          none
//	0x11  OpenVMO              c→s   0   flags u32 (ReadOnly, TrapDirty, Create),         VMOOpened
//	                                     create size u64 (0 unless Create), name (u8 len)
//	0x12  VMOOpened            s→c   1   vmo id u64, size u64, content size u64,
//	                                     flags u32; fd = the VMO's memfd
//	0x13  RegisterMapping      c→s  0/1  vmo id, addr, length, vmo offset (u64 each,      MappingRegistered
//	                                     4 KiB aligned), flags u32 (Writable,
//	                                     AttachUFFD); fd = the client's uffd iff
//	                                     AttachUFFD
//	0x14  MappingRegistered    s→c   0   mapping id u64
//	0x15  UnregisterMapping    c→s   0   mapping id u64                                   MappingUnregistered
//	0x16  MappingUnregistered  s→c   0   mapping id u64
//	0x17  Sync                 c→s   0   vmo id u64                                       Synced
//	0x18  Synced               s→c   0   vmo id u64, bytes written u64
//	0x19  Stats                c→s   0   vmo id u64                                       StatsReply
//	0x1a  StatsReply           s→c   0   vmo id, size, content size, committed, dirty,
//	                                     read faults, write faults (u64), mappings u32
//	0x1b  DirtyRanges          c→s   0   vmo id u64, offset u64, length u64               DirtyRangesReply
//	0x1c  DirtyRangesReply     s→c   0   vmo id u64, more u8, count u16,
//	                                     count × {offset, length, options} u64
//	0x1d  CloseVMO             c→s   0   vmo id u64                                       VMOClosed
//	0x1e  VMOClosed            s→c   0   vmo id u64
//	0x21…0x26                               administrative: Status, ListClients,
//	                                        ListVMOs and replies (admin.go)
//
// Any request may instead be answered by Error with its request id. An
// Error with request id 0 is a connection-level error; the server closes
// the connection after it. Goodbye announces an orderly close.
//
// # Session
//
// The client sends Hello first (ClientHandshake); the server answers with
// Welcome carrying the highest version in both ranges, or with Error
// ZX_ERR_PROTOCOL_NOT_SUPPORTED when the ranges do not overlap
// (ServerHandshake). Then the client opens VMOs, receives each memfd, maps
// it, creates one uffd for its process (a uffd binds to the process that
// creates it) and registers its mappings; the first RegisterMapping of a
// connection sets MapAttachUFFD and carries that uffd, later ones do not (a
// server answers a second uffd with ZX_ERR_ALREADY_BOUND and a mapping
// before any uffd with ZX_ERR_BAD_STATE). Semantic checks — ids that exist,
// ranges inside the VMO, alignment to the negotiated page size, limits,
// read-only VMOs mapped writable — are the server's, answered with Error;
// the codec checks only what can be checked from one message.
package proto
