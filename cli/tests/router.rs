//! `bridgeless router` as a user runs it: the binary, its configuration file and its signals,
//! with Linux hosts in network namespaces on the other side of its TUN devices.
//!
//! ```text
//!  one_router_two_linux_hosts:
//!     ns H1: Linux ── tun0 ══ router process (ns R) ══ tun0 ── Linux :ns H2
//!
//!  core_and_access_router_over_udp:
//!     ns H1: Linux ── tun0 ══ core (ns R) ══ UDP over R's loopback ══ access (ns R) ══ tun0 ── Linux :ns H2
//! ```
//!
//! A TUN device's kernel side lives in the namespace it was created in, so each `tun` link of
//! the router's configuration names the host's namespace (`netns = "/var/run/netns/H1"`): the
//! router process, itself running in namespace R, creates the device there. The hosts take
//! their addresses from the router's Router Advertisements (`accept_ra=2`) and ping each
//! other through it. Nothing touches the machine's own network configuration.
//!
//! The namespace tests need root, /dev/net/tun, `ip` and `ping`. Without them they print a
//! note and pass, except under `CI=true`, where they fail.

use std::io::Read;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bridgeless");

// ---------------------------------------------------------------------------------------
// Prerequisites, scratch files, namespaces
// ---------------------------------------------------------------------------------------

