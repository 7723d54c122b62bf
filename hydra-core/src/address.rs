//! Which address and port a service advertises, decided as Node hydra decides it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::Rng;

use hydra_protocol::config::{ConfigError, HydraConfig, ServicePort};

/// The address to advertise, from `serviceIP`, `serviceDNS` and `serviceInterface`:
/// - `serviceIP` with a `*`: the first IPv4 address that starts with the text before it;
/// - else `serviceDNS` when set;
/// - else a `serviceIP` that is a host name: resolved (first IPv4);
/// - else an empty `serviceIP`: the address of `serviceInterface` (`name/netmask`), or the first
///   non-loopback IPv4 (127.0.0.1 when there is none);
/// - else `serviceIP` as given.
///
/// # Errors
/// [`ConfigError::Address`] when a pattern or interface matches nothing or a name does not resolve.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hydra_core::config::ConfigError> {
/// use hydra_core::{address, HydraConfig};
/// let mut config = HydraConfig::named("hello-service");
/// config.service_ip = "127.0.0.1".into();
/// assert_eq!(address::advertised_ip(&config).await?, "127.0.0.1");
/// config.service_ip = "127.*".into(); // the first local address starting with "127."
/// assert_eq!(address::advertised_ip(&config).await?, "127.0.0.1");
/// # Ok(()) }
/// ```
pub async fn advertised_ip(config: &HydraConfig) -> Result<String, ConfigError> {
    let ip = config.service_ip.trim();
    if let Some(star) = ip.find('*') {
        let prefix = &ip[..star];
        return ipv4_interfaces()
            .into_iter()
            .find(|(_, addr, _)| addr.to_string().starts_with(prefix))
            .map(|(_, addr, _)| addr.to_string())
            .ok_or_else(|| ConfigError::Address(format!("no IPv4 address matches {ip:?}")));
    }
    if !config.service_dns.trim().is_empty() {
        return Ok(config.service_dns.trim().to_string());
    }
    if !ip.is_empty() {
        if ip.parse::<IpAddr>().is_ok() {
            return Ok(ip.to_string());
        }
        let addrs = tokio::net::lookup_host((ip, 0))
            .await
            .map_err(|e| ConfigError::Address(format!("cannot resolve serviceIP {ip:?}: {e}")))?
            .collect::<Vec<SocketAddr>>();
        return addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .map(|a| a.ip().to_string())
            .ok_or_else(|| ConfigError::Address(format!("serviceIP {ip:?} has no address")));
    }
    let interface = config.service_interface.trim();
    if !interface.is_empty() {
        let (name, mask) = interface.split_once('/').ok_or_else(|| {
            ConfigError::Address(format!(
                "serviceInterface {interface:?} is not name/netmask"
            ))
        })?;
        return ipv4_interfaces()
            .into_iter()
            .find(|(n, _, m)| n == name && m.to_string() == mask)
            .map(|(_, addr, _)| addr.to_string())
            .ok_or_else(|| ConfigError::Address(format!("no interface matches {interface:?}")));
    }
    Ok(ipv4_interfaces()
        .into_iter()
        .find(|(_, addr, _)| !addr.is_loopback())
        .map_or_else(
            || Ipv4Addr::LOCALHOST.to_string(),
            |(_, a, _)| a.to_string(),
        ))
}

/// Every address of this machine's interfaces, IPv4 and IPv6 (loopback included).
///
/// # Examples
///
/// ```
/// for addr in hydra_core::address::local_addresses() {
///     println!("{addr}");
/// }
/// ```
pub fn local_addresses() -> Vec<std::net::IpAddr> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .collect()
}

fn ipv4_interfaces() -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) => Some((i.name, v4.ip, v4.netmask)),
            if_addrs::IfAddr::V6(_) => None,
        })
        .collect()
}

/// How many connections may wait to be accepted. The standard library's 128 is met by a burst
/// of clients connecting at once (a restart, a load balancer reconnecting), and a connection past
/// it loses its SYN and tries again a second later; nginx takes 511. The kernel caps it at
/// `net.core.somaxconn`.
pub const BACKLOG: u32 = 1024;

