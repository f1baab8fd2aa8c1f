//! A classic-BPF interpreter for seccomp programs: runs a program on one
//! `struct seccomp_data` and returns the value the kernel would act on.
//! Pure Rust, no kernel involved; it is the judge of the equivalence tests
//! (brisk's native program and libseccomp's run on the same inputs) and
//! of `brisk seccomp` tooling. It follows the kernel's checker
//! (`seccomp_check_filter` / `bpf_check_classic`): only the instructions
//! a seccomp filter may hold, aligned 32-bit loads inside `seccomp_data`,
//! forward jumps inside the program, a return at the end of every path.

use crate::disasm::{decode, Insn};

/// `struct seccomp_data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte offset `off` (little endian, as on the
    /// architectures brisk runs on).
    fn word(&self, off: u32) -> Option<u32> {
        if !off.is_multiple_of(4) {
            return None;
        }
        Some(match off {
            0 => self.nr as u32,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            16..=60 => {
                let a = self.args[((off - 16) / 8) as usize];
                if (off - 16).is_multiple_of(8) {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => return None,
        })
    }
}

/// Why a program cannot run (the kernel would refuse to load it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("empty program or more than 4096 instructions ({0})")]
    Length(usize),
    #[error("instruction {pc}: {what}")]
    Bad { pc: usize, what: String },
    #[error("fell off the end of the program")]
    NoReturn,
}

// Classic BPF opcode fields (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;

/// Runs `bpf` (bytes of `struct sock_filter`) on `d`.
pub fn run_bytes(bpf: &[u8], d: &SeccompData) -> Result<u32, Fault> {
    run(&decode(bpf), d)
}

/// Runs `prog` on `d` and returns the `SECCOMP_RET_*` value.
pub fn run(prog: &[Insn], d: &SeccompData) -> Result<u32, Fault> {
    exec(prog, d).map(|(r, _)| r)
}

/// The return value and the number of instructions executed.
fn exec(prog: &[Insn], d: &SeccompData) -> Result<(u32, usize), Fault> {
    if prog.is_empty() || prog.len() > crate::cache::MAX_INSNS {
        return Err(Fault::Length(prog.len()));
    }
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let bad = |pc: usize, what: &str| Fault::Bad {
        pc,
        what: what.to_string(),
    };
    // Every jump goes forward, so a program ends after at most len steps.
    let mut n = 0;
    while let Some(i) = prog.get(pc) {
        n += 1;
        let c = i.code;
        let next = pc + 1;
        pc = next;
        match c & 0x07 {
            LD => match c & 0xf8 {
                x_ if x_ == W | ABS => {
                    a = d
                        .word(i.k)
                        .ok_or_else(|| bad(next - 1, "load outside seccomp_data"))?
                }
                x_ if x_ == W | IMM => a = i.k,
                x_ if x_ == W | MEM => {
                    a = *mem
                        .get(i.k as usize)
                        .ok_or_else(|| bad(next - 1, "scratch index"))?
                }
                x_ if x_ == W | LEN => a = 64,
                _ => return Err(bad(next - 1, "load mode")),
            },
            LDX => match c & 0xf8 {
                x_ if x_ == W | IMM => x = i.k,
                x_ if x_ == W | MEM => {
                    x = *mem
                        .get(i.k as usize)
                        .ok_or_else(|| bad(next - 1, "scratch index"))?
                }
                x_ if x_ == W | LEN => x = 64,
                _ => return Err(bad(next - 1, "ldx mode")),
            },
            ST => {
                *mem.get_mut(i.k as usize)
                    .ok_or_else(|| bad(next - 1, "scratch index"))? = a
            }
            STX => {
                *mem.get_mut(i.k as usize)
                    .ok_or_else(|| bad(next - 1, "scratch index"))? = x
            }
            ALU => {
                let src = if c & X != 0 { x } else { i.k };
                a = match c & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => {
                        if src == 0 {
                            return Err(bad(next - 1, "division by zero"));
                        }
                        a / src
                    }
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => {
                        if src == 0 {
                            return Err(bad(next - 1, "modulo by zero"));
                        }
                        a % src
                    }
                    0xa0 => a ^ src,
                    _ => return Err(bad(next - 1, "alu op")),
                };
            }
            JMP => {
                let op = c & 0xf0;
                if op == 0x00 {
                    // JA: k is the offset.
                    pc = next
                        .checked_add(i.k as usize)
                        .ok_or_else(|| bad(next - 1, "jump"))?;
                } else {
                    let src = if c & X != 0 { x } else { i.k };
                    let t = match op {
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        _ => return Err(bad(next - 1, "jump op")),
                    };
                    pc = next + if t { i.jt as usize } else { i.jf as usize };
                }
                if pc >= prog.len() {
                    return Err(bad(next - 1, "jump past the end"));
                }
            }
            RET => {
                return match c & 0x18 {
                    K => Ok((i.k, n)),
                    A => Ok((a, n)),
                    _ => Err(bad(next - 1, "return source")),
                }
            }
            MISC => {
                if c & 0xf8 == 0x00 {
                    x = a; // TAX
                } else {
                    a = x; // TXA
                }
            }
            _ => unreachable!("c & 7 is one of the eight classes"),
        }
    }
    Err(Fault::NoReturn)
}

