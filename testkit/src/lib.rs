//! Test support shared by the bridgeless crates' integration tests: the prerequisite check of
//! the Linux interop tests (root, /dev/net/tun, programs; a failure under `CI=true`, a note
//! otherwise), network namespaces that kill their processes and delete themselves on drop
//! (also when a test panics), commands run inside them, addresses read back with `ip`, and
//! dhcpcd confined to a namespace (GUIDE §4: its own resolv.conf and state directories).
//!
//! Not published; a dev-dependency only.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Prerequisites
// ---------------------------------------------------------------------------------------

/// Whether `test` can run: root, /dev/net/tun and every program in `tools`. If not, fails
/// under `CI=true`, or prints why and says no.
pub fn ready(test: &str, tools: &[&str]) -> bool {
    let Some(why) = missing_prerequisite(tools) else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run: {why}");
    }
    eprintln!("note: {test} skipped: {why} (with CI=true this is a failure)");
    false
}

fn missing_prerequisite(tools: &[&str]) -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("it needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    tools
        .iter()
        .find(|tool| !on_path(tool))
        .map(|tool| format!("`{tool}` is not installed"))
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The effective user id, from /proc (the second field of the `Uid:` line).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Commands and the namespace guard
// ---------------------------------------------------------------------------------------

/// Runs `command` to completion and returns its standard output; panics with its output if
/// it fails.
pub fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace that lives as long as the test: on drop (also when the test panics)
/// it kills every process still in it and deletes it.
pub struct Netns {
    /// The name `ip netns` knows it by: the prefix, the pid and a counter, since cargo runs
    /// tests in parallel.
    pub name: String,
}

impl Netns {
    /// A new namespace named `PREFIX-PID-N`.
    pub fn new(prefix: &str) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        Netns { name }
    }

    /// The namespace's file, for `Tun::open_in_namespace`.
    pub fn path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.name)
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program` in the namespace to completion; returns its standard output.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        run(self.command(program).args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes started with `ip netns exec` outlive `ip netns del`: kill them first.
        let me = std::process::id().to_string();
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if pid != me {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Starts `command` with its output piped.
pub fn spawn(command: &mut Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Waits for `child` (which has exited) and returns its status and output.
pub fn finish(child: Child) -> (ExitStatus, String) {
    let out = child.wait_with_output().expect("collect a child's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// Storage that lives as long as the test (leaked: a few hundred kilobytes per test).
pub fn leak<T: Clone>(value: T, n: usize) -> &'static mut [T] {
    Vec::leak(vec![value; n])
}

/// The wall-clock time, for capture records.
pub fn timestamp() -> StdDuration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Addresses and dhcpcd
// ---------------------------------------------------------------------------------------

/// Addresses on `dev` in the namespace, from `ip -6 -o addr show`.
pub fn addresses(ns: &Netns, dev: &str) -> Vec<Ipv6Addr> {
    ns.run("ip", &["-6", "-o", "addr", "show", "dev", dev])
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet6")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// /etc/netns/NS, which `ip netns exec` bind-mounts over /etc: the namespace's own
/// resolv.conf, so that dhcpcd's hooks never touch the host's (GUIDE §4). Removed on drop.
pub struct EtcNetns(PathBuf);

impl EtcNetns {
    /// Creates /etc/netns/NS/resolv.conf for `ns`.
    pub fn new(ns: &Netns) -> EtcNetns {
        let dir = Path::new("/etc/netns").join(&ns.name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NS");
        std::fs::File::create(dir.join("resolv.conf")).expect("create the namespace's resolv.conf");
        EtcNetns(dir)
    }
}

impl Drop for EtcNetns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// dhcpcd running in a namespace with its own configuration, state and log: /var/lib/dhcpcd
/// and /run/dhcpcd are bind-mounted from the test's directory inside the mount namespace
/// `ip netns exec` creates, and it runs with `-C resolv.conf`. Killed on drop.
pub struct Dhcpcd {
    /// The process.
    pub child: Child,
    /// Its log (standard output and error).
    pub log_path: PathBuf,
    dir: PathBuf,
    _etc: EtcNetns,
}

impl Dhcpcd {
    /// Starts `dhcpcd -6 -B -d` on `dev` in `ns` with configuration `conf`.
    pub fn start(ns: &Netns, dev: &str, conf: &str) -> Dhcpcd {
        let etc = EtcNetns::new(ns);
        let dir = std::env::temp_dir().join(format!("bridgeless-dhcpcd-{}", ns.name));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["db", "run"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // The bind mounts need the mount points; on the host they stay empty.
        std::fs::create_dir_all("/run/dhcpcd").unwrap();
        std::fs::create_dir_all("/var/lib/dhcpcd").unwrap();
        let conf_path = dir.join("dhcpcd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log_path = dir.join("dhcpcd.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let script = format!(
            "mount --bind {db} /var/lib/dhcpcd && mount --bind {run} /run/dhcpcd && \
             exec dhcpcd -6 -B -d -C resolv.conf -f {conf} {dev}",
            db = dir.join("db").display(),
            run = dir.join("run").display(),
            conf = conf_path.display(),
        );
        let child = ns
            .command("sh")
            .args(["-c", &script])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start dhcpcd");
        Dhcpcd {
            child,
            log_path,
            dir,
            _etc: etc,
        }
    }

    /// What dhcpcd has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Dhcpcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
