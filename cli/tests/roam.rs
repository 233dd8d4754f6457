//! `bridgeless roam` as a user runs it: key files, `serve` and `connect` as two processes
//! with data through their stdin and stdout, over real UDP sockets.
//!
//! ```text
//!  loopback (no root):   connect ──UDP 127.0.0.1 / [::1]──> serve
//!
//!  client_moves_* (root):
//!     ns C: connect, bound to A ── veth1 ══ veth0 ── ns S: serve
//!           then A is deleted from veth1 and B added: the client moves to B mid-stream
//! ```
//!
//! The namespace tests need root and `ip`. Without them they print a note and pass, except
//! under `CI=true`, where they fail.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bridgeless");

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A unique suffix: cargo runs tests in parallel.
fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("roam-{test}-{}", unique()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` bytes of a pattern that is different at every offset in a 251-byte cycle and
/// different per `seed`, so that a lost, repeated or reordered chunk shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_mul(7).wrapping_add(seed) ^ ((i >> 16) as u8))
        .collect()
}

/// The first offset where `got` differs from `want`, for a readable failure.
fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes received, {} expected, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

/// A `bridgeless` process whose stdout and stderr are collected by threads; killed on drop.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    name: &'static str,
}

impl Proc {
    /// Starts `command` (`bridgeless roam ...`, possibly behind `ip netns exec`).
    fn spawn(name: &'static str, mut command: Command, stdin: bool) -> Proc {
        command
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (o, e) = (stdout.clone(), stderr.clone());
        let readers = vec![
            std::thread::spawn(move || {
                let mut buf = vec![0; 65536];
                while let Ok(n @ 1..) = out.read(&mut buf) {
                    o.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }),
            std::thread::spawn(move || {
                let mut buf = vec![0; 4096];
                while let Ok(n @ 1..) = err.read(&mut buf) {
                    e.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }),
        ];
        Proc {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
            name,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stdout_len(&self) -> usize {
        self.stdout.lock().unwrap().len()
    }

    /// Writes `data` to stdin from a thread, then closes stdin.
    fn feed(&mut self, data: Vec<u8>) -> JoinHandle<()> {
        let mut stdin = self.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    }

    /// Waits for the process to exit (panicking with its stderr at `deadline`); returns
    /// its exit status and everything it wrote to stdout.
    fn wait(&mut self, deadline: Instant) -> (ExitStatus, Vec<u8>) {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit in time; stderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (status, std::mem::take(&mut *self.stdout.lock().unwrap()))
    }

    /// Waits until a line of stderr contains `text`; returns that line.
    fn wait_log(&self, text: &str, deadline: Instant) -> String {
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains(text)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{} never logged \"{text}\"; stderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address `serve` listens on, from its log.
    fn listening(&self, deadline: Instant) -> SocketAddr {
        let line = self.wait_log("listening on ", deadline);
        let rest = line.split("listening on ").nth(1).unwrap();
        rest.split(',').next().unwrap().parse().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn roam(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.arg("roam").args(args);
    command
}

/// `bridgeless roam keygen --out DIR/NAME`: the key file and the public key printed.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = roam(&["keygen", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "keygen: {out:?}");
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (path, public)
}

// ---------------------------------------------------------------------------------------
// Without root
// ---------------------------------------------------------------------------------------

#[test]
fn keygen_writes_a_private_file_and_prints_the_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("keygen");
    let (path, public) = keygen(&dir, "a.key");
    assert_eq!(public.len(), 64, "public key as 64 hex digits: {public}");
    assert!(public.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key file is mode 0600");
    let private = std::fs::read_to_string(&path).unwrap();
    assert_eq!(private.trim().len(), 64);
    assert_ne!(private.trim(), public);

    // `pubkey` derives the same public key from the file.
    let out = roam(&["pubkey", "--key", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), public);

    // An existing key is never overwritten (exit code 2), and two keys differ.
    let again = roam(&["keygen", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), private);
    assert_ne!(keygen(&dir, "b.key").1, public);
}

/// 1 MiB each way between `serve` and `connect` on `listen` (port 0: the server logs the
/// port it got), with the client's key pinned by the server: both outputs byte for byte,
/// both exit 0.
fn loopback(test: &str, listen: &str) {
    let dir = scratch(test);
    let (server_key, server_public) = keygen(&dir, "server.key");
    let (client_key, client_public) = keygen(&dir, "client.key");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut server = Proc::spawn(
        "serve",
        roam(&[
            "serve",
            "--listen",
            listen,
            "--key",
            server_key.to_str().unwrap(),
            "--allow",
            &client_public,
        ]),
        true,
    );
    let address = server.listening(deadline).to_string();
    let mut client = Proc::spawn(
        "connect",
        roam(&[
            "connect",
            "--server",
            &address,
            "--server-key",
            &server_public,
            "--key",
            client_key.to_str().unwrap(),
        ]),
        true,
    );
    let (up, down) = (pattern(1 << 20, 1), pattern(1 << 20, 2));
    let feeders = [client.feed(up.clone()), server.feed(down.clone())];
    let (client_status, client_out) = client.wait(deadline);
    let (server_status, server_out) = server.wait(deadline);
    for f in feeders {
        f.join().unwrap();
    }
    assert!(
        client_status.success() && server_status.success(),
        "connect: {client_status}, serve: {server_status}\nserver:\n{}client:\n{}",
        server.stderr(),
        client.stderr()
    );
    assert_same("server's stdout", &server_out, &up);
    assert_same("client's stdout", &client_out, &down);
    // The server logged the client's authenticated key.
    server.wait_log(&format!("client key {client_public}"), deadline);
}

#[test]
fn one_mebibyte_each_way_over_ipv4_loopback() {
    loopback("ipv4", "127.0.0.1:0");
}

#[test]
fn one_mebibyte_each_way_over_ipv6_loopback() {
    loopback("ipv6", "[::1]:0");
}

#[test]
fn a_client_not_allowed_gets_no_stream() {
    let dir = scratch("allow");
    let (server_key, server_public) = keygen(&dir, "server.key");
    let (_, other_public) = keygen(&dir, "other.key");
    let deadline = Instant::now() + Duration::from_secs(60);
    let server = Proc::spawn(
        "serve",
        roam(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key",
            server_key.to_str().unwrap(),
            "--allow",
            &other_public,
        ]),
        false,
    );
    let address = server.listening(deadline).to_string();
    let mut client = Proc::spawn(
        "connect",
        roam(&[
            "connect",
            "--server",
            &address,
            "--server-key",
            &server_public,
            "--connect-timeout",
            "3",
        ]),
        false,
    );
    let (status, out) = client.wait(deadline);
    assert_eq!(status.code(), Some(3), "exit code 3: no stream");
    assert!(out.is_empty());
    assert!(!server.stderr().contains("session from"));
}

// ---------------------------------------------------------------------------------------
// Root: the client moves in a network namespace
// ---------------------------------------------------------------------------------------

/// Whether the namespace tests can run here (root, `ip`). Under `CI=true` a missing
/// prerequisite fails the test; otherwise it prints why and the test passes without running.
fn ready(test: &str) -> bool {
    bridgeless_testkit::ready(test, &["ip"])
}

/// Runs `ip ARGS`; panics with its output unless it succeeds.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

use bridgeless_testkit::Netns;

/// A namespace for a test role (`brm-ROLE-PID-N`), with its loopback up; dropping it (also on
/// panic) kills every process in it and deletes it.
fn namespace(role: &str) -> Netns {
    let ns = Netns::new(&format!("brm-{role}"));
    ns_ip(&ns, &["link", "set", "lo", "up"]);
    ns
}

/// `ip -n NS ARGS`.
fn ns_ip(ns: &Netns, args: &[&str]) {
    let mut all = vec!["-n", ns.name.as_str()];
    all.extend_from_slice(args);
    ip(&all);
}

/// `bridgeless roam ARGS` inside the namespace.
fn roam_in(ns: &Netns, args: &[&str]) -> Command {
    let mut command = ns.command(BIN);
    command.arg("roam").args(args);
    command
}

/// Writes `data` to `stdin` in 64 KiB chunks every 60 ms (about 1 MiB/s), holding at
/// `hold_at` bytes until `moved`; then closes it.
fn paced(
    mut stdin: ChildStdin,
    data: Vec<u8>,
    hold_at: usize,
    moved: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for (i, chunk) in data.chunks(64 << 10).enumerate() {
            while i * (64 << 10) >= hold_at && !moved.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if stdin.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(60));
        }
    })
}

/// Addresses of one test: the server's, the client's first (A) and second (B), and the
/// prefix length.
struct Plan {
    server: &'static str,
    a: &'static str,
    b: &'static str,
    len: &'static str,
    extra: &'static [&'static str],
}

/// The server listens in namespace S; the client, in namespace C, connects from A (`--bind`)
/// and streams 4 MiB at about 1 MiB/s while the server streams 1 MiB back. Once the server
/// has 1 MiB, A is deleted from the client's interface and B added, with data still in
/// flight both ways (the feeders hold at 1.5 MiB and 0.5 MiB until the move is done). The
/// client notices its address is gone and moves its socket; the server follows to B. Every
/// byte arrives once and in order both ways, both exit 0, and the server logged the change
/// from A to B and B's validation.
fn client_moves(test: &str, plan: &Plan) {
    if !ready(test) {
        return;
    }
    let dir = scratch(test);
    let (server_key, server_public) = keygen(&dir, "server.key");
    let (s, c) = (namespace("s"), namespace("c"));
    ns_ip(
        &s,
        &[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", &c.name,
        ],
    );
    let with_len = |a: &str| format!("{a}/{}", plan.len);
    let addr_add = |ns: &Netns, a: &str, dev: &str| {
        let mut args = vec!["addr", "add"];
        let a = with_len(a);
        args.extend([a.as_str(), "dev", dev]);
        args.extend_from_slice(plan.extra);
        ns_ip(ns, &args);
    };
    addr_add(&s, plan.server, "veth0");
    addr_add(&c, plan.a, "veth1");
    ns_ip(&s, &["link", "set", "veth0", "up"]);
    ns_ip(&c, &["link", "set", "veth1", "up"]);

    let deadline = Instant::now() + Duration::from_secs(180);
    let listen = SocketAddr::new(plan.server.parse().unwrap(), 7443).to_string();
    let mut server = Proc::spawn(
        "serve",
        roam_in(
            &s,
            &[
                "serve",
                "--listen",
                &listen,
                "--key",
                server_key.to_str().unwrap(),
            ],
        ),
        true,
    );
    server.listening(deadline);
    let mut client = Proc::spawn(
        "connect",
        roam_in(
            &c,
            &[
                "connect",
                "--server",
                &listen,
                "--server-key",
                &server_public,
                "--bind",
                plan.a,
            ],
        ),
        true,
    );

    // Feeders: 64 KiB every 60 ms each way, holding at 1.5 MiB (client) and 0.5 MiB
    // (server) until the move is done.
    let (up, down) = (pattern(4 << 20, 3), pattern(1 << 20, 4));
    let moved = Arc::new(AtomicBool::new(false));
    let feeders = [
        paced(
            client.stdin.take().unwrap(),
            up.clone(),
            3 << 19,
            moved.clone(),
        ),
        paced(
            server.stdin.take().unwrap(),
            down.clone(),
            1 << 19,
            moved.clone(),
        ),
    ];

    while server.stdout_len() < 1 << 20 {
        assert!(
            Instant::now() < deadline,
            "the server never got 1 MiB; server:\n{}\nclient:\n{}",
            server.stderr(),
            client.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let received_before = server.stdout_len();
    ns_ip(&c, &["addr", "del", &with_len(plan.a), "dev", "veth1"]);
    addr_add(&c, plan.b, "veth1");
    moved.store(true, Ordering::SeqCst);

    let (client_status, client_out) = client.wait(deadline);
    let (server_status, server_out) = server.wait(deadline);
    for f in feeders {
        f.join().unwrap();
    }
    let (server_log, client_log) = (server.stderr(), client.stderr());
    assert!(
        client_status.success() && server_status.success(),
        "connect: {client_status}, serve: {server_status}\nserver:\n{server_log}\nclient:\n{client_log}"
    );
    assert!(received_before < up.len(), "the move happened mid-stream");
    assert_same("server's stdout", &server_out, &up);
    assert_same("client's stdout", &client_out, &down);

    // The client noticed its address was gone and moved; the server saw the change and
    // validated the new address.
    // How a socket address with this IP starts: `10.77.0.2:` or `[fd77::2]:`.
    let start = |a: &str| match a.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v4) => format!("{v4}:"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:"),
    };
    let (a_prefix, b_prefix) = (start(plan.a), start(plan.b));
    assert!(
        client_log.contains(&format!("local address {} is gone", plan.a)),
        "client:\n{client_log}"
    );
    let change = server_log
        .lines()
        .find(|l| l.contains("peer address changed"))
        .unwrap_or_else(|| panic!("the server never saw the address change:\n{server_log}"));
    assert!(
        change.contains(&format!("changed: {a_prefix}"))
            && change.contains(&format!("-> {b_prefix}")),
        "the server saw A -> B: {change}"
    );
    assert!(
        server_log.contains(&format!("path validated: {b_prefix}")),
        "the server validated B:\n{server_log}"
    );
    eprintln!("{test}: server's log:\n{server_log}client's log:\n{client_log}");
}

#[test]
fn client_moves_mid_stream_ipv4() {
    client_moves(
        "moves-ipv4",
        &Plan {
            server: "10.77.0.1",
            a: "10.77.0.2",
            b: "10.77.0.3",
            len: "24",
            extra: &[],
        },
    );
}

#[test]
fn client_moves_mid_stream_ipv6() {
    client_moves(
        "moves-ipv6",
        &Plan {
            server: "fd77::1",
            a: "fd77::2",
            b: "fd77::3",
            len: "64",
            extra: &["nodad"],
        },
    );
}
