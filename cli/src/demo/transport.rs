//! How the phone's byte stream reaches the server: a [`Transport`] owns whatever sits between
//! the phone's (or server's) outer stack and the TCP socket the application reads and writes.
//!
//! [`RoamingTransport`](super::roaming) carries the TCP connection inside a roaming session,
//! between identity addresses, so it survives every move. [`DirectTcp`] is the same stream as
//! a plain TCP connection between the phone's and the server's addresses: it dies at the
//! first move (its address is gone), which is the point of comparison.

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv6Address};

/// The TCP port of the stream.
pub const TCP_PORT: u16 = 443;
/// The TCP sockets' buffers: room for more than a handover's worth of the stream.
pub const TCP_BUFFER: usize = 128 * 1024;

/// The state of a transport, sampled for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// The session (or connection) is established.
    pub established: bool,
    /// It ended.
    pub closed: bool,
    /// Smoothed round-trip time of the current path, in ms, if measured.
    pub rtt_ms: Option<f64>,
    /// Times the peer's address changed (the server sees the phone migrate).
    pub migrations: u64,
    /// New paths validated.
    pub validations: u64,
}

/// A stream between the phone and the server (see the module docs). Per poll of the node:
/// the outer stack's `poll`, [`receive`](Self::receive), the application on
/// [`stream`](Self::stream), [`transmit`](Self::transmit), the outer stack's `poll` again.
pub trait Transport {
    /// A short name for the timeline ("roaming session", "direct TCP").
    fn name(&self) -> &'static str;

    /// The client opens the stream to the server at `server`.
    fn connect(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
        server: Ipv6Address,
    );

    /// Takes in what the outer stack received.
    fn receive(&mut self, now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>);

    /// The TCP socket the application writes to (client) or reads from (server), once there.
    fn stream<'a>(
        &'a mut self,
        sockets: &'a mut SocketSet<'static>,
    ) -> Option<&'a mut tcp::Socket<'static>>;

    /// Hands what is to be sent to the outer stack.
    fn transmit(&mut self, now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>);

    /// When the transport next needs a poll (besides the outer stack's own timers).
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;

    /// The state now.
    fn stats(&self) -> TransportStats;

    /// The next event for the timeline, in words.
    fn poll_event(&mut self) -> Option<String>;

    /// TCP segments the client sent, with retransmissions.
    fn tcp_sent(&self) -> super::watch::TcpSent;
}

/// A TCP socket with the demo's buffers.
pub fn tcp_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    socket.set_nagle_enabled(false);
    socket
}

/// The stream as a plain TCP connection on the outer stack (see the module docs).
pub struct DirectTcp {
    handle: SocketHandle,
    client: bool,
    events: Vec<String>,
    was_established: bool,
    was_closed: bool,
}

impl DirectTcp {
    /// A client (`client`) or a listening server, with its socket in `sockets`.
    pub fn new(sockets: &mut SocketSet<'static>, client: bool) -> DirectTcp {
        let mut socket = tcp_socket();
        if !client {
            // A fresh socket listening on a non-zero port cannot fail.
            let _ = socket.listen(TCP_PORT);
        }
        DirectTcp {
            handle: sockets.add(socket),
            client,
            events: Vec::new(),
            was_established: false,
            was_closed: false,
        }
    }
}

impl Transport for DirectTcp {
    fn name(&self) -> &'static str {
        "direct TCP"
    }

    fn connect(
        &mut self,
        _now: Instant,
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
        server: Ipv6Address,
    ) {
        let socket = sockets.get_mut::<tcp::Socket<'static>>(self.handle);
        if socket
            .connect(iface.context(), (IpAddress::Ipv6(server), TCP_PORT), 49_152)
            .is_err()
        {
            self.events.push("cannot connect".to_string());
        }
    }

    fn receive(&mut self, _now: Instant, _: &mut Interface, sockets: &mut SocketSet<'static>) {
        let socket = sockets.get::<tcp::Socket<'static>>(self.handle);
        if socket.is_active() && socket.may_send() && !self.was_established {
            self.was_established = true;
            self.events.push(format!(
                "TCP connection established ({})",
                if self.client { "client" } else { "server" }
            ));
        }
        if self.was_established && !socket.is_active() && !self.was_closed {
            self.was_closed = true;
            self.events.push("TCP connection closed".to_string());
        }
    }

    fn stream<'a>(
        &'a mut self,
        sockets: &'a mut SocketSet<'static>,
    ) -> Option<&'a mut tcp::Socket<'static>> {
        Some(sockets.get_mut::<tcp::Socket<'static>>(self.handle))
    }

    fn transmit(&mut self, _: Instant, _: &mut Interface, _: &mut SocketSet<'static>) {}

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        None
    }

    fn stats(&self) -> TransportStats {
        TransportStats {
            established: self.was_established,
            closed: self.was_closed,
            ..TransportStats::default()
        }
    }

    fn poll_event(&mut self) -> Option<String> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    fn tcp_sent(&self) -> super::watch::TcpSent {
        super::watch::TcpSent::default()
    }
}
