//! The equivalence harness, shared by `tests/equivalence.rs` and the
//! fuzz target (`fuzz/fuzz_targets/profiles.rs`): input generation around
//! each comparison's boundaries, both programs through the interpreter,
//! the profile generator, the stale-accumulator check of libseccomp's
//! programs.
#![allow(dead_code)]

use brisk_seccomp::interp::{run_bytes, SeccompData};
use brisk_seccomp::native::{
    self, syscall_numbers, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64,
};
use brisk_seccomp::profile::NATIVE_ARCH;
use brisk_seccomp::{compile, Profile};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

/// splitmix64 from a seed; with `bytes` (a fuzzer's input) those come
/// first, 8 at a time.
pub struct Rng {
    state: u64,
    bytes: Vec<u8>,
    pos: usize,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: seed,
            bytes: Vec::new(),
            pos: 0,
        }
    }

    pub fn from_bytes(data: &[u8]) -> Rng {
        Rng {
            state: data.len() as u64,
            bytes: data.to_vec(),
            pos: 0,
        }
    }

    pub fn next(&mut self) -> u64 {
        if self.pos < self.bytes.len() {
            let end = (self.pos + 8).min(self.bytes.len());
            let mut b = [0u8; 8];
            b[..end - self.pos].copy_from_slice(&self.bytes[self.pos..end]);
            self.pos = end;
            return u64::from_le_bytes(b);
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

#[derive(Default, Debug)]
pub struct Stats {
    pub profiles: usize,
    pub declined: usize,
    /// libseccomp programs that compare a stale accumulator.
    pub libseccomp_miscompiled: usize,
    /// Profiles libseccomp did not compile within the bound (no oracle).
    pub libseccomp_timeouts: usize,
    /// Why the native compiler declined, by kind.
    pub reasons: std::collections::BTreeMap<String, usize>,
    pub inputs: u64,
}

/// The syscall numbers whose rules look at arguments, per filter block.
pub fn rule_numbers(p: &Profile) -> Vec<i32> {
    let mut v: Vec<i32> = p.rules.iter().flat_map(numbers_of).collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn boundary_values(p: &Profile) -> Vec<Vec<u64>> {
    // Per argument index, the interesting values.
    let mut per: Vec<Vec<u64>> = vec![vec![0, 1, u32::MAX as u64, 1 << 32, u64::MAX]; 6];
    for r in &p.rules {
        for a in &r.args {
            let v = a.a;
            let set = &mut per[a.index as usize];
            set.extend([
                v.wrapping_sub(1),
                v,
                v.wrapping_add(1),
                v ^ (1 << 32),
                v & 0xffff_ffff,
                v | 0xffff_ffff_0000_0000,
                (v & 0xffff_ffff_0000_0000).wrapping_sub(1),
                v.wrapping_add(1 << 32),
                v.wrapping_sub(1 << 32),
            ]);
            if a.op == 7 {
                let (m, x) = (a.a, a.b);
                set.extend([
                    x,
                    x & m,
                    (x & m) | !m,
                    (x & m) ^ 1,
                    (x & m) ^ (m & m.wrapping_neg()),
                    !m,
                ]);
            }
        }
    }
    for s in &mut per {
        s.sort_unstable();
        s.dedup();
    }
    per
}

/// The syscall numbers a rule can touch (with x86's socketcall and ipc).
fn numbers_of(r: &brisk_seccomp::Rule) -> Vec<i32> {
    let mut v = vec![102, 117];
    for n in &r.names {
        if let Some(nums) = syscall_numbers(n) {
            v.extend(nums.into_iter().flatten().filter(|n| *n >= 0));
        }
    }
    v
}

/// Argument vectors: the boundary values alone (for every syscall with
/// rules), and per rule combinations aimed at it (for its syscalls).
pub type Aimed = std::collections::BTreeMap<i32, Vec<[u64; 6]>>;

pub fn arg_vectors(p: &Profile, rng: &mut Rng) -> (Vec<[u64; 6]>, Aimed) {
    let per = boundary_values(p);
    let mut out = vec![[0u64; 6]];
    let mut aimed = Aimed::default();
    // Each value alone.
    for (i, s) in per.iter().enumerate() {
        for v in s {
            let mut a = [0u64; 6];
            a[i] = *v;
            out.push(a);
        }
    }
    // Combinations aimed at each rule: its comparisons' values at once.
    for r in &p.rules {
        if r.args.is_empty() {
            continue;
        }
        let mut mine = Vec::with_capacity(24);
        for _ in 0..24 {
            let mut a = [0u64; 6];
            for (i, s) in per.iter().enumerate() {
                if rng.below(3) == 0 {
                    a[i] = *rng.pick(s);
                }
            }
            for c in &r.args {
                let s = &per[c.index as usize];
                a[c.index as usize] = match rng.below(4) {
                    0 => c.a,
                    1 if c.op == 7 => {
                        let r = rng.next();
                        (c.b & c.a) | (r & !c.a)
                    }
                    _ => *rng.pick(s),
                };
            }
            mine.push(a);
        }
        for nr in numbers_of(r) {
            aimed.entry(nr).or_default().extend(mine.iter().copied());
        }
    }
    (out, aimed)
}

/// True when a libseccomp program compares an accumulator that does not
/// hold what the comparison is about: a conditional jump reached with the
/// accumulator loaded from different places on different paths, or one
/// that compares the architecture word with something that is not an
/// architecture (libseccomp 2.5.4 omits a reload in those cases; the
/// program then no longer says what the rules say, so it is no oracle).
pub fn stale_accumulator(bpf: &[u8]) -> bool {
    use brisk_seccomp::disasm::decode;
    let prog = decode(bpf);
    // What A holds at each pc (None: not reached): the offsets loaded,
    // plus 0x1000 per ALU step after the load.
    let mut at: Vec<Option<Vec<u32>>> = vec![None; prog.len() + 1];
    at[0] = Some(vec![u32::MAX]);
    let arches = [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        AUDIT_ARCH_AARCH64,
        AUDIT_ARCH_ARM,
    ];
    for pc in 0..prog.len() {
        let Some(mut srcs) = at[pc].take() else {
            continue;
        };
        srcs.sort_unstable();
        srcs.dedup();
        let i = prog[pc];
        let mut out = srcs.clone();
        let mut targets = vec![];
        match i.code & 7 {
            0 => {
                out = vec![i.k];
                targets.push(pc + 1);
            }
            4 => {
                out = srcs.iter().map(|s| s.wrapping_add(0x1000)).collect();
                targets.push(pc + 1);
            }
            5 if i.code & 0xf0 == 0 => targets.push(pc + 1 + i.k as usize),
            5 => {
                if srcs.len() > 1 || (srcs == [4] && !arches.contains(&i.k)) {
                    return true;
                }
                targets.push(pc + 1 + i.jt as usize);
                targets.push(pc + 1 + i.jf as usize);
            }
            6 => {}
            _ => targets.push(pc + 1),
        }
        for t in targets {
            if let Some(slot) = at.get_mut(t) {
                slot.get_or_insert_with(Vec::new)
                    .extend(out.iter().copied());
            }
        }
    }
    false
}

/// Runs both programs on every input; panics on the first difference.
pub fn check(p: &Profile, native: &[u8], lib: &[u8], rng: &mut Rng, what: &str) -> u64 {
    let (singles, aimed) = arg_vectors(p, rng);
    let with_args = rule_numbers(p);
    let none: Vec<[u64; 6]> = Vec::new();
    let mut nrs: Vec<i32> = (0..560).collect();
    nrs.extend(0x4000_0000..0x4000_0000 + 600);
    // arm's private calls (breakpoint, cacheflush, usr26, usr32, set_tls).
    nrs.extend(0x000f_0000..0x000f_0000 + 16);
    nrs.extend([-1, -2, 0x3fff_ffff, 0x7fff_ffff, i32::MIN, 0x4000_0000 - 1]);
    let arches = [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        0x4000_003e,
        AUDIT_ARCH_AARCH64,
        AUDIT_ARCH_ARM,
        0,
    ];
    let mut n = 0;
    for arch in arches {
        for nr in &nrs {
            let (vs, more): (&[[u64; 6]], &[[u64; 6]]) = if with_args.binary_search(nr).is_ok() {
                (&singles, aimed.get(nr).unwrap_or(&none))
            } else {
                (&singles[..1], &none)
            };
            for args in vs.iter().chain(more) {
                let d = SeccompData {
                    nr: *nr,
                    arch,
                    instruction_pointer: 0,
                    args: *args,
                };
                let a =
                    run_bytes(native, &d).unwrap_or_else(|e| panic!("{what}: native program: {e}"));
                let b = run_bytes(lib, &d)
                    .unwrap_or_else(|e| panic!("{what}: libseccomp program: {e}"));
                n += 1;
                assert_eq!(
                    a, b,
                    "{what}: native {a:#x} != libseccomp {b:#x} for arch {arch:#x} nr {nr} args {args:x?}\nprofile: {p:#?}"
                );
            }
        }
    }
    n
}

/// Under qemu-user (scripts/qemu-aarch64.sh) libseccomp cannot probe the
/// kernel's seccomp(2) and would refuse actions the kernel has: it is
/// told the level it finds on this kernel natively (6, libseccomp 2.5's
/// highest, on any kernel since 5.19). Native runs probe as brisk does.
pub fn emulator_api_level() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("BRISK_QEMU_USER").is_some() {
            compile::assume_api_level(6).expect("seccomp_api_set(6)");
            eprintln!("qemu-user: libseccomp API level set to 6, not probed");
        } else {
            assert_eq!(
                compile::api_level(),
                6,
                "libseccomp's API level on this kernel"
            );
        }
    });
}

