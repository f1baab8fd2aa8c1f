//! Device rules on cgroup2: a `BPF_PROG_TYPE_CGROUP_DEVICE` program built
//! from the rules and attached to the container's cgroup. cgroup2 has no
//! device files; the kernel runs the program on every open and mknod of a
//! device node and allows the access when it returns 1.
//!
//! The program checks the rules last to first and returns at the first
//! that matches (a rule matching every access ends the program: what
//! precedes it cannot matter); no match allows (as a v1 cgroup starts allowing all, and
//! a config's deny-all rule matches everything). An allow rule matches when
//! it grants every requested access, a deny rule when it forbids any.
//!
//! No RLIMIT_MEMLOCK change: kernels from 5.11 charge BPF memory to the
//! memory cgroup instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::devices::Rule;

/// One BPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const JMP_EXIT: u8 = 0x95;

/// `struct bpf_cgroup_dev_ctx` access bits and device types.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |m, c| {
        m | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The program for `rules` (in config order).
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Each check jumps past the end of this rule's block on mismatch:
        // the jump offsets are filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps = Vec::new();
        match r.typ {
            'b' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK));
            }
            'c' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR));
            }
            _ => {}
        }
        let bits = access_bits(&r.access);
        if bits != ACC_MKNOD | ACC_READ | ACC_WRITE {
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            if r.allow {
                // Requested access outside the rule: no match.
                block.push(insn(ALU32_AND_K, 1, 0, 0, !bits & 7));
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 1, 0, 0, 0));
            } else {
                // No requested access denied by the rule: no match.
                block.push(insn(ALU32_AND_K, 1, 0, 0, bits));
                jumps.push(block.len());
                block.push(insn(JMP_JEQ_K, 1, 0, 0, 0));
            }
        }
        if r.typ != 'a' {
            if let Some(major) = r.major {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
            }
            if let Some(minor) = r.minor {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
            }
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, r.allow as i32));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        let matches_all = jumps.is_empty();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        if matches_all {
            // Earlier rules can never be reached (the verifier rejects
            // unreachable instructions).
            return p;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<libc::c_long> {
    // SAFETY: attr is a zero-initialised bpf_attr prefix of the size
    // passed; the kernel reads (and for PROG_LOAD writes a log into a
    // buffer we do not give) nothing beyond it.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads the program for `rules` and attaches it to the cgroup2 directory
/// `cgroup` (it stays attached until the cgroup is removed).
pub fn attach(rules: &[Rule], cgroup: &impl AsRawFd) -> io::Result<()> {
    let prog = program(rules);
    let license = c"Apache";
    let mut attr = [0u8; 72];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[48..54].copy_from_slice(b"brisk\0");
    attr[68..72].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    let mut loaded = bpf(BPF_PROG_LOAD, &mut attr);
    if let Err(e) = &loaded {
        if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EACCES)) {
            // Again with the verifier's log, for the error message.
            let mut log = vec![0u8; 16384];
            attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
            attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
            attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
            if let Err(e2) = bpf(BPF_PROG_LOAD, &mut attr) {
                let text = String::from_utf8_lossy(&log);
                let first = text
                    .trim_matches(char::from(0))
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                loaded = Err(io::Error::new(
                    e2.kind(),
                    format!("{e2}: verifier: {first}"),
                ));
            }
        }
    }
    let fd = loaded.map_err(|e| {
        if e.raw_os_error() == Some(libc::EPERM) {
            io::Error::new(
                e.kind(),
                format!("load the device filter: {e} (a kernel older than 5.11 needs a higher RLIMIT_MEMLOCK)"),
            )
        } else {
            e
        }
    })?;
    // SAFETY: the kernel returned a new program fd that we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut attr = [0u8; 20];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog_fd.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    bpf(BPF_PROG_ATTACH, &mut attr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one access like the kernel would (a tiny
    /// interpreter for the instructions `program` emits).
    fn run(p: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16 | typ) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = ctx[(i.off / 4) as usize] as u64,
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule {
            allow,
            typ,
            major,
            minor,
            access: access.into(),
        }
    }

    #[test]
    fn last_matching_rule_wins() {
        let deny_all = rule(false, 'a', None, None, "rwm");
        let allow = rule(true, 'c', Some(1), Some(11), "rw");
        let deny_w = rule(false, 'c', Some(1), Some(11), "w");
        let p = program(&[deny_all.clone(), allow.clone(), deny_w.clone()]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 11), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 11), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 11), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 0);
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 1, 11), 0);
        let p = program(&[deny_all, deny_w, allow]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 11), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 11), 0);
    }

    #[test]
    fn wildcards_and_default() {
        let p = program(&[]);
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 8, 0), 1);
        let p = program(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "m"),
            rule(true, 'c', Some(136), None, "rwm"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 10, 200), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 200), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 136, 5), 1);
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 0);
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;
    use brisk_test_support::{skip, under_qemu};

    /// Loads and attaches a program to a fresh cgroup2 directory (as root,
    /// where a cgroup2 hierarchy is mounted).
    #[test]
    fn the_kernel_accepts_the_program() {
        if under_qemu("qemu-user 7.2 has no bpf(2), and the cgroup would be the build machine's") {
            return;
        }
        let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .find(|r| std::path::Path::new(r).join("cgroup.controllers").exists());
        // SAFETY: geteuid cannot fail.
        let Some(root) = root.filter(|_| unsafe { libc::geteuid() } == 0) else {
            return skip("needs root and a cgroup2 mount");
        };
        let dir =
            std::path::Path::new(root).join(format!("brisk-ebpf-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let fd = std::fs::File::open(&dir).unwrap();
        let mut rules = vec![Rule {
            allow: false,
            typ: 'a',
            major: None,
            minor: None,
            access: "rwm".into(),
        }];
        rules.extend(crate::devices::default_allowed());
        let r = attach(&rules, &fd);
        drop(fd);
        std::fs::remove_dir(&dir).unwrap();
        r.unwrap();
    }
}
