//! `mounts[].options` → mount(2) flags, propagation and data, the same way
//! runc and crun read them. Pure code, unit-tested.

use libc::c_ulong;

/// What one mount's options ask for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call itself.
    pub flags: c_ulong,
    /// Propagation changes applied after the mount (MS_SHARED, ... | MS_REC).
    pub propagation: Vec<c_ulong>,
    /// Options the kernel takes as data (`mode=755`, `size=64k`, ...).
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
    /// Flags an option explicitly cleared (`suid`, `dev`, `exec`, ...).
    pub cleared: c_ulong,
    /// Recursive attributes (`rro`, `rnosuid`, ...) applied to the mount
    /// and every submount with mount_setattr(2).
    pub attr_set: u64,
    pub attr_clr: u64,
    /// `idmap` or `ridmap`.
    pub idmap: Option<Idmap>,
    /// The mappings given in the option itself, crun's form:
    /// `idmap=uids=0-1000-10;gids=0-1000-10` (`rootfs::idmap::from_option`).
    pub idmap_mappings: Option<String>,
    /// `tmpcopyup` (runc/crun extension): copy what the tmpfs covers
    /// into it.
    pub tmpcopyup: bool,
}

/// An idmapped mount: the mapping on the top mount only, or on every
/// mount of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idmap {
    Top,
    Recursive,
}

/// `MOUNT_ATTR_*` of mount_setattr(2) (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The atime mode mask; relatime is the mode 0.
    pub const ATIME: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const IDMAP: u64 = 0x0010_0000;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

impl MountOptions {
    /// Flags a bind mount needs a second, remount call for: a bind ignores
    /// everything but MS_REC in its first call.
    pub fn remount_flags(&self) -> c_ulong {
        self.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT)
    }
}

/// MS_I_VERSION (not in every libc).
const MS_I_VERSION: c_ulong = 1 << 23;
/// MS_NOSYMFOLLOW (Linux 5.10).
pub const MS_NOSYMFOLLOW: c_ulong = 256;

enum Opt {
    Set(c_ulong),
    Clear(c_ulong),
    Propagation(c_ulong),
    /// mount_setattr(2) attributes to set and to clear, recursively.
    Attr(u64, u64),
    Idmap(Idmap),
    TmpCopyUp(bool),
}

