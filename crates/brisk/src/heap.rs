//! brisk's heap: its first allocations come from a bump arena in `.bss`,
//! the rest from the system allocator.
//!
//! A brisk process is short: parse the config, build the plan, clone,
//! wait, clean up. Most of what it allocates lives until it exits. musl's
//! allocator (the release build is static musl, see
//! scripts/build-release.sh) maps and unmaps a group of pages for each
//! size class it serves: a `run` of podman's config made ~120 mmap and
//! ~120 munmap calls and ~140 more page faults than with the arena, which
//! costs more than the whole config parse. The arena is one contiguous
//! block that the kernel hands out page by page as it is touched, with no
//! syscall at all.
//!
//! Rules: an allocation that fits is carved from the arena; freeing the
//! newest one gives its space back (a growing `Vec` or `String` that was
//! allocated last grows in place); any other free of arena memory is
//! forgotten. The arena is never reused otherwise, so what it can waste
//! is bounded by its size; once it is full every request goes to the
//! system allocator, as a long-running `brisk events` eventually does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The arena's size: about 4 times what a `run` of podman's config with
/// its seccomp profile uses. Pages never touched cost nothing.
pub const ARENA_SIZE: usize = 1 << 20;

/// A bump allocator over `cap` bytes at `base`; `next` is the offset of
/// the first free byte. Safe to share between threads (brisk has none,
/// but the contract of `GlobalAlloc` asks for it).
pub struct Bump {
    next: AtomicUsize,
}

impl Bump {
    pub const fn new() -> Bump {
        Bump {
            next: AtomicUsize::new(0),
        }
    }

    /// Bytes handed out so far (including padding and forgotten frees).
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// Carves `l` out of the arena, or None when it does not fit.
    pub fn alloc(&self, base: *mut u8, cap: usize, l: Layout) -> Option<*mut u8> {
        let base_addr = base as usize;
        let mut cur = self.next.load(Ordering::Acquire);
        loop {
            // Align the address, not the offset: `base` may be less
            // aligned than the layout asks.
            let addr = base_addr.checked_add(cur)?;
            let aligned = addr.checked_add(l.align() - 1)? & !(l.align() - 1);
            let start = aligned - base_addr;
            let end = start.checked_add(l.size())?;
            if end > cap {
                return None;
            }
            match self
                .next
                .compare_exchange_weak(cur, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // The result stays inside the arena: start <= end <= cap.
                Ok(_) => return Some(base.wrapping_add(start)),
                Err(now) => cur = now,
            }
        }
    }

    /// Whether `p` points into the arena.
    pub fn owns(base: *mut u8, cap: usize, p: *mut u8) -> bool {
        let (b, a) = (base as usize, p as usize);
        a >= b && a < b + cap
    }

