//! One entry of `mounts`: planned in the parent (options parsed, source
//! resolved, cgroup layout of the host read), applied in the init process
//! onto a destination resolved inside the rootfs.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};

use super::idmap::{ContainerUserns, Mapping};
use super::options::{self, Idmap};
use super::procfs::MountFd;
use super::resolve::{create_in_root, Leaf};
use super::{cstring, mounted_flags};
use crate::error::Failure;
use crate::error::{Error, Result};
use crate::sys::{self, FdPath};

#[derive(Debug)]
pub struct MountPlan {
    /// Destination inside the rootfs, without the leading `/`.
    pub dest: CString,
    pub source: Option<CString>,
    pub fstype: Option<CString>,
    pub flags: libc::c_ulong,
    pub data: Option<CString>,
    pub bind: bool,
    pub propagation: Vec<libc::c_ulong>,
    /// Flags a bind mount applies with a second, remount call.
    pub remount_flags: libc::c_ulong,
    pub leaf: Leaf,
    pub kind: Kind,
    /// Flags of the bound source a remount keeps (nosuid, nodev, noexec
    /// unless the options cleared them): a read-only bind of a nosuid
    /// source stays nosuid, and in a user namespace they are locked anyway.
    pub keep_flags: libc::c_ulong,
    /// Recursive attributes (`rro`, ...) set with mount_setattr(2).
    pub attr: Option<(u64, u64)>,
    /// `idmap`/`ridmap` and where the mapping comes from.
    pub idmap: Option<(Idmap, Mapping)>,
    /// A bind's detached tree the parent prepared, attached by the init
    /// with move_mount: idmapped, or opened in the host's context for a
    /// container with a new user namespace (whose root could not reach a
    /// source under a directory only the host's root may search; runc
    /// opens them there too).
    pub tree: Option<OwnedFd>,
    /// A tmpfs with `tmpcopyup`.
    pub copy_up: bool,
    /// A `sysfs` mount in a user namespace, in rootless mode by a brisk
    /// that is not root of the host (`Context::sysfs_fallback`): the
    /// kernel refuses it (EPERM) unless the container has a network
    /// namespace of its own; then the host's `/sys` is bound recursively,
    /// read-only, instead, as crun does.
    pub sysfs_fallback: bool,
    /// For a mount that is not a bind and has a second step (tmpcopyup,
    /// attributes, propagation): its data as fsconfig(2) parameters. Such a
    /// mount is made with the mount API, whose fd names the new mount for
    /// that step.
    pub fs_params: Option<Vec<(CString, Option<CString>)>>,
    /// Set when masked or read-only paths lie in this mount, or it is the
    /// procfs the init writes to: the init keeps the fd of the new mount
    /// here, and they are reached through it after `pivot_root` (see
    /// `rootfs::procfs`).
    pub fd: Option<MountFd>,
}

#[derive(Debug)]
pub enum Kind {
    Regular,
    /// `cgroup` on a cgroup2 host (a bind of the init's own cgroup when
    /// a fresh mount would not be right).
    Cgroup2(Option<CString>),
    /// `cgroup` on a v1 or hybrid host: a tmpfs with one mount per
    /// hierarchy, as runc and crun lay it out.
    CgroupV1(Vec<CgroupHierarchy>),
}

#[derive(Debug)]
pub struct CgroupHierarchy {
    /// Directory name (`cpu,cpuacct`, `systemd`).
    pub name: CString,
    /// Mount data naming the controllers (`cpu,cpuacct`, `none,name=systemd`).
    pub options: CString,
    /// Symlinks to `name` (`cpu`, `cpuacct`).
    pub links: Vec<CString>,
    /// The host directory of the init's cgroup in this hierarchy, bound
    /// instead of mounting the hierarchy afresh.
    pub bind_source: Option<CString>,
}

/// What the planning of mounts needs to know besides the mount itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub new_cgroup_ns: bool,
    /// The container's user namespace, for idmapped mounts without
    /// mappings of their own.
    pub userns: Option<ContainerUserns<'a>>,
    /// `linux.mountLabel`, when SELinux is enabled (else it is only
    /// reported, as runc ignores it).
    pub mount_label: Option<&'a str>,
    /// The container's cgroup path (the same in every hierarchy), when
    /// brisk manages its cgroups; else the init stays in brisk's own.
    pub cgroup_path: Option<&'a str>,
    /// Whether /sys/fs/cgroup is cgroup2, when the cgroup driver already
    /// looked (saves a statfs).
    pub cgroup2_host: Option<bool>,
    /// A `sysfs` mount the kernel refuses in the container's user
    /// namespace may fall back to a read-only bind of the host's `/sys`
    /// (`MountPlan::sysfs_fallback`): rootless mode by a brisk that is not
    /// root of the host. Root gets the error, as from runc: a recursive
    /// copy of the host's `/sys` (with whatever is mounted under it) is
    /// not what its config asked for, and root can give the container a
    /// network namespace or bind `/sys` itself.
    pub sysfs_fallback: bool,
}