fn lookup(name: &str) -> Option<Opt> {
    use Opt::*;
    Some(match name {
        "defaults" => Clear(0),
        "ro" => Set(libc::MS_RDONLY),
        "rw" => Clear(libc::MS_RDONLY),
        "suid" => Clear(libc::MS_NOSUID),
        "nosuid" => Set(libc::MS_NOSUID),
        "dev" => Clear(libc::MS_NODEV),
        "nodev" => Set(libc::MS_NODEV),
        "exec" => Clear(libc::MS_NOEXEC),
        "noexec" => Set(libc::MS_NOEXEC),
        "sync" => Set(libc::MS_SYNCHRONOUS),
        "async" => Clear(libc::MS_SYNCHRONOUS),
        "dirsync" => Set(libc::MS_DIRSYNC),
        "remount" => Set(libc::MS_REMOUNT),
        "mand" => Set(libc::MS_MANDLOCK),
        "nomand" => Clear(libc::MS_MANDLOCK),
        "atime" => Clear(libc::MS_NOATIME),
        "noatime" => Set(libc::MS_NOATIME),
        "diratime" => Clear(libc::MS_NODIRATIME),
        "nodiratime" => Set(libc::MS_NODIRATIME),
        "relatime" => Set(libc::MS_RELATIME),
        "norelatime" => Clear(libc::MS_RELATIME),
        "strictatime" => Set(libc::MS_STRICTATIME),
        "nostrictatime" => Clear(libc::MS_STRICTATIME),
        "lazytime" => Set(libc::MS_LAZYTIME),
        "iversion" => Set(MS_I_VERSION),
        "noiversion" => Clear(MS_I_VERSION),
        "nolazytime" => Clear(libc::MS_LAZYTIME),
        "silent" => Set(libc::MS_SILENT),
        "loud" => Clear(libc::MS_SILENT),
        "bind" => Set(libc::MS_BIND),
        "rbind" => Set(libc::MS_BIND | libc::MS_REC),
        "private" => Propagation(libc::MS_PRIVATE),
        "rprivate" => Propagation(libc::MS_PRIVATE | libc::MS_REC),
        "shared" => Propagation(libc::MS_SHARED),
        "rshared" => Propagation(libc::MS_SHARED | libc::MS_REC),
        "slave" => Propagation(libc::MS_SLAVE),
        "rslave" => Propagation(libc::MS_SLAVE | libc::MS_REC),
        "unbindable" => Propagation(libc::MS_UNBINDABLE),
        "runbindable" => Propagation(libc::MS_UNBINDABLE | libc::MS_REC),
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "rro" => Attr(attr::RDONLY, 0),
        "rrw" => Attr(0, attr::RDONLY),
        "rnosuid" => Attr(attr::NOSUID, 0),
        "rsuid" => Attr(0, attr::NOSUID),
        "rnodev" => Attr(attr::NODEV, 0),
        "rdev" => Attr(0, attr::NODEV),
        "rnoexec" => Attr(attr::NOEXEC, 0),
        "rexec" => Attr(0, attr::NOEXEC),
        "rnodiratime" => Attr(attr::NODIRATIME, 0),
        "rdiratime" => Attr(0, attr::NODIRATIME),
        // The kernel takes one atime mode: clear the whole mask, set one.
        "rrelatime" | "ratime" | "rnostrictatime" => Attr(attr::RELATIME, attr::ATIME),
        "rnoatime" => Attr(attr::NOATIME, attr::ATIME),
        "rstrictatime" | "rnorelatime" => Attr(attr::STRICTATIME, attr::ATIME),
        "rnosymfollow" => Attr(attr::NOSYMFOLLOW, 0),
        "rsymfollow" => Attr(0, attr::NOSYMFOLLOW),
        "idmap" => Idmap(self::Idmap::Top),
        "ridmap" => Idmap(self::Idmap::Recursive),
        "tmpcopyup" => TmpCopyUp(true),
        "notmpcopyup" => TmpCopyUp(false),
        _ => return None,
    })
}

/// `idmap=VALUE` / `ridmap=VALUE`: the kind and the value.
fn idmap_with_value(opt: &str) -> Option<(Idmap, &str)> {
    if let Some(v) = opt.strip_prefix("idmap=") {
        return Some((Idmap::Top, v));
    }
    opt.strip_prefix("ridmap=").map(|v| (Idmap::Recursive, v))
}

/// Parses a mount's option list. Unknown options become mount data, as in
/// runc and crun (the filesystem rejects what it does not know).
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let opt = opt.as_ref();
        if let Some((kind, value)) = idmap_with_value(opt) {
            out.idmap = Some(kind);
            out.idmap_mappings = Some(value.to_string()).filter(|v| !v.is_empty());
            continue;
        }
        match lookup(opt) {
            Some(Opt::Set(f)) => {
                out.flags |= f;
                out.cleared &= !f;
            }
            Some(Opt::Clear(f)) => {
                out.flags &= !f;
                out.cleared |= f;
            }
            Some(Opt::Propagation(p)) => out.propagation.push(p),
            Some(Opt::Attr(set, clr)) => {
                // Later options win; an atime mode clears the whole atime
                // mask (`clr`) before setting its own.
                out.attr_set = out.attr_set & !clr & !set | set;
                out.attr_clr = out.attr_clr & !set | clr;
            }
            Some(Opt::Idmap(i)) => out.idmap = Some(i),
            Some(Opt::TmpCopyUp(on)) => out.tmpcopyup = on,
            None => data.push(opt),
        }
    }
    out.bind = out.flags & libc::MS_BIND != 0;
    out.recursive = out.bind && out.flags & libc::MS_REC != 0;
    out.data = data.join(",");
    out
}

