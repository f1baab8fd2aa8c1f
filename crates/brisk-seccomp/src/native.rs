//! brisk's own profile → classic BPF compiler, with libseccomp's meaning
//! and a better program shape.
//!
//! Meaning (what libseccomp 2.5 does with the same profile, checked by the
//! equivalence tests in `tests/equivalence.rs` through [`crate::interp`]):
//! - the filter holds the native architecture (x86_64 or aarch64) plus
//!   the profile's (x86_64, x86, x32, aarch64, arm); any other
//!   architecture gets libseccomp's bad-arch action, KILL_THREAD;
//! - a name is looked up on the native architecture first (unknown there:
//!   skipped for every architecture), then by name on each architecture
//!   (a pseudo number there, such as `open` on aarch64: no rule in that
//!   architecture's block);
//! - x86_64 without x32 kills numbers with x32's bit (0x40000000) except
//!   -1; with x32 both share one block (one AUDIT_ARCH value);
//! - x86's socketcall/ipc calls become the direct syscall (with the rule's
//!   arguments) plus `socketcall`/`ipc` with `args[0] == call` in place
//!   of the rule's comparisons on `args[0]` (the others stay);
//! - x86, x32 and arm compare only the low 32 bits of an argument, with
//!   the rule's values cut to 32 bits; x86_64 and aarch64 compare all 64
//!   bits, high word first;
//! - `MASKED_EQ` is `(arg & value) == (valueTwo & value)`;
//! - a rule with an argument index repeated is one rule per comparison;
//! - a `MASKED_EQ` with mask 0 is no comparison at all;
//! - per syscall, the first rule without arguments decides alone; else
//!   any rule whose comparisons all hold decides.
//!
//! Where libseccomp 2.5.4's own program is wrong (it compares a word its
//! accumulator no longer holds: the syscall number after a rule on a
//! pseudo syscall, an argument's low word where it meant the high word
//! after two ordered comparisons of one argument), brisk's program does
//! what the rules say; the tests recognise those programs and count them.
//!
//! When two argument rules of one syscall could both hold and want
//! different actions, libseccomp's answer depends on its internal tree
//! order (or it refuses the profile); [`compile`] then declines and the
//! caller uses libseccomp. It declines too for architectures other than
//! x86_64/x86/x32/aarch64/arm.
//!
//! Shape: the architecture checks first, then per architecture a binary
//! search over ranges of syscall numbers (neighbours with one outcome are
//! one range; O(log n) `jge`s, no `jeq` per syscall), then each syscall's
//! argument checks (one copy for all syscalls with the same rules); one
//! shared `ret` per action at the end. Conditional
//! jumps reach 255 instructions: a `ret` further away is repeated nearer,
//! anything else is reached through a `ja`.

use std::collections::BTreeMap;

use crate::compile::Compiled;
use crate::disasm::Insn;
use crate::profile::{act, Arg, Profile};

include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// libseccomp's token for x32 (its BPF checks AUDIT_ARCH_X86_64).
pub const TOKEN_X32: u32 = 0x4000_003e;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const NR_SOCKETCALL_X86: u32 = 102;
const NR_IPC_X86: u32 = 117;

/// libseccomp's action for a foreign architecture.
const BAD_ARCH: u32 = act::KILL_THREAD;

// `enum scmp_compare`.
const NE: u32 = 1;
const LT: u32 = 2;
const LE: u32 = 3;
const EQ: u32 = 4;
const GE: u32 = 5;
const GT: u32 = 6;
const MASKED_EQ: u32 = 7;

// Opcodes.
const LD_ABS: u16 = 0x20;
const AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const RET_K: u16 = 0x06;

/// Why the native compiler leaves a profile to libseccomp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined(pub String);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// libseccomp's numbers for `name`: x86_64, x86, x32, aarch64, arm, x86's
/// direct socket/ipc syscall (`None` where it has none; negative numbers
/// are its pseudo syscalls).
pub fn syscall_numbers(name: &str) -> Option<[Option<i32>; 6]> {
    numbers(name).map(|n| n.map(|v| (v != i32::MIN).then_some(v)))
}

/// The index of `arch`'s number in [`syscall_numbers`].
pub fn column(arch: u32) -> Option<usize> {
    Some(match arch {
        AUDIT_ARCH_X86_64 => 0,
        AUDIT_ARCH_I386 => 1,
        TOKEN_X32 => 2,
        AUDIT_ARCH_AARCH64 => 3,
        AUDIT_ARCH_ARM => 4,
        _ => return None,
    })
}

