//! The OCI runtime spec conformance suite. Each module follows a part of
//! the spec; each test names the requirements it checks. Runs the built
//! brisk, or the runtime in `$RUNTIME` (e.g. `RUNTIME=runc`).
//!
//! Usage (through cargo): `cargo test -p brisk --test conformance --
//! [--list] [--json FILE] [FILTER]`.
//!
//! With brisk, `conformance/expected-failures.tsv` lists the tests known to
//! fail and why; any other failure fails the run, and an expected failure
//! that passes fails it too (remove it from the list), so the list only
//! shrinks. With `$RUNTIME` set, results are only reported.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod cgroups;
mod config_misc;
mod devices;
mod features;
mod hooks;
mod hostname;
mod idmap;
mod lifecycle;
mod masked_readonly;
mod mount_label;
mod mounts;
mod namespaces;
mod operations;
mod personality;
mod process;
mod propagation;
mod root;
mod runtime_linux;
mod seccomp;
mod sysctl;
mod time_offsets;
mod unapplied;
mod user;

use std::collections::BTreeMap;
use std::path::Path;

use support::{Status, Test};

fn all_tests() -> Vec<Test> {
    let mut v = Vec::new();
    v.extend(lifecycle::tests());
    v.extend(operations::tests());
    v.extend(root::tests());
    v.extend(mounts::tests());
    v.extend(process::tests());
    v.extend(user::tests());
    v.extend(hostname::tests());
    v.extend(hooks::tests());
    v.extend(config_misc::tests());
    v.extend(namespaces::tests());
    v.extend(idmap::tests());
    v.extend(devices::tests());
    v.extend(cgroups::tests());
    v.extend(sysctl::tests());
    v.extend(seccomp::tests());
    v.extend(propagation::tests());
    v.extend(masked_readonly::tests());
    v.extend(mount_label::tests());
    v.extend(personality::tests());
    v.extend(time_offsets::tests());
    v.extend(runtime_linux::tests());
    v.extend(features::tests());
    v.extend(unapplied::tests());
    v
}

/// Every `conformance/expected-failures*.tsv`: `test name<TAB>reason`.
fn expected_failures() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("expected-failures") && name.ends_with(".tsv")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for l in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            if let Some((n, why)) = l.split_once('\t') {
                out.insert(n.trim().to_string(), why.trim().to_string());
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tests = all_tests();
    if args.iter().any(|a| a == "--list") {
        let list: Vec<_> = tests
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "reqs": t.reqs}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).unwrap());
        return;
    }
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let filter: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--")
                && args.get(i.wrapping_sub(1)).map(String::as_str) != Some("--json")
        })
        .map(|(_, a)| a)
        .collect();
    // Another runtime is only compared, unless CONFORMANCE_GATE is set
    // (scripts/test.sh: the release build of brisk, judged like the debug one).
    let gating =
        std::env::var_os("RUNTIME").is_none() || std::env::var_os("CONFORMANCE_GATE").is_some();
    let expected = if gating {
        expected_failures()
    } else {
        BTreeMap::new()
    };
    let runtime = common::runtime_bin();
    println!("conformance: {} tests against {runtime}", tests.len());

    let (mut passed, mut failed, mut xfail, mut na) = (0, 0, 0, 0);
    let mut bad = Vec::new();
    let mut results = Vec::new();
    for t in tests
        .iter()
        .filter(|t| filter.is_empty() || filter.iter().any(|f| t.name.contains(f.as_str())))
    {
        let status = support::run_one(t);
        let (word, detail) = match (&status, expected.get(t.name)) {
            (Status::Pass, None) => {
                passed += 1;
                ("ok", String::new())
            }
            (Status::Pass, Some(_)) => {
                failed += 1;
                bad.push(format!(
                    "{}: PASSES NOW — remove it from conformance/expected-failures.tsv",
                    t.name
                ));
                ("UNEXPECTED PASS", String::new())
            }
            (Status::Fail(msg), Some(why)) => {
                xfail += 1;
                ("expected failure", format!("{why}: {msg}"))
            }
            (Status::Fail(msg), None) => {
                failed += 1;
                bad.push(format!("{}: {msg}", t.name));
                ("FAILED", msg.clone())
            }
            (Status::NotApplicable(why), _) => {
                na += 1;
                // scripts/test.sh counts these as skipped ("n/a" lines are
                // not in libtest's passed count).
                if let Some(log) = std::env::var_os("BRISK_SKIP_LOG") {
                    use std::io::Write;
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(log)
                    {
                        let _ = writeln!(f, "n/a conformance {}: {why}", t.name);
                    }
                }
                ("not applicable", why.clone())
            }
        };
        println!(
            "test {} ... {word}{}",
            t.name,
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
        let status_word = match &status {
            Status::Pass => "pass",
            Status::Fail(_) => "fail",
            Status::NotApplicable(_) => "n/a",
        };
        results.push(serde_json::json!({
            "name": t.name, "reqs": t.reqs, "status": status_word,
            "message": match &status { Status::Fail(m) | Status::NotApplicable(m) => m.clone(), Status::Pass => String::new() },
            "expected_failure": expected.get(t.name),
        }));
    }
    if let Some(path) = json_out {
        let doc = serde_json::json!({"runtime": runtime, "results": results});
        std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).expect("write --json file");
    }
    if !bad.is_empty() {
        println!("\nfailures:");
        for b in &bad {
            println!("    {b}");
        }
    }
    let ok = !gating || bad.is_empty();
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {xfail} expected failures; {na} not applicable",
        if ok { "ok" } else { "FAILED" }
    );
    println!("conformance: {passed} passed, {failed} failed");
    std::process::exit(if ok { 0 } else { 1 });
}
