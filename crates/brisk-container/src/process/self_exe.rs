//! Keeping brisk's own binary out of the container's reach (runc
//! CVE-2019-5736).
//!
//! brisk never re-executes itself: between the clone and `execve` the init
//! (and an `exec` child) runs the host's brisk binary, so its
//! `/proc/<pid>/exe` leads to that file on the host mount. Two ways in are
//! closed here:
//!
//! - Another container process opening `/proc/<pid>/exe` of the init or an
//!   `exec` child (shared pid namespace, or `brisk exec`): brisk makes
//!   itself non-dumpable before the clone, so that link needs
//!   CAP_SYS_PTRACE in the host's user namespace. `execve` restores the
//!   flag for the container's program.
//! - The container's program itself resolving to brisk: `args[0]` (or a
//!   symlink) being `/proc/self/exe`, a `#!/proc/self/exe` script, or an
//!   ELF whose interpreter is `/proc/self/exe`. The kernel would then load
//!   the host binary into the container, dumpable again, and a container
//!   process could keep an fd on it and write it once brisk exits.
//!   [`check_loaded_files`] walks what `execve` would load and refuses the
//!   file that is brisk's own binary *on the host mount* (same mount id,
//!   device and inode as `/proc/self/exe` before the clone): a copy or a
//!   bind mount of brisk inside the container is the container's own file
//!   and runs normally.
//!
//! The walk reads at most a few hundred bytes into stack buffers: it runs
//! in the init, between the clone and `execve`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The identity of brisk's binary: mount id, device, inode.
#[derive(Debug, Clone, Copy)]
pub struct FileId {
    /// None when statx is not allowed (a seccomp profile loaded before
    /// the check that predates statx): then device and inode decide.
    mnt_id: Option<u64>,
    dev: u64,
    ino: u64,
    /// Not part of the identity: lets the caller that looked the file up
    /// tell a directory without another stat.
    is_dir: bool,
}

impl FileId {
    pub fn is_dir(&self) -> bool {
        self.is_dir
    }
}

impl PartialEq for FileId {
    fn eq(&self, other: &FileId) -> bool {
        let same_mount = match (self.mnt_id, other.mnt_id) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same_mount && self.dev == other.dev && self.ino == other.ino
    }
}

/// `execve` follows at most this many `#!` interpreters (the kernel's
/// BINPRM recursion limit is 4 levels below the program).
const MAX_DEPTH: usize = 5;

/// The kernel reads this much of a script for its `#!` line.
const HEADER_LEN: usize = 256;

/// Marks this process non-dumpable, so that its `/proc/<pid>/exe` (and
/// ptrace) is out of reach of the container's processes. Inherited by the
/// clone; reset by `execve`.
pub fn make_undumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The identity of the binary this process runs.
pub fn runtime_exe() -> io::Result<FileId> {
    file_id(c"/proc/self/exe")
}

pub fn file_id(path: &CStr) -> io::Result<FileId> {
    file_id_at(libc::AT_FDCWD, path, 0)
}