pub fn plan(index: usize, m: &Mount, ctx: Context<'_>) -> Result<MountPlan> {
    let (bundle, in_userns) = (ctx.bundle, ctx.in_userns);
    let field = |f: &str| format!("mounts[{index}].{f}");
    let dest = normalize_dest(&m.destination().to_string_lossy());
    if dest.is_empty() {
        return Err(Error::invalid(field("destination"), "cannot mount over /"));
    }
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let is_bind = opts.bind || m.typ().as_deref() == Some("bind");
    if is_bind {
        // A bind mount has no filesystem to take data: an option brisk does
        // not know would be silently dropped. `x-*` options are for user
        // space (mount(8) skips them too).
        if let Some(unknown) = opts
            .data
            .split(',')
            .find(|o| !o.is_empty() && !o.starts_with("x-"))
        {
            return Err(Error::invalid(
                field("options"),
                format!("unknown option {unknown:?} for a bind mount"),
            ));
        }
    }
    let fstype = m
        .typ()
        .as_deref()
        .filter(|t| !t.is_empty() && *t != "none" && *t != "bind");
    let bind = is_bind;
    let mut source = m.source().as_ref().map(|s| {
        if bind && s.is_relative() {
            bundle.join(s)
        } else {
            s.clone()
        }
    });
    let mut leaf = Leaf::Dir;
    if bind {
        let src = source
            .as_ref()
            .ok_or_else(|| Error::invalid(field("source"), "a bind mount needs a source"))?;
        let meta = std::fs::metadata(src)
            .map_err(|e| Error::sys(format!("{}: {}", field("source"), src.display()), e))?;
        if !meta.is_dir() {
            leaf = Leaf::File;
        }
    }
    let kind = match fstype {
        // An explicit `cgroup2` in a new cgroup namespace (and no user
        // namespace) is a plain cgroup2 mount of the namespace's root, on a
        // v1 or hybrid host too, as runc mounts it (only `cgroup` gets its
        // per-layout treatment there): systemd in the container then runs
        // unified. Elsewhere it is treated as `cgroup`: a fresh mount
        // without a cgroup namespace would show the host's whole tree.
        Some("cgroup2") if !bind && !in_userns && ctx.new_cgroup_ns => Kind::Cgroup2(None),
        Some("cgroup") | Some("cgroup2") if !bind => cgroup_kind(
            in_userns || !ctx.new_cgroup_ns,
            ctx.cgroup_path,
            ctx.cgroup2_host,
        )?,
        _ => Kind::Regular,
    };
    if source.is_none() {
        source = fstype.map(Into::into);
    }
    let flags = if bind {
        opts.flags | libc::MS_BIND
    } else {
        opts.flags
    };
    let idmap = plan_idmap(m, &opts, bind, ctx.userns, &field)?;
    // The field's name is only formatted for an error.
    let cstring = |f: &str, bytes: &[u8]| {
        std::ffi::CString::new(bytes).map_err(|_| Error::invalid(field(f), "contains a NUL byte"))
    };
    let data = with_label(&opts.data, fstype, ctx.mount_label);
    let copy_up = opts.tmpcopyup && fstype == Some("tmpfs");
    let new_api = !bind
        && matches!(kind, Kind::Regular)
        && fstype.is_some()
        && flags & libc::MS_REMOUNT == 0
        && (copy_up || !opts.propagation.is_empty() || opts.attr_set | opts.attr_clr != 0);
    let fs_params = if new_api {
        Some(fs_params(data.as_deref().unwrap_or_default(), &field)?)
    } else {
        None
    };
    Ok(MountPlan {
        dest: cstring("destination", dest.as_bytes())?,
        source: source
            .map(|s| cstring("source", s.as_os_str().as_encoded_bytes()))
            .transpose()?,
        fstype: fstype.map(|t| cstring("type", t.as_bytes())).transpose()?,
        flags,
        data: data.map(|d| cstring("options", d.as_bytes())).transpose()?,
        bind,
        propagation: opts.propagation.clone(),
        remount_flags: opts.remount_flags(),
        leaf,
        kind,
        keep_flags: (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) & !opts.cleared
            | if in_userns {
                libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME
            } else {
                0
            },
        attr: (opts.attr_set | opts.attr_clr != 0).then_some((opts.attr_set, opts.attr_clr)),
        idmap,
        tree: None,
        copy_up,
        sysfs_fallback: ctx.sysfs_fallback && in_userns && !bind && fstype == Some("sysfs"),
        fs_params,
        fd: None,
    })
}

