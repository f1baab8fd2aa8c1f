//! Links libseccomp statically by default (BRISK_LIBSECCOMP_LINK=dynamic
//! links the shared library instead) and records its version, which is
//! part of the cache key: with a static link the version is fixed at build
//! time, so a cache hit never has to ask libseccomp.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=BRISK_LIBSECCOMP_LINK");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_INCLUDE");
    let lib_dirs: Vec<PathBuf> = std::env::var_os("LIBSECCOMP_LIB_PATH")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| {
            vec![
                "/usr/lib/x86_64-linux-gnu".into(),
                "/usr/lib/aarch64-linux-gnu".into(),
                "/usr/lib64".into(),
                "/usr/lib".into(),
                "/usr/local/lib".into(),
            ]
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
    println!("cargo:rustc-link-search=native={}", dir.display());
    if dynamic {
        println!("cargo:rustc-link-lib=dylib=seccomp");
    } else {
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
