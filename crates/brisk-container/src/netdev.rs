//! `linux.netDevices` (config-linux.md, Network Devices): host network
//! interfaces moved into the container's network namespace, optionally
//! renamed, with their permanent global addresses kept and their state set
//! to up.
//!
//! All of it happens in the parent, which is in the runtime's network
//! namespace and holds CAP_NET_ADMIN there; the init, once in a user
//! namespace of its own, no longer could. `plan` (before the clone) finds
//! each device on the host and reads the addresses to keep; `Plan::apply`
//! (right after the clone, before the init is told it is placed, before
//! any hook and long before `execve`) checks that each target name is free
//! in the container's namespace and moves the devices with one rtnetlink
//! request each (`RTM_NEWLINK` with `IFLA_NET_NS_FD`, `IFLA_IFNAME` and
//! `IFF_UP`), then adds the addresses again (the kernel drops them on a
//! move). The container's namespace must exist by then: a new one made by
//! the clone, or one joined by path. A new one the init would unshare
//! later (other namespaces joined by path) is refused.
//!
//! Nothing is moved back on delete (the spec forbids it): when the
//! namespace goes away the kernel returns physical devices to the initial
//! namespace and destroys virtual ones (veth, macvlan).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};

use crate::error::{Error, Result};
use crate::namespaces::NamespacePlan;

// rtnetlink ABI (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h), spelt out here so that gnu and musl builds agree.
const NETLINK_ROUTE: libc::c_int = 0;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;
/// nlmsghdr, ifinfomsg, ifaddrmsg sizes.
const NLMSG_HDR: usize = 16;
const IFINFO: usize = 16;
const IFADDR: usize = 8;
/// IFNAMSIZ, with the NUL.
const IFNAMSIZ: usize = 16;

/// The devices to move and where to.
#[derive(Debug)]
pub struct Plan {
    devices: Vec<Device>,
    /// The network namespace joined by path (a copy of the fd the init
    /// joins); None: the one the clone makes, `/proc/<pid>/ns/net`.
    joined: Option<OwnedFd>,
}

#[derive(Debug)]
struct Device {
    /// `linux.netDevices.<host name>`, for errors.
    field: String,
    host_name: String,
    host_index: u32,
    /// The name in the container (the host name when none is given).
    name: String,
    /// The permanent global addresses to add again, as `RTM_NEWADDR`
    /// payloads (ifaddrmsg + attributes) with the index left to fill in.
    addrs: Vec<Vec<u8>>,
}

/// Whether `name` is a valid interface name for the kernel
/// (`dev_valid_name`): 1..15 bytes, not `.` or `..`, no `/`, `:` or white
/// space. `template` also allows one `%d` (the kernel's unique-name
/// template).
fn valid_ifname(name: &str, template: bool) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.len() >= IFNAMSIZ {
        return Err("longer than 15 bytes (IFNAMSIZ)");
    }
    if name == "." || name == ".." {
        return Err("not a valid interface name");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err("contains '/', ':', white space or NUL");
    }
    let percent = name.matches('%').count();
    if percent > 0 && !(template && percent == 1 && name.contains("%d")) {
        return Err("only one %d template is allowed, in the container's name");
    }
    Ok(())
}

/// The name a device takes in the container.
fn target_name<'a>(host: &'a str, dev: &'a LinuxNetDevice) -> &'a str {
    dev.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

/// The checks that need no system: names, a network namespace of the
/// container's own, no two devices with one name. `joins_host` tells
/// whether the namespace joined by path is the runtime's own.
pub fn validate(spec: &Spec, joins_host: impl Fn() -> bool) -> Result<()> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if devices.is_empty() {
        return Ok(());
    }
    let mut targets = BTreeMap::new();
    for (host, dev) in devices {
        let field = format!("linux.netDevices.{host}");
        valid_ifname(host, false)
            .map_err(|why| Error::invalid(&field, format!("host device name {host:?}: {why}")))?;
        let name = target_name(host, dev);
        valid_ifname(name, true)
            .map_err(|why| Error::invalid(format!("{field}.name"), format!("{name:?}: {why}")))?;
        if !name.contains('%') {
            if let Some(other) = targets.insert(name.to_string(), host.clone()) {
                return Err(Error::invalid(
                    &field,
                    format!(
                        "{name:?} is also the name of linux.netDevices.{other} in the container"
                    ),
                ));
            }
        }
    }
    let netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::Network));
    match netns {
        None => Err(Error::invalid(
            "linux.netDevices",
            "needs a network namespace of the container's own (linux.namespaces has none): the devices would stay on the host",
        )),
        Some(n) if n.path().is_some() && joins_host() => Err(Error::invalid(
            "linux.netDevices",
            "the network namespace joined by path is the host's: there is nowhere to move the devices to",
        )),
        Some(_) => Ok(()),
    }
}

