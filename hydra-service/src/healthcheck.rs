//! The container health check that follows the port an instance really serves on.
//!
//! A serving instance writes the URL of its health endpoint (`http://127.0.0.1:PORT/_health`, the
//! router's `/v1/router/health`) to the file named by `HYDRA_HEALTH_FILE` once it is registered,
//! and removes the file when it starts to leave. `BINARY --healthcheck` (the images'
//! `HEALTHCHECK`) reads that file and asks the endpoint: exit 0 for a 2xx answer within 3 s, 1
//! otherwise with the reason on stderr. So a port set by a pushed config, by `HYDRA_SERVICE`, or
//! chosen from a range is the one checked, and the images need no HTTP client of their own.
//!
//! Without `HYDRA_HEALTH_FILE` nothing is written (several instances on one machine would share
//! one file) and the check fails, saying why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// The variable naming the file (the images set `/tmp/hydra-health`).
pub const HEALTH_FILE_ENV: &str = "HYDRA_HEALTH_FILE";

/// How long the check waits for the connection and for the answer, each.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

fn health_file() -> Option<PathBuf> {
    std::env::var_os(HEALTH_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Records `http://127.0.0.1:{port}{path}` for the check (when `HYDRA_HEALTH_FILE` is set). A
/// file that cannot be written is logged, not fatal: the instance serves all the same.
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
    let Some(file) = health_file() else { return };
    let url = format!("http://127.0.0.1:{port}{path}\n");
    // Written beside and renamed, so a check never reads half a line.
    let tmp = file.with_extension("tmp");
    let written = std::fs::write(&tmp, url).and_then(|()| std::fs::rename(&tmp, &file));
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), error = %e, "could not write the health check file");
    }
}

/// Removes the file: from now on the check fails (the instance is leaving).
///
/// # Examples
///
/// ```no_run
/// hydra_service::healthcheck::withdraw(); // the check fails from now on
/// ```
pub fn withdraw() {
    if let Some(file) = health_file() {
        let _ = std::fs::remove_file(file);
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
    let file =
        health_file().ok_or_else(|| format!("{HEALTH_FILE_ENV} is not set: nothing to check"))?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("{}: {e} (not serving yet, or leaving)", file.display()))?;
    let url = text.trim();
    let (addr, path) =
        parse_url(url).ok_or_else(|| format!("{}: not a URL: {url:?}", file.display()))?;
    let status = get(addr, &path).map_err(|e| format!("GET {url}: {e}"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {url}: status {status}"))
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
