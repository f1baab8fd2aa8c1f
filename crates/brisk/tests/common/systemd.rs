//! A real systemd (Debian's, from the host's /usr) as PID 1 of a container
//! that the brisk under test starts, with its own state root: the machine
//! on which the systemd cgroup driver tests (tests/systemd.rs) run runc
//! and brisk with `--systemd-cgroup`, since this host's PID 1 is not
//! systemd.
//!
//! The container boots `slices.target` only (no host service starts), with
//! the host's /usr and /etc bound read-only, tmpfs on /run, /tmp and /var,
//! a cgroup namespace, and either layout of /sys/fs/cgroup:
//!
//! - [`Layout::V1`]: a `cgroup` mount, which is brisk's v1 layout on this
//!   hybrid host (one mount per hierarchy, name=systemd included): systemd
//!   runs in legacy mode and every controller is there to take limits.
//! - [`Layout::V2`]: a `cgroup2` mount, a plain cgroup2 of the container's
//!   namespace: systemd runs unified; here that hierarchy has only
//!   `hugetlb`, so no memory, cpu or pids limit can be realised in it.
//!
//! The directory of the bundles the runtimes run inside (a second test
//! sandbox), any directory the caller shares ([`Systemd::boot_sharing`])
//! and the brisk binary under test are bound at their host paths, so the
//! same paths work inside. systemd has no console here (without a
//! terminal its console output goes nowhere, and no journald runs): when
//! something fails, what `systemctl` says of its state is shown instead.
//!
//! Included by tests/systemd.rs beside `mod common;` with
//! `#[path = "common/systemd.rs"] mod systemd;` (it uses `crate::leaks`).
//! Every command is bounded; the container is deleted on drop, and
//! [`Systemd::finish`] checks that nothing of it is left.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Env, Out};
use crate::leaks;

/// systemd, from the host's /usr (bound into the container).
pub const SYSTEMD: &str = "/lib/systemd/systemd";
/// How long systemd may take to reach `running`.
const BOOT_BOUND: Duration = Duration::from_secs(30);
/// The bound of one command run in the container.
pub const CMD_BOUND: Duration = Duration::from_secs(60);

/// The capabilities systemd needs as PID 1 (not CAP_SYS_RESOURCE, which
/// this machine does not give, so asking for it fails).
const CAPS: [&str; 27] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
    "CAP_SYS_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_NET_ADMIN",
    "CAP_DAC_READ_SEARCH",
    "CAP_SYS_NICE",
    "CAP_IPC_LOCK",
    "CAP_SYS_BOOT",
    "CAP_LINUX_IMMUTABLE",
    "CAP_AUDIT_CONTROL",
    "CAP_BPF",
    "CAP_PERFMON",
    "CAP_SYS_MODULE",
    "CAP_SYSLOG",
];

/// How /sys/fs/cgroup is mounted in the systemd container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `cgroup`: v1 hierarchies; systemd in legacy mode.
    V1,
    /// `cgroup2`: the unified hierarchy; systemd unified.
    V2,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::V1 => "v1",
            Layout::V2 => "v2",
        }
    }

    fn mount_type(self) -> &'static str {
        match self {
            Layout::V1 => "cgroup",
            Layout::V2 => "cgroup2",
        }
    }

    /// Why this host cannot give systemd this layout, if it cannot.
    fn unavailable(self) -> Option<String> {
        if !Path::new(SYSTEMD).is_file() {
            return Some(format!(
                "{SYSTEMD} is missing (scripts/deps.sh installs systemd)"
            ));
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let types: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split_once(" - ").map(|(_, post)| post))
            .filter_map(|post| post.split(' ').next())
            .collect();
        match self {
            // brisk's v1 layout mounts the host's v1 hierarchies; systemd
            // in legacy mode needs the name=systemd one.
            Layout::V1 if !Path::new("/sys/fs/cgroup/systemd/cgroup.procs").exists() => Some(
                "no v1 name=systemd hierarchy at /sys/fs/cgroup/systemd: systemd cannot run \
                 in legacy mode in a container here"
                    .into(),
            ),
            Layout::V2 if !types.contains(&"cgroup2") => {
                Some("no cgroup2 hierarchy on this host".into())
            }
            _ => None,
        }
    }
}