impl MountPlan {
    /// Whether the init can keep an fd of the mount this makes: anything
    /// but a `remount` of what is already there (and a mount without a
    /// filesystem type, which only mount(2) takes).
    pub fn can_keep_fd(&self) -> bool {
        let remount = self.flags & libc::MS_REMOUNT != 0;
        match self.kind {
            Kind::Regular if self.bind => !remount && self.source.is_some(),
            Kind::Regular => !remount && self.fstype.is_some(),
            Kind::Cgroup2(_) | Kind::CgroupV1(_) => true,
        }
    }

    /// Makes the init keep the fd of this mount (see `fd`): a mount that is
    /// not a bind is then made with the mount API.
    pub fn keep_fd(&mut self) -> Result<()> {
        if self.fd.is_some() {
            return Ok(());
        }
        if matches!(self.kind, Kind::Regular) && !self.bind && self.fs_params.is_none() {
            let data = self
                .data
                .as_deref()
                .map(|d| d.to_str())
                .transpose()
                .map_err(|_| Error::invalid("mounts", "options are not UTF-8"))?;
            self.fs_params = Some(fs_params(data.unwrap_or_default(), &|_| "mounts".into())?);
        }
        self.fd = Some(MountFd::default());
        Ok(())
    }

    /// The fd the init kept of this mount, once it is made.
    pub fn kept_fd(&self) -> Option<BorrowedFd<'_>> {
        let slot = self.fd.as_ref()?;
        match &self.tree {
            Some(tree) => Some(tree.as_fd()),
            None => slot.get(),
        }
    }
}

/// Mount data as fsconfig(2) parameters, in C strings.
#[allow(clippy::type_complexity)]
fn fs_params(
    data: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<Vec<(CString, Option<CString>)>> {
    let cstring = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| Error::invalid(field("options"), "contains a NUL byte"))
    };
    options::fsconfig_params(data)
        .iter()
        .map(|(k, v)| {
            Ok((
                cstring(k.as_bytes())?,
                v.as_ref().map(|v| cstring(v.as_bytes())).transpose()?,
            ))
        })
        .collect()
}

/// Checks an idmapped mount's request (config.md: mappings come in pairs;
/// without them the container needs a user namespace) and says where the
/// mapping comes from. Mappings without an `idmap`/`ridmap` option still
/// idmap the mount (the option is a SHOULD), on its top mount only.
fn plan_idmap(
    m: &Mount,
    opts: &options::MountOptions,
    bind: bool,
    userns: Option<ContainerUserns<'_>>,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<(Idmap, Mapping)>> {
    let own = match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => Some(Mapping::Own {
            uid_map: crate::namespaces::id_map(u),
            gid_map: crate::namespaces::id_map(g),
        }),
        (Some(_), None) => {
            return Err(Error::invalid(
                field("uidMappings"),
                "given without gidMappings (both or neither)",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                field("gidMappings"),
                "given without uidMappings (both or neither)",
            ))
        }
        (None, None) => None,
    };
    let kind = match (opts.idmap, &own) {
        (Some(k), _) => k,
        (None, Some(_)) => Idmap::Top,
        (None, None) => return Ok(None),
    };
    if !bind {
        return Err(Error::invalid(
            field("options"),
            "idmap/ridmap needs a bind mount (type \"bind\" or option bind/rbind)",
        ));
    }
    let mapping = match (own, &opts.idmap_mappings) {
        (Some(own), _) => own,
        // crun's form: the mappings in the option (the mount's own
        // uidMappings/gidMappings win, as in crun).
        (None, Some(value)) => super::idmap::from_option(value, userns).map_err(|why| {
            Error::invalid(field("options"), format!("idmap mappings {value:?}: {why}"))
        })?,
        (None, None) if userns.is_some() => Mapping::Container,
        (None, None) => return Err(Error::invalid(
            field("options"),
            "idmap/ridmap needs uidMappings and gidMappings, or a user namespace for the container",
        )),
    };
    Ok(Some((kind, mapping)))
}

