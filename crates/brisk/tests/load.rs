//! Load: create/start/delete cycles, one after another and 20 at a time,
//! then nothing may be left (state directories, mounts, cgroup
//! directories, processes, zombies), the init of the last cycles may hold
//! no more fds than the first ones did, and the peak RSS of the brisk
//! commands of the last cycles may not exceed that of the first ones
//! beyond a small tolerance (each command is a fresh process, so growth
//! would come from state that grows: the root, the cache).
//!
//! CI runs 100 sequential and 40 concurrent cycles; the full counts (1,000
//! and 200) run with
//! `BRISK_LOAD_FULL=1 cargo test -p brisk --test load -- --nocapture`.

mod common;
#[path = "common/leaks.rs"]
mod leaks;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use common::Env;

fn full() -> bool {
    std::env::var("BRISK_LOAD_FULL").is_ok_and(|v| v == "1")
}

/// One brisk command's outcome: exit code, stderr, peak RSS in KiB.
struct Measured {
    code: i32,
    stderr: String,
    maxrss_kib: i64,
}

/// Runs brisk and waits for it with wait4, for its rusage. stdout and
/// stderr go to files (a created init inherits them).
fn brisk_measured(env: &Env, args: &[&str], tag: &str) -> Measured {
    let err_path = env.base.join(format!(".load-err-{tag}"));
    let mut c: Command = env.cmd(args);
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let child = c.spawn().expect("spawn brisk");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child, valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR), "wait4 {pid}: {e}");
    }
    // Reaped by wait4: the Child must not wait again.
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    Measured {
        code,
        stderr,
        maxrss_kib: ru.ru_maxrss,
    }
}

/// The peak RSS of each command of one cycle.
#[derive(Clone, Copy, Debug, Default)]
struct CycleRss {
    create: i64,
    start: i64,
    delete: i64,
}

/// create, start, delete --force of `id` from `bundle`; with `fds`, the
/// number of fds the created init holds.
fn cycle(env: &Env, bundle: &str, id: &str, count_fds: bool) -> (CycleRss, Option<usize>) {
    let ok = |m: Measured, what: &str| -> i64 {
        assert_eq!(m.code, 0, "{what} {id}: {}", m.stderr);
        m.maxrss_kib
    };
    let create = ok(
        brisk_measured(env, &["create", "-b", bundle, id], id),
        "create",
    );
    let fds = count_fds.then(|| {
        let pid = env.state(id)["pid"].as_i64().unwrap() as i32;
        leaks::fd_count(pid)
    });
    let start = ok(brisk_measured(env, &["start", id], id), "start");
    let delete = ok(
        brisk_measured(env, &["delete", "--force", id], id),
        "delete",
    );
    (
        CycleRss {
            create,
            start,
            delete,
        },
        fds,
    )
}

/// The largest peak RSS of each command over `cycles`.
fn peak(cycles: &[CycleRss]) -> CycleRss {
    cycles.iter().fold(CycleRss::default(), |a, c| CycleRss {
        create: a.create.max(c.create),
        start: a.start.max(c.start),
        delete: a.delete.max(c.delete),
    })
}

/// The last tenth's peak RSS may exceed the first tenth's by at most 10%
/// plus 256 KiB (allocator and page-cache noise between processes).
fn assert_memory_flat(rss: &[CycleRss], what: &str) {
    let tenth = (rss.len() / 10).max(1);
    let first = peak(&rss[..tenth]);
    let last = peak(&rss[rss.len() - tenth..]);
    println!(
        "{what}: {} cycles; peak RSS KiB first {tenth}: {first:?}, last {tenth}: {last:?}",
        rss.len()
    );
    for (name, a, b) in [
        ("create", first.create, last.create),
        ("start", first.start, last.start),
        ("delete", first.delete, last.delete),
    ] {
        assert!(a > 0, "{what}: no rusage for {name}");
        assert!(
            b <= a + a / 10 + 256,
            "{what}: brisk {name} grew from {a} KiB to {b} KiB"
        );
    }
}

/// Nothing of the test's containers may remain.
fn assert_no_leaks(env: &Env, cgroups_paths: &[String]) {
    env.assert_clean();
    for p in cgroups_paths {
        let left = leaks::cgroup_dirs(p);
        assert!(left.is_empty(), "cgroup directories left: {left:?}");
    }
    // Another test of this binary may have a child it has not reaped yet
    // (a moment's zombie): only a zombie that stays is a leak.
    common::wait_until(
        "no zombie of the test process",
        std::time::Duration::from_secs(5),
        || leaks::zombies_of(&[std::process::id() as i32]).is_empty(),
    );
}

fn assert_fds_flat(first: &[usize], last: &[usize]) {
    let (a, b) = (
        first.iter().max().copied().unwrap_or(0),
        last.iter().max().copied().unwrap_or(0),
    );
    println!("init fds: first cycles {first:?}, last cycles {last:?}");
    assert!(a > 0, "no fd count of the init");
    assert!(b <= a, "the init's fds grew from {a} to {b}");
}

#[test]
fn sequential_create_start_delete_cycles_leak_nothing() {
    let n = if full() { 1000 } else { 100 };
    let env = Env::new("load-seq");
    let b = env.bundle("b", &["sleep", "100"]);
    let t = Instant::now();
    let mut rss = Vec::with_capacity(n);
    let (mut first_fds, mut last_fds) = (Vec::new(), Vec::new());
    for i in 0..n {
        let early = i < 5;
        let late = i >= n - 5;
        let (r, fds) = cycle(&env, b.path(), &format!("s{i}"), early || late);
        rss.push(r);
        match fds {
            Some(f) if early => first_fds.push(f),
            Some(f) => last_fds.push(f),
            None => {}
        }
    }
    println!(
        "sequential: {n} cycles in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_no_leaks(&env, &[leaks::cgroups_path(&b.config)]);
    assert_fds_flat(&first_fds, &last_fds);
    assert_memory_flat(&rss, "sequential");
}

#[test]
fn concurrent_create_start_delete_cycles_leak_nothing() {
    let n = if full() { 200 } else { 40 };
    const PARALLEL: usize = 20;
    let env = Env::new("load-conc");
    let b = env.bundle("b", &["sleep", "100"]);
    let rootfs = b.dir.join("rootfs");
    // Each container its own bundle (config.json only, the rootfs shared,
    // read-only) and its own cgroupsPath.
    let base_cg = leaks::cgroups_path(&b.config);
    let mut cgroups_paths = Vec::with_capacity(n);
    let bundles: Vec<String> = (0..n)
        .map(|i| {
            let dir = env.base.join(format!("c{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut config = b.config.clone();
            config["root"]["path"] = rootfs.to_string_lossy().into_owned().into();
            let cg = format!("{base_cg}-c{i}");
            config["linux"]["cgroupsPath"] = cg.clone().into();
            cgroups_paths.push(cg);
            std::fs::write(
                dir.join("config.json"),
                serde_json::to_vec(&config).unwrap(),
            )
            .unwrap();
            dir.to_string_lossy().into_owned()
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, CycleRss)>> = Mutex::new(Vec::with_capacity(n));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (r, _) = cycle(&env, &bundles[i], &format!("c{i}"), false);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    println!(
        "concurrent: {n} cycles, {PARALLEL} at a time, in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut results = results.into_inner().unwrap();
    assert_eq!(results.len(), n, "every cycle finished");
    results.sort_by_key(|&(i, _)| i);
    let rss: Vec<CycleRss> = results.into_iter().map(|(_, r)| r).collect();
    assert_no_leaks(&env, &cgroups_paths);
    assert_memory_flat(&rss, "concurrent");
}
