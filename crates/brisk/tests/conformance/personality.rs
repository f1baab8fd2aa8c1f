//! config-linux.md, Personality: the execution domain of the container
//! process (`LINUX32` makes `uname` report a 32-bit machine). Observed
//! from inside (`uname -m`) and from the host (/proc/<pid>/personality).

use serde_json::json;

use crate::common::Env;
use crate::namespaces::{assert_rejected, run_sh};
use crate::support::{NotApplicable, Outcome};
use crate::tests;

tests![
    linux32_domain_is_applied => ["config-linux.personality.1"],
    linux_domain_is_applied => ["config-linux.personality.1"],
    personality_without_domain_is_an_error => [
        "config-linux.personality.1", "config.valid-values.1",
    ],
    unknown_domain_is_an_error => ["config-linux.personality.1", "config.valid-values.1"],
];

fn personality_of(domain: &str, tag: &str) -> Vec<String> {
    let env = Env::new(tag);
    let mut b = env.bundle("b", &[]);
    b.set("/linux/personality", json!({"domain": domain}));
    let out = run_sh(&env, &mut b, "p", "uname -m; cat /proc/self/personality").ok();
    env.assert_clean();
    out.lines().map(str::to_string).collect()
}

fn linux32_domain_is_applied() -> Outcome {
    if std::env::consts::ARCH != "x86_64" {
        return Err(NotApplicable("LINUX32 is checked on x86_64 only".into()));
    }
    let got = personality_of("LINUX32", "cf-pers-32");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], "i686", "uname -m under LINUX32");
    // PER_LINUX32 = 0x0008.
    assert_eq!(u32::from_str_radix(&got[1], 16).ok(), Some(8), "{got:?}");
    Ok(())
}

fn linux_domain_is_applied() -> Outcome {
    let got = personality_of("LINUX", "cf-pers-linux");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], std::env::consts::ARCH, "uname -m under LINUX");
    assert_eq!(u32::from_str_radix(&got[1], 16).ok(), Some(0), "{got:?}");
    Ok(())
}

fn personality_without_domain_is_an_error() -> Outcome {
    let env = Env::new("cf-pers-nodomain");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/personality", json!({"flags": []}));
    assert_rejected(&env, &b, "p", "a personality without domain");
    Ok(())
}

fn unknown_domain_is_an_error() -> Outcome {
    let env = Env::new("cf-pers-unknown");
    let mut b = env.bundle("b", &["true"]);
    b.set("/linux/personality", json!({"domain": "LINUX64"}));
    assert_rejected(&env, &b, "p", "personality domain LINUX64");
    Ok(())
}