/// The mount data, with `context="<mountLabel>"` for the filesystems that
/// take an SELinux context (those without their own labelling).
fn with_label(data: &str, fstype: Option<&str>, label: Option<&str>) -> Option<String> {
    let labelled = matches!(
        fstype,
        Some("tmpfs" | "devpts" | "mqueue" | "ramfs" | "shm")
    );
    match label {
        Some(l) if labelled && !data.contains("context=") => Some(if data.is_empty() {
            format!("context=\"{l}\"")
        } else {
            format!("{data},context=\"{l}\"")
        }),
        _ => (!data.is_empty()).then(|| data.to_string()),
    }
}

/// `/dev//pts/./` → `dev/pts` (`..` stays: it is resolved inside the
/// rootfs).
pub fn normalize_dest(dest: &str) -> String {
    dest.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// How this host lays out cgroups: cgroup2 at /sys/fs/cgroup, or v1
/// hierarchies (hybrid hosts count as v1 for the container's view). With
/// `bind`, the container gets bind mounts of its own cgroup directories
/// instead of fresh cgroup mounts (no cgroup namespace: a fresh mount would
/// show the host's whole tree; in a user namespace it is not allowed).
fn cgroup_kind(bind: bool, cgroup_path: Option<&str>, cgroup2_host: Option<bool>) -> Result<Kind> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let cgroup2_host = match cgroup2_host {
        Some(v) => v,
        None => {
            rustix::fs::statfs("/sys/fs/cgroup")
                .map_err(|e| Error::path("cgroup mount", "/sys/fs/cgroup", e))?
                .f_type as i64
                == CGROUP2_SUPER_MAGIC
        }
    };
    // Only a bind needs to know where the init's cgroups are: the
    // container's own path when brisk made it, else brisk's.
    let own = if bind && cgroup_path.is_none() {
        std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::path("cgroup mount", "/proc/self/cgroup", e))?
    } else {
        String::new()
    };
    // (controllers, path) of each hierarchy this process is in.
    let own: Vec<(&str, &str)> = own
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            f.next()?;
            Some((f.next()?, f.next()?))
        })
        .collect();
    let source = |mount_point: &str, path: &str| {
        cstring(
            "cgroup",
            format!("{}{}", mount_point, path.trim_end_matches('/')).as_bytes(),
        )
    };
    if cgroup2_host {
        let bind_source = match (cgroup_path, own.iter().find(|(c, _)| c.is_empty())) {
            (Some(path), _) if bind => Some(source("/sys/fs/cgroup", path)?),
            (None, Some((_, path))) if bind => Some(source("/sys/fs/cgroup", path)?),
            _ => None,
        };
        return Ok(Kind::Cgroup2(bind_source));
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::path("cgroup mount", "/proc/self/mountinfo", e))?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        if post.next() != Some("cgroup") {
            continue;
        }
        let super_opts = post.nth(1).unwrap_or("");
        let Some(mount_point) = pre.split(' ').nth(4) else {
            continue;
        };
        let Some(name) = mount_point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let mut controllers: Vec<&str> = super_opts
            .split(',')
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro"
                        | "xattr"
                        | "nsdelegate"
                        | "noprefix"
                        | "clone_children"
                        | "cpuset_v2_mode"
                ) && !o.starts_with("release_agent")
            })
            .collect();
        let options = if controllers.iter().all(|c| c.starts_with("name=")) {
            format!("none,{}", controllers.join(","))
        } else {
            controllers.join(",")
        };
        let links = if name.contains(',') {
            name.split(',')
                .map(|c| cstring("cgroup", c.as_bytes()))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        controllers.sort_unstable();
        let own_path = own.iter().find(|(c, _)| {
            let mut cs: Vec<&str> = c.split(',').collect();
            cs.sort_unstable();
            cs == controllers
        });
        let bind_source = match (cgroup_path, own_path) {
            (Some(path), _) if bind => Some(source(mount_point, path)?),
            (None, Some((_, path))) if bind => Some(source(mount_point, path)?),
            _ => None,
        };
        out.push(CgroupHierarchy {
            name: cstring("cgroup", name.as_bytes())?,
            options: cstring("cgroup", options.as_bytes())?,
            links,
            bind_source,
        });
    }
    Ok(Kind::CgroupV1(out))
}

