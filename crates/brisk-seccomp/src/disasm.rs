//! A classic-BPF disassembler for seccomp programs, with the syscall name
//! next to each comparison of the syscall number (resolved with libseccomp
//! for the architecture the program last checked).

use std::ffi::CStr;
use std::fmt::Write;

use crate::ffi;

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub fn decode(bpf: &[u8]) -> Vec<Insn> {
    bpf.chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// `struct seccomp_data` offsets.
fn data_field(off: u32) -> String {
    match off {
        0 => "nr".into(),
        4 => "arch".into(),
        8 => "instruction_pointer".into(),
        12 => "instruction_pointer_hi".into(),
        o if (16..64).contains(&o) => {
            let i = (o - 16) / 8;
            if (o - 16) % 8 == 0 {
                format!("args[{i}]")
            } else {
                format!("args[{i}]_hi")
            }
        }
        o => format!("{o}"),
    }
}

pub fn arch_name(token: u32) -> Option<&'static str> {
    Some(match token {
        0xc000_003e => "x86_64",
        0x4000_0003 => "x86",
        0x4000_003e => "x32",
        0xc000_00b7 => "aarch64",
        0x4000_0028 => "arm",
        0xc000_00f3 => "riscv64",
        0x8000_0016 => "s390x",
        0xc000_0015 => "ppc64le",
        _ => return None,
    })
}

pub fn action_name(k: u32) -> String {
    use crate::profile::act;
    let data = k & 0xffff;
    match k & act::ACTION_FULL {
        act::KILL_PROCESS => "KILL_PROCESS".into(),
        act::KILL_THREAD => "KILL_THREAD".into(),
        act::TRAP => "TRAP".into(),
        act::ERRNO => format!("ERRNO({data})"),
        act::USER_NOTIF => "NOTIFY".into(),
        act::TRACE => format!("TRACE({data})"),
        act::LOG => "LOG".into(),
        act::ALLOW => "ALLOW".into(),
        _ => format!("{k:#x}"),
    }
}

fn syscall_name(arch: u32, nr: u32) -> Option<String> {
    // On x32, syscall numbers carry the __X32_SYSCALL_BIT.
    // SAFETY: resolve_num_arch returns NULL or a malloc'd C string.
    let p = unsafe { ffi::seccomp_syscall_resolve_num_arch(arch, nr as i32) };
    if p.is_null() {
        return None;
    }
    // SAFETY: p is a valid C string until freed below.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: allocated by libseccomp with malloc.
    unsafe { libc::free(p.cast()) };
    Some(s)
}

/// The program as text, one instruction a line.
pub fn disassemble(bpf: &[u8]) -> String {
    let insns = decode(bpf);
    let mut out = String::new();
    // What the accumulator holds (a seccomp_data offset) and the
    // architecture being filtered.
    let mut acc: Option<u32> = None;
    let mut arch: Option<u32> = None;
    for (pc, i) in insns.iter().enumerate() {
        let class = i.code & 0x07;
        let target = |off: u8| pc + 1 + off as usize;
        let (text, note) = match class {
            // BPF_LD
            0x00 => {
                let mode = i.code & 0xe0;
                if mode == 0x20 {
                    acc = Some(i.k);
                    (format!("ld  [{}]", i.k), data_field(i.k))
                } else if mode == 0x00 {
                    acc = None;
                    (format!("ld  #{:#x}", i.k), String::new())
                } else {
                    acc = None;
                    (
                        format!("ld  code={:#06x} k={:#x}", i.code, i.k),
                        String::new(),
                    )
                }
            }
            0x01 => (
                format!("ldx code={:#06x} k={:#x}", i.code, i.k),
                String::new(),
            ),
            0x02 => (format!("st  M[{}]", i.k), String::new()),
            0x03 => (format!("stx M[{}]", i.k), String::new()),
            // BPF_ALU
            0x04 => {
                let op = match i.code & 0xf0 {
                    0x00 => "add",
                    0x10 => "sub",
                    0x20 => "mul",
                    0x30 => "div",
                    0x40 => "or",
                    0x50 => "and",
                    0x60 => "lsh",
                    0x70 => "rsh",
                    0x80 => "neg",
                    0x90 => "mod",
                    0xa0 => "xor",
                    _ => "alu?",
                };
                (format!("{op} #{:#x}", i.k), String::new())
            }
            // BPF_JMP
            0x05 => {
                let op = i.code & 0xf0;
                if op == 0x00 {
                    (format!("ja  {:04}", pc + 1 + i.k as usize), String::new())
                } else {
                    let name = match op {
                        0x10 => "jeq",
                        0x20 => "jgt",
                        0x30 => "jge",
                        0x40 => "jset",
                        _ => "j?",
                    };
                    let note = match acc {
                        Some(4) => {
                            if op == 0x10 {
                                arch = Some(i.k);
                            }
                            arch_name(i.k).unwrap_or("").to_string()
                        }
                        Some(0) => match arch.and_then(|a| syscall_name(a, i.k)) {
                            Some(n) if op == 0x10 => n,
                            Some(n) => format!("({n})"),
                            None => String::new(),
                        },
                        _ => String::new(),
                    };
                    (
                        format!(
                            "{name} #{:#x} jt {:04} jf {:04}",
                            i.k,
                            target(i.jt),
                            target(i.jf)
                        ),
                        note,
                    )
                }
            }
            // BPF_RET
            0x06 => {
                if i.code & 0x18 == 0x10 {
                    ("ret A".to_string(), String::new())
                } else {
                    (format!("ret {}", action_name(i.k)), String::new())
                }
            }
            _ => {
                let misc = if i.code & 0xf8 == 0 { "tax" } else { "txa" };
                (misc.to_string(), String::new())
            }
        };
        let _ = write!(
            out,
            "{pc:04}: {:#06x} {:3} {:3} {:#010x}  {text}",
            i.code, i.jt, i.jf, i.k
        );
        if !note.is_empty() {
            let _ = write!(out, "  ; {note}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Vec<u8> {
        let mut v = code.to_le_bytes().to_vec();
        v.extend([jt, jf]);
        v.extend(k.to_le_bytes());
        v
    }

    #[test]
    fn names_syscalls_per_arch() {
        let prog = [
            insn(0x20, 0, 0, 4),
            insn(0x15, 0, 3, 0xc000_003e),
            insn(0x20, 0, 0, 0),
            insn(0x15, 0, 1, 0), // read on x86_64
            insn(0x06, 0, 0, 0x7fff_0000),
            insn(0x06, 0, 0, 0x0005_0026),
        ]
        .concat();
        let text = disassemble(&prog);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(
            lines[0].contains("ld  [4]") && lines[0].ends_with("; arch"),
            "{text}"
        );
        assert!(lines[1].ends_with("; x86_64"), "{text}");
        assert!(lines[3].ends_with("; read"), "{text}");
        assert!(lines[3].contains("jt 0004 jf 0005"), "{text}");
        assert!(lines[4].ends_with("ret ALLOW"), "{text}");
        assert!(lines[5].ends_with("ret ERRNO(38)"), "{text}");
    }
}