/// Whether the namespace tests can run here (root, /dev/net/tun, `ip`, `ping`). Under
/// `CI=true` a missing prerequisite fails the test; otherwise it prints why and the test
/// passes without running.
fn ready(test: &str) -> bool {
    bridgeless_testkit::ready(test, &["ip", "ping"])
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "router-{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

use bridgeless_testkit::{Netns, run};

/// A namespace for a test role (`br-ROLE-PID-N`, unique since cargo runs tests in parallel)
/// with its loopback up.
fn namespace(role: &str) -> Netns {
    let ns = Netns::new(&format!("br-{role}"));
    ns.run("ip", &["link", "set", "lo", "up"]);
    ns
}

/// Makes `ns` a Linux host on the kernel side of `tun0`, once the router has created it:
/// advertisements accepted, link up.
fn host_on_tun(ns: &Netns, deadline: Instant) {
    wait_until(deadline, "tun0 to appear", || {
        ns.command("ip")
            .args(["link", "show", "tun0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    ns.run("sysctl", &["-q", "-w", "net.ipv6.conf.tun0.accept_ra=2"]);
    ns.run("ip", &["link", "set", "tun0", "up"]);
}

/// The address the host in `ns` formed on tun0 inside `prefix` (such as "fd00:99::/64"),
/// waiting for it until `deadline`.
fn address_in(ns: &Netns, prefix: &str, deadline: Instant) -> Ipv6Addr {
    let (network, len) = prefix.split_once('/').unwrap();
    let (network, len): (Ipv6Addr, u32) = (network.parse().unwrap(), len.parse().unwrap());
    let mask = u128::MAX << (128 - len);
    let mut found = None;
    wait_until(deadline, &format!("an address in {prefix} on tun0"), || {
        found = bridgeless_testkit::addresses(ns, "tun0")
            .into_iter()
            .find(|a| u128::from(*a) & mask == u128::from(network));
        found.is_some()
    });
    found.unwrap()
}

/// Polls `ready` every 50 ms until it holds; panics naming `what` at `deadline`.
fn wait_until(deadline: Instant, what: &str, mut ready: impl FnMut() -> bool) {
    loop {
        if ready() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// The router process
// ---------------------------------------------------------------------------------------

/// `bridgeless router --config FILE` running in a namespace, its output collected as it
/// comes. Killed on drop if still running.
struct RouterProcess {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

impl RouterProcess {
    fn start(ns: &Netns, config: &Path) -> RouterProcess {
        // `ip netns exec` execs the program: the child's pid is the router's.
        let mut child = ns
            .command(BIN)
            .args(["router", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the router");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        RouterProcess {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn signal(&self, signal: &str) {
        run(Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]));
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the stderr log contains `text`.
    fn wait_log(&self, text: &str, deadline: Instant) {
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?} in the router's log:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGUSR1 and returns the report it printed.
    fn report(&self, deadline: Instant) -> String {
        let before = self.stdout().matches("--- end ---").count();
        self.signal("USR1");
        wait_until(deadline, "a counters report", || {
            self.stdout().matches("--- end ---").count() > before
        });
        let out = self.stdout();
        let start = out.rfind("--- router ").unwrap();
        out[start..].to_string()
    }

    /// Waits at most `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The number on the report line `  key: N`.
fn counter(report: &str, key: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key:?} in the report:\n{report}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

/// Pings `to` three times from `from`; panics unless all three answers come back.
fn ping(from: &Netns, to: &str) {
    let out = from
        .command("ping")
        .args(["-6", "-c", "3", "-i", "0.2", "-W", "2", to])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 3 received"),
        "ping {to} from {}:\n{text}{}",
        from.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

const SECRET: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

// ---------------------------------------------------------------------------------------
// Namespace scenarios
// ---------------------------------------------------------------------------------------

#[test]
fn one_router_two_linux_hosts() {
    if !ready("one_router_two_linux_hosts") {
        return;
    }
    let dir = scratch("one");
    let (r, h1, h2) = (namespace("r"), namespace("h1"), namespace("h2"));
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"core\"\nsecret_file = \"core.secret\"\nprefix = \"fd00:99::/48\"\n\
             ra_interval_secs = 4\n\n\
             [[link]]\nkind = \"tun\"\nname = \"tun0\"\nnetns = \"{}\"\nrole = \"downstream\"\n\n\
             [[link]]\nkind = \"tun\"\nname = \"tun0\"\nnetns = \"{}\"\nrole = \"downstream\"\n",
            h1.path().display(),
            h2.path().display()
        ),
    )
    .unwrap();

    let mut router = RouterProcess::start(&r, &config);
    let deadline = Instant::now() + Duration::from_secs(20);
    router.wait_log("core: holds fd00:99::/48", deadline);
    assert!(
        dir.join("core.secret").exists(),
        "the secret file is created on the first run"
    );
    host_on_tun(&h1, deadline);
    host_on_tun(&h2, deadline);
    // Downstream link 0 announces the first /64 of the /48, link 1 the second.
    address_in(&h1, "fd00:99::/64", deadline);
    let a2 = address_in(&h2, "fd00:99:0:1::/64", deadline);
    ping(&h1, &a2.to_string());

    let report = router.report(deadline);
    assert!(counter(&report, "forwarded") >= 6, "{report}");
    assert_eq!(counter(&report, "dropped"), 0, "{report}");
    assert!(report.contains("prefix: fd00:99::/48"), "{report}");
    assert!(report.contains("announces: fd00:99:0:1::/64"), "{report}");
    assert!(
        report.contains("no route: 0"),
        "every drop reason is listed:\n{report}"
    );

    router.signal("TERM");
    let status = router.wait_exit(Duration::from_secs(2));
    let (out, err) = (router.stdout(), router.stderr());
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "SIGTERM stops the router within 2 s with status 0\n{out}{err}"
    );
    assert_eq!(
        out.matches("--- end ---").count(),
        2,
        "a final report:\n{out}"
    );
    assert!(out.contains("reason: stopping"), "{out}");
}

#[test]
fn core_and_access_router_over_udp() {
    if !ready("core_and_access_router_over_udp") {
        return;
    }
    let dir = scratch("udp");
    let (r, h1, h2) = (namespace("r"), namespace("h1"), namespace("h2"));
    // Both routers run in R and meet over R's own loopback, so fixed ports cannot clash.
    let core = dir.join("core.toml");
    std::fs::write(
        &core,
        format!(
            "name = \"core\"\nsecret = \"{SECRET}\"\nprefix = \"fd00:99::/48\"\n\
             ra_interval_secs = 4\nmulticast = true\n\n\
             [[link]]\nkind = \"udp\"\nlocal = \"[::1]:7001\"\nremote = \"[::1]:7002\"\n\
             mtu = 1452\nrole = \"downstream\"\n\n\
             [[link]]\nkind = \"tun\"\nname = \"tun0\"\nnetns = \"{}\"\nrole = \"downstream\"\n",
            h1.path().display()
        ),
    )
    .unwrap();
    let access = dir.join("access.toml");
    std::fs::write(
        &access,
        format!(
            "name = \"access\"\nsecret_file = \"access.secret\"\nra_interval_secs = 4\n\n\
             [[link]]\nkind = \"udp\"\nlocal = \"[::1]:7002\"\nremote = \"[::1]:7001\"\n\
             mtu = 1452\nrole = \"upstream\"\n\n\
             [[link]]\nkind = \"tun\"\nname = \"tun0\"\nnetns = \"{}\"\nrole = \"downstream\"\n",
            h2.path().display()
        ),
    )
    .unwrap();

    let mut core = RouterProcess::start(&r, &core);
    let mut access = RouterProcess::start(&r, &access);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The core delegates a /52 of its /48 (which one follows from the access router's
    // identity); the access router announces the first /64 of it.
    access.wait_log("access: holds fd00:99:0:", deadline);
    let log = access.stderr();
    let delegated = log[log.find("access: holds ").unwrap() + 14..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(delegated.ends_with("/52"), "{log}");
    core.wait_log(&format!("core: delegated {delegated} on link 0"), deadline);
    host_on_tun(&h1, deadline);
    host_on_tun(&h2, deadline);
    // The core's TUN is its downstream link 1: the second /64 of the /48.
    address_in(&h1, "fd00:99:0:1::/64", deadline);
    let host_link = delegated.replace("/52", "/64");
    let a2 = address_in(&h2, &host_link, deadline);
    ping(&h1, &a2.to_string());

    let report = core.report(deadline);
    assert!(counter(&report, "forwarded") >= 6, "{report}");
    assert_eq!(counter(&report, "delegations"), 1, "{report}");
    assert!(
        report.contains(&format!("{delegated} on link 0")),
        "{report}"
    );
    assert!(
        report.contains("multicast: on (MLD querier per downstream link, proxy upstream)"),
        "{report}"
    );
    let report = access.report(deadline);
    assert!(counter(&report, "forwarded") >= 6, "{report}");
    assert!(report.contains(&format!("prefix: {delegated}")), "{report}");
    assert!(
        report.contains(&format!("announces: {host_link}")),
        "{report}"
    );

    access.signal("INT");
    core.signal("TERM");
    for (name, router) in [("access", &mut access), ("core", &mut core)] {
        let status = router.wait_exit(Duration::from_secs(2));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{name} stops within 2 s with status 0\n{}",
            router.stderr()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The configuration file (no root needed)
// ---------------------------------------------------------------------------------------

fn router_with(dir: &Path, name: &str, text: &str, extra: &[&str]) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Command::new(BIN)
        .args(["router", "--config"])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn config_errors_name_file_and_line_and_exit_2() {
    let dir = scratch("errors");
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown key",
            "name = \"r\"\nsecret_file = \"s\"\nprefix = \"fd00::/48\"\n\n[[link]]\nkind = \"tun\"\n\
             name = \"tun0\"\nrole = \"downstream\"\nmtus = 1400\n",
            "unknown.toml:9:1: unknown field `mtus`",
        ),
        (
            "two upstreams",
            "name = \"r\"\nsecret_file = \"s\"\n[[link]]\nkind = \"tun\"\nname = \"a\"\n\
             role = \"upstream\"\n[[link]]\nkind = \"tun\"\nname = \"b\"\nrole = \"upstream\"\n",
            "two.toml:7:1: a second upstream link",
        ),
        (
            "no prefix",
            "name = \"r\"\nsecret_file = \"s\"\n[[link]]\nkind = \"tun\"\nname = \"a\"\n\
             role = \"downstream\"\n",
            "no `prefix` and no upstream link",
        ),
        (
            "bad syntax",
            "name = \"r\"\nsecret_file = \"s\"\nprefix = fd00::/48\n",
            "syntax.toml:3:",
        ),
        (
            "bad role",
            "name = \"r\"\nsecret_file = \"s\"\nprefix = \"fd00::/48\"\n[[link]]\nkind = \"tun\"\n\
             name = \"a\"\nrole = \"sideways\"\n",
            "role.toml:7:8: unknown variant `sideways`",
        ),
    ];
    for (what, text, expected) in cases {
        let file = match *what {
            "unknown key" => "unknown.toml",
            "two upstreams" => "two.toml",
            "bad syntax" => "syntax.toml",
            "bad role" => "role.toml",
            _ => "other.toml",
        };
        let out = router_with(&dir, file, text, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(expected),
            "{what}: expected {expected:?} in:\n{err}"
        );
    }
    let out = Command::new(BIN)
        .args(["router", "--config"])
        .arg(dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml: cannot read"));
    assert!(!dir.join("s").exists(), "an invalid file creates no secret");
}

/// Every TOML example in the README is a valid configuration.
#[test]
fn readme_examples_are_valid() {
    let dir = scratch("readme");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        let out = router_with(
            &dir,
            &format!("example{blocks}.toml"),
            &body[..end],
            &["--check"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "README example {blocks}:\n{}\n{}",
            &body[..end],
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 2, "the README shows a core and an access router");
}
