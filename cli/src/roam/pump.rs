//! Copying stdin → stream and stream → stdout without starving the session.
//!
//! [`RoamingStream`] runs its loop (receive, timers, acknowledgments, keepalives) only inside
//! its own calls, and a blocking read of stdin would stop it for as long as the user types
//! nothing. So stdin is read by a thread of its own ([`Stdin`]) into a small bounded channel,
//! stdout is written by another ([`Stdout`]), and the copy loop ([`copy`]) only ever blocks
//! inside the stream, for at most [`STEP`] at a time, looking at the channels between calls.
//!
//! Between calls the loop also watches the session ([`Watch`]): it logs the peer's address
//! changes and path validations, and it notices when the local address the socket is bound
//! to has disappeared from the host (the interface lost it: a new network, DHCP gave another
//! address), in which case it moves the stream to a new socket on the unspecified address
//! with [`RoamingStream::rebind`], so that the kernel picks whatever source address the host
//! has now.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bridgeless_roaming::stream::RoamingStream;
use bridgeless_roaming::{DropReason, SessionStats};

use super::Log;

/// Longest a single stream call blocks, so that stdin is looked at this often while idle.
pub const STEP: Duration = Duration::from_millis(20);
/// Longest a read waits while there is also something to send.
const SHORT: Duration = Duration::from_millis(1);
/// How often the local address is checked.
const ADDRESS_CHECK: Duration = Duration::from_millis(250);
/// Bytes per chunk read from stdin or from the stream.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting between the threads and the loop, each way.
const CHANNEL: usize = 4;

