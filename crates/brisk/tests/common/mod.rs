//! Shared helpers of the integration tests: each test gets its own state
//! root and bundles under /tmp/brisk-it/, runs the built `brisk` binary on
//! real bundles (static busybox, made by scripts/make-bundle.sh), and
//! checks what it left behind. The tests need root.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn brisk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_brisk")
}

/// The runtime under test: `$RUNTIME` (e.g. `runc`, to check that a test
/// tests the spec and not brisk) or the built brisk.
pub fn runtime_bin() -> String {
    std::env::var("RUNTIME").unwrap_or_else(|_| brisk_bin().to_string())
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One test's sandbox: a state root and a place for bundles.
pub struct Env {
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        // SAFETY: geteuid cannot fail.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the integration tests must run as root"
        );
        let base = PathBuf::from("/tmp/brisk-it").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        Env {
            root: base.join("state"),
            base,
        }
    }

    /// A busybox bundle whose process runs `args`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> Bundle {
        let dir = self.base.join(name);
        let status = Command::new(repo_root().join("scripts/make-bundle.sh"))
            .arg(&dir)
            .arg("--")
            .args(args)
            .status()
            .expect("run scripts/make-bundle.sh");
        assert!(status.success(), "make-bundle.sh failed");
        let config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let mut b = Bundle { dir, config };
        let mark = format!("{MARK}={}", self.mark());
        b.config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(mark.into());
        // An absolute cgroup path, so that no runtime places the container
        // under the caller's own cgroup.
        b.config["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{}-{name}", self.tag()).into();
        b.write();
        b
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_of(Path::new(&runtime_bin()), args)
    }

    /// [`Env::cmd`] with another runtime binary (a copy under test).
    pub fn cmd_of(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.arg("--root").arg(&self.root).args(args);
        c.env(MARK, self.mark());
        c.stdin(Stdio::null());
        c
    }

    fn tag(&self) -> String {
        self.base
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn mark(&self) -> String {
        self.base.to_string_lossy().into_owned()
    }

    /// Live processes of this test's containers (and brisk commands).
    pub fn processes(&self) -> Vec<i32> {
        marked_processes(&self.mark())
    }

    /// Runs brisk with these arguments and collects its output. Output
    /// goes through files, not pipes: a created container's init inherits
    /// brisk's stdio and would keep a pipe open.
    pub fn brisk(&self, args: &[&str]) -> Out {
        run_to_files(self.cmd(args), &self.base)
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.brisk(&["state", id]);
        assert_eq!(out.code, 0, "state {id}: {}", out.stderr);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state JSON {e}: {}", out.stdout))
    }

    /// A path inside a live container, seen from the host through its
    /// init's root (`/proc/PID/root`): the bundles' /tmp is a tmpfs.
    pub fn in_container(&self, id: &str, path: &str) -> PathBuf {
        let pid = self.state(id)["pid"].as_i64().unwrap_or(0);
        PathBuf::from(format!("/proc/{pid}/root{path}"))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Waits until `id` reports `status`.
    /// The container may not exist yet (a `run` just started).
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.brisk(&["state", id]);
            if out.code == 0
                && serde_json::from_str::<Value>(&out.stdout).unwrap()["status"] == status
            {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never became {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Container state directories left in the root. brisk's `@spare`
    /// (the emptied directory of a deleted container, kept for the next
    /// create) is not one, but it must be empty.
    pub fn state_dirs(&self) -> Vec<String> {
        match std::fs::read_dir(&self.root) {
            Ok(d) => d
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    if n != "@spare" {
                        return true;
                    }
                    let inside: Vec<_> = std::fs::read_dir(self.root.join(n))
                        .map(|d| d.flatten().map(|e| e.file_name()).collect())
                        .unwrap_or_default();
                    assert!(inside.is_empty(), "@spare holds {inside:?}");
                    false
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Asserts that nothing of this test's containers remains: no state
    /// directory, no mount and no process from its bundles.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.state_dirs(),
            Vec::<String>::new(),
            "state directories left behind"
        );
        let base = self.base.to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&base)).collect();
        assert!(left.is_empty(), "mounts left behind: {left:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let procs = self.processes();
            if procs.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "processes left behind: {procs:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.state_dirs() {
            let _ = self.brisk(&["delete", "--force", &id]);
        }
        let _ = std::fs::remove_dir_all(&self.base);
        remove_test_cgroups(&self.tag());
    }
}

/// The cgroup parent the tests' containers are placed under.
pub const CGROUP_PARENT: &str = "brisk-it";

/// Removes the (empty) cgroups this test's containers were given, in every
/// hierarchy, and the shared parent once it is empty.
fn remove_test_cgroups(tag: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let parent = h.path().join(CGROUP_PARENT);
        let Ok(children) = std::fs::read_dir(&parent) else {
            continue;
        };
        for c in children.flatten() {
            if c.file_name().to_string_lossy().starts_with(tag) {
                let _ = std::fs::remove_dir(c.path());
            }
        }
        let _ = std::fs::remove_dir(&parent);
    }
}

static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs a command with stdout and stderr in files under `dir`.
pub fn run_to_files(mut cmd: Command, dir: &Path) -> Out {
    let (o, e) = output_files(&mut cmd, dir);
    let status = cmd.status().expect("run brisk");
    collect_output(status, &o, &e)
}