/// The identity of the file `fd` is open on.
pub fn file_id_of(fd: BorrowedFd<'_>) -> io::Result<FileId> {
    file_id_at(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

fn file_id_at(dir: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<FileId> {
    // SAFETY: statx is plain data; zero is a valid initial value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string, st a valid buffer.
    let r = unsafe {
        libc::statx(
            dir,
            path.as_ptr(),
            flags,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut st,
        )
    };
    if r == 0 {
        return Ok(FileId {
            mnt_id: (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id),
            dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
            is_dir: u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFDIR,
        });
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
        return Err(e);
    }
    // SAFETY: stat is plain data; zero is a valid initial value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string, st a valid buffer.
    if unsafe { libc::fstatat(dir, path.as_ptr(), &mut st, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FileId {
        mnt_id: None,
        dev: st.st_dev,
        ino: st.st_ino,
        is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
    })
}

/// Fails when `execve(path)` would load `runtime`: the program itself, one
/// of its `#!` interpreters, or its ELF interpreter. A file that cannot be
/// read (execute-only) is judged by its identity alone.
pub fn check_loaded_files(path: &CStr, runtime: &FileId) -> io::Result<()> {
    let mut current = [0u8; HEADER_LEN + 1];
    let len = path.to_bytes().len().min(HEADER_LEN);
    current[..len].copy_from_slice(&path.to_bytes()[..len]);
    for _ in 0..MAX_DEPTH {
        let here = CStr::from_bytes_until_nul(&current).map_err(|_| invalid())?;
        if file_id(here)? == *runtime {
            return Err(refused());
        }
        let fd = match open_read(here) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut next = [0u8; HEADER_LEN + 1];
        match examine(fd.as_fd(), runtime, &mut next)? {
            Loads::Script => current = next,
            Loads::Elf | Loads::Other => return Ok(()),
        }
    }
    Ok(())
}

/// What an `execve` of a program brisk holds open loads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// An ELF executable: `execveat` of the fd loads exactly it (and its
    /// ELF interpreter, checked).
    Elf,
    /// A `#!` script (its interpreters checked), or anything else the
    /// kernel may know how to run: executed by path.
    Other,
}

/// The checks of [`check_loaded_files`] for a program open on `fd` whose
/// identity is checked already, reading its header from the fd (so that
/// the file checked is the file `execveat` loads). The `#!` interpreters
/// and the ELF interpreter are named by path in the file and looked up by
/// the kernel at `execve` time: they are walked by path, as it will.
pub fn check_program(fd: BorrowedFd<'_>, runtime: &FileId) -> io::Result<Program> {
    let mut next = [0u8; HEADER_LEN + 1];
    match examine(fd, runtime, &mut next) {
        Ok(Loads::Script) => {
            let interp = CStr::from_bytes_until_nul(&next).map_err(|_| invalid())?;
            check_loaded_files(interp, runtime).map(|()| Program::Other)
        }
        Ok(Loads::Elf) => Ok(Program::Elf),
        Ok(Loads::Other) => Ok(Program::Other),
        // Open with O_PATH (execute-only): judged by its identity alone.
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(Program::Other),
        Err(e) => Err(e),
    }
}

/// One level of what `execve` loads, read from its header.
enum Loads {
    /// A `#!` script: its interpreter's path is in `next`.
    Script,
    /// An ELF file whose interpreter (if any) was checked.
    Elf,
    Other,
}

/// Reads the header of the file open on `fd`: a script's interpreter goes
/// into `next`; an ELF file's interpreter is checked (it is loaded as is:
/// no further level).
fn examine(
    fd: BorrowedFd<'_>,
    runtime: &FileId,
    next: &mut [u8; HEADER_LEN + 1],
) -> io::Result<Loads> {
    // Enough for the ELF header and, usually, every program header.
    let mut head = [0u8; 1024];
    let n = pread(fd, &mut head, 0)?;
    let head = &head[..n];
    if let Some(interp) = script_interpreter(&head[..n.min(HEADER_LEN)]) {
        next[..interp.len()].copy_from_slice(interp);
        return Ok(Loads::Script);
    }
    if let Some(n) = elf_interpreter(fd, head, &mut next[..HEADER_LEN])? {
        let interp = CStr::from_bytes_until_nul(&next[..=n]).map_err(|_| invalid())?;
        if matches!(file_id(interp), Ok(id) if id == *runtime) {
            return Err(refused());
        }
    }
    Ok(if head.starts_with(b"\x7fELF") {
        Loads::Elf
    } else {
        Loads::Other
    })
}

/// The error of a program that would run brisk's own binary.
pub fn refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "refused: it would run the runtime's own binary from the host inside the container",
    )
}

fn invalid() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOEXEC)
}

/// Opens the program `path` to check it and then execute that same file:
/// for reading when it can be read, else with O_PATH (execute-only).
/// Never blocking and never taking a terminal: a FIFO or a device may be
/// named as the program. Also says whether `path` is itself a symlink:
/// the kernel names a process run by fd after the file, and one run by
/// path after the path (`/bin/sleep` -> busybox is `sleep`).
pub fn open_program(path: &CStr) -> io::Result<(OwnedFd, bool)> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    let (r, link) = match open_flags(path, flags | libc::O_NOFOLLOW) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => (open_flags(path, flags), true),
        r => (r, false),
    };
    match r {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            Ok((open_flags(path, libc::O_PATH | libc::O_CLOEXEC)?, link))
        }
        r => Ok((r?, link)),
    }
}

fn open_read(path: &CStr) -> io::Result<OwnedFd> {
    open_flags(path, libc::O_RDONLY | libc::O_CLOEXEC)
}