/// Why copying stopped early.
#[derive(Debug)]
pub enum Failure {
    /// The stream or its session failed.
    Stream(io::Error),
    /// Reading stdin failed.
    Stdin(io::Error),
    /// stdout is closed or failed.
    Stdout,
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// The stdin reader thread's channel: chunks, then an empty chunk at end of file.
pub struct Stdin {
    rx: Receiver<io::Result<Vec<u8>>>,
    /// A chunk [`wait`](Self::wait) received, for the next `try_next`.
    held: Option<io::Result<Vec<u8>>>,
    eof: bool,
}

impl Stdin {
    /// Starts the reader thread. It blocks in `read(2)` and is never joined: the process
    /// exits around it.
    pub fn spawn() -> Stdin {
        let (tx, rx) = sync_channel(CHANNEL);
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut buf = vec![0; CHUNK];
                match stdin.read(&mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() || n == 0 {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Stdin {
            rx,
            held: None,
            eof: false,
        }
    }

    /// The next chunk if one is waiting; `Ok(None)` when none is (or after end of file).
    fn try_next(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        if self.eof {
            return Ok(None);
        }
        let next = match self.held.take() {
            Some(held) => Ok(held),
            None => self.rx.try_recv(),
        };
        match next {
            Ok(Ok(chunk)) if chunk.is_empty() => {
                self.eof = true;
                Ok(None)
            }
            Ok(Ok(chunk)) => Ok(Some(chunk)),
            Ok(Err(e)) => Err(Failure::Stdin(e)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => {
                self.eof = true;
                Ok(None)
            }
        }
    }

    /// Waits at most `timeout` for a chunk (keeping it for the next `try_next`).
    fn wait(&mut self, timeout: Duration) {
        if self.held.is_none() && !self.eof {
            self.held = self.rx.recv_timeout(timeout).ok();
        }
    }
}

/// The stdout writer thread's channel.
pub struct Stdout {
    tx: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Stdout {
    /// Starts the writer thread.
    pub fn spawn() -> Stdout {
        let (tx, rx) = sync_channel::<Vec<u8>>(CHANNEL);
        let thread = std::thread::spawn(move || {
            let mut stdout = io::stdout().lock();
            for chunk in rx {
                stdout.write_all(&chunk)?;
                stdout.flush()?;
            }
            Ok(())
        });
        Stdout {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands `chunk` over without blocking; gives it back when the channel is full.
    fn try_send(&self, chunk: Vec<u8>) -> Result<Option<Vec<u8>>, Failure> {
        let Some(tx) = &self.tx else {
            return Err(Failure::Stdout);
        };
        match tx.try_send(chunk) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(chunk)) => Ok(Some(chunk)),
            Err(TrySendError::Disconnected(_)) => Err(Failure::Stdout),
        }
    }

    /// Writes out everything handed over and stops the thread.
    pub fn finish(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("stdout writer panicked")),
            None => Ok(()),
        }
    }
}

/// Watches one session: logs address changes and validations, moves the socket when its
/// local address is gone.
pub struct Watch<'a> {
    log: &'a Log,
    last: Option<SessionStats>,
    next_check: Instant,
    send_errors: u64,
}

impl<'a> Watch<'a> {
    /// Starts watching `stream`.
    pub fn new(log: &'a Log, stream: &RoamingStream) -> Watch<'a> {
        Watch {
            log,
            last: stream.session_stats(),
            next_check: Instant::now() + ADDRESS_CHECK,
            send_errors: stream.driver().counters().send_errors,
        }
    }

    /// Logs what changed since the last look; moves the socket if its address is gone.
    fn check(&mut self, stream: &mut RoamingStream) -> io::Result<()> {
        if let Some(now) = stream.session_stats() {
            if let Some(last) = self.last {
                if now.migrations > last.migrations || now.remote != last.remote {
                    let state = if now.path_resets > last.path_resets {
                        "new path state"
                    } else {
                        "path state kept: same address, new port"
                    };
                    self.log.say(format_args!(
                        "peer address changed: {} -> {} (migration {}, {state})",
                        last.remote, now.remote, now.migrations
                    ));
                }
                if now.validations > last.validations {
                    self.log.say(format_args!("path validated: {}", now.remote));
                }
                if now.reverts > last.reverts {
                    self.log.say(format_args!(
                        "path validation failed: back to {}",
                        now.remote
                    ));
                }
            }
            self.last = Some(now);
        }
        // Look at the local address now and then, and at once when sending fails.
        let send_errors = stream.driver().counters().send_errors;
        if Instant::now() >= self.next_check || send_errors > self.send_errors {
            self.next_check = Instant::now() + ADDRESS_CHECK;
            self.send_errors = send_errors;
            let local = stream.driver().socket().local_addr()?;
            if address_gone(local.ip()) {
                let any = match local {
                    SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let socket = UdpSocket::bind((any, 0))?;
                enlarge_buffers(&socket);
                let new = socket.local_addr()?;
                stream.rebind(socket)?;
                self.log.say(format_args!(
                    "local address {} is gone: moved the session to a socket on {new} \
                     (the system picks the source address)",
                    local.ip()
                ));
            }
        }
        Ok(())
    }
}

impl Watch<'_> {
    /// One line of counters for the end of a stream: the session's (as last seen), the UDP
    /// socket's and every non-zero drop reason.
    pub fn summary(&self, stream: &RoamingStream) -> String {
        let d = stream.driver().counters();
        let mut line = format!(
            "UDP datagrams sent {}, received {}, send errors {}",
            d.sent, d.received, d.send_errors
        );
        if let Some(s) = self.last {
            line += &format!(
                "; session packets sent {}, received {}, migrations {}, validations {}, \
                 reverts {}, rtt {} ms",
                s.packets_sent,
                s.packets_received,
                s.migrations,
                s.validations,
                s.reverts,
                s.rtt.smoothed().total_millis()
            );
        }
        let t = stream.tunnel().counters();
        if t.tx_dropped_full + t.tx_dropped_session > 0 {
            line += &format!(
                "; tunnel dropped {} (queue full) {} (session gone)",
                t.tx_dropped_full, t.tx_dropped_session
            );
        }
        let endpoint = stream.driver().endpoint();
        for reason in DropReason::ALL {
            let n = endpoint.dropped(*reason);
            if n > 0 {
                line += &format!("; dropped {reason} {n}");
            }
        }
        line
    }
}

/// Socket buffer asked for, each way (the kernel caps it: `net.core.rmem_max`/`wmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// Asks for large socket buffers. The stream sends bursts of up to a TCP window (256 KiB,
/// about 190 datagrams) and only drains the socket inside its calls: with Linux's default
/// 208 KiB receive buffer a burst overflows it on a fast link and TCP has to recover
/// (measured on loopback: 10-20 % of datagrams lost without this). Best effort.
pub fn enlarge_buffers(socket: &UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
}

/// Whether `ip` is a specific address this host no longer has (binding to it fails with
/// EADDRNOTAVAIL). The unspecified address is never gone.
fn address_gone(ip: IpAddr) -> bool {
    !ip.is_unspecified()
        && matches!(
            UdpSocket::bind((ip, 0)),
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable
        )
}

/// A failed call is only a timeout of ours (the step elapsed) while the session lives: a
/// session that ended (idle timeout, peer closed) also reports `TimedOut`.
fn step_or_fail(stream: &RoamingStream, e: io::Error) -> Result<(), Failure> {
    if e.kind() == io::ErrorKind::TimedOut && stream.session_stats().is_some() {
        Ok(())
    } else {
        Err(Failure::Stream(e))
    }
}

/// Copies stdin to the stream and the stream to stdout until both directions ended: stdin
/// at end of file, everything sent and acknowledged, our FIN sent (half-close) and the peer's
/// FIN received. `stop` (a signal) ends it early.
pub fn copy(
    stream: &mut RoamingStream,
    stdin: &mut Stdin,
    stdout: &Stdout,
    watch: &mut Watch<'_>,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let mut outgoing: Vec<u8> = Vec::new();
    let mut sent = 0;
    let mut to_stdout: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; CHUNK];
    let (mut peer_done, mut our_done) = (false, false);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(Failure::Interrupted);
        }
        watch.check(stream).map_err(Failure::Stream)?;

