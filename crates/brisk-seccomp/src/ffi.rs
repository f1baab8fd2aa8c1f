//! The part of libseccomp's C API brisk uses (seccomp.h, libseccomp >= 2.5).
//! Linked statically by default, see build.rs.

use std::ffi::{c_char, c_int, c_uint, c_void};

pub type ScmpFilterCtx = *mut c_void;

/// `struct scmp_arg_cmp`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScmpArgCmp {
    pub arg: c_uint,
    pub op: c_uint,
    pub datum_a: u64,
    pub datum_b: u64,
}

/// `struct scmp_version`.
#[repr(C)]
pub struct ScmpVersion {
    pub major: c_uint,
    pub minor: c_uint,
    pub micro: c_uint,
}

/// `__NR_SCMP_ERROR`: the name is not a syscall libseccomp knows.
pub const NR_SCMP_ERROR: c_int = -1;

extern "C" {
    pub fn seccomp_version() -> *const ScmpVersion;
    pub fn seccomp_init(def_action: u32) -> ScmpFilterCtx;
    pub fn seccomp_api_get() -> c_uint;
    pub fn seccomp_api_set(level: c_uint) -> c_int;
    pub fn seccomp_release(ctx: ScmpFilterCtx);
    pub fn seccomp_arch_add(ctx: ScmpFilterCtx, arch_token: u32) -> c_int;
    pub fn seccomp_syscall_resolve_name(name: *const c_char) -> c_int;
    pub fn seccomp_syscall_resolve_num_arch(arch_token: u32, num: c_int) -> *mut c_char;
    pub fn seccomp_rule_add_array(
        ctx: ScmpFilterCtx,
        action: u32,
        syscall: c_int,
        arg_cnt: c_uint,
        arg_array: *const ScmpArgCmp,
    ) -> c_int;
    pub fn seccomp_export_bpf(ctx: ScmpFilterCtx, fd: c_int) -> c_int;
}

/// Debian's libseccomp.a is built against glibc with fortification, so
/// it calls glibc's `__fprintf_chk`, which musl lacks. Its only caller is
/// libseccomp's PFC generator (`seccomp_export_pfc`), which brisk never
/// calls; the symbol only has to exist for the link of a musl build.
/// Should it ever be reached, it writes nothing and reports an error.
#[cfg(target_env = "musl")]
#[no_mangle]
pub extern "C" fn __fprintf_chk(
    _stream: *mut c_void,
    _flag: c_int,
    _format: *const c_char,
) -> c_int {
    -1
}