/// Points the command's stdout and stderr at two new files under `dir`.
fn output_files(cmd: &mut Command, dir: &Path) -> (PathBuf, PathBuf) {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (o, e) = (dir.join(format!(".out{n}")), dir.join(format!(".err{n}")));
    cmd.stdout(std::fs::File::create(&o).unwrap());
    cmd.stderr(std::fs::File::create(&e).unwrap());
    (o, e)
}

/// The exit status and the two files' contents; the files are removed.
fn collect_output(status: std::process::ExitStatus, o: &Path, e: &Path) -> Out {
    let out = Out {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(o).unwrap_or_default(),
        stderr: std::fs::read_to_string(e).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(o);
    let _ = std::fs::remove_file(e);
    out
}

/// The environment variable that marks every process of one test: set on
/// each brisk command (so an init that has not exec'd yet carries it) and
/// in each bundle's process.env (so the container's processes do).
pub const MARK: &str = "BRISK_IT_MARK";

/// Live processes carrying `MARK=value` in their environment.
pub fn marked_processes(value: &str) -> Vec<i32> {
    let needle = format!("{MARK}={value}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Sets a value by JSON pointer (`/process/cwd`), creating objects on
    /// the way, and rewrites config.json.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let mut cur = &mut self.config;
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        for (i, p) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                match cur {
                    Value::Array(a) => {
                        let idx: usize = p.parse().unwrap();
                        a[idx] = value;
                    }
                    _ => {
                        cur[*p] = value;
                    }
                }
                break;
            }
            cur = match cur {
                Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
                _ => {
                    if cur.get(*p).is_none() {
                        cur[*p] = serde_json::json!({});
                    }
                    &mut cur[*p]
                }
            };
        }
        self.write();
        self
    }

    /// Removes a key by JSON pointer and rewrites config.json.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        if let Some(Value::Object(o)) = self.config.pointer_mut(parent) {
            o.remove(key);
        }
        self.write();
        self
    }

    pub fn add_namespace(&mut self, typ: &str, path: Option<&str>) -> &mut Self {
        let ns = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != typ);
        let mut v = serde_json::json!({"type": typ});
        if let Some(p) = path {
            v["path"] = p.into();
        }
        ns.push(v);
        self.write();
        self
    }

    pub fn write(&self) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "brisk failed: {}", self.stderr);
        self.stdout
    }
}

/// The namespace inode link of a process (`net:[4026531840]`).
pub fn ns_of(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

static NET_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `ip ARGS`; its output, or a panic naming the command.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the host (brisk's network namespace) has a device `name`.
pub fn host_has_link(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// A veth pair made for one test, on the host only (nothing routes to
/// outside addresses), removed on drop if it still exists. Names are
/// unique per process and call: other test binaries may run at once.
pub struct Veth {
    pub a: String,
    pub b: String,
}

impl Veth {
    pub fn new() -> Veth {
        let n = NET_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 1_000_000);
        let v = Veth {
            a: format!("bk{id}a"),
            b: format!("bk{id}b"),
        };
        ip(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b]);
        v
    }

    /// The pair `Veth::new` made and a caller kept past its scope (with
    /// `std::mem::forget`), found again by its first name, to be removed.
    pub fn adopt(a: &str) -> Veth {
        let stem = a.strip_suffix('a').unwrap_or(a);
        Veth {
            a: a.to_string(),
            b: format!("{stem}b"),
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            if host_has_link(n) {
                let _ = Command::new("ip").args(["link", "del", n]).status();
            }
        }
    }
}

/// A named network namespace (`ip netns add`) for one test, deleted on
/// drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let n = NET_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("brisk-it-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        Netns { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Waits (up to 5 s) until `cond` holds; false if it never does.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Reports the running test as skipped, with its reason: on stderr and
/// in `$BRISK_SKIP_LOG` (scripts/test.sh counts those lines). The test
/// then returns: `return common::skip("...")`.
#[allow(unused_imports)] // not every test binary skips
pub use brisk_test_support::skip;

/// Runs a command with its output in files under `dir`, killing it (and
/// failing the test) if it has not returned within `bound`: every command
/// a test runs returns, or the test says which did not.
pub fn run_bounded(mut cmd: Command, dir: &Path, bound: Duration) -> Out {
    let (o, e) = output_files(&mut cmd, dir);
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not return within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    collect_output(status, &o, &e)
}

/// Waits until `f` holds, checking every 20 ms, and fails the test naming
/// `what` if it does not within `bound`: synchronisation by readiness,
/// never by a fixed sleep.
pub fn wait_until(what: &str, bound: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !f() {
        assert!(Instant::now() < deadline, "not within {bound:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Docker's default capabilities.
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A real block device of this host (a throttle or weight needs one):
/// (major, minor) of the first in /sys/block that is not a loop, ram or
/// zram device (not a partition).
pub fn block_device() -> Option<(u64, u64)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        let (a, b) = dev.trim().split_once(':')?;
        found.push((a.parse().ok()?, b.parse().ok()?));
    }
    found.sort();
    found.first().copied()
}
