package memif

// Shared memory: regions, rings and descriptors (DPDK memif.h, "Ring and
// Descriptor Layout"), seen through atomics where the two processes meet.
//
// A ring is 128 bytes of header followed by 2^log2 descriptors of 16 bytes:
//
//	offset 0   u32 cookie (0x3E31F20)
//	offset 4   u16 flags  (bit 0 MASK_INT: written by the ring's consumer,
//	                       "do not signal my eventfd")
//	offset 6   u16 head   (written by the client on both rings)
//	offset 64  u16 tail   (written by the server on both rings)
//	offset 128 desc[]     flags u16, region u16, length u32, offset u32,
//	                      metadata u32
//
// head and tail are free-running 16-bit indices; slot = index & (size-1).
// sync/atomic has no 16-bit operations, so:
//   - tail is followed by padding up to offset 128: a 32-bit atomic store
//     of the word at offset 64 writes tail exactly (and zeroes padding
//     nobody reads);
//   - head shares its 32-bit word with flags, which the other side may
//     write: it is stored with a compare-and-swap loop that keeps the
//     flags half, and flags likewise keep the head half. A C peer's 16-bit
//     stores never tear these.
//
// Every 32-bit word is naturally aligned as long as a ring starts on an
// 8-byte boundary, which the server requires.

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	cookie          = 0x3E31F20
	ringHeaderSize  = 128
	descSize        = 16
	ringFlagMaskInt = 1 // ring flags: the consumer polls, no eventfd signal
	descFlagNext    = 1 // descriptor flags: the packet continues in the next slot
)

// desc is one buffer descriptor, laid out as memif_desc_t.
type desc struct {
	flags  uint16
	region uint16
	length uint32
	offset uint32
	meta   uint32
}

// Positions of the 16-bit fields inside their 32-bit words: flags and head
// share the word at offset 4, tail is alone in the word at offset 64.
var flagsShift, headShift, tailShift = fieldShifts()

func fieldShifts() (flags, head, tail uint) {
	if ne.Uint16([]byte{1, 0}) == 1 { // little-endian: the lower address is the low half
		return 0, 16, 0
	}
	return 16, 0, 16
}

// ringBytes is the size of a ring of 2^log2 slots.
func ringBytes(log2 uint8) uint64 { return ringHeaderSize + descSize<<log2 }

// ring is a view of one ring inside a mapped region. The memory belongs to
// the mapping; the view must not be used after the region is unmapped.
type ring struct {
	hdr  unsafe.Pointer
	desc []desc
	size uint32
	mask uint16
}

// newRing views the ring at mem[off:]. The caller has checked that the ring
// fits and that off is 8-byte aligned.
func newRing(mem []byte, off uint64, log2 uint8) ring {
	hdr := unsafe.Pointer(&mem[off])
	n := 1 << log2
	return ring{
		hdr:  hdr,
		desc: unsafe.Slice((*desc)(unsafe.Add(hdr, ringHeaderSize)), n),
		size: uint32(n),
		mask: uint16(n - 1),
	}
}

func (r *ring) cookieWord() *uint32 { return (*uint32)(r.hdr) }
func (r *ring) headWord() *uint32   { return (*uint32)(unsafe.Add(r.hdr, 4)) }
func (r *ring) tailWord() *uint32   { return (*uint32)(unsafe.Add(r.hdr, 64)) }

func (r *ring) cookie() uint32 { return atomic.LoadUint32(r.cookieWord()) }

func (r *ring) setCookie() { atomic.StoreUint32(r.cookieWord(), cookie) }

// head loads head with acquire semantics.
func (r *ring) head() uint16 { return uint16(atomic.LoadUint32(r.headWord()) >> headShift) }

// flags loads the ring flags.
func (r *ring) flags() uint16 { return uint16(atomic.LoadUint32(r.headWord()) >> flagsShift) }

// tail loads tail with acquire semantics.
func (r *ring) tail() uint16 { return uint16(atomic.LoadUint32(r.tailWord()) >> tailShift) }

// setTail stores tail with release semantics.
func (r *ring) setTail(t uint16) { atomic.StoreUint32(r.tailWord(), uint32(t)<<tailShift) }

// setHead stores head with release semantics, keeping the flags.
func (r *ring) setHead(h uint16) { r.setHalf(headShift, h) }

// setFlags stores the ring flags, keeping head.
func (r *ring) setFlags(f uint16) { r.setHalf(flagsShift, f) }

func (r *ring) setHalf(shift uint, v uint16) {
	w := r.headWord()
	for {
		old := atomic.LoadUint32(w)
		nw := old&^(0xffff<<shift) | uint32(v)<<shift
		if old == nw || atomic.CompareAndSwapUint32(w, old, nw) {
			return
		}
	}
}

// reset clears head and tail (both sides do it when the link comes up).
func (r *ring) reset() {
	r.setHead(0)
	r.setTail(0)
}

// Regions.

// createRegion makes a region the way DPDK and libmemif do: a memfd sealed
// against shrinking, so the peer can map it without fear of SIGBUS.
func createRegion(name string, size uint64) (fd int, mem []byte, err error) {
	fd, err = unix.MemfdCreate(name, unix.MFD_ALLOW_SEALING|unix.MFD_CLOEXEC)
	if err != nil {
		return -1, nil, fmt.Errorf("create region: memfd_create: %w", err)
	}
	if err = unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("create region: ftruncate %d: %w", size, err)
	}
	if _, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("create region: seal: %w", err)
	}
	mem, err = mapRegion(fd, size)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, mem, nil
}

func mapRegion(fd int, size uint64) ([]byte, error) {
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map region of %d bytes: %w", size, err)
	}
	return mem, nil
}

// checkRegionFd verifies that a region fd received from a client can be
// mapped for size bytes and can never shrink under the mapping (which would
// turn our accesses into SIGBUS): it must carry F_SEAL_SHRINK and be at
// least size bytes long.
func checkRegionFd(fd int, size uint64) error {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("region is not a sealable memfd: %w", err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return fmt.Errorf("region memfd is not sealed against shrinking")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat region: %w", err)
	}
	if st.Size < 0 || uint64(st.Size) < size {
		return fmt.Errorf("region memfd has %d bytes, %d announced", st.Size, size)
	}
	return nil
}

// Eventfds.

func newEventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("create eventfd: %w", err)
	}
	return fd, nil
}

// checkEventfd verifies that an interrupt fd received from a client is an
// eventfd, and makes it nonblocking (memif peers create them so anyway): a
// pipe or a socket there could block the switch's writers.
func checkEventfd(fd int) error {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fmt.Errorf("inspect interrupt fd: %w", err)
	}
	if target != "anon_inode:[eventfd]" {
		return fmt.Errorf("interrupt fd is %q, not an eventfd", target)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("set interrupt fd nonblocking: %w", err)
	}
	return nil
}

// one is what a producer writes to an eventfd to signal it.
var one = [8]byte{1}

// signalFd increments an eventfd. Errors are ignored: EAGAIN means the
// counter is already huge, and the consumer will wake anyway.
func signalFd(fd int) { unix.Write(fd, one[:]) }

// closeFds closes every fd in fds that is >= 0.
func closeFds(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