/// The systemd container.
pub struct Systemd {
    pub layout: Layout,
    /// The container's id in `env`'s state root.
    pub id: String,
    /// Its absolute `cgroupsPath` (the same in every hierarchy).
    pub cgroups_path: String,
    /// The sandbox of the runtimes' bundles, bound at the same path inside.
    pub bundles: Env,
    /// The sandbox of the systemd container: its state root and bundle.
    pub env: Env,
    deleted: bool,
}

impl Systemd {
    /// Boots systemd in a container of `layout`; Err is why this host
    /// cannot (for `common::skip`). A boot that fails where it should work
    /// is a test failure, with what systemd says of its state.
    pub fn boot(name: &str, layout: Layout) -> Result<Systemd, String> {
        Systemd::boot_sharing(name, layout, &[])
    }

    /// [`Systemd::boot`] with the host directories `shared` also bound at
    /// their own paths inside (what a daemon run in the container and the
    /// test on the host both use: its sockets, its state).
    pub fn boot_sharing(name: &str, layout: Layout, shared: &[&Path]) -> Result<Systemd, String> {
        if let Some(why) = layout.unavailable() {
            return Err(why);
        }
        let env = Env::new(&format!("systemd-{name}"));
        let bundles = Env::new(&format!("systemd-{name}-b"));
        let id = format!("systemd-{name}");
        let cgroups_path = format!("/brisk-it-systemd-{name}-{}", std::process::id());
        let dir = env.base.join("systemd");
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = env.cmd_of(Path::new(common::brisk_bin()), &["spec", "--bundle"]);
        spec.arg(&dir);
        let spec = common::run_bounded(spec, &env.base, CMD_BOUND);
        assert_eq!(spec.code, 0, "brisk spec: {}", spec.stderr);
        let mut share = vec![bundles.base.as_path()];
        share.extend_from_slice(shared);
        let config = config(&dir, &env, layout, &cgroups_path, &share);
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let sd = Systemd {
            layout,
            id,
            cgroups_path,
            bundles,
            env,
            deleted: false,
        };
        let started = Instant::now();
        let dir = dir.to_string_lossy().into_owned();
        let run = sd.brisk(&["run", "-d", "--bundle", &dir, &sd.id.clone()]);
        assert_eq!(
            run.code,
            0,
            "brisk run of systemd ({}): {}\n{}",
            layout.name(),
            run.stderr,
            sd.diagnostics()
        );
        sd.wait_running(started);
        sd.check_mode();
        Ok(sd)
    }