/// The index of x86's direct socket/ipc syscall in [`syscall_numbers`].
const DIRECT_X86: usize = 5;

/// 64-bit architectures compare whole arguments, 32-bit ones low words.
fn bits64(arch: u32) -> bool {
    matches!(arch, AUDIT_ARCH_X86_64 | AUDIT_ARCH_AARCH64)
}

/// What one syscall of one architecture does.
#[derive(Debug, Clone)]
enum Decision {
    /// A rule without arguments.
    Full(u32),
    /// Rules with arguments: the first that holds decides.
    Rules(Vec<(Vec<Arg>, u32)>),
}

#[derive(Default)]
struct Table {
    bits64: bool,
    syscalls: BTreeMap<u32, Decision>,
}

impl Table {
    fn add(&mut self, nr: u32, args: &[Arg], action: u32, name: &str) -> Result<(), Declined> {
        // 32-bit architectures compare the low words only (libseccomp
        // truncates the values); a MASKED_EQ with an empty mask is always
        // true and libseccomp drops it: a rule left without comparisons
        // is a rule without arguments.
        let bits64 = self.bits64;
        let args: Vec<Arg> = args
            .iter()
            .map(|a| {
                if bits64 {
                    *a
                } else {
                    Arg {
                        a: a.a & 0xffff_ffff,
                        b: a.b & 0xffff_ffff,
                        ..*a
                    }
                }
            })
            .filter(|a| !(a.op == MASKED_EQ && a.a == 0))
            .collect();
        let args = &args[..];
        let d = self
            .syscalls
            .entry(nr)
            .or_insert_with(|| Decision::Rules(Vec::new()));
        match d {
            Decision::Full(_) => {}
            Decision::Rules(v) => {
                if args.is_empty() {
                    *d = Decision::Full(action);
                } else {
                    // At the time libseccomp would see it: it refuses some
                    // such rules even if a later rule without arguments
                    // would decide alone.
                    let max = if self.bits64 {
                        u64::MAX
                    } else {
                        u32::MAX as u64
                    };
                    if v.iter().any(|(b, act_b)| {
                        *act_b != action
                            && (nested(args, b)
                                || ordered_on_shared(args, b)
                                || !disjoint(args, b, max))
                    }) {
                        return Err(Declined(format!(
                            "{name} (syscall {nr}): rules with different actions overlap"
                        )));
                    }
                    v.push((args.to_vec(), action));
                }
            }
        }
        Ok(())
    }

