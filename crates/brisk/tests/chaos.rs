//! Chaos: N containers, and for each, concurrent threads issuing random
//! state, kill, exec (with and without --ignore-paused), pause, resume,
//! update, ps, events --stats, delete, delete --force, create, run -d and
//! start, some of them SIGKILLed mid-command (by pid: only brisk commands
//! this test started). Afterwards:
//! - every command that was not killed returned within its bound (90 s);
//!   an `exec` whose program a later `pause` froze waits for it, as runc's
//!   does: past the bound, with the container paused, the test resumes it
//!   and the exec must then return within 30 s (reported, not hidden);
//! - `list` and `state` agree with reality: a container listed as running,
//!   created or paused has a live init (created: still `brisk init`;
//!   paused: its freezer frozen or freezing), a stopped one has none, and
//!   no process is in the cgroup of a container that is not listed alive;
//! - `delete --force` cleans every container;
//! - nothing is left: state directories, processes, mounts, cgroups
//!   (frozen ones included), zombies of this test, fds of this test.
//!
//! Bounded in count and time so it always ends: CI runs 3 containers x 3
//! threads x 12 commands (at most 120 s of chaos); the long run is
//! `BRISK_CHAOS_FULL=1 cargo test -p brisk --test chaos -- --nocapture`
//! (8 x 4 x 400, at most 900 s). `BRISK_CHAOS_SEED` replays a run (the
//! seed is printed).

mod common;
#[path = "common/leaks.rs"]
mod leaks;

use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Bundle, Env};

fn full() -> bool {
    std::env::var("BRISK_CHAOS_FULL").is_ok_and(|v| v == "1")
}

/// xorshift64*: enough randomness for choosing, and replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The bound of one command: above every bound of brisk's own (the lock's
/// and the init's, 60 s) and the tests' shortened ones.
const COMMAND_BOUND: Duration = Duration::from_secs(90);

#[derive(Default)]
struct Log {
    commands: usize,
    killed: usize,
    /// Commands that did not return within COMMAND_BOUND.
    late: Vec<String>,
    /// `exec`s whose program was frozen by a `pause` that came after it
    /// started, and that returned once the test resumed the container (as
    /// runc's exec, brisk's waits for its program: a frozen program is the
    /// container's state, not a runtime that hangs).
    waited_for_resume: Vec<String>,
    slowest: (Duration, String),
    /// Errors that are not the expected refusals of a chaos run.
    odd: Vec<String>,
    /// How each kind of command ended: (command, outcome) -> count, the
    /// outcome being "ok" or the error with digits blurred.
    outcomes: std::collections::BTreeMap<(String, String), usize>,
}

