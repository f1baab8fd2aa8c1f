//! Compiling podman's default profile: native vs libseccomp, same run.
//! `cargo bench -p brisk-seccomp --bench compile` (harness = false).
use std::time::Instant;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../brisk/tests/data/podman-seccomp.json"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let v = v.pointer("/linux/seccomp").cloned().unwrap_or(v);
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
    println!("podman default profile, best of {runs}:");
    println!(
        "  native     {:9.1} us  {sn:5} instructions  worst path {wn}",
        tn * 1e6
    );
    println!(
        "  libseccomp {:9.1} us  {sl:5} instructions  worst path {wl}",
        tl * 1e6
    );
    println!("  speedup    {:9.1} x", tl / tn);
}
