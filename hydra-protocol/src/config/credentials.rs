//! Where a Redis URL keeps its secrets, and the URL with them hidden for logs and errors.
//!
//! A password may be typed into a URL unencoded, with `@`, `/`, `?` or `#` in it; a query value
//! may hold an `@` too. The credentials end at the last `@` that is not inside the value of a
//! query parameter a Redis URL has (`sentinelPassword=a@b`): when in doubt, more is hidden, not
//! less.

/// Query parameters of Redis URLs: the Sentinels' credentials, and what the redis crate reads
/// (`db`, `protocol`, and `user` and `pass` of `redis+unix:`). Compared without regard to case.
const QUERY_NAMES: [&str; 7] = [
    "sentinelUsername",
    "sentinelPassword",
    "user",
    "pass",
    "password",
    "db",
    "protocol",
];

/// Query parameters whose every value is hidden, compared without regard to case.
const SECRET_NAMES: [&str; 3] = ["sentinelPassword", "password", "pass"];

/// Where the credentials of a URL end, in `rest` (the URL after its `scheme://`): the index of
/// the `@` before the host, `None` when there are none.
pub(super) fn credentials_end(rest: &str) -> Option<usize> {
    rest.match_indices('@')
        .map(|(i, _)| i)
        .rev()
        .find(|&at| !in_query_value(&rest[..at]))
}

/// Whether text ending in `before` is inside the value of one of [`QUERY_NAMES`]: a query begun
/// (a `?`), and since its last `?` or `&`, `name=` and the value so far.
fn in_query_value(before: &str) -> bool {
    if !before.contains('?') {
        return false;
    }
    let start = before.rfind(['?', '&']).map_or(0, |i| i + 1);
    before[start..]
        .split_once('=')
        .is_some_and(|(name, _)| is_one_of(name, &QUERY_NAMES))
}

/// Whether the query parameter `name` (percent-decoded, as the redis crate decodes it) is one of
/// `names`, in any case.
fn is_one_of(name: &str, names: &[&str]) -> bool {
    let name = percent_decode(name);
    names.iter().any(|n| n.eq_ignore_ascii_case(&name))
}

/// `%XX` sequences decoded, for comparing names; what does not decode is kept as is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with its passwords replaced by `***`, for logs and errors: the password of its
/// credentials (everything after the user name up to the `@` before the host, whatever it holds),
/// and every value of a `sentinelPassword`, `password` or `pass` query parameter, in any case.
///
/// # Examples
///
/// ```
/// use hydra_protocol::config::redact;
/// assert_eq!(redact("redis://app:s3cret@10.0.0.5:6379/0"), "redis://app:***@10.0.0.5:6379/0");
/// assert_eq!(redact("redis://:s3?cr/et@10.0.0.5:6379/0"), "redis://:***@10.0.0.5:6379/0");
/// assert_eq!(
///     redact("redis+sentinel://s1/main/0?sentinelPassword=watch&sentinelUsername=w"),
///     "redis+sentinel://s1/main/0?sentinelPassword=***&sentinelUsername=w"
/// );
/// assert_eq!(redact("redis+unix:///run/redis.sock?db=2&pass=s3cret"), "redis+unix:///run/redis.sock?db=2&pass=***");
/// ```
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (credentials, tail) = match credentials_end(rest) {
        Some(at) => {
            let auth = &rest[..at];
            let shown = match auth.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => auth.to_string(),
            };
            (shown, &rest[at..])
        }
        None => (String::new(), rest),
    };
    format!("{scheme}{credentials}{}", redact_query(tail))
}

/// `tail` (from the host on) with the values of its secret query parameters hidden.
fn redact_query(tail: &str) -> String {
    let Some((base, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_one_of(name, &SECRET_NAMES) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_whatever_they_hold() {
        for (url, shown) in [
            ("redis://u:secret@h:1/2", "redis://u:***@h:1/2"),
            ("redis://:secret@h/2", "redis://:***@h/2"),
            ("redis://h:1/2", "redis://h:1/2"),
            ("rediss://user@h", "rediss://user@h"),
            ("redis://u:p@ss/w:rd@h:1/2", "redis://u:***@h:1/2"),
            // `?`, `#` and `/` typed unencoded, in plain and Sentinel URLs.
            ("redis://:a?PW@host:6379/0", "redis://:***@host:6379/0"),
            (
                "redis://u:a?PW@host/0?protocol=resp3",
                "redis://u:***@host/0?protocol=resp3",
            ),
            ("redis://:a#PW@host:6379/0", "redis://:***@host:6379/0"),
            ("redis://:a/PW@host:6379/0", "redis://:***@host:6379/0"),
            ("redis://:a?b#c/d@PW@host/0", "redis://:***@host/0"),
            ("redis://:a&db=1@host/0", "redis://:***@host/0"),
            ("redis+sentinel://:a?PW@s1/m", "redis+sentinel://:***@s1/m"),
            (
                "redis+sentinel://u:a/PW@s1,s2/m/0",
                "redis+sentinel://u:***@s1,s2/m/0",
            ),
            (
                "rediss+sentinel://:a#PW@s1/m",
                "rediss+sentinel://:***@s1/m",
            ),
            (
                "redis+sentinel://:a?PW@s1/m?sentinelPassword=x@y&sentinelUsername=w",
                "redis+sentinel://:***@s1/m?sentinelPassword=***&sentinelUsername=w",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn every_password_parameter_is_masked_in_any_case() {
        for (url, shown) in [
            (
                "redis+sentinel://s1/m/0?sentinelPassword=a@b",
                "redis+sentinel://s1/m/0?sentinelPassword=***",
            ),
            (
                "redis+sentinel://s1/m?sentinelPassword=a&sentinelPassword=PW",
                "redis+sentinel://s1/m?sentinelPassword=***&sentinelPassword=***",
            ),
            (
                "redis+sentinel://s1/m?sentinelpassword=PW",
                "redis+sentinel://s1/m?sentinelpassword=***",
            ),
            (
                "redis+sentinel://s1/m?SENTINELPASSWORD=PW&sentinelUsername=me@corp",
                "redis+sentinel://s1/m?SENTINELPASSWORD=***&sentinelUsername=me@corp",
            ),
            (
                "redis+sentinel://u:pw@s1:26379/m?sentinelUsername=me@corp&sentinel%50assword=PW",
                "redis+sentinel://u:***@s1:26379/m?sentinelUsername=me@corp&sentinel%50assword=***",
            ),
            (
                "redis+unix:///run/redis.sock?db=1&pass=PW",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            (
                "unix:///run/redis.sock?Pass=PW&user=u",
                "unix:///run/redis.sock?Pass=***&user=u",
            ),
            ("redis://h/0?password=PW", "redis://h/0?password=***"),
            (
                "redis+sentinel://s1/m?sentinelPassword",
                "redis+sentinel://s1/m?sentinelPassword",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            assert!(!redact(url).contains("PW"), "{url}");
        }
    }

    #[test]
    fn names_are_compared_decoded() {
        assert_eq!(percent_decode("sentinel%50assword"), "sentinelPassword");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