fn open_flags(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is a valid C string.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                offset as libc::off_t,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The interpreter path of a `#!` line, as the kernel parses it: blanks
/// skipped, the path ends at a blank, newline or NUL.
fn script_interpreter(head: &[u8]) -> Option<&[u8]> {
    let rest = head.strip_prefix(b"#!")?;
    let start = rest.iter().position(|&c| c != b' ' && c != b'\t')?;
    let rest = &rest[start..];
    let end = rest
        .iter()
        .position(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\0'))
        .unwrap_or(rest.len());
    (end > 0).then_some(&rest[..end])
}

const PT_INTERP: u32 = 3;

/// Reads the PT_INTERP path of an ELF file into `out`; its length.
fn elf_interpreter(fd: BorrowedFd<'_>, head: &[u8], out: &mut [u8]) -> io::Result<Option<usize>> {
    let Some(layout) = ElfLayout::of(head) else {
        return Ok(None);
    };
    let mut phdr = [0u8; 56];
    for i in 0..layout.phnum {
        let at = layout.phoff + i as u64 * layout.phentsize as u64;
        let want = layout.phentsize.min(phdr.len());
        // From the bytes read already when they hold it (one read in the
        // common case), else read.
        let ph = match head.get(at as usize..at as usize + want) {
            Some(ph) => ph,
            None => {
                if pread(fd, &mut phdr[..want], at)? < want {
                    return Ok(None);
                }
                &phdr[..want]
            }
        };
        let Some((offset, size)) = layout.interp_of(ph) else {
            continue;
        };
        let size = (size as usize).min(out.len() - 1);
        let n = pread(fd, &mut out[..size], offset)?;
        let n = out[..n].iter().position(|&c| c == 0).unwrap_or(n);
        out[n] = 0;
        return Ok(Some(n));
    }
    Ok(None)
}

/// Where an ELF file's program headers are (native byte order: a foreign
/// one would not run here).
#[derive(Debug, PartialEq)]
struct ElfLayout {
    class64: bool,
    phoff: u64,
    phentsize: usize,
    phnum: usize,
}

impl ElfLayout {
    fn of(head: &[u8]) -> Option<ElfLayout> {
        if head.len() < 64 || &head[..4] != b"\x7fELF" {
            return None;
        }
        let u16_at = |o: usize| u16::from_ne_bytes([head[o], head[o + 1]]) as usize;
        let u32_at = |o: usize| u32::from_ne_bytes(head[o..o + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |o: usize| u64::from_ne_bytes(head[o..o + 8].try_into().unwrap_or([0; 8]));
        match head[4] {
            2 => Some(ElfLayout {
                class64: true,
                phoff: u64_at(0x20),
                phentsize: u16_at(0x36),
                phnum: u16_at(0x38),
            }),
            1 => Some(ElfLayout {
                class64: false,
                phoff: u32_at(0x1c) as u64,
                phentsize: u16_at(0x2a),
                phnum: u16_at(0x2c),
            }),
            _ => None,
        }
    }

    /// (offset, size) of a PT_INTERP program header.
    fn interp_of(&self, ph: &[u8]) -> Option<(u64, u64)> {
        let u32_at = |o: usize| Some(u32::from_ne_bytes(ph.get(o..o + 4)?.try_into().ok()?));
        let u64_at = |o: usize| Some(u64::from_ne_bytes(ph.get(o..o + 8)?.try_into().ok()?));
        if u32_at(0)? != PT_INTERP {
            return None;
        }
        if self.class64 {
            Some((u64_at(8)?, u64_at(32)?))
        } else {
            Some((u32_at(4)? as u64, u32_at(16)? as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines() {
        assert_eq!(
            script_interpreter(b"#!/bin/sh\necho"),
            Some(&b"/bin/sh"[..])
        );
        assert_eq!(
            script_interpreter(b"#! \t/proc/self/exe -x\n"),
            Some(&b"/proc/self/exe"[..])
        );
        assert_eq!(script_interpreter(b"#!/x"), Some(&b"/x"[..]));
        assert_eq!(script_interpreter(b"#!   \n"), None);
        assert_eq!(script_interpreter(b"#!"), None);
        assert_eq!(script_interpreter(b"\x7fELF"), None);
    }

    #[test]
    fn elf_layout_of_short_or_foreign_headers() {
        assert_eq!(ElfLayout::of(b"\x7fELF"), None);
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 3;
        assert_eq!(ElfLayout::of(&h), None);
        h[4] = 2;
        h[0x20] = 64;
        h[0x36] = 56;
        h[0x38] = 9;
        let l = ElfLayout::of(&h).expect("64-bit layout");
        assert_eq!((l.phoff, l.phentsize, l.phnum), (64, 56, 9));
    }

    #[test]
    fn the_test_binary_is_not_refused_for_a_copy_but_is_for_itself() {
        let me = runtime_exe().expect("own exe");
        assert!(check_loaded_files(c"/proc/self/exe", &me).is_err());
        let copy = std::env::temp_dir().join(format!("brisk-self-exe-{}", std::process::id()));
        std::fs::copy("/proc/self/exe", &copy).expect("copy");
        let c = std::ffi::CString::new(copy.to_str().expect("utf-8")).expect("path");
        let res = check_loaded_files(&c, &me);
        let _ = std::fs::remove_file(&copy);
        assert!(res.is_ok(), "{res:?}");
        // A script whose interpreter is this binary.
        let script = std::env::temp_dir().join(format!("brisk-self-sh-{}", std::process::id()));
        std::fs::write(&script, "#!/proc/self/exe\n").expect("script");
        let s = std::ffi::CString::new(script.to_str().expect("utf-8")).expect("path");
        let res = check_loaded_files(&s, &me);
        let _ = std::fs::remove_file(&script);
        assert!(res.is_err());
    }

    #[test]
    fn dynamic_binaries_name_their_loader() {
        // /bin/sh on Debian is dynamically linked: its loader is found and
        // is not this binary.
        let me = runtime_exe().expect("own exe");
        let fd = open_read(c"/bin/sh").expect("open /bin/sh");
        let mut head = [0u8; HEADER_LEN];
        let n = pread(fd.as_fd(), &mut head, 0).expect("read");
        let mut out = [0u8; HEADER_LEN + 1];
        let len = elf_interpreter(fd.as_fd(), &head[..n], &mut out[..HEADER_LEN])
            .expect("phdrs")
            .expect("PT_INTERP");
        assert!(out[..len].starts_with(b"/lib"), "{:?}", &out[..len]);
        assert!(check_loaded_files(c"/bin/sh", &me).is_ok());
    }
}