pub fn profile_of(v: &Value) -> Profile {
    emulator_api_level();
    let s: LinuxSeccomp = serde_json::from_value(v.clone()).expect("a seccomp section");
    Profile::from_oci(&s).expect("a valid profile")
}

/// Compiles with both; None when the native compiler declined.
pub fn compare(v: &Value, rng: &mut Rng, what: &str, stats: &mut Stats) {
    let p = profile_of(v);
    stats.profiles += 1;
    // In a child process, bounded: overlapping rules on several
    // architectures can make libseccomp compute for minutes.
    let bound = std::time::Duration::from_secs(env_u64("BRISK_EQUIV_LIBSECCOMP_SECS", 30));
    let lib = compile::compile_within(&p, bound);
    if let Err(brisk_seccomp::Error::Compile { source, .. }) = &lib {
        if source.kind() == std::io::ErrorKind::TimedOut {
            eprintln!("{what}: libseccomp did not finish within {bound:?}: not compared\n{v}");
            stats.libseccomp_timeouts += 1;
            return;
        }
    }
    match (native::compile(&p), lib) {
        (Err(d), _) => {
            stats.declined += 1;
            let kind = d.0.split(": ").last().unwrap_or("").to_string();
            *stats.reasons.entry(kind).or_default() += 1;
        }
        (Ok(_), Ok(l)) if stale_accumulator(&l.bpf) => {
            if std::env::var_os("BRISK_EQUIV_TRACE").is_some() {
                eprintln!("{what}: libseccomp's program compares a stale accumulator");
            }
            stats.libseccomp_miscompiled += 1
        }
        (Ok(n), Ok(l)) => {
            assert!(!stale_accumulator(&n.bpf), "{what}: native program");
            assert_eq!(n.skipped, l.skipped, "{what}: skipped names");
            stats.inputs += check(&p, &n.bpf, &l.bpf, rng, what);
        }
        (Ok(_), Err(e)) => {
            panic!("{what}: native compiled a profile libseccomp refuses ({e})\n{v:#}")
        }
    }
}

