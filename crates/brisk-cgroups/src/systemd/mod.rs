//! The systemd cgroup driver (`--systemd-cgroup`, `--cgroup-manager
//! systemd`): the container runs in a transient scope unit that systemd
//! creates over D-Bus, with `Delegate=yes` and the limits systemd can
//! hold as the unit's properties; then every limit is written to the
//! cgroup files as with the cgroupfs driver (systemd cannot say all of
//! them, and runc does the same), in the hierarchies systemd manages and
//! in the others (v1 `cpuset`, `net_cls`...), which brisk makes at the
//! same path.
//!
//! - [`unit`]: `slice:prefix:name` → the unit and its cgroup path.
//! - [`props`]: the unit's properties (resources, annotations).
//! - [`bus`]: the D-Bus calls (zbus), each bounded.
//!
//! The scope needs the init's pid, so it is started after the clone,
//! while the init waits to be told it is placed (as with v1 hierarchies).

pub mod bus;
mod private;
pub mod props;
pub mod unit;

use oci_spec::runtime::LinuxResources;

pub use props::{Property, Value};
pub use unit::Unit;

use crate::error::Result;
use crate::layout::Layout;

/// A container's scope, decided but not started.
#[derive(Debug)]
pub struct Scope {
    pub unit: Unit,
    /// Everything but `PIDs`, which the start adds.
    pub props: Vec<Property>,
    /// The connection to systemd, begun when the scope was planned, so
    /// that systemd's accepting it overlaps brisk's own work up to the
    /// clone.
    early: std::cell::RefCell<Option<std::result::Result<private::Pending, String>>>,
}

impl Scope {
    /// The scope for a config: every error is a config error, found
    /// before anything exists.
    pub fn plan<'a>(
        unit: Unit,
        id: &str,
        resources: Option<&LinuxResources>,
        layout: Layout,
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Scope> {
        let mut props = vec![("Slice".to_string(), Value::Str(unit.slice.clone()))];
        props.extend(props::unit_defaults(
            layout,
            &format!("brisk container {id}"),
        ));
        if let Some(r) = resources {
            props.extend(props::from_resources(r, layout, true)?);
        } else {
            props.extend(props::from_resources(
                &LinuxResources::default(),
                layout,
                true,
            )?);
        }
        // Last: an annotation overrides what brisk chose (systemd takes
        // the last value of a property).
        props.extend(props::from_annotations(annotations)?);
        Ok(Scope {
            unit,
            props,
            early: std::cell::RefCell::new(bus::begin_private()),
        })
    }

    /// The fd of the connection begun early, which the init must close.
    pub fn connection_fd(&self) -> Option<std::os::fd::RawFd> {
        match &*self.early.borrow() {
            Some(Ok(p)) => Some(p.fd()),
            _ => None,
        }
    }

    /// Starts the scope with `pid` in it and waits until systemd has
    /// started it (the pid is then in the unit's cgroup in every
    /// hierarchy systemd manages).
    pub fn start(&self, pid: i32) -> Result<()> {
        let mut props = self.props.clone();
        props.push(("PIDs".to_string(), Value::U32s(vec![pid as u32])));
        let early = self.early.borrow_mut().take().or_else(bus::begin_private);
        let bus = bus::Bus::connect_from(early)?;
        match bus.start_transient_unit(&self.unit.name, &props) {
            Ok(()) => Ok(()),
            Err(bus::StartError {
                error,
                refused: true,
            }) => {
                // No unit was made for this container: a unit of that name
                // is another's (a running container given the same
                // cgroupsPath), which a stop would kill. Only the init goes.
                // SAFETY: as in `abandon`.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                Err(error)
            }
            Err(bus::StartError { error, .. }) => {
                // A unit whose job failed or timed out may exist: not left.
                abandon(pid, &self.unit.name);
                Err(error)
            }
        }
    }
}

/// After a failed create: kills the init `pid` (brisk's unreaped child,
/// which has not run the user's program; the caller reaps it) so that the
/// scope empties, then stops the unit (a scope's stop would otherwise
/// wait for the init up to its stop timeout).
pub fn abandon(pid: i32, unit: &str) {
    // SAFETY: kill has no memory effects; `pid` is an unreaped child, so
    // the number cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = stop(unit);
}

/// Stops a container's unit and waits; a unit that is gone already is no
/// error. Whatever is left in it is sent SIGKILL by systemd first: a
/// scope's stop sends SIGTERM and waits for its stop timeout (90 s by
/// default, beyond [`bus::BOUND`]), and a process of the container that
/// ignores SIGTERM from a cgroup nested below brisk's walks would hold it.
pub fn stop(unit: &str) -> Result<()> {
    let bus = bus::Bus::connect()?;
    bus.kill_unit(unit, libc::SIGKILL)?;
    bus.stop_unit(unit)
}

/// `update`: the new limits as the unit's properties, so that systemd
/// keeps them (a `daemon-reload` re-applies what the unit holds); the
/// files are written after, by the caller. Device rules are not touched.
pub fn update(unit: &str, resources: &LinuxResources, layout: Layout) -> Result<()> {
    let props = props::from_resources(resources, layout, false)?;
    if props.is_empty() {
        return Ok(());
    }
    bus::Bus::connect()?.set_unit_properties(unit, &props)
}
