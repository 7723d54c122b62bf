//! The container health check that follows the port an instance really serves on.
//!
//! A serving instance announces the URL of its health endpoint (`http://127.0.0.1:PORT/_health`,
//! the router's `/v1/router/health`) once it is registered, and stops announcing it when it
//! starts to leave. `BINARY --healthcheck` (the images' `HEALTHCHECK`) learns the URL and asks
//! the endpoint: exit 0 for a 2xx answer within 3 s, 1 otherwise with the reason on stderr. So a
//! port set by a pushed config, by `HYDRA_SERVICE`, or chosen from a range is the one checked,
//! and the images need no HTTP client of their own.
//!
//! Where the URL is announced, `HYDRA_HEALTH_FILE`:
//!
//! - `@NAME` (the images: `@hydra-health`): a Linux abstract Unix socket. The instance listens on
//!   it and tells each connection the URL; the check connects. Nothing is written anywhere, so
//!   the check works on a read-only root filesystem without a writable `/tmp`. Abstract names
//!   belong to a network namespace, which is a container's own: where several instances share
//!   one (host networking, containers of one Kubernetes pod), give each a name of its own, or a
//!   file. Any process in that network namespace may connect and learn the URL.
//! - a path: a file the instance writes the URL to (written beside and renamed) and removes when
//!   it leaves; its directory must be writable.
//!
//! Without `HYDRA_HEALTH_FILE` nothing is announced (several instances on one machine would share
//! one file or name) and the check fails, saying why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// The variable naming the file or, as `@NAME`, the abstract socket (the images set
/// `@hydra-health`).
pub const HEALTH_FILE_ENV: &str = "HYDRA_HEALTH_FILE";

/// How long the check waits for the connection and for the answer, each.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the URL is announced, from `HYDRA_HEALTH_FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `@NAME`: the abstract Unix socket NAME.
    Socket(String),
    /// Any other value: a file.
    File(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Socket(name) => write!(f, "@{name}"),
            Target::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Target {
    fn of(value: &std::ffi::OsStr) -> Target {
        match value.to_str().and_then(|v| v.strip_prefix('@')) {
            Some(name) => Target::Socket(name.to_string()),
            None => Target::File(PathBuf::from(value)),
        }
    }
}

fn target() -> Option<Target> {
    std::env::var_os(HEALTH_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(|v| Target::of(&v))
}

/// Announces `http://127.0.0.1:{port}{path}` for the check (when `HYDRA_HEALTH_FILE` is set). A
/// file that cannot be written, or a socket name taken by another process, is logged, not fatal:
/// the instance serves all the same.
///
/// # Examples
///
/// ```no_run
/// // What a service does once registered (a no-op without HYDRA_HEALTH_FILE).
/// hydra_service::healthcheck::announce(5000, "/_health");
/// // … and when it starts to leave.
/// hydra_service::healthcheck::withdraw();
/// ```
pub fn announce(port: u16, path: &str) {
    let Some(target) = target() else { return };
    let url = format!("http://127.0.0.1:{port}{path}\n");
    let announced = match &target {
        Target::Socket(name) => socket::announce(name, url),
        Target::File(file) => {
            // Written beside and renamed, so a check never reads half a line.
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, url).and_then(|()| std::fs::rename(&tmp, file))
        }
    };
    if let Err(e) = announced {
        tracing::warn!(%target, error = %e, "could not announce the health check URL ({HEALTH_FILE_ENV})");
    }
}

/// Stops announcing: from now on the check fails (the instance is leaving).
///
/// # Examples
///
/// ```no_run
/// hydra_service::healthcheck::withdraw(); // the check fails from now on
/// ```
pub fn withdraw() {
    match target() {
        Some(Target::Socket(_)) => socket::withdraw(),
        Some(Target::File(file)) => {
            let _ = std::fs::remove_file(file);
        }
        None => {}
    }
}

/// Runs the check: the process's exit code (0 healthy, 1 not), the reason on stderr.
///
/// # Examples
///
/// ```no_run
/// if std::env::args().any(|a| a == "--healthcheck") {
///     std::process::exit(hydra_service::healthcheck::run());
/// }
/// // … else start the service …
/// ```
#[must_use]
pub fn run() -> i32 {
    match probe() {
        Ok(()) => 0,
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            1
        }
    }
}

