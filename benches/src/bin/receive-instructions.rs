//! Runs one receive path over one packet shape many times, for counting instructions with
//! `valgrind --tool=callgrind` (repeatable on a shared machine, unlike wall time):
//!
//! ```sh
//! cargo build --release -p bridgeless-benches --bin receive-instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/receive-instructions bridgeless udp_112 1000000
//! ```
//!
//! Per-packet cost = (instructions with N iterations − instructions with 0) / N; the
//! `scripts/receive-instructions` wrapper does that arithmetic for every path and shape.

use std::hint::black_box;
use std::process::ExitCode;

use bridgeless_benches::receive::{
    Outcome, bridgeless, etherparse_ip, smoltcp_ethernet, smoltcp_ipv6,
};
use bridgeless_benches::shapes;

/// A receive path under test.
type Parser = fn(&[u8]) -> Option<Outcome>;

/// The cost of the loop and the call alone: looks at nothing but the length.
#[inline(never)]
fn floor(bytes: &[u8]) -> Option<Outcome> {
    Some((bytes.len() as u8, 0, 0))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, shape, n] = &args[..] else {
        eprintln!("usage: receive-instructions PATH SHAPE ITERATIONS");
        return ExitCode::from(2);
    };
    let Some(shape) = shapes().into_iter().find(|s| s.name == shape.as_str()) else {
        eprintln!("unknown shape {shape}");
        return ExitCode::from(2);
    };
    let (parse, frame): (Parser, Vec<u8>) = match path.as_str() {
        "bridgeless" => (bridgeless, shape.bare.clone()),
        "smoltcp_ethernet" => (smoltcp_ethernet, shape.ethernet()),
        "smoltcp_ip" => (smoltcp_ipv6, shape.bare.clone()),
        "etherparse_ip" => (etherparse_ip, shape.bare.clone()),
        "floor" => (floor, shape.bare.clone()),
        other => {
            eprintln!("unknown path {other}");
            return ExitCode::from(2);
        }
    };
    let n: u64 = n.parse().expect("iterations");
    let mut acc = 0u32;
    for _ in 0..n {
        if let Some((p, s, d)) = parse(black_box(&frame)) {
            acc = acc.wrapping_add(u32::from(p) ^ u32::from(s) ^ u32::from(d));
        }
    }
    black_box(acc);
    ExitCode::SUCCESS
}