pub fn must_compile(v: &Value, what: &str) -> u64 {
    let p = profile_of(v);
    let n = native::compile(&p).unwrap_or_else(|d| panic!("{what}: native declined: {d}"));
    let l = compile::compile(&p).unwrap();
    assert!(
        !stale_accumulator(&l.bpf),
        "{what}: libseccomp's program is no oracle"
    );
    assert!(!stale_accumulator(&n.bpf), "{what}: native program");
    assert_eq!(n.skipped, l.skipped);
    check(&p, &n.bpf, &l.bpf, &mut Rng::new(7), what)
}

pub fn podman() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../brisk/tests/data/podman-seccomp.json"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut v = v.pointer("/linux/seccomp").cloned().unwrap_or(v);
    // The file is podman's config on x86_64; on arm64 podman writes the
    // same rules with its architectures (seccomp.json's archMap).
    v["architectures"] = json!(native_family().0);
    v
}

pub fn generated(rng: &mut Rng) -> Value {
    const NAMES: &[&str] = &[
        "read",
        "write",
        "open",
        "close",
        "mmap",
        "personality",
        "clone",
        "clone3",
        "socket",
        "bind",
        "accept",
        "accept4",
        "socketcall",
        "ipc",
        "shmget",
        "msgrcv",
        "_llseek",
        "time",
        "kill",
        "getpid",
        "mkdir",
        "chown32",
        "epoll_ctl_old",
        "no_such_syscall",
        "uselib",
        "vm86",
        "pread64",
        "futex",
        "ioctl",
        "openat",
        "sendmsg",
        "cacheflush",
        "mmap2",
    ];
    const ACTIONS: &[&str] = &[
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    const OPS: &[&str] = &[
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let value = |rng: &mut Rng| -> u64 {
        match rng.below(7) {
            0 => 0,
            1 => rng.below(8),
            2 => u32::MAX as u64 - rng.below(2),
            3 => (1 << 32) + rng.below(3),
            4 => u64::MAX - rng.below(2),
            5 => rng.next() & 0xffff_ffff,
            _ => rng.next(),
        }
    };
    let mut def = *rng.pick(&ACTIONS[..8]);
    let mut v = json!({"defaultAction": def});
    if def == "SCMP_ACT_ERRNO" && rng.below(2) == 0 {
        v["defaultErrnoRet"] = json!(rng.below(100));
    }
    if def == "SCMP_ACT_TRACE" {
        def = "SCMP_ACT_ERRNO";
        v["defaultAction"] = json!(def);
    }
    // The native family's architectures half the time each, the other
    // family's a quarter: a filter may hold any of them beside the native
    // one.
    let (own, other) = native_family();
    let mut arches = vec![];
    for a in own {
        if rng.below(2) == 0 {
            arches.push(*a);
        }
    }
    for a in other {
        if rng.below(4) == 0 {
            arches.push(*a);
        }
    }
    if !arches.is_empty() || rng.below(2) == 0 {
        v["architectures"] = json!(arches);
    }
    // Few distinct argument values per profile so that rules meet.
    let pool: Vec<u64> = (0..3).map(|_| value(rng)).collect();
    let mut rules = vec![];
    for _ in 0..1 + rng.below(8) {
        let n = 1 + rng.below(3);
        let names: Vec<&str> = (0..n).map(|_| *rng.pick(NAMES)).collect();
        let action = *rng.pick(ACTIONS);
        let mut r = json!({"names": names, "action": action});
        if (action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE") && rng.below(2) == 0 {
            r["errnoRet"] = json!(rng.below(200));
        }
        if action == "SCMP_ACT_NOTIFY" && names.contains(&"sendmsg") {
            r["action"] = json!("SCMP_ACT_LOG");
        }
        let nargs = match rng.below(4) {
            0 | 1 => 0,
            2 => 1,
            _ => 1 + rng.below(3),
        };
        let mut args = vec![];
        for _ in 0..nargs {
            let op = *rng.pick(OPS);
            let narrow = rng.below(3) == 0;
            let index = rng.below(if narrow { 2 } else { 6 });
            let val = if rng.below(2) == 0 {
                *rng.pick(&pool)
            } else {
                value(rng)
            };
            let mut a = json!({"index": index, "op": op, "value": val});
            if op == "SCMP_CMP_MASKED_EQ" {
                let two = if rng.below(2) == 0 {
                    *rng.pick(&pool)
                } else {
                    value(rng)
                };
                a["valueTwo"] = json!(two);
            }
            args.push(a);
        }
        if !args.is_empty() {
            r["args"] = json!(args);
        }
        rules.push(r);
    }
    v["syscalls"] = json!(rules);
    v["listenerPath"] = json!("/run/agent.sock");
    v
}

/// The profile architectures of this machine's family (what podman
/// writes on it) and of the other family brisk compiles for.
pub fn native_family() -> (&'static [&'static str], &'static [&'static str]) {
    const X86: &[&str] = &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
    const ARM: &[&str] = &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
    if NATIVE_ARCH == AUDIT_ARCH_AARCH64 {
        (ARM, X86)
    } else {
        (X86, ARM)
    }
}

pub fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}
