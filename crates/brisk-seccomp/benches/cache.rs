//! The seccomp steps of `create` on podman's default profile: the cache
//! key (canonical form + SHA-256), a cache hit (lookup, and the whole
//! `cache::program` path), and a miss (compile, native and libseccomp,
//! alone and with the store). `cargo bench -p brisk-seccomp --bench
//! cache`; with a short run: `scripts/bench-pure.sh`.

use std::path::PathBuf;

use brisk_seccomp::cache::{self, Cache, Lookup};
use brisk_seccomp::{Compiler, Profile};

fn main() {
    divan::main();
}

const COMPILERS: [Compiler; 2] = [Compiler::Native, Compiler::Libseccomp];

fn profile() -> Profile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../brisk/tests/data/podman-seccomp.json"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("podman-seccomp.json")).expect("JSON");
    let v = v.pointer("/linux/seccomp").cloned().unwrap_or(v);
    let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).expect("linux.seccomp");
    Profile::from_oci(&s).expect("podman's profile is valid")
}

/// A cache directory of this process, removed at the end.
struct TempCache(Cache);

impl TempCache {
    fn new(name: &str) -> TempCache {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("brisk-bench-seccomp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempCache(Cache::new(dir))
    }
}

impl Drop for TempCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

/// From an OCI `linux.seccomp` to the canonical profile (done by
/// `config::load` on every create).
#[divan::bench]
fn from_oci(b: divan::Bencher) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../brisk/tests/data/podman-seccomp.json"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("podman-seccomp.json")).expect("JSON");
    let v = v.pointer("/linux/seccomp").cloned().unwrap_or(v);
    let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).expect("linux.seccomp");
    b.bench(|| Profile::from_oci(divan::black_box(&s)).expect("valid"));
}

/// The cache key: canonical bytes and their SHA-256.
#[divan::bench]
fn key(b: divan::Bencher) {
    let p = profile();
    b.bench(|| cache::key(divan::black_box(&p), Compiler::Native));
}

/// Reading and checking a valid entry (open, fstat, read, digest).
#[divan::bench]
fn lookup_hit(b: divan::Bencher) {
    let p = profile();
    let c = TempCache::new("lookup");
    let key = cache::key(&p, Compiler::Native);
    let (compiled, _) = Compiler::Native.compile(&p).expect("compiles");
    c.0.store(&key, &compiled.bpf).expect("stored");
    b.bench(|| match c.0.lookup(divan::black_box(&key)) {
        Lookup::Hit(bpf) => bpf,
        other => panic!("not a hit: {other:?}"),
    });
}

/// `cache::program` on a hit: key + lookup, what a warm create pays.
#[divan::bench]
fn program_hit(b: divan::Bencher) {
    let p = profile();
    let c = TempCache::new("hit");
    cache::program(&p, Some(&c.0), Compiler::Native).expect("first compile");
    b.bench(|| {
        let prog =
            cache::program(divan::black_box(&p), Some(&c.0), Compiler::Native).expect("program");
        assert!(matches!(prog.source, cache::Source::Hit(_)));
        prog
    });
}

/// Compiling the profile to BPF (no cache involved).
#[divan::bench(args = COMPILERS)]
fn compile(b: divan::Bencher, compiler: Compiler) {
    let p = profile();
    let (_, by) = compiler.compile(&p).expect("compiles");
    assert_eq!(
        by,
        format!(
            "compiled {}",
            if compiler == Compiler::Native {
                "natively"
            } else {
                "with libseccomp"
            }
        )
    );
    b.bench(|| compiler.compile(divan::black_box(&p)).expect("compiles"));
}

/// `cache::program` on a miss: key, lookup (absent), compile, store (the
/// entry is removed before each run, untimed).
#[divan::bench(args = COMPILERS)]
fn program_miss(b: divan::Bencher, compiler: Compiler) {
    let p = profile();
    let c = TempCache::new(compiler.name());
    let entry = c.0.path_of(&cache::key(&p, compiler));
    b.with_inputs(|| {
        let _ = std::fs::remove_file(&entry);
    })
    .bench_values(|()| {
        let prog = cache::program(divan::black_box(&p), Some(&c.0), compiler).expect("program");
        assert!(matches!(prog.source, cache::Source::Compiled { .. }));
        prog
    });
}