/// Finds each device on the host and reads the addresses it keeps. None
/// when the config moves no device.
pub fn plan(spec: &Spec, ns: &NamespacePlan) -> Result<Option<Plan>> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(None);
    };
    if devices.is_empty() {
        return Ok(None);
    }
    let newnet = libc::CLONE_NEWNET;
    let joined = match ns.joins.iter().find(|j| j.nstype == newnet) {
        Some(j) => Some(
            j.fd.try_clone()
                .map_err(|e| Error::sys("linux.netDevices: the joined network namespace", e))?,
        ),
        None if ns.clone_flags & newnet as u64 != 0 => None,
        None if ns.unshare_flags & newnet != 0 => {
            return Err(Error::Unsupported(
                "linux.netDevices with a new network namespace while other namespaces are joined by path".into(),
            ))
        }
        None => {
            return Err(Error::invalid(
                "linux.netDevices",
                "needs a network namespace of the container's own",
            ))
        }
    };
    let sock = Socket::open().map_err(|e| Error::sys("linux.netDevices: rtnetlink socket", e))?;
    let mut out = Vec::new();
    for (host, dev) in devices {
        let field = format!("linux.netDevices.{host}");
        let host_index = match sock.link_index(host) {
            Ok(Some(i)) => i,
            Ok(None) => {
                return Err(Error::invalid(
                    &field,
                    format!("there is no network device {host:?} on the host"),
                ))
            }
            Err(e) => return Err(Error::sys(format!("{field}: look up {host:?}"), e)),
        };
        out.push(Device {
            field,
            host_name: host.clone(),
            host_index,
            name: target_name(host, dev).to_string(),
            addrs: Vec::new(),
        });
    }
    let addrs = sock
        .permanent_global_addrs()
        .map_err(|e| Error::sys("linux.netDevices: read the devices' addresses", e))?;
    for (index, payload) in addrs {
        if let Some(d) = out.iter_mut().find(|d| d.host_index == index) {
            d.addrs.push(payload);
        }
    }
    Ok(Some(Plan {
        devices: out,
        joined,
    }))
}

