//! Links libseccomp statically by default (BRISK_LIBSECCOMP_LINK=dynamic
//! links the shared library instead) and records its version, which is
//! part of the cache key: with a static link the version is fixed at build
//! time, so a cache hit never has to ask libseccomp.

use std::path::PathBuf;

fn main() {
    generate_syscall_table();
    println!("cargo:rerun-if-env-changed=BRISK_LIBSECCOMP_LINK");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_INCLUDE");
    // The target's library (Debian's multiarch directory for it: a cross
    // build links the target's libseccomp, never the build machine's).
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let lib_dirs: Vec<PathBuf> = std::env::var_os("LIBSECCOMP_LIB_PATH")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| {
            let mut dirs = vec![PathBuf::from(format!("/usr/lib/{arch}-linux-gnu"))];
            let host = std::env::var("HOST").unwrap_or_default();
            if host.split('-').next() == Some(arch.as_str()) {
                // The build machine's own architecture: the generic
                // directories of other distributions hold its library.
                dirs.extend(["/usr/lib64", "/usr/lib", "/usr/local/lib"].map(PathBuf::from));
            }
            dirs
        });
    let dynamic = std::env::var("BRISK_LIBSECCOMP_LINK").as_deref() == Ok("dynamic");
    let name = if dynamic {
        "libseccomp.so"
    } else {
        "libseccomp.a"
    };
    let dir = lib_dirs.iter().find(|d| d.join(name).exists()).unwrap_or_else(|| {
        panic!("{name} not found in {lib_dirs:?}: install libseccomp-dev (>= 2.5) or set LIBSECCOMP_LIB_PATH")
    });
    if dynamic {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=seccomp");
    } else {
        // The archive is linked from a directory of its own: searching
        // the system's library directory would also find its libc.a,
        // which a musl build must not pick up instead of musl's.
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("libseccomp");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("mkdir {}: {e}", out.display()));
        std::fs::copy(dir.join(name), out.join(name))
            .unwrap_or_else(|e| panic!("copy {}: {e}", dir.join(name).display()));
        println!("cargo:rerun-if-changed={}", dir.join(name).display());
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rustc-link-lib=static=seccomp");
    }
    let header = std::env::var_os("LIBSECCOMP_INCLUDE")
        .map(|p| PathBuf::from(p).join("seccomp.h"))
        .unwrap_or_else(|| "/usr/include/seccomp.h".into());
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(&header)
        .unwrap_or_else(|e| panic!("read {}: {e}: install libseccomp-dev", header.display()));
    let ver = |key: &str| -> u32 {
        text.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("#define") && w.next() == Some(key))
                    .then(|| w.next().and_then(|v| v.parse().ok()))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{key} not found in {}", header.display()))
    };
    let (major, minor, micro) = (
        ver("SCMP_VER_MAJOR"),
        ver("SCMP_VER_MINOR"),
        ver("SCMP_VER_MICRO"),
    );
    assert!(
        (major, minor) >= (2, 5),
        "libseccomp {major}.{minor}.{micro} is too old: brisk needs >= 2.5"
    );
    println!("cargo:rustc-env=BRISK_LIBSECCOMP_VERSION={major}.{minor}.{micro}");
    println!(
        "cargo:rustc-env=BRISK_LIBSECCOMP_LINK={}",
        if dynamic { "dynamic" } else { "static" }
    );
}

/// data/syscalls.tsv (libseccomp's numbers, see scripts/gen-syscall-table.sh)
/// becomes `syscalls.rs`: one `match` from name to the numbers on x86_64,
/// x86, x32, aarch64, arm and x86's direct socket/ipc syscalls (`i32::MIN`
/// where libseccomp has none). A generated `match` rather than a `phf`
/// map: no new dependency, and rustc lowers a string match to a dispatch
/// on the length and then byte comparisons, which for ~480 names is as
/// fast as hashing the name (a lookup is done once per name of a profile).
fn generate_syscall_table() {
    let src = PathBuf::from("data/syscalls.tsv");
    println!("cargo:rerun-if-changed={}", src.display());
    let text =
        std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    let mut out = String::from(
        "/// Numbers of `name` on x86_64, x86, x32, aarch64, arm, x86-direct (i32::MIN: none).\n\
         pub(crate) fn numbers(name: &str) -> Option<[i32; 6]> {\n    Some(match name {\n",
    );
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "{}: bad line {line:?}", src.display());
        let num = |s: &str| -> String {
            if s == "-" {
                "i32::MIN".into()
            } else {
                s.parse::<i32>()
                    .unwrap_or_else(|e| panic!("{line:?}: {e}"))
                    .to_string()
            }
        };
        assert!(
            f[0].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line:?}"
        );
        out.push_str(&format!(
            "        {:?} => [{}, {}, {}, {}, {}, {}],\n",
            f[0],
            num(f[1]),
            num(f[2]),
            num(f[3]),
            num(f[4]),
            num(f[5]),
            num(f[6])
        ));
        n += 1;
    }
    assert!(n > 300, "{}: only {n} syscalls", src.display());
    out.push_str("        _ => return None,\n    })\n}\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("syscalls.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
}