/// The `MOUNT_ATTR_*` of fsmount(2) that mount(2) derives from these
/// flags for a new mount: nosuid, nodev, noexec, read-only, nosymfollow,
/// nodiratime, and one atime mode (relatime unless noatime;
/// strictatime wins over both, as in mount(2)).
pub fn mount_attr(flags: c_ulong) -> u64 {
    let mut a = 0;
    for (ms, at) in [
        (libc::MS_RDONLY, attr::RDONLY),
        (libc::MS_NOSUID, attr::NOSUID),
        (libc::MS_NODEV, attr::NODEV),
        (libc::MS_NOEXEC, attr::NOEXEC),
        (libc::MS_NODIRATIME, attr::NODIRATIME),
        (MS_NOSYMFOLLOW, attr::NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            a |= at;
        }
    }
    a | if flags & libc::MS_STRICTATIME != 0 {
        attr::STRICTATIME
    } else if flags & libc::MS_NOATIME != 0 {
        attr::NOATIME
    } else {
        attr::RELATIME
    }
}

/// The superblock flags among `flags`, as the fsconfig(2) flag keys the
/// kernel knows (`ro`, `sync`, `dirsync`, `lazytime`, `mand`). mount(2)'s
/// MS_SILENT (fewer kernel messages) and MS_I_VERSION have no such key and
/// are left out.
pub fn sb_flag_keys(flags: c_ulong) -> impl Iterator<Item = &'static std::ffi::CStr> {
    [
        (libc::MS_RDONLY, c"ro"),
        (libc::MS_SYNCHRONOUS, c"sync"),
        (libc::MS_DIRSYNC, c"dirsync"),
        (libc::MS_LAZYTIME, c"lazytime"),
        (libc::MS_MANDLOCK, c"mand"),
    ]
    .into_iter()
    .filter(move |(f, _)| flags & f != 0)
    .map(|(_, key)| key)
}

