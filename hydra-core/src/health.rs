//! Process figures for the health record: resident memory, uptime, platform.
//!
//! # Examples
//!
//! ```
//! use hydra_core::health;
//! health::mark_start();
//! let memory = health::memory();
//! println!(
//!     "{} on {}/{}: rss {} bytes, up {:.1} s",
//!     health::host_name(),
//!     health::platform(),
//!     health::architecture(),
//!     memory.rss,
//!     health::uptime_seconds(),
//! );
//! assert!(health::runtime_version().starts_with("hydra-rs/"));
//! ```

use std::sync::OnceLock;
use std::time::Instant;

use crate::records::Memory;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the process start (the first call wins); uptime counts from here.
///
/// Used in the [module example](self).
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// Seconds since [`mark_start`] was first called.
///
/// Used in the [module example](self).
pub fn uptime_seconds() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Node's name for this CPU architecture (`process.arch`).
///
/// Used in the [module example](self).
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "x86" => "ia32",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// Node's name for this OS (`process.platform`).
///
/// Used in the [module example](self).
pub fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// What goes where Node writes `process.version`.
///
/// Used in the [module example](self).
pub fn runtime_version() -> String {
    format!("hydra-rs/{}", env!("CARGO_PKG_VERSION"))
}

/// Current memory figures of this process (Linux: from `/proc/self/status`; elsewhere zeros).
///
/// Used in the [module example](self).
pub fn memory() -> Memory {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Memory::default();
    };
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        heap_total: field("VmData:"),
        heap_used: field("RssAnon:"),
        external: 0,
        array_buffers: 0,
    }
}

/// This machine's host name.
///
/// Used in the [module example](self).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_real() {
        let m = memory();
        if cfg!(target_os = "linux") {
            assert!(m.rss > 100_000, "rss {}", m.rss);
        }
        assert!(!host_name().is_empty());
        assert_eq!(
            platform(),
            if cfg!(target_os = "linux") {
                "linux"
            } else {
                platform()
            }
        );
    }
}
