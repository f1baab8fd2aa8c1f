//! The differential harness: one case runs the same bundle and the same
//! command lines under the runtime under test (the built brisk, or
//! `$RUNTIME`) and under each reference runtime installed here (runc;
//! crun through a private mount namespace with a pure cgroup v1 view,
//! since it refuses this host's hybrid layout), each with its own `--root`
//! and sandbox, and compares what a client or the container can observe,
//! field by field. Included by `differential.rs` with
//! `#[path = "common/diff.rs"] mod diff;`.
//!
//! A case is a bundle mutation, a sequence of runtime commands, and what
//! they capture (`Session::record` and the helpers around it). Every
//! captured value is normalised first: the sandbox's paths become `$BASE`
//! and `$TAG`, so two runtimes' observations are equal when they behave
//! alike. A difference that is known and accepted (recorded in
//! docs/COMPATIBILITY.md) is listed in the case with the reason, printed,
//! and not a failure.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Bundle, Env, Out};

/// A runtime taking part in a comparison.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// `brisk` (the subject), `runc` or `crun`.
    pub name: String,
    bin: PathBuf,
    /// crun needs a wrapper script written into each sandbox.
    crun_wrapper: bool,
}

/// The runtime under test, then the references installed on this host.
/// A missing reference is announced loudly (SKIPPED), never silently.
pub fn runtimes() -> Vec<Runtime> {
    let subject = common::runtime_bin();
    let subject_name = if std::env::var_os("RUNTIME").is_some() {
        Path::new(&subject)
            .file_name()
            .map_or("subject".into(), |n| n.to_string_lossy().into_owned())
    } else {
        "brisk".to_string()
    };
    let mut v = vec![Runtime {
        name: subject_name.clone(),
        bin: subject.into(),
        crun_wrapper: false,
    }];
    for name in ["runc", "crun"] {
        if name == subject_name {
            continue;
        }
        match which(name) {
            Some(bin) => v.push(Runtime {
                name: name.to_string(),
                bin,
                crun_wrapper: name == "crun",
            }),
            None => eprintln!(
                "SKIPPED: {name} is not installed (apt-get install {name}): no comparison with it"
            ),
        }
    }
    v
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// crun in a private mount namespace where `/sys/fs/cgroup/unified` is
/// unmounted: a pure v1 view of this hybrid host (crun refuses hybrid).
/// `env -u PWD`: the wrapper's shell must not add to crun's environment,
/// which its hooks inherit.
const CRUN_WRAPPER: &str = r#"#!/bin/sh
exec unshare -m --propagation private /bin/sh -c '
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 125; fi
exec env -u PWD -u CRUN_BIN "$0" "$@"' "$CRUN_BIN" "$@"
"#;

/// A difference accepted for one runtime: `field` is a prefix of the
/// observation's name, or with a leading `*` a suffix (`*.mounts`).
#[derive(Clone, Debug)]
pub struct Known {
    pub field: &'static str,
    pub runtime: &'static str,
    pub why: &'static str,
}

pub fn known(field: &'static str, runtime: &'static str, why: &'static str) -> Known {
    Known {
        field,
        runtime,
        why,
    }
}

/// A case's change to its bundle, given the runtime's sandbox.
pub type Mutation = Box<dyn Fn(&mut Bundle, &Env)>;

/// One differential case.
pub struct Case {
    pub name: &'static str,
    /// `process.args` of the bundle.
    pub args: Vec<String>,
    /// Changes to the bundle (config.json, rootfs), per runtime sandbox.
    pub mutate: Mutation,
    /// The commands and what they capture.
    pub steps: Box<dyn Fn(&mut Session)>,
    pub known: Vec<Known>,
    /// Steps that must succeed under the subject and under runc: a case
    /// whose program fails everywhere would compare nothing.
    pub required: Vec<&'static str>,
}

impl Case {
    pub fn new(name: &'static str, args: &[&str]) -> Case {
        Case {
            name,
            args: args.iter().map(|s| s.to_string()).collect(),
            mutate: Box::new(|_, _| {}),
            steps: Box::new(|_| {}),
            known: Vec::new(),
            required: Vec::new(),
        }
    }
    pub fn require(mut self, steps: &[&'static str]) -> Case {
        self.required.extend_from_slice(steps);
        self
    }
    pub fn mutate(mut self, f: impl Fn(&mut Bundle, &Env) + 'static) -> Case {
        self.mutate = Box::new(f);
        self
    }
    pub fn steps(mut self, f: impl Fn(&mut Session) + 'static) -> Case {
        self.steps = Box::new(f);
        self
    }
    pub fn known(mut self, k: Known) -> Case {
        self.known.push(k);
        self
    }
}

/// One runtime's run of a case.
pub struct Session<'a> {
    pub rt: &'a Runtime,
    /// What is executed: the runtime, or crun's wrapper.
    exe: PathBuf,
    pub env: Env,
    pub bundle: Bundle,
    obs: Vec<(String, String)>,
}

impl Session<'_> {
    /// Runs the runtime with `args` (`{b}` is replaced by the bundle path)
    /// under a fixed environment: PATH, the test mark and `DIFF_RUNTIME_ENV`
    /// (which hooks that inherit the runtime's environment show).
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_in_groups(None, args)
    }

    /// `run`, with the runtime started with these supplementary groups
    /// (a raw setgroups(2) of the child before exec).
    pub fn run_in_groups(&self, groups: Option<&'static [libc::gid_t]>, args: &[&str]) -> Out {
        let b = self.bundle.path().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("{b}", &b)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.env.cmd_of(&self.exe, &args);
        let keep: Vec<(String, String)> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        cmd.env_clear();
        for (k, v) in keep {
            cmd.env(k, v);
        }
        cmd.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("DIFF_RUNTIME_ENV", "1");
        if self.rt.crun_wrapper {
            cmd.env("CRUN_BIN", &self.rt.bin);
        }
        if let Some(groups) = groups {
            use std::os::unix::process::CommandExt;
            // SAFETY: one raw system call between fork and exec (this
            // process only), async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        common::run_to_files(cmd, &self.env.base)
    }

    /// Runs a step and records its outcome as `label`: `ok` (with
    /// `, warned` when the runtime printed a warning) or `failed: KIND`.
    pub fn step(&mut self, label: &str, args: &[&str]) -> Out {
        self.step_in_groups(label, None, args)
    }

    /// `step` with the runtime in these supplementary groups.
    pub fn step_in_groups(
        &mut self,
        label: &str,
        groups: Option<&'static [libc::gid_t]>,
        args: &[&str],
    ) -> Out {
        let out = self.run_in_groups(groups, args);
        let v = outcome(&out);
        if v != "ok" {
            // Shown with the test's output when it fails.
            eprintln!("{} {label}: {v}: {}", self.rt.name, out.stderr.trim());
        }
        self.record(label, v);
        out
    }

    /// Records one observation (normalised before comparison).
    pub fn record(&mut self, field: &str, value: impl Into<String>) {
        self.obs.push((field.to_string(), value.into()));
    }

    /// Records the sections (`## name` lines) of a probe's output, each as
    /// `label.name`.
    pub fn record_probe(&mut self, label: &str, stdout: &str) {
        let mut name = String::from("preamble");
        let mut text = String::new();
        for line in stdout.lines() {
            if let Some(n) = line.strip_prefix("## ") {
                if !text.is_empty() || name != "preamble" {
                    self.record(&format!("{label}.{name}"), std::mem::take(&mut text));
                }
                name = n.trim().to_string();
                continue;
            }
            text.push_str(line);
            text.push('\n');
        }
        self.record(&format!("{label}.{name}"), text);
    }

    /// `state ID`, recorded as the fields a client reads.
    pub fn record_state(&mut self, label: &str, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        if out.code != 0 {
            self.record(label, outcome(&out));
            return None;
        }
        let v: Value = match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                self.record(label, format!("not JSON ({e}): {}", out.stdout));
                return None;
            }
        };
        self.record_state_json(label, &v);
        Some(v)
    }

    /// The state fields of runtime.md: ociVersion (its shape: versions
    /// differ by design), id, status, pid (> 0 or not), bundle, annotations.
    pub fn record_state_json(&mut self, label: &str, v: &Value) {
        let version = v["ociVersion"].as_str().unwrap_or("");
        let shape = if version.starts_with("1.") {
            "1.x"
        } else {
            version
        };
        self.record(&format!("{label}.ociVersion"), shape);
        self.record(&format!("{label}.id"), v["id"].to_string());
        self.record(&format!("{label}.status"), v["status"].to_string());
        let pid = match v.get("pid").and_then(Value::as_i64) {
            None => "absent".to_string(),
            Some(p) if p > 0 => "> 0".to_string(),
            Some(p) => p.to_string(),
        };
        self.record(&format!("{label}.pid"), pid);
        self.record(&format!("{label}.bundle"), v["bundle"].to_string());
        self.record(
            &format!("{label}.annotations"),
            v.get("annotations")
                .map_or("absent".into(), Value::to_string),
        );
    }

    /// Waits (up to 10 s) until `state ID` says `status`; false if never.
    pub fn wait_status(&self, id: &str, status: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = self.run(&["state", id]);
            if out.code == 0
                && serde_json::from_str::<Value>(&out.stdout).is_ok_and(|v| v["status"] == status)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The absolute cgroupsPath of the bundle.
    pub fn cgroups_path(&self) -> String {
        self.bundle.config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Removes whatever containers the case left, with the runtime that
    /// made them.
    fn cleanup(&self) {
        let out = self.run(&["list", "-q"]);
        for id in out.stdout.split_whitespace() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

/// `ok`, `ok, warned` or `failed: KIND` (a coarse class of the message,
/// since each runtime words its errors its own way).
pub fn outcome(out: &Out) -> String {
    if out.code == 0 {
        let e = out.stderr.to_ascii_lowercase();
        if e.contains("warn") {
            return "ok, warned".into();
        }
        return "ok".into();
    }
    format!("failed: {}", error_kind(&out.stderr))
}

/// A coarse class of an error message.
pub fn error_kind(stderr: &str) -> &'static str {
    let e = stderr.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if any(&["already exists", "exists"]) {
        "exists"
    } else if any(&[
        "not stopped",
        "is running",
        "running container",
        "is not stopped",
    ]) {
        "not stopped"
    } else if any(&[
        "executable file not found",
        "no such file",
        "not found",
        "does not exist",
        "enoent",
    ]) {
        "not found"
    } else if any(&["permission denied", "operation not permitted"]) {
        "permission"
    } else if any(&["invalid", "unknown", "cannot parse", "parse"]) {
        "invalid"
    } else {
        "other"
    }
}

/// The probe: what the container's process sees, one `## section` each.
/// `environ` is the block the runtime passed to execve (the shell's own
/// variables are not in it).
pub const PROBE: &str = r###"
echo "## env"; tr '\0' '\n' < /proc/self/environ
echo "## ids"; grep -E '^(Uid|Gid|Groups):' /proc/self/status
echo "## caps"; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
echo "## nnp"; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
echo "## limits"; cat /proc/self/limits
echo "## cwd"; readlink /proc/self/cwd
echo "## hostname"; hostname
echo "## umask"; umask
echo "## stdio"; for fd in 0 1 2; do if [ -t $fd ]; then echo "$fd tty"; else echo "$fd not a tty"; fi; done
echo "## mounts"
awk '{ o = ""; for (i = 7; $i != "-"; i++) { x = $i; sub(/:[0-9]+$/, "", x); o = o " " x }
       print $5, $4, $6, o, "-", $(i+1), $(i+2), $(i+3) }' /proc/self/mountinfo
echo "## mount-modes"
awk '{ print $5 }' /proc/self/mountinfo | sort -u | while read m; do stat -c '%n %a %u:%g' "$m"; done
echo "## dev"
for f in $(find /dev | sort); do
  if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else stat -c '%n %F %a %u:%g %t,%T' "$f"; fi
done
echo to-stderr >&2
"###;

/// Runs `case` under every runtime and compares their observations with
/// the subject's. Panics with a readable diff on any difference that is
/// not listed as known.
pub fn check(case: Case) {
    let rts = runtimes();
    if rts.len() < 2 {
        eprintln!(
            "SKIPPED: differential case {}: no reference runtime (runc, crun) installed",
            case.name
        );
        return;
    }
    let mut results: Vec<(String, BTreeMap<String, String>, Vec<String>)> = Vec::new();
    let started = Instant::now();
    for rt in &rts {
        let env = Env::new(&format!("df-{}-{}", case.name, rt.name));
        let mut exe = rt.bin.clone();
        if rt.crun_wrapper {
            // The wrapper execs the real binary, named by CRUN_BIN.
            exe = env.base.join("crun-v1.sh");
            std::fs::write(&exe, CRUN_WRAPPER).unwrap();
            let st = Command::new("chmod").arg("755").arg(&exe).status().unwrap();
            assert!(st.success());
        }
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let mut bundle = env.bundle("b", &args);
        // make-bundle.sh splits arguments at newlines: set them as given.
        bundle.set("/process/args", serde_json::json!(case.args));
        (case.mutate)(&mut bundle, &env);
        bundle.write();
        let mut s = Session {
            rt,
            exe,
            env,
            bundle,
            obs: Vec::new(),
        };
        let t = Instant::now();
        (case.steps)(&mut s);
        s.cleanup();
        if std::env::var_os("DIFF_VERBOSE").is_some() {
            for (k, v) in &s.obs {
                eprintln!("[{}] {k} = {v:?}", rt.name);
            }
        }
        let order: Vec<String> = s.obs.iter().map(|(k, _)| k.clone()).collect();
        let base = s.env.base.to_string_lossy().into_owned();
        let tag = s
            .env
            .base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let map: BTreeMap<String, String> = s
            .obs
            .iter()
            .map(|(k, v)| (k.clone(), normalise(v, &base, &tag)))
            .collect();
        eprintln!(
            "differential {}: {} took {:.2} s",
            case.name,
            rt.name,
            t.elapsed().as_secs_f64()
        );
        results.push((rt.name.clone(), map, order));
    }
    for (name, got, _) in &results {
        if name != &results[0].0 && name != "runc" {
            continue;
        }
        for step in &case.required {
            let v = got.get(*step).map_or("<not run>", String::as_str);
            assert!(
                v.starts_with("ok"),
                "differential case {}: step {step} must succeed under {name}, got {v:?} (the case would compare nothing)",
                case.name
            );
        }
    }
    let (subject, want, order) = &results[0];
    let mut failures = Vec::new();
    for (name, got, _) in &results[1..] {
        let mut fields: Vec<&String> = order.iter().collect();
        for k in got.keys() {
            if !fields.contains(&k) {
                fields.push(k);
            }
        }
        fields.dedup();
        let mut seen = std::collections::BTreeSet::new();
        for field in fields {
            if !seen.insert(field.clone()) {
                continue;
            }
            let (a, b) = (want.get(field), got.get(field));
            if a == b {
                continue;
            }
            let diff = describe(field, subject, a, name, b);
            match case.known.iter().find(|k| {
                // With another runtime as the subject (`RUNTIME=runc`),
                // where that runtime is known to differ from brisk it
                // differs from the others too.
                (k.runtime == name || k.runtime == subject)
                    && match k.field.strip_prefix('*') {
                        Some(suffix) => field.ends_with(suffix),
                        None => field.starts_with(k.field),
                    }
            }) {
                Some(k) => eprintln!("KNOWN DIFFERENCE ({}): {}\n{diff}", k.why, field),
                None => failures.push(diff),
            }
        }
    }
    eprintln!(
        "differential {}: {} runtimes in {:.2} s",
        case.name,
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "differential case {}: {} field(s) differ:\n{}",
        case.name,
        failures.len(),
        failures.join("\n")
    );
}

/// The sandbox's own paths and names out of a value.
fn normalise(v: &str, base: &str, tag: &str) -> String {
    v.replace(base, "$BASE").replace(tag, "$TAG")
}

/// A readable diff of one field: the lines only one side has.
fn describe(
    field: &str,
    a_name: &str,
    a: Option<&String>,
    b_name: &str,
    b: Option<&String>,
) -> String {
    let (Some(a), Some(b)) = (a, b) else {
        return format!(
            "--- {field}: {a_name} {} / {b_name} {}",
            a.map_or("<not recorded>".to_string(), |v| format!("{v:?}")),
            b.map_or("<not recorded>".to_string(), |v| format!("{v:?}"))
        );
    };
    if !a.contains('\n') && !b.contains('\n') {
        return format!("--- {field}: {a_name} {a:?} / {b_name} {b:?}");
    }
    let al: Vec<&str> = a.lines().collect();
    let bl: Vec<&str> = b.lines().collect();
    let mut s = format!("--- {field} (- {a_name}, + {b_name}):\n");
    for l in &al {
        if !bl.contains(l) {
            s.push_str(&format!("  - {l}\n"));
        }
    }
    for l in &bl {
        if !al.contains(l) {
            s.push_str(&format!("  + {l}\n"));
        }
    }
    if al.iter().all(|l| bl.contains(l)) && bl.iter().all(|l| al.contains(l)) {
        s.push_str("  (same lines, different order or count)\n");
        for (i, (x, y)) in al.iter().zip(bl.iter()).enumerate() {
            if x != y {
                s.push_str(&format!("  line {i}: {x:?} / {y:?}\n"));
            }
        }
    }
    s
}
