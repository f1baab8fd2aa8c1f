use brisk_seccomp::interp::{run_bytes, SeccompData};
fn main() {
    let v: serde_json::Value = serde_json::from_str(&std::env::args().nth(1).unwrap()).unwrap();
    let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).unwrap();
    let p = brisk_seccomp::Profile::from_oci(&s).unwrap();
    let c = brisk_seccomp::compile::compile(&p).unwrap();
    let arch: u32 = u32::from_str_radix(&std::env::args().nth(2).unwrap(), 16).unwrap();
    let args: Vec<u64> = std::env::args()
        .skip(3)
        .map(|a| a.parse().unwrap())
        .collect();
    println!("{}", brisk_seccomp::disasm::disassemble(&c.bpf));
    for nr in (0..500).chain(0x40000000..0x40000200) {
        let mut d = SeccompData {
            nr,
            arch,
            ..Default::default()
        };
        for (i, a) in args.iter().enumerate() {
            d.args[i] = *a;
        }
        let r = run_bytes(&c.bpf, &d).unwrap();
        if r != p.default_action {
            println!("nr {nr:#x} ({nr}) -> {r:#x}");
        }
    }
}
