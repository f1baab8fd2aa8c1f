//! Talking to systemd's manager over D-Bus (zbus): as root its private
//! socket `/run/systemd/private` first (no bus daemon in the way, one
//! round trip fewer; runc does the same), then the system bus. Every call
//! and every wait for a job is bounded.
//!
//! zbus is asynchronous; each operation here runs to completion on the
//! calling thread (`block_on` driving the connection's executor, no
//! executor thread of zbus's own). The async-io reactor it uses may start
//! one helper thread: it is started with every signal blocked, so it
//! never takes a signal meant for brisk's main thread (`run` forwards
//! signals it has blocked). This all happens after the init's clone.

use std::future::Future;
use std::time::Duration;

use futures_lite::StreamExt;
use zbus::zvariant::{self, OwnedObjectPath};

use super::private::Pending;
use super::props::{Property, Value};
use crate::error::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PRIVATE: &str = "/run/systemd/private";
const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// How long one D-Bus call or one job may take (runc waits 30 s for a
/// job; systemd's own default method timeout is 25 s).
pub const BOUND: Duration = Duration::from_secs(30);

/// A failed [`Bus::start_transient_unit`].
#[derive(Debug)]
pub struct StartError {
    pub error: Error,
    /// systemd refused the call itself: the unit of that name, if there
    /// is one, is not the caller's and must not be stopped (otherwise the
    /// unit may exist, with the pid in it: a job that failed, or no
    /// answer in time).
    pub refused: bool,
}

/// A connection to systemd's manager.
pub struct Bus {
    conn: zbus::Connection,
    /// What it is connected to, for messages.
    via: String,
}

/// Blocks every signal on this thread until dropped, so that threads
/// started meanwhile inherit a full mask.
struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
        // SAFETY: both sets are valid; sigfillset/sigprocmask only fill
        // and swap this thread's mask.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            SignalsBlocked(old)
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Runs `fut` on this thread, failing with a timeout past `bound`.
fn bounded<T>(what: &str, bound: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    let _mask = SignalsBlocked::new();
    zbus::block_on(futures_lite::future::or(fut, async {
        async_io::Timer::after(bound).await;
        Err(Error::Timeout(format!(
            "systemd cgroup driver: {what}: no answer from systemd within {} s",
            bound.as_secs()
        )))
    }))
}

fn dbus_err<'a>(what: &str, via: &'a str) -> impl Fn(zbus::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::Unsupported(format!("systemd cgroup driver: {what} (via {via}): {e}"))
}

/// The D-Bus error name of a failed method call.
fn error_name(e: &zbus::Error) -> Option<String> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        _ => None,
    }
}

/// As root: connects to systemd's private socket and sends the
/// authentication, not waiting for the answer (`None` for anyone else,
/// who goes through the system bus). Its error is kept for
/// [`Bus::connect_from`]'s message.
pub fn begin_private() -> Option<std::result::Result<Pending, String>> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    Some(super::private::begin(PRIVATE, BOUND).map_err(|e| e.to_string()))
}

impl Bus {
    /// Connects to systemd: the private socket as root, else (or when it
    /// does not answer) the system bus (`$DBUS_SYSTEM_BUS_ADDRESS` or the
    /// standard socket). The error names both attempts.
    pub fn connect() -> Result<Bus> {
        Self::connect_from(begin_private())
    }