/// An error line with the numbers taken out, to count alike errors
/// together.
fn blur(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find_map(|l| l.split("msg=\"").nth(1))
        .unwrap_or(stderr.lines().next().unwrap_or(""));
    let mut out = String::new();
    let mut last_digit = false;
    for c in line.trim_end_matches('"').chars().take(110) {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

/// Runs one brisk command; with `kill_after` SIGKILLs it then if it is
/// still running. Returns (exit code, stderr) unless killed.
fn run(
    env: &Env,
    args: &[String],
    extra_env: &[(&str, &str)],
    kill_after: Option<Duration>,
    log: &Mutex<Log>,
) -> Option<(i32, String)> {
    let n = {
        let mut l = log.lock().unwrap();
        l.commands += 1;
        l.commands
    };
    let err_path = env.base.join(format!(".chaos-err-{n}"));
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = env.cmd(&args_ref);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let started = Instant::now();
    let mut child = c.spawn().expect("spawn brisk");
    let what = args_ref.join(" ");
    let (mut resumed, mut resume_at) = (false, None::<Instant>);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        let t = started.elapsed();
        if kill_after.is_some_and(|k| t >= k) {
            // A brisk command this test started, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            log.lock().unwrap().killed += 1;
            break None;
        }
        if t >= COMMAND_BOUND {
            if args[0] == "exec" && !resumed && paused(env, &args[args.len() - 2]) {
                // Its program froze with the container after it started;
                // nobody is left to resume it (the other threads are done).
                resumed = true;
                let _ = env.cmd(&["resume", &args[args.len() - 2]]).output();
                resume_at = Some(Instant::now());
            }
            let waited = resume_at.map_or(t, |r| r.elapsed());
            if !resumed || waited >= Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                log.lock().unwrap().late.push(what.clone());
                break None;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = started.elapsed();
    if resumed && status.is_some() {
        log.lock().unwrap().waited_for_resume.push(what.clone());
    }
    {
        let mut l = log.lock().unwrap();
        if took > l.slowest.0 && status.is_some() {
            l.slowest = (took, what.clone());
        }
    }
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    status.map(|s| (s.code().unwrap_or(-1), stderr))
}

/// Refusals a chaos run expects (a command on a container in the wrong
/// state, or gone, or being made, or whose init was killed meanwhile).
fn expected_refusal(stderr: &str) -> bool {
    [
        "does not exist",
        "already exists",
        "not running",
        "not paused",
        "not stopped",
        "cannot start",
        "cannot exec",
        "cannot delete",
        "container not running or created",
        "stopped",
        "exited before",
        "killed by signal",
        "has not exited",
        "timed out after",
        "the container is paused",
        "interrupted",
        "connection reset",
        "broken pipe",
        "No such process",
        "no such process",
        "no such file or directory",
        "container init:",
        "read from the init",
        "release the init",
        "join the container's cgroup",
        "did not exit after SIGKILL",
        "unable to signal init",
        // A create whose fresh directory a concurrent delete --force took
        // for a dead create's (ARCHITECTURE.md, Known limitations).
        "was removed while it was being created",
    ]
    .iter()
    .any(|w| stderr.contains(w))
}

fn one_command(env: &Env, b: &Bundle, id: &str, rng: &mut Rng, log: &Mutex<Log>) {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut extra: Vec<(&str, &str)> = Vec::new();
    let args = match rng.below(16) {
        0 | 1 => s(&["state", id]),
        2 => s(&[
            "kill",
            id,
            ["KILL", "TERM", "0", "CONT"][rng.below(4) as usize],
        ]),
        3 | 4 => s(&["exec", id, "true"]),
        5 => {
            // A paused container's exec waits for resume, bounded.
            extra.push(("BRISK_INIT_TIMEOUT", "3"));
            s(&["exec", "--ignore-paused", id, "true"])
        }
        6 => s(&["pause", id]),
        7 => s(&["resume", id]),
        8 => s(&[
            "update",
            "--pids-limit",
            &(100 + rng.below(100)).to_string(),
            id,
        ]),
        9 => s(&["ps", "--format", "json", id]),
        10 => s(&["events", "--stats", id]),
        11 => s(&["delete", id]),
        12 => s(&["delete", "--force", id]),
        13 => s(&["start", id]),
        14 => s(&["create", "-b", b.path(), id]),
        _ => s(&["run", "-d", "-b", b.path(), id]),
    };
    // One command in five is killed after 0-40 ms.
    let kill_after = (rng.below(5) == 0).then(|| Duration::from_millis(rng.below(40)));
    if let Some((code, stderr)) = run(env, &args, &extra, kill_after, log) {
        // An exec'd `true` killed with its container (a concurrent kill or
        // delete) exits 128+N: the exec worked.
        let program_killed = args[0] == "exec" && code > 128 && stderr.trim().is_empty();
        let outcome = match code {
            0 => "ok".to_string(),
            _ if program_killed => format!("its program killed (exit {code})"),
            _ => blur(&stderr),
        };
        let kind = match args[1].as_str() {
            "--ignore-paused" | "--force" | "--format" | "--stats" | "-d" | "--pids-limit" => {
                format!("{} {}", args[0], args[1])
            }
            _ => args[0].clone(),
        };
        *log.lock()
            .unwrap()
            .outcomes
            .entry((kind, outcome))
            .or_default() += 1;
        if code != 0 && !program_killed && !expected_refusal(&stderr) {
            log.lock().unwrap().odd.push(format!(
                "{} (exit {code}): {}",
                args.join(" "),
                stderr.trim()
            ));
        }
    }
}

/// Whether `brisk state` says the container is paused.
fn paused(env: &Env, id: &str) -> bool {
    env.cmd(&["state", id])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("\"paused\""))
}

fn alive(pid: i64) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            let st = s[s.rfind(')').unwrap() + 2..].chars().next();
            !matches!(st, Some('Z') | Some('X'))
        })
}

