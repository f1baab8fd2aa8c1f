//! systemd's private socket, `/run/systemd/private`, for zbus.
//!
//! The socket speaks D-Bus peer to peer, and systemd signs every message
//! on it with the sender `org.freedesktop.systemd1`. zbus takes a
//! message's sender for a unique name (`:1.42`) and rejects (in places
//! panics on) any other. So the socket's read half here frames the
//! messages itself and rewrites that one header field to the unique name
//! `:org.freedesktop.systemd`, of the same length (no offset or padding
//! changes; bodies are never touched). The authentication, EXTERNAL with
//! brisk's uid, is done before zbus gets the socket.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use async_io::Async;
use zbus::connection::socket::{BoxedSplit, ReadHalf, Split, WriteHalf};

const SENDER: &[u8; 24] = b"org.freedesktop.systemd1";
const UNIQUE: &[u8; 24] = b":org.freedesktop.systemd";
/// D-Bus messages are at most 128 MiB.
const MAX_MESSAGE: usize = 128 << 20;

/// A connection whose authentication is under way: made before the
/// init's clone, so that systemd accepts it and answers meanwhile.
#[derive(Debug)]
pub struct Pending(UnixStream);

/// Connects and sends the authentication (EXTERNAL with brisk's uid) and
/// BEGIN, without waiting for the answer.
pub fn begin(path: &str, bound: Duration) -> io::Result<Pending> {
    // A non-blocking connect: a listener whose backlog is full (a systemd
    // that stopped accepting) fails it with EAGAIN at once, where a
    // blocking one would wait without bound.
    let fd = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&fd, &rustix::net::SocketAddrUnix::new(path)?)?;
    let mut s = UnixStream::from(fd);
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(bound))?;
    s.set_write_timeout(Some(bound))?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() }.to_string();
    let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
    // BEGIN goes with AUTH, as sd-bus's own clients send it: systemd reads
    // the authentication lines up to BEGIN in one go, and a first message
    // that arrived with a late BEGIN could sit unread in its buffer until
    // more data came (a call that never got its answer, 1 in 10 under
    // load).
    s.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())?;
    Ok(Pending(s))
}

impl Pending {
    /// The socket's fd (for the init to close: it must never reach the
    /// container).
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    /// Reads systemd's answer; returns the socket for
    /// `Builder::authenticated_socket` and the server's GUID.
    pub fn finish(self) -> io::Result<(BoxedSplit, String)> {
        let mut s = self.0;
        let guid = read_ok(&mut s)?;
        s.set_read_timeout(None)?;
        s.set_write_timeout(None)?;
        let s = Arc::new(Async::new(s)?);
        let read: Box<dyn ReadHalf> = Box::new(SenderFix {
            inner: s.clone(),
            buf: Vec::new(),
            served: 0,
        });
        let write: Box<dyn WriteHalf> = Box::new(s);
        Ok((Split::new(read, write), guid))
    }
}

/// The answer lines (`DATA`, then `OK <guid>`), and nothing after them:
/// systemd may send messages right behind (a private connection gets
/// every signal). One peek usually holds them all, then one read takes
/// exactly them; else they are read a byte at a time.
fn read_ok(s: &mut UnixStream) -> io::Result<String> {
    let mut peeked = [0u8; 256];
    let n = rustix::net::recv(&*s, &mut peeked, rustix::net::RecvFlags::PEEK)
        .map_err(io::Error::from)?;
    let mut text = &peeked[..n.0];
    let mut take = 0;
    while let Some(end) = text.windows(2).position(|w| w == b"\r\n") {
        let line = &text[..end];
        take += end + 2;
        if let Some(guid) = line.strip_prefix(b"OK ") {
            let guid = String::from_utf8_lossy(guid).into_owned();
            let mut sink = vec![0u8; take];
            s.read_exact(&mut sink)?;
            return Ok(guid);
        }
        if line != b"DATA" {
            return Err(refused(line));
        }
        text = &text[end + 2..];
    }
    loop {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if s.read(&mut byte)? == 0 || line.len() > 512 {
                return Err(io::Error::other("the authentication was cut short"));
            }
            line.push(byte[0]);
        }
        let line = &line[..line.len() - 2];
        if let Some(guid) = line.strip_prefix(b"OK ") {
            return Ok(String::from_utf8_lossy(guid).into_owned());
        }
        if line != b"DATA" {
            return Err(refused(line));
        }
    }
}