impl Plan {
    /// Moves the devices into the network namespace of `pid` (the init,
    /// just cloned) or the one joined by path.
    pub fn apply(&self, pid: libc::pid_t) -> Result<()> {
        let target = match &self.joined {
            Some(fd) => fd
                .try_clone()
                .map_err(|e| Error::sys("linux.netDevices: the joined network namespace", e))?,
            None => {
                let path = format!("/proc/{pid}/ns/net");
                std::fs::File::open(&path)
                    .map_err(|e| Error::path("linux.netDevices", path, e))?
                    .into()
            }
        };
        let host =
            Socket::open().map_err(|e| Error::sys("linux.netDevices: rtnetlink socket", e))?;
        let inside = Socket::open_in(target.as_fd()).map_err(|e| {
            Error::sys(
                "linux.netDevices: rtnetlink socket in the container's network namespace",
                e,
            )
        })?;
        // The spec's check: every name must be free in the container.
        for d in &self.devices {
            let taken = if d.name.contains('%') {
                // The kernel picks the name; the device is found again by
                // its index, which it keeps when it is free there.
                inside.link_name(d.host_index)
            } else {
                inside
                    .link_index(&d.name)
                    .map(|i| i.map(|_| d.name.clone()))
            };
            match taken {
                Ok(None) => {}
                Ok(Some(other)) if d.name.contains('%') => {
                    return Err(Error::invalid(
                        &d.field,
                        format!(
                            "the container's network namespace has a device ({other:?}) with the index of {:?}: the renamed device could not be found again",
                            d.host_name
                        ),
                    ))
                }
                Ok(Some(_)) => {
                    return Err(Error::invalid(
                        &d.field,
                        format!(
                            "a network device named {:?} already exists in the container's network namespace",
                            d.name
                        ),
                    ))
                }
                Err(e) => return Err(Error::sys(format!("{}: look up {:?} in the container", d.field, d.name), e)),
            }
        }
        for d in &self.devices {
            host.move_up(d.host_index, target.as_fd(), &d.name)
                .map_err(|e| {
                    Error::sys(
                        format!(
                            "{}: move {:?} into the container's network namespace as {:?}",
                            d.field, d.host_name, d.name
                        ),
                        e,
                    )
                })?;
            if d.addrs.is_empty() {
                continue;
            }
            let index = if d.name.contains('%') {
                Some(d.host_index)
            } else {
                inside.link_index(&d.name).map_err(|e| {
                    Error::sys(
                        format!("{}: find {:?} in the container", d.field, d.name),
                        e,
                    )
                })?
            };
            let Some(index) = index else {
                return Err(Error::sys(
                    format!("{}: find {:?} in the container", d.field, d.name),
                    io::Error::from_raw_os_error(libc::ENODEV),
                ));
            };
            for a in &d.addrs {
                inside.add_addr(index, a).map_err(|e| {
                    Error::sys(
                        format!("{}: keep an address of {:?}", d.field, d.host_name),
                        e,
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// An rtnetlink socket (in the network namespace the process was in when
/// it was opened).
struct Socket {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd this function owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    /// A socket in another network namespace: brisk enters it for the
    /// socket(2) call only (it is single-threaded) and goes back.
    fn open_in(netns: BorrowedFd<'_>) -> io::Result<Socket> {
        let own = std::fs::File::open("/proc/thread-self/ns/net")?;
        crate::sys::setns(netns.as_raw_fd(), libc::CLONE_NEWNET)?;
        let sock = Socket::open();
        if let Err(e) = crate::sys::setns(own.as_raw_fd(), libc::CLONE_NEWNET) {
            // brisk would go on in the container's network namespace.
            return Err(io::Error::new(
                e.kind(),
                format!("return to brisk's own network namespace: {e}"),
            ));
        }
        sock
    }

    fn next_seq(&self) -> u32 {
        let s = self.seq.get();
        self.seq.set(s.wrapping_add(1));
        s
    }

    /// Sends one request and collects the (type, payload) of every reply
    /// message until the end: NLMSG_DONE for a dump, else the ack (every
    /// other request asks for one); an error reply is the error.
    fn request(&self, typ: u16, flags: u16, payload: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = if dump { flags } else { flags | NLM_F_ACK };
        let seq = self.next_seq();
        let mut msg = Vec::with_capacity(NLMSG_HDR + payload.len());
        msg.extend_from_slice(&((NLMSG_HDR + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&typ.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        // SAFETY: msg is a valid buffer of its length; the kernel is the
        // default destination of a netlink socket.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is a valid, writable buffer of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= NLMSG_HDR {
                let len = u32_at(rest, 0) as usize;
                let mtype = u16::from_ne_bytes([rest[4], rest[5]]);
                let mseq = u32_at(rest, 8);
                if len < NLMSG_HDR || len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated rtnetlink message",
                    ));
                }
                let body = &rest[NLMSG_HDR..len];
                rest = &rest[align(len).min(rest.len())..];
                if mseq != seq {
                    continue;
                }
                match mtype {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = if body.len() >= 4 {
                            u32_at(body, 0) as i32
                        } else {
                            -libc::EPROTO
                        };
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        if !dump {
                            return Ok(out);
                        }
                    }
                    _ => out.push((mtype, body.to_vec())),
                }
            }
        }
    }

    /// The index of the device called `name`, if there is one.
    fn link_index(&self, name: &str) -> io::Result<Option<u32>> {
        let mut p = ifinfomsg(0, 0, 0);
        attr(&mut p, IFLA_IFNAME, &cstr(name));
        match self.request(RTM_GETLINK, 0, &p) {
            Ok(replies) => Ok(replies
                .iter()
                .find(|(t, b)| *t == RTM_NEWLINK && b.len() >= IFINFO)
                .map(|(_, b)| u32_at(b, 4))),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The name of the device with index `index`, if there is one.
    fn link_name(&self, index: u32) -> io::Result<Option<String>> {
        let p = ifinfomsg(index, 0, 0);
        match self.request(RTM_GETLINK, 0, &p) {
            Ok(replies) => Ok(replies
                .iter()
                .find(|(t, b)| *t == RTM_NEWLINK && b.len() >= IFINFO)
                .map(|(_, b)| {
                    attrs(&b[IFINFO..])
                        .find(|(t, _)| *t == IFLA_IFNAME)
                        .map(|(_, v)| {
                            let name = v.split(|&c| c == 0).next().unwrap_or_default();
                            String::from_utf8_lossy(name).into_owned()
                        })
                        .unwrap_or_default()
                })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves device `index` into `netns` named `name` and sets it up, in
    /// one request: the kernel changes the namespace first, then the name
    /// and the flags.
    fn move_up(&self, index: u32, netns: BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let mut p = ifinfomsg(index, IFF_UP, IFF_UP);
        attr(
            &mut p,
            IFLA_NET_NS_FD,
            &(netns.as_raw_fd() as u32).to_ne_bytes(),
        );
        attr(&mut p, IFLA_IFNAME, &cstr(name));
        self.request(RTM_NEWLINK, 0, &p).map(drop)
    }

    /// Every permanent address of global scope on the host, as (device
    /// index, `RTM_NEWADDR` payload to add it again).
    fn permanent_global_addrs(&self) -> io::Result<Vec<(u32, Vec<u8>)>> {
        let mut p = vec![0u8; IFADDR];
        p[0] = libc::AF_UNSPEC as u8;
        let replies = self.request(RTM_GETADDR, NLM_F_DUMP, &p)?;
        let mut out = Vec::new();
        for (t, b) in replies {
            if t != RTM_NEWADDR || b.len() < IFADDR {
                continue;
            }
            let (family, prefixlen, flags8, scope) = (b[0], b[1], b[2], b[3]);
            let index = u32_at(&b, 4);
            let mut flags = u32::from(flags8);
            for (at, v) in attrs(&b[IFADDR..]) {
                if at == IFA_FLAGS && v.len() >= 4 {
                    flags = u32_at(v, 0);
                }
            }
            if scope != RT_SCOPE_UNIVERSE || flags & IFA_F_PERMANENT == 0 {
                continue;
            }
            // The address itself and what defines it; no label (it names
            // the host device) and no cache info (lifetimes).
            let mut payload = vec![family, prefixlen, flags8, scope, 0, 0, 0, 0];
            for (at, v) in attrs(&b[IFADDR..]) {
                if matches!(at, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST | IFA_FLAGS) {
                    attr(&mut payload, at, v);
                }
            }
            out.push((index, payload));
        }
        Ok(out)
    }

    /// Adds an address kept by `permanent_global_addrs` to device `index`.
    fn add_addr(&self, index: u32, payload: &[u8]) -> io::Result<()> {
        let mut p = payload.to_vec();
        p[4..8].copy_from_slice(&index.to_ne_bytes());
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &p)
            .map(drop)
    }
}

/// The native-endian u32 at `at` (the caller checked the length).
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(64);
    p.push(libc::AF_UNSPEC as u8);
    p.push(0);
    p.extend_from_slice(&0u16.to_ne_bytes());
    p.extend_from_slice(&(index as i32).to_ne_bytes());
    p.extend_from_slice(&flags.to_ne_bytes());
    p.extend_from_slice(&change.to_ne_bytes());
    p
}

/// Appends an rtattr (padded to 4 bytes).
fn attr(buf: &mut Vec<u8>, typ: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + align(len) - len, 0);
}

/// The (type, value) of each rtattr in `buf`.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let typ = u16::from_ne_bytes([buf[2], buf[3]]);
        if len < 4 || len > buf.len() {
            return None;
        }
        let value = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((typ & 0x3fff, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(valid_ifname("eth0", false).is_ok());
        assert!(valid_ifname("ctr%d", true).is_ok());
        assert!(valid_ifname("ctr%d", false).is_err());
        assert!(valid_ifname("a%d%d", true).is_err());
        assert!(valid_ifname("a%s", true).is_err());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef"] {
            assert!(valid_ifname(bad, true).is_err(), "{bad:?}");
        }
        assert!(valid_ifname("0123456789abcde", false).is_ok());
    }

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        attr(&mut b, IFLA_IFNAME, &cstr("abc"));
        attr(&mut b, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        assert_eq!(b.len() % 4, 0);
        let got: Vec<_> = attrs(&b).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (IFLA_IFNAME, &b"abc\0"[..]));
        assert_eq!(got[1].1, &7u32.to_ne_bytes()[..]);
    }

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let base = |devs: serde_json::Value, ns: serde_json::Value| {
            spec(serde_json::json!({
                "ociVersion": "1.2.0", "root": {"path": "r"},
                "linux": {"namespaces": ns, "netDevices": devs}
            }))
        };
        let net = serde_json::json!([{"type": "network"}]);
        assert!(
            validate(&base(serde_json::json!({"eth0": {}}), net.clone()), || {
                false
            })
            .is_ok()
        );
        let e = validate(
            &base(serde_json::json!({"eth0": {}}), serde_json::json!([])),
            || false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("linux.netDevices") && e.contains("network namespace"),
            "{e}"
        );
        let e = validate(
            &base(
                serde_json::json!({"a": {"name": "x"}, "b": {"name": "x"}}),
                net.clone(),
            ),
            || false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.netDevices.b"), "{e}");
        let e = validate(
            &base(serde_json::json!({"eth0": {"name": "a/b"}}), net.clone()),
            || false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("linux.netDevices.eth0.name"), "{e}");
        let joined = serde_json::json!([{"type": "network", "path": "/proc/1/ns/net"}]);
        let e = validate(&base(serde_json::json!({"eth0": {}}), joined), || true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("host's"), "{e}");
    }
}
