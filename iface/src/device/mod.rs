//! smoltcp `Device`s for point-to-point links that carry bare IP frames.

pub mod memory;
#[cfg(feature = "std")]
pub mod pcap_tap;
pub mod stream;
#[cfg(all(feature = "std", target_os = "linux"))]
pub mod tun;
#[cfg(feature = "std")]
pub mod udp;
mod util;
