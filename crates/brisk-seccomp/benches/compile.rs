//! Compiling podman's default profile: native vs libseccomp, same run.
//! `cargo bench -p brisk-seccomp --bench compile` (harness = false).
//! For arm64: `cargo bench --target aarch64-unknown-linux-musl -p
//! brisk-seccomp --bench compile` runs it under qemu-user with the
//! profile's arm64 architectures (aarch64, arm): program sizes and paths
//! are arm64's, the times are qemu's, not arm64 hardware's.
use std::time::Instant;

use brisk_seccomp::native::{
    AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64,
};
use brisk_seccomp::profile::NATIVE_ARCH;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../brisk/tests/data/podman-seccomp.json"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut v = v.pointer("/linux/seccomp").cloned().unwrap_or(v);
    let arm64 = NATIVE_ARCH == AUDIT_ARCH_AARCH64;
    // The file is podman's config on x86_64; on arm64 podman lists the
    // arm64 architectures.
    let (arch_names, blocks): (&[&str], &[(u32, &str, u32)]) = if arm64 {
        (
            &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            &[
                (AUDIT_ARCH_AARCH64, "aarch64", 0),
                (AUDIT_ARCH_ARM, "arm", 0),
            ],
        )
    } else {
        (
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            &[
                (AUDIT_ARCH_X86_64, "x86_64", 0),
                (AUDIT_ARCH_I386, "x86", 0),
                (AUDIT_ARCH_X86_64, "x32", 0x4000_0000),
            ],
        )
    };
    v["architectures"] = serde_json::json!(arch_names);
    if std::env::var_os("BRISK_QEMU_USER").is_some() {
        // libseccomp cannot probe seccomp(2) under qemu-user.
        brisk_seccomp::compile::assume_api_level(6).expect("seccomp_api_set");
        println!("under qemu-user: times are qemu's, not arm64 hardware's");
    }
    let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).unwrap();
    let p = brisk_seccomp::Profile::from_oci(&s).unwrap();
    let runs = 200;
    let time = |f: &dyn Fn() -> usize| {
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..runs {
            let t = Instant::now();
            size = f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (best, size)
    };
    let (tn, sn) = time(&|| brisk_seccomp::native::compile(&p).unwrap().bpf.len() / 8);
    let (tl, sl) = time(&|| brisk_seccomp::compile::compile(&p).unwrap().bpf.len() / 8);
    let n = brisk_seccomp::native::compile(&p).unwrap().bpf;
    let l = brisk_seccomp::compile::compile(&p).unwrap().bpf;
    let (wn, wl) = (
        brisk_seccomp::interp::longest_path(&brisk_seccomp::disasm::decode(&n)),
        brisk_seccomp::interp::longest_path(&brisk_seccomp::disasm::decode(&l)),
    );
    println!(
        "podman default profile ({}), best of {runs}:",
        arch_names.join(" + ")
    );
    println!(
        "  native     {:9.1} us  {sn:5} instructions  worst path {wn}",
        tn * 1e6
    );
    println!(
        "  libseccomp {:9.1} us  {sl:5} instructions  worst path {wl}",
        tl * 1e6
    );
    println!("  speedup    {:9.1} x", tl / tn);
    // Instructions executed per syscall (arguments 0), per architecture.
    use brisk_seccomp::interp::{steps, SeccompData};
    println!("instructions executed per syscall number (args 0): mean / max");
    for &(arch, name, base) in blocks {
        let stat = |bpf: &[u8]| {
            let prog = brisk_seccomp::disasm::decode(bpf);
            let v: Vec<usize> = (base..base + 560)
                .map(|nr| {
                    let d = SeccompData {
                        nr: nr as i32,
                        arch,
                        ..Default::default()
                    };
                    steps(&prog, &d).expect("runs")
                })
                .collect();
            (
                v.iter().sum::<usize>() as f64 / v.len() as f64,
                v.iter().max().copied().unwrap_or(0),
            )
        };
        let (mn, xn) = stat(&n);
        let (ml, xl) = stat(&l);
        println!("  {name:7} native {mn:6.1} / {xn:4}   libseccomp {ml:6.1} / {xl:4}");
    }
}