fn refused(line: &[u8]) -> io::Error {
    io::Error::other(format!(
        "authentication refused: {:?}",
        String::from_utf8_lossy(line)
    ))
}

/// The read half: whole messages, their sender rewritten.
#[derive(Debug)]
struct SenderFix {
    inner: Arc<Async<UnixStream>>,
    /// The current message, patched.
    buf: Vec<u8>,
    /// How much of it zbus has read.
    served: usize,
}

impl SenderFix {
    /// Reads until `buf` holds `n` bytes; `false` at end of stream.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() < n {
            let have = self.buf.len();
            self.buf.resize(n, 0);
            let (got, _fds) = ReadHalf::recvmsg(&mut self.inner, &mut self.buf[have..]).await?;
            self.buf.truncate(have + got);
            if got == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next message into `buf`; `false` at end of stream.
    async fn next_message(&mut self) -> io::Result<bool> {
        self.buf.clear();
        self.served = 0;
        if !self.fill(16).await? {
            if self.buf.is_empty() {
                return Ok(false);
            }
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let little = match self.buf[0] {
            b'l' => true,
            b'B' => false,
            _ => return Err(io::Error::other("not a D-Bus message")),
        };
        let u32_at = |b: &[u8], at: usize| {
            let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            (if little {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            }) as usize
        };
        let body = u32_at(&self.buf, 4);
        let fields = u32_at(&self.buf, 12);
        let header = (16 + fields).div_ceil(8) * 8;
        let total = header.saturating_add(body);
        if total > MAX_MESSAGE {
            return Err(io::Error::other("a D-Bus message over 128 MiB"));
        }
        if !self.fill(total).await? {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        patch_sender(&mut self.buf[16..16 + fields], little);
        Ok(true)
    }
}

/// Rewrites the sender field (code 7, signature `s`, systemd's name) in
/// a message's header fields.
fn patch_sender(fields: &mut [u8], little: bool) {
    let len: [u8; 4] = if little {
        (SENDER.len() as u32).to_le_bytes()
    } else {
        (SENDER.len() as u32).to_be_bytes()
    };
    let mut pattern = vec![7u8, 1, b's', 0];
    pattern.extend_from_slice(&len);
    pattern.extend_from_slice(SENDER);
    pattern.push(0);
    // Fields start at 8-byte boundaries of the message, and the array at
    // offset 16: at multiples of 8 here too.
    let mut at = 0;
    while at + pattern.len() <= fields.len() {
        if fields[at..at + pattern.len()] == pattern[..] {
            fields[at + 8..at + 8 + UNIQUE.len()].copy_from_slice(UNIQUE);
            return;
        }
        at += 8;
    }
}

#[async_trait::async_trait]
impl ReadHalf for SenderFix {
    async fn recvmsg(&mut self, out: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
        if self.served == self.buf.len() && !self.next_message().await? {
            return Ok((0, Vec::new()));
        }
        let n = out.len().min(self.buf.len() - self.served);
        out[..n].copy_from_slice(&self.buf[self.served..self.served + n]);
        self.served += n;
        Ok((n, Vec::new()))
    }

    async fn peer_credentials(&mut self) -> io::Result<zbus::fdo::ConnectionCredentials> {
        ReadHalf::peer_credentials(&mut self.inner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_systemds_sender_field_is_rewritten() {
        // A path field (code 1, "o") then the sender field, little-endian.
        let mut f = vec![1u8, 1, b'o', 0, 1, 0, 0, 0, b'/', 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[7, 1, b's', 0, 24, 0, 0, 0]);
        f.extend_from_slice(SENDER);
        f.push(0);
        let mut patched = f.clone();
        patch_sender(&mut patched, true);
        assert_eq!(&patched[24..48], UNIQUE);
        assert_eq!(patched[..24], f[..24]);
        // Big-endian length: no match when read as little-endian.
        let mut other = f.clone();
        patch_sender(&mut other, false);
        assert_eq!(other, f);
    }
}
