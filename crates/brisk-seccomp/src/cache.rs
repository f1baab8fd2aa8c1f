//! The compiled-filter cache: one file per program under a root-only
//! directory, named by the hex SHA-256 key of the profile's canonical form
//! plus the target architecture, the libseccomp version and brisk's
//! version. A hit is an `open` + `fstat` + `read` and two hashes; it never
//! calls libseccomp.
//!
//! A second kind of entry is keyed by the exact bytes of a config's
//! `linux.seccomp` section (`section_key`): it lets a container whose
//! section was seen before skip parsing it (see
//! brisk-container/src/seccomp_section.rs). Such an entry is written only
//! for profiles without a listener, and it carries the profile's
//! seccomp(2) flags, which the program does not hold.
//!
//! File layout (little endian): magic `BRSKBPF1` (8 bytes), key (32),
//! program length in bytes (u32), seccomp(2) flags (u32: those of the
//! profile in a section entry, 0 in a profile entry), SHA-256 of the flags
//! word and the program (32), the program. Anything that does not match exactly (magic, key,
//! length, a multiple of 8, at most 4096 instructions, digest, owner,
//! permissions) is a miss: the program is compiled again and the entry
//! rewritten. Writes go to a temporary file in the same directory that is
//! renamed over the entry, so readers see the old or the new entry, never a
//! part; racing writers write the same bytes. Failing to write only costs
//! the cache.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::profile::{Profile, NATIVE_ARCH};
use crate::Compiler;

pub const MAGIC: &[u8; 8] = b"BRSKBPF1";
pub const HEADER_LEN: usize = 8 + 32 + 4 + 4 + 32;
/// The kernel's limit (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// Bumped when brisk compiles a profile differently or the entry changes
/// (3: the native compiler shares `ret` instructions; 4: the digest
/// covers the flags word).
const FORMAT: &str = "4";
/// The default directory (persistent, so `brisk seccomp compile` at
/// install time helps every later boot).
pub const DEFAULT_DIR: &str = "/var/cache/brisk/seccomp";

pub type Key = [u8; 32];

