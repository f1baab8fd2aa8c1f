fn main() {
    let table = include_str!("../data/syscalls.tsv");
    let names: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .collect();
    for n_args in [200, 300, 400, names.len()] {
        let rules: Vec<serde_json::Value> = names.iter().enumerate().map(|(i, n)| if i < n_args {
            serde_json::json!({"names": [n], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]})
        } else { serde_json::json!({"names": [n], "action": "SCMP_ACT_ALLOW"}) }).collect();
        let v = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules});
        let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).unwrap();
        let p = brisk_seccomp::Profile::from_oci(&s).unwrap();
        let n = brisk_seccomp::native::compile(&p);
        let l = brisk_seccomp::compile::compile(&p);
        println!(
            "{n_args}: native {:?} libseccomp {:?}",
            n.map(|c| c.bpf.len() / 8).map_err(|d| d.0),
            l.map(|c| c.bpf.len() / 8).map_err(|e| e.to_string())
        );
    }
}