/// The worst-case number of instructions any input executes (the longest
/// path; programs are loop-free, so this is a pass from the end).
pub fn longest_path(prog: &[Insn]) -> usize {
    let n = prog.len();
    let mut cost = vec![0usize; n + 1];
    for pc in (0..n).rev() {
        let i = prog[pc];
        let at = |t: usize| cost.get(t).copied().unwrap_or(0);
        cost[pc] = 1 + match i.code & 0x07 {
            RET => 0,
            JMP if i.code & 0xf0 == 0 => at(pc + 1 + i.k as usize),
            JMP => at(pc + 1 + i.jt as usize).max(at(pc + 1 + i.jf as usize)),
            _ => at(pc + 1),
        };
    }
    cost[0]
}

/// The number of instructions `d` executes (None: the program faults).
pub fn steps(prog: &[Insn], d: &SeccompData) -> Option<usize> {
    exec(prog, d).ok().map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    const LD_ABS: u16 = LD | W | ABS;
    const JEQ: u16 = JMP | 0x10;
    const JGT: u16 = JMP | 0x20;
    const JGE: u16 = JMP | 0x30;
    const JSET: u16 = JMP | 0x40;
    const RETK: u16 = RET | K;

    #[test]
    fn arch_then_nr() {
        // if arch != x86_64 kill; if nr == 1 errno(5); allow
        let p = [
            ins(LD_ABS, 0, 0, 4),
            ins(JEQ, 1, 0, 0xc000_003e),
            ins(RETK, 0, 0, 0),
            ins(LD_ABS, 0, 0, 0),
            ins(JEQ, 0, 1, 1),
            ins(RETK, 0, 0, 0x0005_0005),
            ins(RETK, 0, 0, 0x7fff_0000),
        ];
        let mut d = SeccompData {
            arch: 0xc000_003e,
            nr: 1,
            ..Default::default()
        };
        assert_eq!(run(&p, &d), Ok(0x0005_0005));
        d.nr = 2;
        assert_eq!(run(&p, &d), Ok(0x7fff_0000));
        d.arch = 0x4000_0003;
        assert_eq!(run(&p, &d), Ok(0));
        assert_eq!(longest_path(&p), 5);
        assert_eq!(steps(&p, &d), Some(3));
    }

    #[test]
    fn argument_words_and_comparisons() {
        // args[1] hi > 7 -> 1; lo >= 0x20 -> 2; lo & 0x10 -> 3; else 4
        let p = [
            ins(LD_ABS, 0, 0, 16 + 8 + 4),
            ins(JGT, 0, 1, 7),
            ins(RETK, 0, 0, 1),
            ins(LD_ABS, 0, 0, 16 + 8),
            ins(JGE, 0, 1, 0x20),
            ins(RETK, 0, 0, 2),
            ins(JSET, 0, 1, 0x10),
            ins(RETK, 0, 0, 3),
            ins(RETK, 0, 0, 4),
        ];
        let at = |v: u64| {
            let mut d = SeccompData::default();
            d.args[1] = v;
            run(&p, &d).unwrap()
        };
        assert_eq!(at(8 << 32), 1);
        assert_eq!(at((7 << 32) | 0x21), 2);
        assert_eq!(at(0x10), 3);
        assert_eq!(at(8), 4);
        assert_eq!(at(7 << 32), 4);
    }

    #[test]
    fn alu_scratch_and_ret_a() {
        let p = [
            ins(LD | W | IMM, 0, 0, 0xf0),
            ins(ALU | 0x50, 0, 0, 0x3c), // and
            ins(ST, 0, 0, 3),
            ins(LD | W | IMM, 0, 0, 0),
            ins(LD | W | MEM, 0, 0, 3),
            ins(RET | A, 0, 0, 0),
        ];
        assert_eq!(run(&p, &SeccompData::default()), Ok(0x30));
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        let d = SeccompData::default();
        assert_eq!(run(&[], &d), Err(Fault::Length(0)));
        assert!(matches!(
            run(&[ins(LD_ABS, 0, 0, 2), ins(RETK, 0, 0, 0)], &d),
            Err(Fault::Bad { pc: 0, .. })
        ));
        assert!(matches!(
            run(&[ins(LD_ABS, 0, 0, 64), ins(RETK, 0, 0, 0)], &d),
            Err(Fault::Bad { pc: 0, .. })
        ));
        assert!(matches!(
            run(&[ins(JEQ, 5, 5, 0), ins(RETK, 0, 0, 0)], &d),
            Err(Fault::Bad { pc: 0, .. })
        ));
        assert_eq!(run(&[ins(LD_ABS, 0, 0, 0)], &d), Err(Fault::NoReturn));
    }

    #[test]
    fn runs_libseccomp_programs() {
        use oci_spec::runtime::LinuxSeccomp;
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9,
                 "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}))
        .unwrap();
        let c = crate::compile::compile(&crate::Profile::from_oci(&s).unwrap()).unwrap();
        let d = |nr: i32, a0: u64| SeccompData {
            nr,
            arch: 0xc000_003e,
            args: [a0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        assert_eq!(run_bytes(&c.bpf, &d(0, 0)), Ok(0x7fff_0000));
        assert_eq!(run_bytes(&c.bpf, &d(1, 2)), Ok(0x0005_0009));
        assert_eq!(run_bytes(&c.bpf, &d(1, 3)), Ok(0x0005_0026));
        assert_eq!(run_bytes(&c.bpf, &d(1, 2 | 1 << 32)), Ok(0x0005_0026));
        assert_eq!(run_bytes(&c.bpf, &d(2, 0)), Ok(0x0005_0026));
        // Another architecture: libseccomp's bad-arch action, KILL.
        let mut o = d(0, 0);
        o.arch = 0x4000_0003;
        assert_eq!(run_bytes(&c.bpf, &o), Ok(0));
    }
}