/// Performs one mount in the init process, before `pivot_root`.
///
/// A mount's second step (the remount of a bind, attributes, propagation,
/// tmpcopyup's copy) acts on an fd of the new mount itself, never on a
/// second lookup of the destination: a rename made meanwhile (by another
/// container writing on a shared rootfs or volume) would redirect that
/// lookup to another directory of the root. A bind is attached from a
/// detached copy (`open_tree`), another mount with a second step is made
/// with the mount API (`fsmount`): either fd names the mount once it is
/// attached. A mount without a second step is one mount(2) call.
pub fn apply<'p>(root: BorrowedFd<'_>, m: &'p MountPlan) -> Result<(), Failure<'p>> {
    let fail = |e: io::Error| Failure::with("mount", &m.dest, e);
    let dest = create_in_root(root, m.dest.as_bytes(), m.leaf).map_err(fail)?;
    let target = FdPath::new(dest.as_raw_fd());
    let second_step = m.remount_flags != 0 || !m.propagation.is_empty() || m.attr.is_some();
    // A mount whose fd the init keeps is made so that it has one.
    let keep = m.fd.is_some();
    let cloned = match (&m.source, &m.tree) {
        (Some(source), None) if m.bind && (second_step || keep) => {
            Some(sys::open_tree_clone(source, m.flags & libc::MS_REC != 0).map_err(fail)?)
        }
        _ => None,
    };
    let bind_top = m.tree.as_ref().or(cloned.as_ref()).map(|fd| fd.as_raw_fd());
    // The fd of a mount made here with the mount API (or a bound cgroup).
    let mut made: Option<OwnedFd> = None;
    match &m.kind {
        Kind::Regular if m.bind => {
            if let Some(tree) = bind_top {
                sys::move_mount(tree, dest.as_raw_fd()).map_err(fail)?;
            } else {
                let flags = libc::MS_BIND | (m.flags & libc::MS_REC);
                sys::mount(m.source.as_deref(), target.as_cstr(), None, flags, None)
                    .map_err(fail)?;
            }
            if let (Some(top), true) = (bind_top, m.remount_flags != 0) {
                let top_path = FdPath::new(top);
                let locked = mounted_flags(top_path.as_cstr()).unwrap_or(0) & m.keep_flags;
                let flags = libc::MS_BIND
                    | libc::MS_REMOUNT
                    | (m.flags & libc::MS_REC)
                    | m.remount_flags
                    | locked;
                sys::mount(None, top_path.as_cstr(), None, flags, None).map_err(fail)?;
            }
        }
        Kind::Regular => {
            let mounted = match (&m.fs_params, &m.fstype) {
                (Some(params), Some(fstype)) => new_mount(m, fstype, params, &dest).map(Some),
                _ => sys::mount(
                    m.source.as_deref(),
                    target.as_cstr(),
                    m.fstype.as_deref(),
                    m.flags,
                    m.data.as_deref(),
                )
                .map(|()| None)
                .map_err(fail),
            };
            made = match mounted {
                Err(e) if m.sysfs_fallback && e.err.raw_os_error() == Some(libc::EPERM) => {
                    Some(bind_host_sysfs(&dest, m.flags).map_err(fail)?)
                }
                other => other?,
            };
        }
        Kind::Cgroup2(None) if second_step || keep => {
            let attr = options::mount_attr(m.flags);
            let params = options::sb_flag_keys(m.flags).map(|k| (k, None));
            let new = sys::new_mount(c"cgroup2", Some(c"cgroup2"), params, attr).map_err(fail)?;
            sys::move_mount(new.as_raw_fd(), dest.as_raw_fd()).map_err(fail)?;
            made = Some(new);
        }
        Kind::Cgroup2(None) => {
            sys::mount(
                Some(c"cgroup2"),
                target.as_cstr(),
                Some(c"cgroup2"),
                m.flags,
                None,
            )
            .map_err(fail)?;
        }
        Kind::Cgroup2(Some(source)) => {
            made = Some(bind_cgroup(source, dest.as_fd(), m.flags).map_err(fail)?)
        }
        Kind::CgroupV1(hierarchies) => {
            made = Some(mount_cgroup_v1(m, dest.as_fd(), hierarchies).map_err(fail)?)
        }
    }
    if !m.propagation.is_empty() || m.attr.is_some() {
        let top = match (bind_top, &made) {
            (Some(fd), _) => fd,
            (None, Some(fd)) => fd.as_raw_fd(),
            // A remount (`remount` option): the mount is the one the
            // destination's lookup found.
            (None, None) => dest.as_raw_fd(),
        };
        if let Some((attr_set, attr_clr)) = m.attr {
            let attr = sys::MountAttr {
                attr_set,
                attr_clr,
                ..Default::default()
            };
            sys::mount_setattr(top, true, &attr).map_err(fail)?;
        }
        let top_path = FdPath::new(top);
        for p in &m.propagation {
            sys::mount(None, top_path.as_cstr(), None, *p, None).map_err(fail)?;
        }
    }
    if let (Some(slot), Some(fd)) = (&m.fd, cloned.or(made)) {
        slot.set(fd);
    }
    Ok(())
}