/// A listener on `addr` with [`BACKLOG`] (and `SO_REUSEADDR`, as the standard library's
/// listeners on Unix).
///
/// # Errors
/// The socket's: the address is taken or cannot be bound.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = hydra_core::address::listen("127.0.0.1:0".parse().unwrap())?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// # Ok(()) }
/// ```
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Binds a listener on `ip` at a port `spec` allows: the fixed port, or a random free one of its
/// ranges (each range tried at random until one binds), with [`BACKLOG`].
///
/// # Errors
/// [`ConfigError::NoFreePort`] when no port of the ranges can be bound, or the bind error of a
/// fixed port.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hydra_core::config::ConfigError> {
/// use hydra_core::{address, ServicePort};
/// // `servicePort: "9000-9099"` parses to a range; `0` to `Any`.
/// let listener = address::bind("127.0.0.1", &ServicePort::Any).await?;
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// # Ok(()) }
/// ```
pub async fn bind(ip: &str, spec: &ServicePort) -> Result<tokio::net::TcpListener, ConfigError> {
    let host: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let ServicePort::Fixed(port) = spec {
        return listen(SocketAddr::new(host, *port))
            .map_err(|e| ConfigError::NoFreePort(format!("{port} ({e})")));
    }
    if *spec == ServicePort::Any {
        // The kernel's choice is as random as ours, and never collides.
        if let Ok(l) = listen(SocketAddr::new(host, 0)) {
            return Ok(l);
        }
    }
    for range in spec.candidates() {
        let size = u32::from(*range.end()) - u32::from(*range.start()) + 1;
        let tries = size.min(64);
        for _ in 0..tries {
            let port = rand::thread_rng().gen_range(range.clone());
            if let Ok(l) = listen(SocketAddr::new(host, port)) {
                return Ok(l);
            }
        }
        if size <= 64 {
            continue;
        }
        for port in range.clone() {
            if let Ok(l) = listen(SocketAddr::new(host, port)) {
                return Ok(l);
            }
        }
    }
    Err(ConfigError::NoFreePort(spec.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_and_default_addresses() {
        let mut c = HydraConfig::named("x");
        c.service_ip = "127.0.0.1".into();
        assert_eq!(advertised_ip(&c).await.unwrap(), "127.0.0.1");
        c.service_ip = "localhost".into();
        assert_eq!(advertised_ip(&c).await.unwrap(), "127.0.0.1");
        c.service_ip = "127.*".into();
        assert_eq!(advertised_ip(&c).await.unwrap(), "127.0.0.1");
        c.service_ip = "203.0.113.*".into();
        assert!(advertised_ip(&c).await.is_err());
        c.service_ip = String::new();
        let ip: Ipv4Addr = advertised_ip(&c).await.unwrap().parse().unwrap();
        assert!(!ip.is_unspecified());
        c.service_dns = "svc.example".into();
        assert_eq!(advertised_ip(&c).await.unwrap(), "svc.example");
        c.service_dns = String::new();
        c.service_interface = "lo/255.0.0.0".into();
        assert_eq!(advertised_ip(&c).await.unwrap(), "127.0.0.1");
        c.service_interface = "lo".into();
        assert!(advertised_ip(&c).await.is_err());
    }

    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog() {
        // 300 clients connect at once to a listener that has not accepted yet (a restart, a
        // balancer reconnecting): each must get through, not lose its SYN and wait a second to
        // try again, as past a backlog of 128 (the standard library's).
        let listener = bind("127.0.0.1", &ServicePort::Any).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..300)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    std::time::Duration::from_millis(700),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut connected = Vec::new();
        for c in connects {
            if let Ok(Ok(stream)) = c.await.unwrap() {
                connected.push(stream);
            }
        }
        assert_eq!(connected.len(), 300);
        drop(listener);
    }

    #[tokio::test]
    async fn binds_within_ranges() {
        let a = bind("127.0.0.1", &ServicePort::Any).await.unwrap();
        assert_ne!(a.local_addr().unwrap().port(), 0);
        let taken = a.local_addr().unwrap().port();
        let spec = ServicePort::Ranges(vec![taken..=taken]);
        assert!(matches!(
            bind("127.0.0.1", &spec).await,
            Err(ConfigError::NoFreePort(_))
        ));
        let b = bind(
            "127.0.0.1",
            &ServicePort::Ranges(vec![taken..=taken, 1024..=65535]),
        )
        .await
        .unwrap();
        assert_ne!(b.local_addr().unwrap().port(), taken);
        assert!(bind("127.0.0.1", &ServicePort::Fixed(taken)).await.is_err());
    }
}