    /// `connect`, with the private socket's connection begun earlier
    /// (`begin_private`).
    pub fn connect_from(early: Option<std::result::Result<Pending, String>>) -> Result<Bus> {
        let mut tried = Vec::new();
        if let Some(early) = early {
            match early.and_then(Self::open_private) {
                Ok(b) => return Ok(b),
                Err(e) => tried.push(format!("systemd's private socket {PRIVATE}: {e}")),
            }
        }
        let addr = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| SYSTEM_BUS.into());
        match Self::open(&addr) {
            Ok(b) => Ok(b),
            Err(e) => {
                tried.push(format!("the system bus {addr}: {e}"));
                Err(Error::Unsupported(format!(
                    "the systemd cgroup driver cannot reach systemd (is it running as PID 1?): \
                     tried {}",
                    tried.join("; ")
                )))
            }
        }
    }

    /// A bus (through its daemon).
    fn open(addr: &str) -> std::result::Result<Bus, String> {
        let builder = zbus::connection::Builder::address(addr).map_err(|e| e.to_string())?;
        Self::build(builder, addr.trim_start_matches("unix:path="))
    }

    /// systemd's private socket: peer to peer (no `Hello`), see
    /// [`super::private`].
    fn open_private(pending: Pending) -> std::result::Result<Bus, String> {
        // Registering the socket may start async-io's reactor thread.
        let masked = SignalsBlocked::new();
        let (socket, guid) = pending.finish().map_err(|e| e.to_string())?;
        drop(masked);
        let builder = zbus::connection::Builder::authenticated_socket(socket, guid.as_str())
            .map_err(|e| e.to_string())?
            .p2p();
        Self::build(builder, PRIVATE)
    }

    fn build(
        builder: zbus::connection::Builder<'_>,
        via: &str,
    ) -> std::result::Result<Bus, String> {
        let builder = builder.internal_executor(false).method_timeout(BOUND);
        let conn = bounded("connect", BOUND, async {
            builder
                .build()
                .await
                .map_err(|e| Error::Unsupported(e.to_string()))
        })
        .map_err(|e| e.to_string())?;
        Ok(Bus {
            conn,
            via: via.to_string(),
        })
    }

    /// Runs `fut` with the connection's executor driven (it reads the
    /// socket), bounded.
    fn run<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let executor = self.conn.executor();
        bounded(
            what,
            BOUND,
            futures_lite::future::or(fut, async {
                loop {
                    executor.tick().await;
                }
            }),
        )
    }

    async fn call(
        &self,
        method: &str,
        body: &(impl serde::Serialize + zvariant::DynamicType),
    ) -> zbus::Result<zbus::Message> {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
            .await
    }

    /// Starts the transient unit `name` and waits until its start job is
    /// done; a job that ends otherwise (`failed`, `timeout`...) is an
    /// error naming its result. A unit of that name left over in a failed
    /// state is reset first, once. The error says whether systemd refused
    /// the call ([`StartError::refused`]).
    pub fn start_transient_unit(
        &self,
        name: &str,
        props: &[Property],
    ) -> std::result::Result<(), StartError> {
        let what = format!("start the unit {name}");
        let err = dbus_err(&what, &self.via);
        let refused = std::cell::Cell::new(false);
        let body_props = to_dbus(props).map_err(|error| StartError {
            error,
            refused: true,
        })?;
        let aux: Vec<(&str, Vec<(&str, zvariant::Value<'_>)>)> = Vec::new();
        let started = self.run(&what, async {
            let mut jobs = self.job_removed_stream().await.map_err(&err)?;
            let mut retried = false;
            let job = loop {
                match self
                    .call("StartTransientUnit", &(name, "replace", &body_props, &aux))
                    .await
                {
                    Ok(reply) => {
                        break reply
                            .body()
                            .deserialize::<OwnedObjectPath>()
                            .map_err(&err)?
                    }
                    Err(e)
                        if !retried
                            && error_name(&e).as_deref()
                                == Some("org.freedesktop.systemd1.UnitExists") =>
                    {
                        // A unit of a container that went away failed
                        // and stays loaded until reset; an active one
                        // makes the retry fail again.
                        retried = true;
                        let _ = self.call("ResetFailedUnit", &(name,)).await;
                    }
                    Err(e) => {
                        // systemd answered with an error: it made no unit
                        // and moved no pid (UnitExists: the name is
                        // another's, a running container's).
                        refused.set(error_name(&e).is_some());
                        return Err(err(e));
                    }
                }
            };
            self.wait_job(&mut jobs, &job, name).await
        });
        started.map_err(|error| StartError {
            error,
            refused: refused.get(),
        })
    }

    /// Stops `name` and waits for the job; a unit that is not loaded any
    /// more (a scope goes when its last process does) is already stopped.
    /// A unit whose stop did not end well is reset, so that no failed
    /// unit stays loaded.
    pub fn stop_unit(&self, name: &str) -> Result<()> {
        let what = format!("stop the unit {name}");
        let err = dbus_err(&what, &self.via);
        self.run(&what, async {
            let mut jobs = self.job_removed_stream().await.map_err(&err)?;
            let job = match self.call("StopUnit", &(name, "replace")).await {
                Ok(reply) => reply
                    .body()
                    .deserialize::<OwnedObjectPath>()
                    .map_err(&err)?,
                Err(e)
                    if error_name(&e).as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit") =>
                {
                    return Ok(());
                }
                Err(e) => return Err(err(e)),
            };
            let waited = self.wait_job(&mut jobs, &job, name).await;
            if waited.is_err() {
                // A unit that failed stays loaded until reset.
                let _ = self.call("ResetFailedUnit", &(name,)).await;
            }
            waited
        })
    }

    /// `KillUnit(name, "all", signal)`: systemd signals every process in
    /// the unit's cgroup subtree in the hierarchy it tracks units with,
    /// however deep the container nested its own cgroups (Delegate=yes).
    /// A unit that is gone, or has no process left, is no error.
    pub fn kill_unit(&self, name: &str, signal: i32) -> Result<()> {
        let what = format!("kill the processes of the unit {name}");
        let err = dbus_err(&what, &self.via);
        self.run(&what, async {
            match self.call("KillUnit", &(name, "all", signal)).await {
                Ok(_) => Ok(()),
                Err(e)
                    if matches!(
                        error_name(&e).as_deref(),
                        Some("org.freedesktop.systemd1.NoSuchUnit")
                            | Some("org.freedesktop.systemd1.NoSuchProcess")
                    ) =>
                {
                    Ok(())
                }
                Err(e) => Err(err(e)),
            }
        })
    }

    /// `SetUnitProperties` for the running unit (runtime only: lost at
    /// reboot, as the unit is).
    pub fn set_unit_properties(&self, name: &str, props: &[Property]) -> Result<()> {
        let what = format!("set the properties of the unit {name}");
        let err = dbus_err(&what, &self.via);
        let body_props = to_dbus(props)?;
        self.run(&what, async {
            self.call("SetUnitProperties", &(name, true, &body_props))
                .await
                .map(|_| ())
                .map_err(&err)
        })
    }

    /// The `JobRemoved` signals, subscribed before the call that makes
    /// the job (on the system bus an AddMatch; systemd sends a job's
    /// signals to the client that asked for it either way).
    async fn job_removed_stream(&self) -> zbus::Result<zbus::MessageStream> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(MANAGER)?
            .member("JobRemoved")?
            .path(PATH)?
            .build();
        zbus::MessageStream::for_match_rule(rule, &self.conn, Some(64)).await
    }

    async fn wait_job(
        &self,
        jobs: &mut zbus::MessageStream,
        job: &OwnedObjectPath,
        unit: &str,
    ) -> Result<()> {
        while let Some(msg) = jobs.next().await {
            let Ok(msg) = msg else { continue };
            let Ok((_id, path, _unit, result)) = msg
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if &path != job {
                continue;
            }
            return if result == "done" {
                Ok(())
            } else {
                Err(Error::Unsupported(format!(
                    "systemd cgroup driver: the job for the unit {unit} ended with \
                     {result:?} (see `journalctl -u {unit}` or `systemctl status {unit}`)"
                )))
            };
        }
        Err(Error::Unsupported(format!(
            "systemd cgroup driver: the connection to systemd ({}) closed while waiting for \
             the job of the unit {unit}",
            self.via
        )))
    }
}

/// The properties as D-Bus `a(sv)`.
fn to_dbus(props: &[Property]) -> Result<Vec<(&str, zvariant::Value<'_>)>> {
    Ok(props.iter().map(|(n, v)| (n.as_str(), value(v))).collect())
}

fn value(v: &Value) -> zvariant::Value<'_> {
    use zvariant::Value as V;
    match v {
        Value::Bool(b) => V::from(*b),
        Value::Byte(n) => V::from(*n),
        Value::I16(n) => V::from(*n),
        Value::U16(n) => V::from(*n),
        Value::I32(n) => V::from(*n),
        Value::U32(n) => V::from(*n),
        Value::I64(n) => V::from(*n),
        Value::U64(n) => V::from(*n),
        Value::Double(n) => V::from(*n),
        Value::Str(s) => V::from(s.as_str()),
        Value::Bytes(b) => V::from(b.clone()),
        Value::U32s(u) => V::from(u.clone()),
        Value::Strs(s) => V::from(s.clone()),
        Value::Pairs(p) => V::from(p.clone()),
    }
}