        // stdin → stream.
        if sent == outgoing.len()
            && let Some(chunk) = stdin.try_next()?
        {
            outgoing = chunk;
            sent = 0;
        }
        let sending = sent < outgoing.len();
        let closing = !sending && stdin.eof && !our_done;
        stream.set_timeout(Some(STEP));
        if sending {
            match stream.write(&outgoing[sent..]) {
                Ok(n) => sent += n,
                Err(e) => step_or_fail(stream, e)?,
            }
        } else if closing {
            // Everything is sent: FIN (once acknowledged) and wait for the peer's, a step
            // at a time. Later calls pick up where the last one stopped.
            match stream.shutdown() {
                Ok(()) => our_done = true,
                Err(e) => step_or_fail(stream, e)?,
            }
        }

        // stream → stdout.
        if let Some(chunk) = to_stdout.take() {
            to_stdout = stdout.try_send(chunk)?;
        }
        if peer_done && our_done && to_stdout.is_none() {
            return Ok(());
        }
        if to_stdout.is_none() && !peer_done {
            // Do not wait long for the peer when there is more to send.
            stream.set_timeout(Some(if sending || closing { SHORT } else { STEP }));
            match stream.read(&mut buf) {
                Ok(0) => peer_done = true,
                Ok(n) => to_stdout = stdout.try_send(buf[..n].to_vec())?,
                // After our shutdown succeeded the connection is over (TIME-WAIT or
                // CLOSED) and the session closed: what was buffered has been read, and
                // `read` reports the closed session as an error when the connection ended
                // in CLOSED (the peer's FIN came first), which is a clean end.
                Err(_) if our_done => peer_done = true,
                Err(e) => step_or_fail(stream, e)?,
            }
        } else if !sending && !closing {
            // Nothing to read (the peer is done, or stdout is backed up) and nothing to
            // send: keep the session going and wait for stdin a little.
            stream.poll().map_err(Failure::Stream)?;
            if to_stdout.is_some() || stdin.eof {
                std::thread::sleep(SHORT);
            } else {
                stdin.wait(STEP);
            }
        }
    }
}