    /// Declines when two rules with different actions could both hold.
    fn check_conflicts(&self, arch: &str) -> Result<(), Declined> {
        let max = if self.bits64 {
            u64::MAX
        } else {
            u32::MAX as u64
        };
        for (nr, d) in &self.syscalls {
            let Decision::Rules(v) = d else { continue };
            for (i, (a, act_a)) in v.iter().enumerate() {
                for (b, act_b) in &v[..i] {
                    if act_a != act_b && !disjoint(a, b, max) {
                        return Err(Declined(format!(
                            "{arch} syscall {nr}: rules with different actions overlap"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The value a `MASKED_EQ` compares with: libseccomp masks `valueTwo`.
fn masked_value(c: &Arg) -> u64 {
    c.b & c.a
}

fn holds(c: &Arg, x: u64) -> bool {
    match c.op {
        NE => x != c.a,
        LT => x < c.a,
        LE => x <= c.a,
        EQ => x == c.a,
        GE => x >= c.a,
        GT => x > c.a,
        _ => x & c.a == masked_value(c),
    }
}

/// One rule's comparisons all among the other's: libseccomp's tree then
/// holds both on one path and refuses different actions (EEXIST) even
/// when no value satisfies both.
fn nested(a: &[Arg], b: &[Arg]) -> bool {
    let same = |x: &Arg, y: &Arg| {
        x.index == y.index
            && x.op == y.op
            && x.a == y.a
            && (x.op != MASKED_EQ || x.b & x.a == y.b & y.a)
    };
    a.iter().all(|x| b.iter().any(|y| same(x, y))) || b.iter().all(|y| a.iter().any(|x| same(x, y)))
}

/// Both rules compare one argument and one of them with LT/LE/GT/GE:
/// libseccomp splits those into word comparisons whose tree nodes can
/// coincide, and its answer (or EEXIST) then depends on its tree order.
fn ordered_on_shared(a: &[Arg], b: &[Arg]) -> bool {
    let ordered = |c: &Arg| matches!(c.op, LT | LE | GE | GT);
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.index == y.index && (ordered(x) || ordered(y)))
    })
}

/// True only when no argument values satisfy both `a` and `b` (a proof;
/// false means "maybe").
fn disjoint(a: &[Arg], b: &[Arg], max: u64) -> bool {
    (0..6).any(|idx| {
        let cs: Vec<&Arg> = a.iter().chain(b).filter(|c| c.index == idx).collect();
        !cs.is_empty() && unsatisfiable(&cs, max)
    })
}

fn unsatisfiable(cs: &[&Arg], max: u64) -> bool {
    if let Some(eq) = cs.iter().find(|c| c.op == EQ) {
        return !cs.iter().all(|c| holds(c, eq.a));
    }
    let masked: Vec<&&Arg> = cs.iter().filter(|c| c.op == MASKED_EQ).collect();
    for (i, m) in masked.iter().enumerate() {
        for n in &masked[..i] {
            if (masked_value(m) ^ masked_value(n)) & m.a & n.a != 0 {
                return true;
            }
        }
    }
    let (mut lo, mut hi) = (0u64, max);
    for c in cs {
        match c.op {
            LT if c.a == 0 => return true,
            LT => hi = hi.min(c.a - 1),
            LE => hi = hi.min(c.a),
            GT if c.a >= max => return true,
            GT => lo = lo.max(c.a + 1),
            GE => lo = lo.max(c.a),
            _ => {}
        }
    }
    if lo > hi {
        return true;
    }
    if masked.is_empty() {
        let mut ne: Vec<u64> = cs
            .iter()
            .filter(|c| c.op == NE && (lo..=hi).contains(&c.a))
            .map(|c| c.a)
            .collect();
        ne.sort_unstable();
        ne.dedup();
        return ne.len() as u128 > (hi - lo) as u128;
    }
    false
}

/// Instructions emitted from the end of the program backwards, so every
/// jump target exists when the jump is written. A label is an index into
/// the reversed program.
struct Emit {
    rev: Vec<Insn>,
    /// Argument checks already written, by content: syscalls with the
    /// same rules share one copy.
    shared: BTreeMap<DecisionKey, Label>,
    /// The `ret` written last for each action: a jump whose target `ret`
    /// is out of reach goes to it when it is in reach, so one copy serves
    /// every jump of the next 255 instructions (a copy per jump made the
    /// default profile's program twice as long, and the kernel's price
    /// for loading a filter grows with its length).
    last_ret: BTreeMap<u32, Label>,
}

type DecisionKey = (bool, Vec<(Vec<(u32, u32, u64, u64)>, u32)>);

type Label = usize;

impl Emit {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(Insn { code, jt, jf, k });
        let l = self.rev.len() - 1;
        if code == RET_K {
            self.last_ret.insert(k, l);
        }
        l
    }

    /// The distance from the next instruction to `target`.
    fn dist(&self, target: Label) -> usize {
        self.rev.len() - target - 1
    }

    fn ja(&mut self, target: Label) -> Label {
        let k = self.dist(target) as u32;
        self.push(JA, 0, 0, k)
    }

    /// Something at most 255 instructions ahead that goes to `target`: for
    /// a `ret`, the last copy of it if that is in reach, else a new copy;
    /// for anything else a `ja`.
    fn near(&mut self, target: Label) -> Label {
        let t = self.rev[target];
        if t.code == RET_K {
            match self.last_ret.get(&t.k) {
                Some(&l) if self.dist(l) <= 255 => l,
                _ => self.push(RET_K, 0, 0, t.k),
            }
        } else {
            self.ja(target)
        }
    }

    fn jump(&mut self, code: u16, k: u32, mut jt: Label, mut jf: Label) -> Label {
        loop {
            if self.dist(jt) > 255 {
                jt = self.near(jt);
            } else if self.dist(jf) > 255 {
                jf = self.near(jf);
            } else {
                let (t, f) = (self.dist(jt) as u8, self.dist(jf) as u8);
                return self.push(code, t, f, k);
            }
        }
    }

    fn load(&mut self, off: u32) -> Label {
        self.push(LD_ABS, 0, 0, off)
    }

    fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}

/// One comparison on the low word (all of a 32-bit argument); returns its
/// entry.
fn emit_word(e: &mut Emit, op: u32, off: u32, a: u32, b: u32, pass: Label, fail: Label) -> Label {
    match op {
        EQ => e.jump(JEQ, a, pass, fail),
        NE => e.jump(JEQ, a, fail, pass),
        GT => e.jump(JGT, a, pass, fail),
        GE => e.jump(JGE, a, pass, fail),
        LT => e.jump(JGE, a, fail, pass),
        LE => e.jump(JGT, a, fail, pass),
        _ => {
            e.jump(JEQ, b & a, pass, fail);
            e.push(AND_K, 0, 0, a)
        }
    };
    e.load(off)
}

fn emit_cmp(e: &mut Emit, c: &Arg, bits64: bool, pass: Label, fail: Label) -> Label {
    let off = 16 + 8 * c.index;
    let lo = emit_word(e, c.op, off, c.a as u32, c.b as u32, pass, fail);
    if !bits64 {
        return lo;
    }
    let (ahi, bhi) = ((c.a >> 32) as u32, (c.b >> 32) as u32);
    match c.op {
        EQ => e.jump(JEQ, ahi, lo, fail),
        NE => e.jump(JEQ, ahi, lo, pass),
        GT | GE => {
            let q = e.jump(JEQ, ahi, lo, fail);
            e.jump(JGT, ahi, pass, q)
        }
        LT | LE => {
            let q = e.jump(JEQ, ahi, lo, pass);
            e.jump(JGT, ahi, fail, q)
        }
        _ => {
            e.jump(JEQ, bhi & ahi, lo, fail);
            e.push(AND_K, 0, 0, ahi)
        }
    };
    e.load(off + 4)
}

/// A syscall's checks; returns their entry.
fn emit_decision(
    e: &mut Emit,
    d: &Decision,
    bits64: bool,
    rets: &BTreeMap<u32, Label>,
    default: Label,
) -> Label {
    match d {
        Decision::Full(a) => rets[a],
        Decision::Rules(v) => {
            let key: DecisionKey = (
                bits64,
                v.iter()
                    .map(|(args, a)| (args.iter().map(|c| (c.index, c.op, c.a, c.b)).collect(), *a))
                    .collect(),
            );
            if let Some(l) = e.shared.get(&key) {
                return *l;
            }
            let mut next = default;
            for (args, a) in v.iter().rev() {
                let mut p = rets[a];
                for c in args.iter().rev() {
                    p = emit_cmp(e, c, bits64, p, next);
                }
                next = p;
            }
            e.shared.insert(key, next);
            next
        }
    }
}

/// The number line cut into ranges, each with where it goes: the syscalls
/// in `items` (sorted) to their checks, everything else to `default`;
/// neighbours going to the same place are one range.
fn ranges(items: &[(u32, Label)], default: Label) -> Vec<(u32, Label)> {
    fn push(segs: &mut Vec<(u32, Label)>, start: u32, l: Label) {
        if let Some(last) = segs.last_mut() {
            if last.0 == start {
                last.1 = l;
                if segs.len() >= 2 && segs[segs.len() - 2].1 == l {
                    segs.pop();
                }
                return;
            }
            if last.1 == l {
                return;
            }
        }
        segs.push((start, l));
    }
    let mut segs = vec![(0, default)];
    let mut next: u64 = 0;
    for &(nr, l) in items {
        if u64::from(nr) > next {
            push(&mut segs, next as u32, default);
        }
        push(&mut segs, nr, l);
        next = u64::from(nr) + 1;
    }
    if next <= u64::from(u32::MAX) {
        push(&mut segs, next as u32, default);
    }
    segs
}

/// Binary search over the ranges (the accumulator holds the syscall
/// number): one `jge` per level, O(log n) instructions for any number.
fn emit_search(e: &mut Emit, segs: &[(u32, Label)]) -> Label {
    if segs.len() == 1 {
        return segs[0].1;
    }
    let mid = segs.len() / 2;
    let right = emit_search(e, &segs[mid..]);
    let left = emit_search(e, &segs[..mid]);
    e.jump(JGE, segs[mid].0, right, left)
}

/// One architecture's block: `ld nr`, the search, the checks.
fn emit_table(e: &mut Emit, t: &Table, rets: &BTreeMap<u32, Label>, default: Label) -> Label {
    let mut items = Vec::with_capacity(t.syscalls.len());
    for (nr, d) in t.syscalls.iter().rev() {
        items.push((*nr, emit_decision(e, d, t.bits64, rets, default)));
    }
    items.reverse();
    let entry = emit_search(e, &ranges(&items, default));
    flow_to(e, entry);
    e.load(0)
}

/// Makes the next instruction written continue at `entry`.
fn flow_to(e: &mut Emit, entry: Label) {
    if entry + 1 != e.rev.len() {
        e.ja(entry);
    }
}

/// x86's rules: a socketcall/ipc call (a pseudo number in -101..-299)
/// becomes the multiplexer with `args[0] == call` in place of the rule's
/// comparisons on `args[0]`, plus the direct syscall with the rule's own.
fn add_x86(
    t: &mut Table,
    nums: &[Option<i32>; 6],
    g: &[Arg],
    action: u32,
    name: &str,
) -> Result<(), Declined> {
    match nums[1] {
        Some(nr) if nr >= 0 => t.add(nr as u32, g, action, name),
        Some(nr) if (-299..=-101).contains(&nr) => {
            let (mux, call) = if nr > -200 {
                (NR_SOCKETCALL_X86, (-100 - nr) as u64)
            } else {
                (NR_IPC_X86, (-200 - nr) as u64)
            };
            let sel = Arg {
                index: 0,
                op: EQ,
                a: call,
                b: 0,
            };
            // args[0] becomes the call; the others stay.
            let mut margs = vec![sel];
            margs.extend(g.iter().filter(|a| a.index != 0));
            t.add(mux, &margs, action, name)?;
            if let Some(direct) = nums[DIRECT_X86] {
                t.add(direct as u32, g, action, name)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The block for AUDIT_ARCH_X86_64, which holds x86_64's and x32's
/// numbers when the filter has both (x32's carry its bit). Without x32,
/// numbers with x32's bit are another ABI: bad arch, except -1; without
/// x86_64 (x32 beside aarch64), numbers below it are.
fn emit_x86_64(
    e: &mut Emit,
    t64: Option<&Table>,
    tx32: Option<&Table>,
    rets: &BTreeMap<u32, Label>,
    default: Label,
) -> Label {
    let mut items = Vec::new();
    if let Some(tx32) = tx32 {
        for (nr, d) in tx32.syscalls.iter().rev() {
            items.push((*nr, emit_decision(e, d, false, rets, default)));
        }
    }
    if let Some(t64) = t64 {
        for (nr, d) in t64.syscalls.iter().rev() {
            items.push((*nr, emit_decision(e, d, true, rets, default)));
        }
    }
    items.sort_unstable_by_key(|(nr, _)| *nr);
    let mut segs = ranges(&items, default);
    let bad = rets[&BAD_ARCH];
    if tx32.is_none() {
        segs.retain(|(start, _)| *start < X32_SYSCALL_BIT);
        segs.push((X32_SYSCALL_BIT, bad));
        segs.push((u32::MAX, default));
    } else if t64.is_none() {
        // Where X32_SYSCALL_BIT falls, then x32's ranges above it.
        let at = segs
            .iter()
            .rev()
            .find(|(start, _)| *start <= X32_SYSCALL_BIT)
            .map_or(default, |s| s.1);
        let mut above = vec![(0, bad), (X32_SYSCALL_BIT, at)];
        above.extend(segs.iter().filter(|(start, _)| *start > X32_SYSCALL_BIT));
        segs = above;
    }
    let entry = emit_search(e, &segs);
    flow_to(e, entry);
    e.load(0)
}

/// Compiles `p` the way libseccomp would on this machine, or declines
/// (see the module documentation).
pub fn compile(p: &Profile) -> Result<Compiled, Declined> {
    compile_for(p, crate::profile::NATIVE_ARCH)
}

/// Compiles `p` as libseccomp would on a machine whose native
/// architecture is `native` (x86_64 or aarch64): names are resolved
/// there, and its block is always in the filter.
pub fn compile_for(p: &Profile, native: u32) -> Result<Compiled, Declined> {
    if !matches!(native, AUDIT_ARCH_X86_64 | AUDIT_ARCH_AARCH64) {
        return Err(Declined(format!("native architecture {native:#x}")));
    }
    if let Some(a) = p.arches.iter().find(|a| column(**a).is_none()) {
        return Err(Declined(format!("architecture {a:#x}")));
    }
    // The filter's architectures, native first.
    let mut filter = vec![native];
    filter.extend(p.arches.iter().filter(|a| **a != native));
    let native_col = column(native).unwrap_or(0);
    // x32 numbers live in the x86_64 block, compared on 32 bits.
    let mut tables: BTreeMap<u32, Table> = filter
        .iter()
        .map(|&a| {
            let t = Table {
                bits64: bits64(a),
                ..Default::default()
            };
            (a, t)
        })
        .collect();
    let mut skipped: Vec<String> = Vec::new();
    for rule in &p.rules {
        if let Some(a) = rule.args.iter().find(|a| !(NE..=MASKED_EQ).contains(&a.op)) {
            return Err(Declined(format!("comparison operator {}", a.op)));
        }
        let repeated = rule
            .args
            .iter()
            .enumerate()
            .any(|(i, a)| rule.args[..i].iter().any(|b| b.index == a.index));
        let groups: Vec<&[Arg]> = if repeated {
            rule.args.chunks(1).collect()
        } else {
            vec![&rule.args[..]]
        };
        for name in &rule.names {
            let nums = match syscall_numbers(name) {
                Some(n) if n[native_col].is_some() => n,
                _ => {
                    if !skipped.contains(name) {
                        skipped.push(name.clone());
                    }
                    continue;
                }
            };
            for g in &groups {
                for (&arch, t) in tables.iter_mut() {
                    if arch == AUDIT_ARCH_I386 {
                        add_x86(t, &nums, g, rule.action, name)?;
                    } else if let Some(nr) = column(arch).and_then(|c| nums[c]).filter(|n| *n >= 0)
                    {
                        t.add(nr as u32, g, rule.action, name)?;
                    }
                }
            }
        }
    }
    for (arch, t) in &tables {
        let what = crate::disasm::arch_name(*arch).unwrap_or("?");
        t.check_conflicts(what)?;
    }

    let mut e = Emit {
        rev: Vec::new(),
        shared: BTreeMap::new(),
        last_ret: BTreeMap::new(),
    };
    let mut rets = BTreeMap::new();
    let mut actions = vec![BAD_ARCH, p.default_action];
    actions.extend(p.rules.iter().map(|r| r.action));
    for a in actions {
        rets.entry(a).or_insert_with(|| e.push(RET_K, 0, 0, a));
    }
    let default = rets[&p.default_action];
    let tx32 = tables.remove(&TOKEN_X32);
    // Blocks written last-checked first, so that the native one (checked
    // first) sits nearest to the architecture checks.
    let mut blocks = Vec::new();
    for &arch in filter.iter().rev() {
        let (audit, entry) = match (arch, tables.get(&arch)) {
            (AUDIT_ARCH_X86_64, t) => {
                let entry = emit_x86_64(&mut e, t, tx32.as_ref(), &rets, default);
                (arch, entry)
            }
            (TOKEN_X32, _) if !tables.contains_key(&AUDIT_ARCH_X86_64) => {
                let entry = emit_x86_64(&mut e, None, tx32.as_ref(), &rets, default);
                (AUDIT_ARCH_X86_64, entry)
            }
            (_, Some(t)) => (arch, emit_table(&mut e, t, &rets, default)),
            _ => continue,
        };
        blocks.push((audit, entry));
    }
    // The checks, in filter order: `jeq arch` to its block, the last one
    // failing to the bad-arch action.
    let mut miss = rets[&BAD_ARCH];
    for (arch, entry) in blocks {
        miss = e.jump(JEQ, arch, entry, miss);
    }
    e.load(4);
    let prog = e.finish();
    if prog.len() > crate::cache::MAX_INSNS {
        return Err(Declined(format!(
            "{} instructions, over the kernel's limit",
            prog.len()
        )));
    }
    let mut bpf = Vec::with_capacity(prog.len() * 8);
    for i in &prog {
        bpf.extend_from_slice(&i.code.to_le_bytes());
        bpf.push(i.jt);
        bpf.push(i.jf);
        bpf.extend_from_slice(&i.k.to_le_bytes());
    }
    Ok(Compiled { bpf, skipped })
}
