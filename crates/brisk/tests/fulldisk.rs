//! A full disk. The state root (`--root`) on a tiny tmpfs that is full
//! (no blocks, no inodes, or room for the config but not the state):
//! `create` and `run` fail with an error naming the path and ENOSPC, exit
//! non-zero and leave nothing (no state directory, cgroup, mount or
//! process). The seccomp cache (`--seccomp-cache`) full: the cache is an
//! optimisation, so the container runs and brisk warns, naming the cache.

mod common;
#[path = "common/leaks.rs"]
mod leaks;

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{Bundle, Env};
use serde_json::json;

/// A tmpfs mounted for one test, unmounted (and its mount point removed)
/// when dropped, whatever the test's outcome.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs with `options` at a fresh directory outside the
    /// test's base (so that `Env::assert_clean` still sees only brisk's
    /// mounts under the base).
    fn mount(tag: &str, options: &str) -> Tmpfs {
        let dir = PathBuf::from(format!("/tmp/brisk-full-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let c = |s: &[u8]| CString::new(s).unwrap();
        let (target, fstype, opts) = (
            c(dir.as_os_str().as_bytes()),
            c(b"tmpfs"),
            c(options.as_bytes()),
        );
        // SAFETY: NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount tmpfs at {dir:?}: {}",
            std::io::Error::last_os_error()
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes into a file until the filesystem refuses with ENOSPC.
    fn fill_blocks(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = [0xa5u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("fill {:?}: {e}", self.0),
            }
        }
        // Small writes fill the last partial page.
        while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
    }

    /// Makes files until no inode is left.
    fn fill_inodes(&self) {
        for i in 0.. {
            match std::fs::File::create(self.0.join(format!("i{i}"))) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("fill inodes of {:?}: {e}", self.0),
            }
        }
    }

    /// Entries brisk may have left: everything but our own filler files.
    fn brisk_entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "filler" && !(n.starts_with('i') && n[1..].parse::<u32>().is_ok()))
            .collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let p = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// create and run with `--root` on `fs` fail naming `fs` and ENOSPC, and
/// leave nothing.
fn expect_enospc(env: &Env, b: &Bundle, fs: &Tmpfs, what: &str) {
    for cmd in ["create", "run"] {
        // Env's own root stays empty: brisk is pointed at the tmpfs.
        let mut c = std::process::Command::new(common::runtime_bin());
        c.arg("--root")
            .arg(fs.path())
            .args([cmd, "-b", b.path(), "full"])
            .env(common::MARK, env.base.to_string_lossy().as_ref())
            .stdin(std::process::Stdio::null());
        let out = common::run_to_files(c, &env.base);
        assert_ne!(out.code, 0, "{what}: {cmd} succeeded on a full --root");
        let root = fs.path().to_string_lossy().into_owned();
        assert!(
            out.stderr.contains(&root)
                && out
                    .stderr
                    .to_lowercase()
                    .contains("no space left on device"),
            "{what}: {cmd}: the error must name the path under {root} and ENOSPC: {}",
            out.stderr
        );
        assert_eq!(
            fs.brisk_entries(),
            Vec::<String>::new(),
            "{what}: {cmd} left files in the full root"
        );
        let cg = leaks::cgroup_dirs(&leaks::cgroups_path(&b.config));
        assert!(cg.is_empty(), "{what}: {cmd} left cgroups: {cg:?}");
        assert!(
            leaks::mounts_mentioning(b.path()).is_empty(),
            "{what}: {cmd} left mounts"
        );
        env.assert_clean();
    }
}

#[test]
fn full_state_root_fails_clearly_and_leaves_nothing() {
    let env = Env::new("full-root");
    let b = env.bundle("b", &["true"]);

    // No block left: the saved config cannot be written.
    let fs = Tmpfs::mount("blocks", "size=16k,mode=0700");
    fs.fill_blocks();
    expect_enospc(&env, &b, &fs, "no blocks");
    drop(fs);

    // No inode left: not even the container's directory.
    let fs = Tmpfs::mount("inodes", "size=64k,nr_inodes=16,mode=0700");
    fs.fill_inodes();
    expect_enospc(&env, &b, &fs, "no inodes");
    drop(fs);

    // One page: the saved config fits, state.json does not. This fails
    // late, with the init cloned, set up and waiting.
    let fs = Tmpfs::mount("late", "size=4k,mode=0700");
    let config_len = std::fs::metadata(b.dir.join("config.json")).unwrap().len();
    assert!(
        config_len <= 4096,
        "the config must fit the one page ({config_len} bytes)"
    );
    expect_enospc(&env, &b, &fs, "one page");
    drop(fs);
}

#[test]
fn full_seccomp_cache_warns_and_the_container_runs() {
    let env = Env::new("full-cache");
    let mut b = env.bundle("b", &["sh", "-c", "grep '^Seccomp:' /proc/self/status"]);
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let fs = Tmpfs::mount("cache", "size=16k,mode=0700");
    fs.fill_blocks();
    let cache = fs.path().to_string_lossy().into_owned();
    let out = env.brisk(&["--seccomp-cache", &cache, "run", "-b", b.path(), "c"]);
    assert_eq!(
        out.code, 0,
        "a full cache must not fail the container: {}",
        out.stderr
    );
    assert_eq!(out.stdout, "Seccomp:\t2\n", "the filter is loaded");
    assert!(
        out.stderr.contains("level=warning")
            && out.stderr.contains(&cache)
            && out.stderr.contains("No space left on device"),
        "expected a warning naming the cache and ENOSPC: {}",
        out.stderr
    );
    assert_eq!(
        fs.brisk_entries(),
        Vec::<String>::new(),
        "no (temporary) entry is left in the full cache"
    );
    env.assert_clean();
    drop(fs);
}