/// A mount that is not a bind, with a second step: made detached with the
/// mount API, filled (tmpcopyup) while nothing else can reach it, then
/// attached onto `dest`. Returns its fd.
fn new_mount<'p>(
    m: &'p MountPlan,
    fstype: &CStr,
    params: &[(CString, Option<CString>)],
    dest: &OwnedFd,
) -> Result<OwnedFd, Failure<'p>> {
    let fail = |e: io::Error| Failure::with("mount", &m.dest, e);
    // tmpcopyup: the covered directory, opened before it is covered; the
    // tmpfs becomes read-only once the copy is in.
    let under = if m.copy_up {
        Some(super::copyup::open_dir(dest.as_fd()).map_err(fail)?)
    } else {
        None
    };
    let flags = if m.copy_up {
        m.flags & !libc::MS_RDONLY
    } else {
        m.flags
    };
    let params = options::sb_flag_keys(flags)
        .map(|k| (k, None))
        .chain(params.iter().map(|(k, v)| (k.as_c_str(), v.as_deref())));
    let new = sys::new_mount(
        fstype,
        m.source.as_deref(),
        params,
        options::mount_attr(flags),
    )
    .map_err(fail)?;
    if let Some(under) = under {
        let copy_fail = |e: io::Error| Failure::with("tmpcopyup into", &m.dest, e);
        let into = super::copyup::open_dir(new.as_fd()).map_err(copy_fail)?;
        super::copyup::copy_tree(under.as_fd(), into.as_fd(), 0).map_err(copy_fail)?;
    }
    sys::move_mount(new.as_raw_fd(), dest.as_raw_fd()).map_err(fail)?;
    if flags != m.flags {
        let attr = sys::MountAttr {
            attr_set: options::attr::RDONLY,
            ..Default::default()
        };
        sys::mount_setattr(new.as_raw_fd(), false, &attr).map_err(fail)?;
    }
    Ok(new)
}

/// The fallback of a `sysfs` mount the kernel refused in a user namespace:
/// a recursive copy of the host's `/sys`, read-only and with the mount's
/// nosuid/nodev/noexec, attached onto `dest`. Returns its fd.
fn bind_host_sysfs(dest: &OwnedFd, flags: libc::c_ulong) -> io::Result<OwnedFd> {
    let tree = sys::open_tree_clone(c"/sys", true)?;
    let attr = sys::MountAttr {
        attr_set: options::mount_attr(flags | libc::MS_RDONLY)
            & (options::attr::RDONLY
                | options::attr::NOSUID
                | options::attr::NODEV
                | options::attr::NOEXEC),
        ..Default::default()
    };
    sys::mount_setattr(tree.as_raw_fd(), true, &attr)?;
    sys::move_mount(tree.as_raw_fd(), dest.as_raw_fd())?;
    Ok(tree)
}

/// Binds a host cgroup directory onto `target` (an fd resolved inside the
/// root) from a detached copy, then applies the mount's flags (read-only,
/// nosuid, ...) with a remount of the bind through that copy's fd.
/// Returns the fd of the bind.
fn bind_cgroup(source: &CStr, target: BorrowedFd<'_>, flags: libc::c_ulong) -> io::Result<OwnedFd> {
    let tree = sys::open_tree_clone(source, true)?;
    sys::move_mount(tree.as_raw_fd(), target.as_raw_fd())?;
    let remount = flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    if remount != 0 {
        let top = FdPath::new(tree.as_raw_fd());
        sys::mount(
            None,
            top.as_cstr(),
            None,
            libc::MS_BIND | libc::MS_REMOUNT | remount,
            None,
        )?;
    }
    Ok(tree)
}

