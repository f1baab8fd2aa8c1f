//! The pure (user-space, no side effect) steps of `create` on podman's
//! config for `podman run --rm busybox true` (benches/data, copied from
//! the start-up harness): parsing config.json, checking it, and turning
//! the loaded config into the init's Plan (seccomp from a warm cache).
//! `cargo bench -p brisk-container --bench create_path`; with a short
//! run: `scripts/bench-pure.sh`.

use std::path::{Path, PathBuf};

use brisk_container::config;
use brisk_container::init::{self, CgroupPlacement, InitOptions};

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/data/podman-config.json"
);

fn main() {
    divan::main();
}

fn data() -> Vec<u8> {
    std::fs::read(CONFIG).expect("benches/data/podman-config.json")
}

/// config.json bytes to the spec types (serde_path_to_error included).
#[divan::bench]
fn parse_config(b: divan::Bencher) {
    let data = data();
    b.counter(divan::counter::BytesCount::new(data.len()))
        .bench(|| {
            config::parse_config(divan::black_box(&data), Path::new(CONFIG), &mut Vec::new())
                .expect("podman's config parses")
        });
}

/// Validation, the raw-JSON checks and the seccomp profile's canonical
/// form: everything `load` checks without the file system.
#[divan::bench]
fn check_config(b: divan::Bencher) {
    let data = data();
    let spec = config::parse_config(&data, Path::new(CONFIG), &mut Vec::new()).expect("parses");
    b.bench(|| config::check(divan::black_box(&spec), &data, &mut Vec::new()).expect("valid"));
}

/// A bundle laid out as the start-up harness makes it (rootfs and the
/// files podman bind-mounts), in a directory of its own.
struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    fn new() -> Bundle {
        let dir = std::env::temp_dir().join(format!("brisk-bench-bundle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["rootfs", "shm", "seccomp-cache"] {
            std::fs::create_dir_all(dir.join(d)).expect("bundle directory");
        }
        for f in ["hostname", "resolv.conf", "hosts", ".containerenv"] {
            std::fs::write(dir.join(f), b"").expect("bundle file");
        }
        std::fs::copy(CONFIG, dir.join("config.json")).expect("config.json");
        Bundle { dir }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `init::plan` of the loaded config, as `create` calls it on a v1/hybrid
/// host with brisk's cgroups: namespaces, mounts, devices, process, hooks,
/// and the seccomp program from the cache (filled before timing).
#[divan::bench]
fn plan(b: divan::Bencher) {
    let bundle = Bundle::new();
    let config = config::load(&bundle.dir, None).expect("the bundle loads");
    let opts = InitOptions {
        seccomp_cache: Some(bundle.dir.join("seccomp-cache")),
        ..InitOptions::default()
    };
    let placement = CgroupPlacement {
        path: "/brisk/bench",
        v1: true,
        cgroup2_host: false,
    };
    // The first plan compiles and stores the program; the second must hit.
    for _ in 0..2 {
        let warm = init::plan(&config, &opts, Some(placement)).expect("plans");
        assert!(
            warm.notes.iter().any(|n| n.contains("seccomp")),
            "{:?}",
            warm.notes
        );
    }
    let warm = init::plan(&config, &opts, Some(placement)).expect("plans");
    assert!(
        warm.notes.iter().any(|n| n.contains("cache hit")),
        "{:?}",
        warm.notes
    );
    drop(warm);
    b.bench(|| init::plan(divan::black_box(&config), &opts, Some(placement)).expect("plans"));
}

/// `config::load` whole: the file read, canonical paths, parse and check.
#[divan::bench]
fn load(b: divan::Bencher) {
    let bundle = Bundle::new();
    b.bench(|| config::load(divan::black_box(&bundle.dir), None).expect("the bundle loads"));
}
