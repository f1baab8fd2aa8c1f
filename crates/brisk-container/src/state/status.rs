//! Telling a live container from a dead one and from a recycled pid.

use std::fmt;
use std::io;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// `creating` is never reported: `state` waits on the lock `create` holds.
pub enum Status {
    Created,
    Running,
    /// Running, with its cgroup frozen (`pause`).
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// State letter and start time (clock ticks since boot) of a process, from
/// `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> io::Result<(u8, u64)> {
    use std::io::Read;
    // One read into a buffer that holds the whole line (a few hundred
    // bytes; the command name is at most 64): `fs::read` would grow its
    // buffer from 32 bytes, one read per doubling.
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat"))?;
    let mut buf = [0u8; 2048];
    let mut len = 0;
    loop {
        let want = buf.len() - len;
        let n = f.read(&mut buf[len..])?;
        len += n;
        // procfs hands the whole line to one read: a short read is the end.
        if n == 0 || n < want || len == buf.len() {
            break;
        }
    }
    parse_stat(&buf[..len])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

/// Parses the fields after the command name, which may itself contain
/// spaces and parentheses (so split at the last `)`).
pub fn parse_stat(data: &[u8]) -> Option<(u8, u64)> {
    let close = data.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&data[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // After the state (field 3) comes field 4; start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is a container init that has not executed its program
/// yet: it is named `brisk init` from its clone to its `execve`
/// (`init::title`). A created container whose exec FIFO is still there but
/// whose init runs the program is running (a `start` killed between its
/// write and its unlink).
///
/// An init made by a brisk from before that naming has brisk's own name
/// (whatever the binary is called, `runc` for a drop-in): that counts too,
/// so that a container created before an upgrade still starts.
pub fn is_waiting_init(pid: i32) -> bool {
    let Ok(comm) = std::fs::read(format!("/proc/{pid}/comm")) else {
        return false;
    };
    let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
    comm == crate::init::title::NAME
        || std::fs::read("/proc/self/comm")
            .is_ok_and(|own| own.strip_suffix(b"\n").unwrap_or(&own) == comm)
}

/// Whether `pid` is still the process that was recorded, and not a zombie.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && matches!(proc_stat(pid), Ok((state, start)) if start == start_time && state != b'Z' && state != b'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_command_names() {
        let line =
            b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some((b'S', 987654)));
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let (_, start) = proc_stat(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(!is_alive(0, start));
    }
}