fn probe() -> Result<(), String> {
    let target =
        target().ok_or_else(|| format!("{HEALTH_FILE_ENV} is not set: nothing to check"))?;
    let text = match &target {
        Target::Socket(name) => socket::read(name),
        Target::File(file) => std::fs::read_to_string(file),
    }
    .map_err(|e| format!("{target}: {e} (not serving yet, or leaving)"))?;
    let url = text.trim();
    if url.is_empty() {
        return Err(format!("{target}: no URL announced (leaving)"));
    }
    let (addr, path) = parse_url(url).ok_or_else(|| format!("{target}: not a URL: {url:?}"))?;
    let status = get(addr, &path).map_err(|e| format!("GET {url}: {e}"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {url}: status {status}"))
    }
}

/// The abstract socket: a thread of its own accepts connections and writes the URL to each.
#[cfg(target_os = "linux")]
mod socket {
    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::thread::JoinHandle;

    use super::PROBE_TIMEOUT;

    /// The socket this process announces on, if any.
    static ANNOUNCER: Mutex<Option<Announcer>> = Mutex::new(None);

    struct Announcer {
        name: String,
        url: Arc<Mutex<String>>,
        stop: Arc<AtomicBool>,
        thread: JoinHandle<()>,
    }

    fn address(name: &str) -> std::io::Result<SocketAddr> {
        if name.is_empty() {
            return Err(std::io::Error::other("no socket name after '@'"));
        }
        SocketAddr::from_abstract_name(name)
    }

    /// Listens on `@name` (once per process: a later call only changes the URL told).
    pub(super) fn announce(name: &str, url: String) -> std::io::Result<()> {
        let mut current = ANNOUNCER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(a) = current.as_ref().filter(|a| a.name == name) {
            *a.url.lock().unwrap_or_else(PoisonError::into_inner) = url;
            return Ok(());
        }
        if let Some(old) = current.take() {
            stop(old);
        }
        let listener = UnixListener::bind_addr(&address(name)?).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                std::io::Error::new(
                    e.kind(),
                    "another process in this network namespace listens on it: give each instance a name of its own",
                )
            } else {
                e
            }
        })?;
        let url = Arc::new(Mutex::new(url));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("hydra-health".into())
            .spawn({
                let (url, stop) = (url.clone(), stop.clone());
                move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(mut conn) = conn else { continue };
                        let text = url.lock().unwrap_or_else(PoisonError::into_inner).clone();
                        let _ = conn.set_write_timeout(Some(PROBE_TIMEOUT));
                        let _ = conn.write_all(text.as_bytes());
                    }
                    // The listener goes with the thread: from now on a check is refused.
                }
            })?;
        *current = Some(Announcer {
            name: name.to_string(),
            url,
            stop,
            thread,
        });
        Ok(())
    }

    /// Stops listening, when this process listens.
    pub(super) fn withdraw() {
        let taken = ANNOUNCER
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(a) = taken {
            stop(a);
        }
    }

    fn stop(a: Announcer) {
        a.stop.store(true, Ordering::SeqCst);
        // A connection of our own wakes the thread from accept; it then closes the listener.
        // Waited for, so the name is free when this returns.
        if address(&a.name)
            .and_then(|addr| UnixStream::connect_addr(&addr))
            .is_ok()
        {
            let _ = a.thread.join();
        }
    }

    /// What the instance listening on `@name` tells.
    pub(super) fn read(name: &str) -> std::io::Result<String> {
        let stream = UnixStream::connect_addr(&address(name)?)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        let mut text = String::new();
        stream.take(1024).read_to_string(&mut text)?;
        Ok(text)
    }
}

/// Abstract sockets are Linux's: elsewhere `@NAME` is refused with that reason.
#[cfg(not(target_os = "linux"))]
mod socket {
    fn unsupported() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "abstract Unix sockets are Linux's only: name a file instead",
        )
    }

    pub(super) fn announce(_name: &str, _url: String) -> std::io::Result<()> {
        Err(unsupported())
    }

    pub(super) fn withdraw() {}

    pub(super) fn read(_name: &str) -> std::io::Result<String> {
        Err(unsupported())
    }
}

/// `http://IP:PORT/path` → the address and the path.
fn parse_url(url: &str) -> Option<(SocketAddr, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((authority.parse().ok()?, path.to_string()))
}

/// One HTTP/1.0 GET; the status code of the answer.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    // One write: the request in one segment.
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: hydra-healthcheck\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    // The status line is all that is needed: "HTTP/1.1 200 OK".
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.get(..3))
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_recorded_url() {
        let (addr, path) = parse_url("http://127.0.0.1:5000/_health").unwrap();
        assert_eq!(addr, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(path, "/_health");
        let (_, path) = parse_url("http://127.0.0.1:80").unwrap();
        assert_eq!(path, "/");
        assert!(parse_url("127.0.0.1:80/_health").is_none());
        assert!(parse_url("http://localhost:80/").is_none());
    }

    #[test]
    fn an_at_sign_names_an_abstract_socket_anything_else_a_file() {
        let of = |v: &str| Target::of(std::ffi::OsStr::new(v));
        assert_eq!(of("@hydra-health"), Target::Socket("hydra-health".into()));
        assert_eq!(
            of("/tmp/hydra-health"),
            Target::File("/tmp/hydra-health".into())
        );
        assert_eq!(of("health@x"), Target::File("health@x".into()));
        assert_eq!(of("@hydra-health").to_string(), "@hydra-health");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_socket_tells_the_latest_url_until_withdrawn() {
        let name = format!("hydra-health-unit-{}", std::process::id());
        let refused = |r: std::io::Result<String>| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused);
        assert!(refused(socket::read(&name)), "nothing listens yet");
        socket::announce(&name, "http://127.0.0.1:5000/_health\n".into()).unwrap();
        assert_eq!(
            socket::read(&name).unwrap(),
            "http://127.0.0.1:5000/_health\n"
        );
        // Announced again (the same process, another port): the new URL, same socket.
        socket::announce(&name, "http://127.0.0.1:5123/_health\n".into()).unwrap();
        assert_eq!(
            socket::read(&name).unwrap(),
            "http://127.0.0.1:5123/_health\n"
        );
        socket::withdraw();
        assert!(refused(socket::read(&name)), "withdrawn: nothing listens");
        // A name another process (here: another socket) holds is an error that says so.
        let other = format!("{name}-taken");
        let _holder = std::os::unix::net::UnixListener::bind_addr(
            &<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&other).unwrap(),
        )
        .unwrap();
        let err = socket::announce(&other, "http://127.0.0.1:1/\n".into()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains("a name of its own"), "{err}");
        assert!(
            socket::announce("", "x".into()).is_err(),
            "'@' alone names nothing"
        );
    }

    #[test]
    fn reads_the_status_of_a_real_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\n\r\n",
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
                "SSH-2.0-x\r\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /_health HTTP/1.0\r\n"));
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        assert_eq!(get(addr, "/_health").unwrap(), 200);
        assert_eq!(get(addr, "/_health").unwrap(), 503);
        assert!(get(addr, "/_health").is_err());
        server.join().unwrap();
        // Nobody listening any more.
        assert!(get(addr, "/_health").is_err());
    }
}
