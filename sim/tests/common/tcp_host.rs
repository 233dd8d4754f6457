//! A smoltcp `Interface` with one TCP socket, as a simulator node, unmodified: the server
//! reads everything, the client writes its data and closes.

use bridgeless_sim::{Node, Port, Ports};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv6Address};

pub const TCP_PORT: u16 = 5000;

pub struct TcpHost {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub tcp: SocketHandle,
    pub server: bool,
    pub data: Vec<u8>,
    pub written: usize,
    pub received: Vec<u8>,
}

impl TcpHost {
    /// A host at `me`/64 on `device`; a client of `server` if given (with `data` to send),
    /// else a server. `gateway`: the default route, for hosts behind a router.
    pub fn new(
        device: &mut Port,
        random_seed: u64,
        me: Ipv6Address,
        gateway: Option<Ipv6Address>,
        server: Option<Ipv6Address>,
        data: Vec<u8>,
    ) -> Self {
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, device, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(IpAddress::Ipv6(me), 64)).unwrap();
        });
        if let Some(gateway) = gateway {
            iface.routes_mut().add_default_ipv6_route(gateway).unwrap();
        }
        let mut sockets = SocketSet::new(Vec::new());
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        match server {
            None => socket.listen(TCP_PORT).unwrap(),
            Some(server) => socket
                .connect(iface.context(), (IpAddress::Ipv6(server), TCP_PORT), 49_152)
                .unwrap(),
        }
        let tcp = sockets.add(socket);
        TcpHost {
            iface,
            sockets,
            tcp,
            server: server.is_none(),
            data,
            written: 0,
            received: Vec::new(),
        }
    }
}

impl Node for TcpHost {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        self.iface.poll(now, &mut ports[0], &mut self.sockets);
        let socket = self.sockets.get_mut::<tcp::Socket<'_>>(self.tcp);
        if self.server {
            while socket.can_recv() {
                socket
                    .recv(|buf| {
                        self.received.extend_from_slice(buf);
                        (buf.len(), ())
                    })
                    .unwrap();
            }
        } else if socket.can_send() && self.written < self.data.len() {
            self.written += socket.send_slice(&self.data[self.written..]).unwrap();
            if self.written == self.data.len() {
                socket.close();
            }
        }
        self.iface.poll(now, &mut ports[0], &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(now, &self.sockets)
    }
}
