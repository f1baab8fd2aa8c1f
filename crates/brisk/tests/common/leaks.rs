//! What a container can leave behind besides what `Env::assert_clean`
//! checks: its cgroup directories, zombies, and the processes of one
//! test. Included by the fault, full-disk and load tests with
//! `#[path = "common/leaks.rs"] mod leaks;`.

#![allow(dead_code)]

use std::path::PathBuf;

/// The directories of `cgroups_path` (as in config.json, absolute) that
/// exist in any hierarchy under /sys/fs/cgroup.
pub fn cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let mut out = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    for h in hierarchies.flatten() {
        // cpu -> cpu,cpuacct: one hierarchy, seen once.
        if h.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let d = h.path().join(rel);
        if d.is_dir() {
            out.push(d);
        }
    }
    out
}

/// The cgroupsPath of a bundle's config.
pub fn cgroups_path(config: &serde_json::Value) -> String {
    config["linux"]["cgroupsPath"]
        .as_str()
        .expect("the test bundles have a cgroupsPath")
        .to_string()
}

/// Fields of /proc/PID/stat after the command name: (state, ppid).
fn state_and_ppid(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Zombies whose parent is one of `parents`.
pub fn zombies_of(parents: &[i32]) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(('Z', ppid)) = state_and_ppid(pid) {
            if parents.contains(&ppid) {
                out.push(pid);
            }
        }
    }
    out
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Open fds of a process.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