    /// Frees `p` (of size `size`, inside the arena): its space comes back
    /// only when it is the newest allocation.
    pub fn free(&self, base: *mut u8, p: *mut u8, size: usize) {
        let off = p as usize - base as usize;
        let _ = self
            .next
            .compare_exchange(off + size, off, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Resizes `p` in place when it is the newest allocation and the new
    /// size fits; returns whether it did.
    pub fn resize_in_place(
        &self,
        base: *mut u8,
        cap: usize,
        p: *mut u8,
        old: usize,
        new: usize,
    ) -> bool {
        let off = p as usize - base as usize;
        match off.checked_add(new) {
            Some(end) if end <= cap => self
                .next
                .compare_exchange(off + old, end, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok(),
            _ => false,
        }
    }
}

impl Default for Bump {
    fn default() -> Self {
        Bump::new()
    }
}

/// The arena's memory: zero-initialised, so it lives in `.bss` and costs
/// neither file size nor a syscall.
#[repr(C, align(4096))]
struct Memory(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the bytes are only reached through `Bump`, which hands each
// byte range to one allocation at a time (atomically).
unsafe impl Sync for Memory {}

static MEMORY: Memory = Memory(UnsafeCell::new([0; ARENA_SIZE]));

/// The global allocator: the arena first, then the system's.
pub struct ArenaThenSystem {
    bump: Bump,
}

impl ArenaThenSystem {
    pub const fn new() -> ArenaThenSystem {
        ArenaThenSystem { bump: Bump::new() }
    }

    fn base() -> *mut u8 {
        MEMORY.0.get().cast()
    }

    /// Bytes of the arena handed out (`--timings` prints it).
    pub fn arena_used(&self) -> usize {
        self.bump.used()
    }
}

impl Default for ArenaThenSystem {
    fn default() -> Self {
        ArenaThenSystem::new()
    }
}

// SAFETY: every pointer handed out is either a fresh, suitably aligned,
// non-overlapping range of MEMORY (Bump::alloc moves `next` past it
// atomically) or comes from System; dealloc and realloc tell the two
// apart by address and pass System's pointers back to System.
unsafe impl GlobalAlloc for ArenaThenSystem {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        match self.bump.alloc(Self::base(), ARENA_SIZE, l) {
            Some(p) => p,
            // SAFETY: the caller's layout contract is passed on.
            None => unsafe { System.alloc(l) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if Bump::owns(Self::base(), ARENA_SIZE, p) {
            self.bump.free(Self::base(), p, l.size());
        } else {
            // SAFETY: p came from System.alloc with this layout.
            unsafe { System.dealloc(p, l) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let base = Self::base();
        if !Bump::owns(base, ARENA_SIZE, p) {
            // SAFETY: p came from System with layout l.
            return unsafe { System.realloc(p, l, new_size) };
        }
        if self
            .bump
            .resize_in_place(base, ARENA_SIZE, p, l.size(), new_size)
        {
            return p;
        }
        // SAFETY: the caller guarantees new_size, rounded up to l.align(),
        // does not overflow isize.
        let new_l = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        // SAFETY: new_l has a non-zero size (the caller's contract).
        let q = unsafe { self.alloc(new_l) };
        if !q.is_null() {
            // SAFETY: p is valid for l.size() bytes, q for new_size; they
            // do not overlap (q is a fresh allocation).
            unsafe { std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size)) };
            // SAFETY: p is an arena allocation of layout l.
            unsafe { self.dealloc(p, l) };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(n: usize) -> (Vec<u64>, *mut u8, usize) {
        let mut v = vec![0u64; n / 8];
        let p = v.as_mut_ptr().cast::<u8>();
        (v, p, n)
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_bounded() {
        let (_keep, base, cap) = arena(4096);
        let b = Bump::new();
        let a1 = b
            .alloc(base, cap, Layout::from_size_align(3, 1).unwrap())
            .unwrap();
        let a2 = b
            .alloc(base, cap, Layout::from_size_align(16, 16).unwrap())
            .unwrap();
        assert_eq!(a2 as usize % 16, 0);
        assert!(a2 as usize >= a1 as usize + 3);
        assert_eq!(b.used(), a2 as usize - base as usize + 16);
        // What no longer fits is refused, and the arena is unchanged.
        let used = b.used();
        assert!(b
            .alloc(base, cap, Layout::from_size_align(cap, 1).unwrap())
            .is_none());
        assert_eq!(b.used(), used);
        // Exactly the rest fits.
        let rest = cap - used;
        let a3 = b
            .alloc(base, cap, Layout::from_size_align(rest, 1).unwrap())
            .unwrap();
        assert_eq!(a3 as usize + rest, base as usize + cap);
        assert!(b
            .alloc(base, cap, Layout::from_size_align(1, 1).unwrap())
            .is_none());
    }

    #[test]
    fn only_the_newest_allocation_gives_space_back() {
        let (_keep, base, cap) = arena(4096);
        let b = Bump::new();
        let a1 = b
            .alloc(base, cap, Layout::from_size_align(100, 8).unwrap())
            .unwrap();
        let a2 = b
            .alloc(base, cap, Layout::from_size_align(50, 8).unwrap())
            .unwrap();
        let after_two = b.used();
        b.free(base, a1, 100); // not the newest: forgotten
        assert_eq!(b.used(), after_two);
        b.free(base, a2, 50); // the newest: given back
        assert_eq!(b.used(), a2 as usize - base as usize);
        let a3 = b
            .alloc(base, cap, Layout::from_size_align(50, 8).unwrap())
            .unwrap();
        assert_eq!(a3, a2);
    }

    #[test]
    fn the_newest_allocation_grows_and_shrinks_in_place() {
        let (_keep, base, cap) = arena(4096);
        let b = Bump::new();
        let a1 = b
            .alloc(base, cap, Layout::from_size_align(10, 1).unwrap())
            .unwrap();
        let a2 = b
            .alloc(base, cap, Layout::from_size_align(10, 1).unwrap())
            .unwrap();
        assert!(
            !b.resize_in_place(base, cap, a1, 10, 20),
            "a1 is not the newest"
        );
        assert!(b.resize_in_place(base, cap, a2, 10, 1000));
        assert_eq!(b.used(), a2 as usize - base as usize + 1000);
        assert!(b.resize_in_place(base, cap, a2, 1000, 5));
        assert_eq!(b.used(), a2 as usize - base as usize + 5);
        assert!(
            !b.resize_in_place(base, cap, a2, 5, cap),
            "beyond the arena"
        );
        assert!(Bump::owns(base, cap, a2));
        assert!(!Bump::owns(base, cap, base.wrapping_add(cap)));
    }

    #[test]
    fn the_global_allocator_falls_back_to_the_system() {
        let g = ArenaThenSystem::new();
        let small = Layout::from_size_align(64, 8).unwrap();
        let huge = Layout::from_size_align(ARENA_SIZE + 1, 8).unwrap();
        // SAFETY: non-zero layouts; every pointer is freed with its layout.
        unsafe {
            let p = g.alloc(small);
            assert!(Bump::owns(ArenaThenSystem::base(), ARENA_SIZE, p));
            p.write_bytes(7, 64);
            let q = g.alloc(huge);
            assert!(!q.is_null());
            assert!(!Bump::owns(ArenaThenSystem::base(), ARENA_SIZE, q));
            // Growing the arena block past the arena moves it to System,
            // keeping its bytes.
            let r = g.realloc(p, small, ARENA_SIZE * 2);
            assert!(!Bump::owns(ArenaThenSystem::base(), ARENA_SIZE, r));
            assert!(std::slice::from_raw_parts(r, 64).iter().all(|&x| x == 7));
            g.dealloc(r, Layout::from_size_align(ARENA_SIZE * 2, 8).unwrap());
            g.dealloc(q, huge);
        }
    }
}
