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

/// What is known at an instruction, merged over every path reaching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Unset,
    Is(u32),
    Conflict,
}

impl Known {
    fn merge(&mut self, v: Option<u32>) {
        *self = match (*self, v) {
            (Known::Unset, Some(v)) => Known::Is(v),
            (Known::Is(a), Some(b)) if a == b => Known::Is(a),
            _ => Known::Conflict,
        };
    }
    fn get(self) -> Option<u32> {
        match self {
            Known::Is(v) => Some(v),
            _ => None,
        }
    }
}

const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_X32: u32 = 0x4000_003e;

/// The program as text, one instruction a line. BPF jumps only forward, so
/// one pass that pushes the state (which `seccomp_data` field the
/// accumulator holds, which architecture was matched) to each successor
/// knows both at every instruction.
pub fn disassemble(bpf: &[u8]) -> String {
    let insns = decode(bpf);
    let n = insns.len();
    let mut acc_in = vec![Known::Unset; n + 1];
    let mut arch_in = vec![Known::Unset; n + 1];
    if n > 0 {
        acc_in[0] = Known::Conflict;
        arch_in[0] = Known::Conflict;
    }
    let mut out = String::new();
    for (pc, i) in insns.iter().enumerate() {
        let acc = acc_in[pc].get();
        let arch = arch_in[pc].get();
        let class = i.code & 0x07;
        let mut push = |to: usize, acc: Option<u32>, arch: Option<u32>| {
            if to <= n {
                acc_in[to].merge(acc);
                arch_in[to].merge(arch);
            }
        };
        let (text, note) = match class {
            // BPF_LD
            0x00 => {
                let mode = i.code & 0xe0;
                let (text, note, loaded) = if mode == 0x20 {
                    (format!("ld  [{}]", i.k), data_field(i.k), Some(i.k))
                } else if mode == 0x00 {
                    (format!("ld  #{:#x}", i.k), String::new(), None)
                } else {
                    (
                        format!("ld  code={:#06x} k={:#x}", i.code, i.k),
                        String::new(),
                        None,
                    )
                };
                push(pc + 1, loaded, arch);
                (text, note)
            }
            // BPF_JMP
            0x05 => {
                let op = i.code & 0xf0;
                if op == 0x00 {
                    let to = pc + 1 + i.k as usize;
                    push(to, acc, arch);
                    (format!("ja  {to:04}"), String::new())
                } else {
                    let name = match op {
                        0x10 => "jeq",
                        0x20 => "jgt",
                        0x30 => "jge",
                        0x40 => "jset",
                        _ => "j?",
                    };
                    let (jt, jf) = (pc + 1 + i.jt as usize, pc + 1 + i.jf as usize);
                    let mut arch_t = arch;
                    let note = match acc {
                        Some(4) => {
                            if op == 0x10 {
                                arch_t = Some(i.k);
                            }
                            arch_name(i.k).unwrap_or("").to_string()
                        }
                        Some(0) => {
                            let a = match arch {
                                Some(AUDIT_ARCH_X86_64) if i.k & X32_SYSCALL_BIT != 0 => {
                                    Some(AUDIT_ARCH_X32)
                                }
                                a => a,
                            };
                            let prefix = if a == Some(AUDIT_ARCH_X32) {
                                "x32 "
                            } else {
                                ""
                            };
                            // jeq: that syscall; jge/jgt: the bound of a
                            // range of numbers (the native compiler's search).
                            match a.and_then(|a| syscall_name(a, i.k)) {
                                Some(n) if op == 0x10 => format!("{prefix}{n}"),
                                Some(n) if op == 0x30 => format!(">= {prefix}{n}"),
                                Some(n) if op == 0x20 => format!("> {prefix}{n}"),
                                Some(n) => format!("({n})"),
                                None if i.k == X32_SYSCALL_BIT => "x32 syscalls from here".into(),
                                None => String::new(),
                            }
                        }
                        _ => String::new(),
                    };
                    push(jt, acc, arch_t);
                    push(jf, acc, arch);
                    (format!("{name} #{:#x} jt {jt:04} jf {jf:04}", i.k), note)
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
            other => {
                let text = match other {
                    0x01 => format!("ldx code={:#06x} k={:#x}", i.code, i.k),
                    0x02 => format!("st  M[{}]", i.k),
                    0x03 => format!("stx M[{}]", i.k),
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
                        format!("{op} #{:#x}", i.k)
                    }
                    _ => (if i.code & 0xf8 == 0 { "tax" } else { "txa" }).to_string(),
                };
                // The accumulator changes (or may): no longer a known field.
                let keep = matches!(other, 0x01..=0x03) && i.code & 0xf8 != 0x80;
                push(pc + 1, if keep { acc } else { None }, arch);
                (text, String::new())
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