/// Mount data (`mode=755,size=64k,context="a,b"`) as fsconfig(2) keys and
/// values (`None`: a flag), split where mount(2) splits it: at commas,
/// except inside double quotes (the SELinux context options, whose quotes
/// mount(2) strips and fsconfig does not take).
pub fn fsconfig_params(data: &str) -> Vec<(String, Option<String>)> {
    let mut opts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, b) in data.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                opts.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    opts.push(&data[start..]);
    opts.into_iter()
        .filter_map(|opt| match opt.split_once('=') {
            None if opt.is_empty() => None,
            None => Some((opt.to_string(), None)),
            // mount(2) skips an option without a key.
            Some(("", _)) => None,
            Some((key, value)) => {
                let lsm = matches!(key, "context" | "fscontext" | "defcontext" | "rootcontext");
                let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Some(inner) if lsm => inner,
                    _ => value,
                };
                Some((key.to_string(), Some(value.to_string())))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_data() {
        let o = parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn explicit_clears_are_recorded() {
        let o = parse(&["bind", "suid", "ro"]);
        assert_eq!(o.cleared & libc::MS_NOSUID, libc::MS_NOSUID);
        let o = parse(&["dev", "nodev"]);
        assert_eq!(o.cleared & libc::MS_NODEV, 0);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(parse(&["ro", "rw"]).flags, 0);
        assert_eq!(parse(&["rw", "ro"]).flags, libc::MS_RDONLY);
        assert_eq!(parse(&["noexec", "exec", "nodev"]).flags, libc::MS_NODEV);
    }

    #[test]
    fn bind_and_rbind() {
        let o = parse(&["bind", "ro"]);
        assert!(o.bind && !o.recursive);
        assert_eq!(o.remount_flags(), libc::MS_RDONLY);
        let o = parse(&["rbind", "nosuid", "nodev"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.remount_flags(), libc::MS_NOSUID | libc::MS_NODEV);
    }

    #[test]
    fn propagation_is_kept_apart() {
        let o = parse(&["rbind", "rprivate", "slave"]);
        assert_eq!(
            o.propagation,
            vec![libc::MS_PRIVATE | libc::MS_REC, libc::MS_SLAVE]
        );
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC);
    }

    #[test]
    fn recursive_attributes() {
        let o = parse(&["rbind", "rro", "rnosuid", "rnoexec", "rnoatime"]);
        assert_eq!(
            o.attr_set,
            attr::RDONLY | attr::NOSUID | attr::NOEXEC | attr::NOATIME
        );
        assert_eq!(o.attr_clr, attr::ATIME);
        assert!(o.data.is_empty());
        let o = parse(&["rro", "rrw"]);
        assert_eq!((o.attr_set, o.attr_clr), (0, attr::RDONLY));
        let o = parse(&["rnoatime", "rstrictatime"]);
        assert_eq!((o.attr_set, o.attr_clr), (attr::STRICTATIME, attr::ATIME));
        let o = parse(&["rnoatime", "rrelatime"]);
        assert_eq!((o.attr_set, o.attr_clr), (attr::RELATIME, attr::ATIME));
    }

    #[test]
    fn nosymfollow_and_idmap() {
        let o = parse(&["nosymfollow"]);
        assert_eq!(o.flags, MS_NOSYMFOLLOW);
        let o = parse(&["bind", "idmap"]);
        assert_eq!(o.idmap, Some(Idmap::Top));
        assert!(o.data.is_empty());
        assert_eq!(parse(&["rbind", "ridmap"]).idmap, Some(Idmap::Recursive));
        let o = parse(&["bind", "idmap=uids=0-1-2;gids=0-1-2"]);
        assert_eq!(o.idmap, Some(Idmap::Top));
        assert_eq!(o.idmap_mappings.as_deref(), Some("uids=0-1-2;gids=0-1-2"));
        assert!(o.data.is_empty());
        let o = parse(&["rbind", "ridmap="]);
        assert_eq!((o.idmap, o.idmap_mappings), (Some(Idmap::Recursive), None));
    }

    #[test]
    fn tmpcopyup_is_an_option_not_data() {
        let o = parse(&["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]);
        assert!(o.tmpcopyup && o.data.is_empty());
        assert!(!parse(&["tmpcopyup", "notmpcopyup"]).tmpcopyup);
    }

    #[test]
    fn devpts_options() {
        let o = parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn mount_attributes_follow_mount2() {
        assert_eq!(mount_attr(0), attr::RELATIME);
        assert_eq!(
            mount_attr(libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY),
            attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::RDONLY
        );
        assert_eq!(mount_attr(libc::MS_NOATIME), attr::NOATIME);
        assert_eq!(
            mount_attr(libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_NODIRATIME),
            attr::STRICTATIME | attr::NODIRATIME
        );
        assert_eq!(mount_attr(MS_NOSYMFOLLOW), attr::NOSYMFOLLOW);
        let keys: Vec<_> =
            sb_flag_keys(libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_DIRSYNC | libc::MS_SILENT)
                .collect();
        assert_eq!(keys, [c"ro", c"dirsync"]);
    }

    #[test]
    fn mount_data_as_fsconfig_parameters() {
        let p = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
        assert_eq!(
            fsconfig_params("mode=1777,size=65536k,noswap,,=x,uid="),
            [
                p("mode", Some("1777")),
                p("size", Some("65536k")),
                p("noswap", None),
                p("uid", Some(""))
            ]
        );
        assert_eq!(
            fsconfig_params("mode=755,context=\"system_u:object_r:t:s0:c1,c2\""),
            [
                p("mode", Some("755")),
                p("context", Some("system_u:object_r:t:s0:c1,c2"))
            ]
        );
        assert!(fsconfig_params("").is_empty());
    }
}