    /// Polls `systemctl is-system-running` until systemd is `running`
    /// (or `degraded`, whose failed units are shown).
    fn wait_running(&self, started: Instant) {
        loop {
            let out = self.exec(&["systemctl", "is-system-running"]);
            let last = format!("{} {}", out.stdout.trim(), out.stderr.trim());
            match out.stdout.trim() {
                "running" => break,
                "degraded" => {
                    let failed = self.exec(&["systemctl", "--failed", "--no-legend", "--plain"]);
                    eprintln!(
                        "systemd ({}) is degraded; failed units:\n{}",
                        self.layout.name(),
                        failed.stdout
                    );
                    break;
                }
                _ => {}
            }
            assert!(
                started.elapsed() < BOOT_BOUND,
                "systemd ({}) not running within {BOOT_BOUND:?}: {last}\n{}",
                self.layout.name(),
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "systemd ({}) running after {:?}",
            self.layout.name(),
            started.elapsed()
        );
    }

    /// Checks that systemd runs in the cgroup mode of the layout: legacy
    /// (it taints itself `cgroupsv1`) on v1 hierarchies, unified on a
    /// cgroup2 mount.
    fn check_mode(&self) {
        let fs = self.exec(&["stat", "-f", "-c", "%T", "/sys/fs/cgroup"]);
        let tainted = self.exec(&["systemctl", "show", "-p", "Tainted", "--value"]);
        let (fs, tainted) = (fs.stdout.trim(), tainted.stdout.trim());
        let legacy = tainted.split(':').any(|t| t == "cgroupsv1");
        match self.layout {
            Layout::V1 => assert!(
                fs == "tmpfs" && legacy,
                "systemd (v1) is not in legacy mode: /sys/fs/cgroup is {fs}, Tainted={tainted}"
            ),
            Layout::V2 => assert!(
                fs == "cgroup2fs" && !legacy,
                "systemd (v2) is not unified: /sys/fs/cgroup is {fs}, Tainted={tainted}"
            ),
        }
    }

    /// What systemd says of its state (failed units, pending jobs), for a
    /// failure message; empty lines when it cannot be asked.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for args in [
            &["systemctl", "is-system-running"][..],
            &["systemctl", "--failed", "--no-legend", "--plain"][..],
            &["systemctl", "list-jobs", "--no-legend", "--plain"][..],
        ] {
            let o = self.exec(args);
            out.push_str(&format!("$ {}\n{}{}", args.join(" "), o.stdout, o.stderr));
        }
        out
    }

    /// brisk (the outer runtime) with the systemd container's state root.
    fn brisk(&self, args: &[&str]) -> Out {
        common::run_bounded(
            self.env.cmd_of(Path::new(common::brisk_bin()), args),
            &self.env.base,
            CMD_BOUND,
        )
    }

    /// The command line (program first) that runs `args` in the systemd
    /// container, for a process the caller starts and owns (a daemon).
    pub fn exec_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![
            common::brisk_bin().to_string(),
            "--root".to_string(),
            self.env.root.to_string_lossy().into_owned(),
            "exec".to_string(),
            self.id.clone(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Runs `args` in the systemd container (`brisk exec`), bounded.
    pub fn exec(&self, args: &[&str]) -> Out {
        let mut full = vec!["exec", self.id.as_str()];
        full.extend_from_slice(args);
        self.brisk(&full)
    }

    /// Runs `sh -c script` in the systemd container.
    pub fn sh(&self, script: &str) -> Out {
        self.exec(&["sh", "-c", script])
    }

    /// [`Systemd::sh`] that must succeed; its stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert_eq!(
            out.code,
            0,
            "in systemd ({}): {script}\nstdout: {}\nstderr: {}",
            self.layout.name(),
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// `systemctl show UNIT` (all properties, or `props`): each property's
    /// values (DeviceAllow= comes once per rule).
    pub fn show(&self, unit: &str, props: &[&str]) -> BTreeMap<String, Vec<String>> {
        let mut args = vec!["systemctl", "show"];
        for p in props {
            args.push("-p");
            args.push(p);
        }
        // A unit name may start with "-" (runc's with an empty prefix).
        args.extend(["--", unit]);
        let out = self.exec(&args);
        assert_eq!(out.code, 0, "systemctl show {unit}: {}", out.stderr);
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in out.stdout.lines() {
            if let Some((k, v)) = line.split_once('=') {
                map.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        map
    }

    /// One property of a unit (the last value of a repeated one).
    pub fn prop(&self, unit: &str, prop: &str) -> String {
        self.show(unit, &[prop])
            .remove(prop)
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    /// Units of every state and type whose name matches `pattern` (a
    /// systemctl glob): what systemd still knows of.
    pub fn units(&self, pattern: &str) -> Vec<String> {
        let out = self.exec(&[
            "systemctl",
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--",
            pattern,
        ]);
        assert_eq!(out.code, 0, "systemctl list-units: {}", out.stderr);
        out.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    /// The host directory of `cgroup` (a path as systemd inside sees it,
    /// `/system.slice/x.scope`) in the hierarchy `h` (`memory`, `systemd`;
    /// ignored in the v2 layout, which has one): the container's cgroup
    /// namespace is rooted at its `cgroupsPath` in each hierarchy.
    pub fn cgroup_dir(&self, h: &str, cgroup: &str) -> PathBuf {
        let h = match self.layout {
            Layout::V1 => h,
            Layout::V2 => "unified",
        };
        PathBuf::from(format!(
            "/sys/fs/cgroup/{h}{}{}",
            self.cgroups_path,
            if cgroup == "/" { "" } else { cgroup }
        ))
    }

    /// The host directories of `cgroup` in any hierarchy (v1 controllers,
    /// name=systemd, cgroup2): what a deleted container must not leave.
    pub fn cgroup_dirs(&self, cgroup: &str) -> Vec<PathBuf> {
        leaks::cgroup_dirs(&format!("{}{cgroup}", self.cgroups_path))
    }

    /// Every cgroup directory named `*.scope` below the container's root
    /// in any hierarchy, but systemd's own `init.scope`, relative to that
    /// root (`/system.slice/x.scope`).
    pub fn scope_dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for top in leaks::cgroup_dirs(&self.cgroups_path) {
            let mut stack = vec![top.clone()];
            while let Some(d) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else {
                    continue;
                };
                for e in entries.flatten() {
                    if !e.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    let p = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".scope") && name != "init.scope" {
                        let rel = p.strip_prefix(&top).unwrap().to_string_lossy().into_owned();
                        let rel = format!("/{rel}");
                        if !out.contains(&rel) {
                            out.push(rel);
                        }
                    }
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// Deletes the systemd container and checks that nothing of it is
    /// left: state, mounts and processes (`Env::assert_clean`), and its
    /// cgroups (with everything systemd made below them) in every
    /// hierarchy.
    pub fn finish(mut self) {
        self.delete();
        self.env.assert_clean();
        common::wait_until(
            "the systemd container's cgroups are removed",
            Duration::from_secs(5),
            || leaks::cgroup_dirs(&self.cgroups_path).is_empty(),
        );
        // The runtimes' containers died with systemd's pid namespace.
        self.bundles.assert_clean();
    }

    fn delete(&mut self) {
        if self.deleted {
            return;
        }
        self.deleted = true;
        let id = self.id.clone();
        let out = self.brisk(&["delete", "-f", &id]);
        if out.code != 0 {
            eprintln!("delete -f of the systemd container: {}", out.stderr);
        }
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.deleted {
            eprintln!(
                "systemd ({}) at the end:\n{}",
                self.layout.name(),
                self.diagnostics()
            );
        }
        self.delete();
    }
}

/// The systemd container's config: `brisk spec`'s, edited.
fn config(dir: &Path, env: &Env, layout: Layout, cgroups_path: &str, share: &[&Path]) -> Value {
    let mut c: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    // An empty root with the merged-/usr links; /usr and /etc are the
    // host's.
    let rootfs = dir.join("rootfs");
    for d in [
        "usr", "etc", "proc", "sys", "dev", "run", "tmp", "var", "root",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, rootfs.join(link)).unwrap();
    }
    c["root"] = json!({"path": "rootfs", "readonly": false});
    c["hostname"] = json!("brisk-it-systemd");
    let p = &mut c["process"];
    // slices.target: a minimal boot that starts none of the host's
    // services.
    p["args"] = json!([SYSTEMD, "--unit=slices.target"]);
    p["terminal"] = json!(false);
    p["env"].as_array_mut().unwrap().extend([
        json!("container=brisk"),
        json!(format!("{}={}", common::MARK, env.base.display())),
    ]);
    p["capabilities"] = json!({"bounding": CAPS, "effective": CAPS, "permitted": CAPS});
    p["noNewPrivileges"] = json!(false);
    let l = &mut c["linux"];
    l["maskedPaths"] = json!([]);
    l["readonlyPaths"] = json!([]);
    l.as_object_mut().unwrap().remove("seccomp");
    l["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
    l["cgroupsPath"] = json!(cgroups_path);
    // brisk rejects a namespace type given twice.
    let mut namespaces: Vec<Value> = Vec::new();
    for ns in l["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .chain([json!({"type": "cgroup"})])
    {
        if !namespaces.iter().any(|n| n["type"] == ns["type"]) {
            namespaces.push(ns);
        }
    }
    l["namespaces"] = json!(namespaces);
    let mut mounts: Vec<Value> = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] != "/sys/fs/cgroup")
        .cloned()
        .collect();
    for m in &mut mounts {
        if m["destination"] == "/sys" {
            let opts: Vec<Value> = m["options"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| *o != "ro")
                .cloned()
                .collect();
            m["options"] = json!(opts);
        }
    }
    let fstype = layout.mount_type();
    let brisk = common::brisk_bin();
    mounts.extend([
        json!({"destination": "/sys/fs/cgroup", "type": fstype, "source": fstype,
               "options": ["rw", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}),
        json!({"destination": "/etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}),
        json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=755"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}),
        json!({"destination": "/var", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}),
        json!({"destination": brisk, "type": "bind", "source": brisk, "options": ["bind", "ro"]}),
    ]);
    for dir in share {
        mounts
            .push(json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind"]}));
    }
    c["mounts"] = json!(mounts);
    c
}