/// A tmpfs with one mount per cgroup v1 hierarchy, made through the fd of
/// the new tmpfs (mount API). Returns that fd.
fn mount_cgroup_v1(
    m: &MountPlan,
    dest: BorrowedFd<'_>,
    hierarchies: &[CgroupHierarchy],
) -> io::Result<OwnedFd> {
    let base = m.flags & !libc::MS_RDONLY;
    let params = options::sb_flag_keys(base)
        .map(|k| (k, None))
        .chain([(c"mode", Some(c"755"))]);
    let dir = sys::new_mount(c"tmpfs", Some(c"tmpfs"), params, options::mount_attr(base))?;
    sys::move_mount(dir.as_raw_fd(), dest.as_raw_fd())?;
    // The fd names the fresh tmpfs, which no other container reaches (the
    // container's mounts do not propagate to other namespaces but as its
    // config asks): plain *at calls are safe in it.
    for h in hierarchies {
        rustix::fs::mkdirat(&dir, h.name.as_c_str(), Mode::from_raw_mode(0o755))?;
        let sub = rustix::fs::openat(
            &dir,
            h.name.as_c_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if let Some(source) = &h.bind_source {
            bind_cgroup(source, sub.as_fd(), m.flags)?;
        } else {
            let sub_path = FdPath::new(sub.as_raw_fd());
            sys::mount(
                Some(c"cgroup"),
                sub_path.as_cstr(),
                Some(c"cgroup"),
                m.flags,
                Some(&h.options),
            )?;
        }
        for link in &h.links {
            match rustix::fs::symlinkat(h.name.as_c_str(), &dir, link.as_c_str()) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    // The tmpfs itself stays writable with `ro`, as runc and crun leave
    // it: only the hierarchies in it are read-only (docs/COMPATIBILITY.md).
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_goes_into_the_data_of_labelled_filesystems() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            with_label("mode=755", Some("tmpfs"), l).as_deref(),
            Some("mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(
            with_label("", Some("mqueue"), l).as_deref(),
            Some("context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(with_label("", Some("proc"), l), None);
        assert_eq!(with_label("ro", Some("sysfs"), l).as_deref(), Some("ro"));
        assert_eq!(with_label("", Some("tmpfs"), None), None);
        assert_eq!(
            with_label("context=\"x\"", Some("tmpfs"), l).as_deref(),
            Some("context=\"x\"")
        );
    }

    fn cgroup_mount(fstype: &str, in_userns: bool, new_cgroup_ns: bool) -> Kind {
        let m: Mount = serde_json::from_value(serde_json::json!(
            {"destination": "/sys/fs/cgroup", "type": fstype, "source": fstype}
        ))
        .unwrap();
        let ctx = Context {
            bundle: Path::new("/"),
            in_userns,
            new_cgroup_ns,
            userns: None,
            mount_label: None,
            cgroup_path: Some("/c"),
            // A v1 or hybrid host.
            cgroup2_host: Some(false),
            sysfs_fallback: false,
        };
        plan(0, &m, ctx).unwrap().kind
    }

    /// On a v1 or hybrid host an explicit `cgroup2` in a new cgroup
    /// namespace is a plain cgroup2 mount (as runc's), `cgroup` the v1
    /// layout; without a cgroup namespace, or in a user namespace, both
    /// keep the v1 layout of binds.
    #[test]
    fn explicit_cgroup2_in_a_cgroup_namespace_is_cgroup2_on_a_v1_host() {
        assert!(matches!(
            cgroup_mount("cgroup2", false, true),
            Kind::Cgroup2(None)
        ));
        assert!(matches!(
            cgroup_mount("cgroup", false, true),
            Kind::CgroupV1(_)
        ));
        assert!(matches!(
            cgroup_mount("cgroup2", false, false),
            Kind::CgroupV1(_)
        ));
        assert!(matches!(
            cgroup_mount("cgroup2", true, true),
            Kind::CgroupV1(_)
        ));
    }

    #[test]
    fn destinations_are_normalized_relative_to_root() {
        assert_eq!(normalize_dest("/dev//pts/./"), "dev/pts");
        assert_eq!(normalize_dest("reldest"), "reldest");
        assert_eq!(normalize_dest("/a/../b"), "a/../b");
    }
}