fn procs_of(path: &str) -> Vec<String> {
    leaks::cgroup_dirs(path)
        .into_iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What `list` and `state` say of each container, checked against
/// /proc and the cgroups. Returns the disagreements.
fn disagreements(env: &Env, bundles: &[(String, Bundle)]) -> Vec<String> {
    let mut bad = Vec::new();
    let list = env.brisk(&["list", "-q"]);
    assert_eq!(list.code, 0, "list: {}", list.stderr);
    let listed: Vec<&str> = list.stdout.lines().collect();
    for (id, b) in bundles {
        let st = env.brisk(&["state", id]);
        let path = leaks::cgroups_path(&b.config);
        if st.code != 0 {
            if listed.contains(&id.as_str()) {
                bad.push(format!("{id}: listed, but state fails: {}", st.stderr));
            }
            if !procs_of(&path).is_empty() {
                bad.push(format!(
                    "{id}: no state, but processes in its cgroup: {:?}",
                    procs_of(&path)
                ));
            }
            continue;
        }
        if !listed.contains(&id.as_str()) {
            bad.push(format!("{id}: state works, but not listed"));
        }
        let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
        let status = v["status"].as_str().unwrap_or("").to_string();
        let recorded: serde_json::Value = std::fs::read(env.root.join(id).join("state.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        let pid = recorded["pid"].as_i64().unwrap_or(0);
        match status.as_str() {
            "stopped" => {
                if !procs_of(&path).is_empty() {
                    bad.push(format!(
                        "{id}: stopped, but processes in its cgroup: {:?}",
                        procs_of(&path)
                    ));
                }
            }
            "created" | "running" | "paused" => {
                if !alive(pid) {
                    bad.push(format!("{id}: {status}, but its init {pid} is gone"));
                }
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if status == "created" && comm.trim() != "brisk init" {
                    bad.push(format!("{id}: created, but its init runs {comm:?}"));
                }
                if status == "paused" {
                    let f = leaks::cgroup_dirs(&path)
                        .into_iter()
                        .find(|d| d.join("freezer.state").exists())
                        .map(|d| {
                            std::fs::read_to_string(d.join("freezer.state")).unwrap_or_default()
                        });
                    if let Some(f) = f {
                        if !matches!(f.trim(), "FROZEN" | "FREEZING") {
                            bad.push(format!("{id}: paused, but its freezer is {f:?}"));
                        }
                    }
                }
            }
            other => bad.push(format!("{id}: unknown status {other}")),
        }
    }
    bad
}

#[test]
fn chaos() {
    let (n, threads, ops, budget) = if full() {
        (8, 4, 400, Duration::from_secs(900))
    } else {
        (3, 3, 12, Duration::from_secs(120))
    };
    let seed = std::env::var("BRISK_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("chaos: {n} containers x {threads} threads x {ops} commands, seed {seed}");
    let env = Env::new("chaos");
    let fds_before = leaks::fd_count(std::process::id() as i32);
    let bundles: Vec<(String, Bundle)> = (0..n)
        .map(|i| {
            let mut b = env.bundle(&format!("b{i}"), &["sleep", "600"]);
            if i % 2 == 1 {
                // No pid namespace of its own: delete must sweep the cgroup.
                let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "pid");
                b.write();
            }
            (format!("c{i}"), b)
        })
        .collect();
    let log = Mutex::new(Log::default());
    let deadline = Instant::now() + budget;
    std::thread::scope(|scope| {
        for (i, (id, b)) in bundles.iter().enumerate() {
            for t in 0..threads {
                let (env, log) = (&env, &log);
                let mut rng =
                    Rng(seed ^ ((i as u64 + 1) << 32) ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9));
                scope.spawn(move || {
                    for _ in 0..ops {
                        if Instant::now() >= deadline {
                            break;
                        }
                        one_command(env, b, id, &mut rng, log);
                    }
                });
            }
        }
    });
    let log = log.into_inner().unwrap();
    eprintln!(
        "chaos: {} commands, {} killed mid-command, slowest {:?} ({})",
        log.commands, log.killed, log.slowest.0, log.slowest.1
    );
    for ((kind, outcome), count) in &log.outcomes {
        eprintln!("  {count:5}  {kind}: {outcome}");
    }
    if !log.waited_for_resume.is_empty() {
        eprintln!(
            "chaos: exec waiting for a program paused after it started, returned once resumed: {:?}",
            log.waited_for_resume
        );
    }
    assert!(
        log.late.is_empty(),
        "commands that did not return within {COMMAND_BOUND:?}: {:?}",
        log.late
    );
    assert!(
        log.odd.is_empty(),
        "unexpected errors (seed {seed}):\n{}",
        log.odd.join("\n")
    );
    // Processes still exiting (a killed init, a thawed exec) settle first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let bad = loop {
        let bad = disagreements(&env, &bundles);
        if bad.is_empty() || Instant::now() >= deadline {
            break bad;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        bad.is_empty(),
        "list/state disagree with reality (seed {seed}):\n{}",
        bad.join("\n")
    );
    for (id, _) in &bundles {
        let out = common::run_bounded(
            env.cmd(&["delete", "--force", id]),
            &env.base,
            COMMAND_BOUND,
        );
        assert_eq!(out.code, 0, "delete --force {id}: {}", out.stderr);
    }
    env.assert_clean();
    for (id, b) in &bundles {
        let path = leaks::cgroups_path(&b.config);
        assert_eq!(
            leaks::cgroup_dirs(&path),
            Vec::<std::path::PathBuf>::new(),
            "{id}: cgroups left"
        );
    }
    common::wait_until(
        "no zombie of the test process",
        Duration::from_secs(5),
        || leaks::zombies_of(&[std::process::id() as i32]).is_empty(),
    );
    let fds_after = leaks::fd_count(std::process::id() as i32);
    assert!(
        fds_after <= fds_before + 2,
        "fds of the test: {fds_before} -> {fds_after}"
    );
}