pub fn hex(key: &Key) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in key {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The cache key of `profile` compiled by `compiler` in this build.
pub fn key(profile: &Profile, compiler: Compiler) -> Key {
    key_of(b"profile", &profile.canonical_bytes(), compiler)
}

/// The cache key of a `linux.seccomp` section by its exact JSON bytes
/// (another domain than `key`: the two never collide).
pub fn section_key(json: &[u8], compiler: Compiler) -> Key {
    key_of(b"section", json, compiler)
}

fn key_of(kind: &[u8], bytes: &[u8], compiler: Compiler) -> Key {
    let mut h = Sha256::new();
    h.update(b"brisk-seccomp-cache\0format=");
    h.update(FORMAT.as_bytes());
    h.update(b"\0arch=");
    h.update(NATIVE_ARCH.to_le_bytes());
    h.update(b"\0compiler=");
    h.update(compiler.name().as_bytes());
    h.update(b"\0libseccomp=");
    h.update(crate::LIBSECCOMP_VERSION.as_bytes());
    h.update(b"\0brisk=");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(kind);
    h.update(b"\0");
    h.update(bytes);
    h.finalize().into()
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

/// The result of a lookup.
#[derive(Debug)]
pub enum Lookup {
    Hit(Vec<u8>),
    /// No entry.
    Absent,
    /// An entry that cannot be used, and why.
    Invalid(String),
}

/// One file of `brisk seccomp cache list`.
#[derive(Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub size: u64,
    /// The instruction count when the entry is valid, else why not.
    pub check: Result<usize, String>,
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks a file's header and program against `key` (None: against the
/// key in its own header, for `list`). Returns the program.
pub fn parse_entry(data: &[u8], key: Option<&Key>) -> Result<Vec<u8>, String> {
    if data.len() < HEADER_LEN {
        return Err(format!("truncated: {} bytes", data.len()));
    }
    if &data[..8] != MAGIC {
        return Err("bad magic".into());
    }
    if let Some(k) = key {
        if &data[8..40] != k {
            return Err("written for another key".into());
        }
    }
    let len = u32::from_le_bytes([data[40], data[41], data[42], data[43]]) as usize;
    let body = &data[HEADER_LEN..];
    if len != body.len() {
        return Err(format!(
            "length {len} in the header, {} bytes present",
            body.len()
        ));
    }
    if len == 0 || !len.is_multiple_of(8) || len / 8 > MAX_INSNS {
        return Err(format!("{len} bytes is not a BPF program"));
    }
    if digest_of(&data[44..48], body)[..] != data[48..80] {
        return Err("program does not match its digest".into());
    }
    Ok(body.to_vec())
}

fn digest_of(flags: &[u8], bpf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(flags);
    h.update(bpf);
    h.finalize().into()
}

/// The seccomp(2) flags a section entry may carry: TSYNC, LOG, SPEC_ALLOW,
/// TSYNC_ESRCH, WAIT_KILLABLE_RECV (never NEW_LISTENER: profiles with a
/// listener get no section entry).
pub const SECTION_FLAGS: u32 = 1 | 2 | 4 | 16 | 32;

/// The seccomp(2) flags recorded in an entry (checked by `parse_entry`).
pub fn entry_flags(data: &[u8]) -> u32 {
    data.get(44..48)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn encode_entry(key: &Key, bpf: &[u8], flags: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + bpf.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key);
    out.extend_from_slice(&(bpf.len() as u32).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&digest_of(&flags.to_le_bytes(), bpf));
    out.extend_from_slice(bpf);
    out
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn path_of(&self, key: &Key) -> PathBuf {
        self.dir.join(hex(key))
    }

    /// Reads the entry for `key`. Never fails: every problem is a miss.
    pub fn lookup(&self, key: &Key) -> Lookup {
        match self.read_entry(key) {
            Ok(data) => match parse_entry(&data, Some(key)) {
                Ok(bpf) => Lookup::Hit(bpf),
                Err(e) => Lookup::Invalid(e),
            },
            Err(l) => l,
        }
    }

    /// The program and seccomp(2) flags of the section entry `key`, if
    /// there is a valid one.
    pub fn lookup_section(&self, key: &Key) -> Option<(Vec<u8>, u32)> {
        let data = self.read_entry(key).ok()?;
        let bpf = parse_entry(&data, Some(key)).ok()?;
        let flags = entry_flags(&data);
        (flags & !SECTION_FLAGS == 0).then_some((bpf, flags))
    }

    /// The bytes of the entry file for `key`, if it can be trusted.
    fn read_entry(&self, key: &Key) -> Result<Vec<u8>, Lookup> {
        let path = self.path_of(key);
        let mut f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Lookup::Absent),
            Err(e) => return Err(Lookup::Invalid(format!("open: {e}"))),
        };
        let meta = match f.metadata() {
            Ok(m) => m,
            Err(e) => return Err(Lookup::Invalid(format!("fstat: {e}"))),
        };
        if !meta.file_type().is_file() {
            return Err(Lookup::Invalid("not a regular file".into()));
        }
        if meta.uid() != euid() || meta.mode() & 0o022 != 0 {
            return Err(Lookup::Invalid(format!(
                "owned by uid {} with mode {:o}: not trusted",
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
        let size = meta.len() as usize;
        if size > HEADER_LEN + MAX_INSNS * 8 {
            return Err(Lookup::Invalid(format!("{size} bytes is too large")));
        }
        let mut data = Vec::with_capacity(size);
        if let Err(e) = f.read_to_end(&mut data) {
            return Err(Lookup::Invalid(format!("read: {e}")));
        }
        Ok(data)
    }

    /// Makes the directory (0700) if needed and checks that only this user
    /// can write it.
    pub fn ensure_dir(&self) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let meta = fs::symlink_metadata(&self.dir)?;
        if !meta.is_dir() || meta.uid() != euid() || meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a directory only uid {} can write",
                    self.dir.display(),
                    euid()
                ),
            ));
        }
        Ok(())
    }

    /// Writes the entry atomically (temporary file + rename).
    pub fn store(&self, key: &Key, bpf: &[u8]) -> io::Result<PathBuf> {
        self.store_with_flags(key, bpf, 0)
    }

    /// `store`, recording seccomp(2) flags (a section entry).
    pub fn store_with_flags(&self, key: &Key, bpf: &[u8], flags: u32) -> io::Result<PathBuf> {
        self.ensure_dir()?;
        let final_path = self.path_of(key);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = self
            .dir
            .join(format!(".tmp-{}-{}-{nanos}", hex(key), std::process::id()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)?;
            f.write_all(&encode_entry(key, bpf, flags))?;
            drop(f);
            fs::rename(&tmp, &final_path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(final_path)
    }

    /// Every file in the directory (temporary files included), sorted.
    pub fn list(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for ent in rd {
            let ent = ent?;
            let path = ent.path();
            let meta = fs::symlink_metadata(&path)?;
            let check = if !meta.is_file() {
                Err("not a regular file".into())
            } else {
                match fs::read(&path) {
                    Ok(data) => {
                        let name = ent.file_name();
                        let named_key = name
                            .to_str()
                            .and_then(unhex)
                            .ok_or_else(|| "not a cache entry name".to_string());
                        named_key
                            .and_then(|k| parse_entry(&data, Some(&k)).map(|bpf| bpf.len() / 8))
                    }
                    Err(e) => Err(format!("read: {e}")),
                }
            };
            out.push(Entry {
                path,
                size: meta.len(),
                check,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes every file in the directory; returns how many.
    pub fn clear(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in self.list()? {
            fs::remove_file(&e.path)?;
            n += 1;
        }
        Ok(n)
    }
}

fn unhex(s: &str) -> Option<Key> {
    if s.len() != 64 {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

/// Where a program came from, for the debug log and `brisk seccomp`.
#[derive(Debug)]
pub enum Source {
    /// Read from this cache file; libseccomp was not called.
    Hit(PathBuf),
    /// Compiled; `ignored` says why an existing entry was not used,
    /// `stored` where it was written or why not.
    Compiled {
        by: String,
        ignored: Option<String>,
        stored: Result<PathBuf, String>,
    },
    /// Compiled because the cache is disabled for this container.
    Uncached { by: String },
}

/// A program ready to load.
#[derive(Debug)]
pub struct Program {
    pub bpf: Vec<u8>,
    pub key: Key,
    pub source: Source,
    /// Syscall names libseccomp did not know (empty on a hit).
    pub skipped: Vec<String>,
    /// The entry could not be stored for lack of space (ENOSPC, EDQUOT):
    /// worth a warning, unlike a cache that is read-only by design.
    pub no_space: bool,
}

/// The program for `profile`: from `cache` when it holds a valid entry,
/// else compiled (and stored when a cache is given).
pub fn program(
    profile: &Profile,
    cache: Option<&Cache>,
    compiler: Compiler,
) -> crate::Result<Program> {
    let key = key(profile, compiler);
    let Some(cache) = cache else {
        let (c, by) = compiler.compile(profile)?;
        return Ok(Program {
            bpf: c.bpf,
            key,
            source: Source::Uncached { by },
            skipped: c.skipped,
            no_space: false,
        });
    };
    let ignored = match cache.lookup(&key) {
        Lookup::Hit(bpf) => {
            return Ok(Program {
                bpf,
                key,
                source: Source::Hit(cache.path_of(&key)),
                skipped: Vec::new(),
                no_space: false,
            })
        }
        Lookup::Absent => None,
        Lookup::Invalid(why) => Some(why),
    };
    let (c, by) = compiler.compile(profile)?;
    let stored = cache.store(&key, &c.bpf);
    let no_space = stored
        .as_ref()
        .err()
        .and_then(io::Error::raw_os_error)
        .is_some_and(|n| n == libc::ENOSPC || n == libc::EDQUOT);
    let stored = stored.map_err(|e| format!("{}: {e}", cache.dir.display()));
    Ok(Program {
        bpf: c.bpf,
        key,
        source: Source::Compiled {
            by,
            ignored,
            stored,
        },
        skipped: c.skipped,
        no_space,
    })
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Hit(p) => write!(f, "cache hit: read {}", p.display()),
            Source::Compiled {
                by,
                ignored,
                stored,
            } => {
                write!(f, "cache miss: {by}")?;
                if let Some(why) = ignored {
                    write!(f, " (existing entry ignored: {why})")?;
                }
                match stored {
                    Ok(p) => write!(f, ", stored in {}", p.display()),
                    Err(e) => write!(f, ", not stored: {e}"),
                }
            }
            Source::Uncached { by } => write!(f, "cache disabled: {by}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccomp;
    use serde_json::json;

    fn profile() -> Profile {
        let s: LinuxSeccomp = serde_json::from_value(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}))
        .unwrap();
        Profile::from_oci(&s).unwrap()
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("brisk-seccomp-ut-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn sha256_known_answer() {
        let d: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(
            hex(&d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn miss_then_hit_then_invalid_entries_recompile() {
        let dir = tmpdir("cycle");
        let cache = Cache::new(dir.join("sub"));
        let p = profile();
        let first = program(&p, Some(&cache), Compiler::Native).unwrap();
        assert!(
            matches!(
                &first.source,
                Source::Compiled {
                    ignored: None,
                    stored: Ok(_),
                    ..
                }
            ),
            "{:?}",
            first.source
        );
        let second = program(&p, Some(&cache), Compiler::Native).unwrap();
        assert!(
            matches!(second.source, Source::Hit(_)),
            "{:?}",
            second.source
        );
        assert_eq!(first.bpf, second.bpf);
        let mode = fs::metadata(&cache.dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let path = cache.path_of(&first.key);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut wrong_key = good.clone();
        wrong_key[8] ^= 1;
        for (what, bytes) in [
            ("truncated", good[..good.len() - 3].to_vec()),
            ("header only", good[..HEADER_LEN].to_vec()),
            ("empty", Vec::new()),
            ("flipped", flipped),
            ("wrong key", wrong_key),
            ("garbage", b"garbage".to_vec()),
        ] {
            fs::write(&path, &bytes).unwrap();
            let again = program(&p, Some(&cache), Compiler::Native).unwrap();
            assert!(
                matches!(
                    &again.source,
                    Source::Compiled {
                        ignored: Some(_),
                        stored: Ok(_),
                        ..
                    }
                ),
                "{what}: {:?}",
                again.source
            );
            assert_eq!(again.bpf, first.bpf, "{what}");
            assert_eq!(fs::read(&path).unwrap(), good, "{what}: rewritten");
        }
        let listed = cache.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].check, Ok(first.bpf.len() / 8));
        assert_eq!(cache.clear().unwrap(), 1);
        assert!(matches!(cache.lookup(&first.key), Lookup::Absent));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn untrusted_dir_only_costs_the_cache() {
        let dir = tmpdir("untrusted");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let cache = Cache::new(&dir);
        let p = program(&profile(), Some(&cache), Compiler::Native).unwrap();
        assert!(
            matches!(&p.source, Source::Compiled { stored: Err(_), .. }),
            "{:?}",
            p.source
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_depends_on_content() {
        let a = key(&profile(), Compiler::Native);
        assert_ne!(a, key(&profile(), Compiler::Libseccomp));
        let mut p = profile();
        p.default_action ^= 1;
        assert_ne!(a, key(&p, Compiler::Native));
        assert_eq!(unhex(&hex(&a)), Some(a));
    }
}
