//! What the engine counts, through the [`metrics`](https://docs.rs/metrics) facade: nothing is
//! kept unless the program installs a recorder (hydra-service installs a Prometheus one and
//! serves it at `/metrics`). The names are Prometheus names, the same whatever recorder renders
//! them.
//!
//! | name | labels | counts |
//! |---|---|---|
//! | `hydra_messages_sent_total` | | UMF messages published by [`Hydra::send`](crate::Hydra::send), [`Hydra::broadcast`](crate::Hydra::broadcast) and what builds on them (reply, request) |
//! | `hydra_messages_received_total` | | messages that reached this instance's channels, before any check |
//! | `hydra_messages_dropped_total` | `reason` | received messages never handed to a reader: `malformed` (not UMF), `signature` (refused by `forceMessageSignature`), `no_reader` (no [`Messages`](crate::Messages) reader and no waiting request), `reader_lagged` (a reader too slow; counted per reader) |
//! | `hydra_redis_reconnects_total` | | times a registered instance lost its Redis connection and made it again (seen on its subscriber connection, which every registered instance holds) |
//!
//! # Examples
//!
//! ```
//! use hydra_core::metrics::{register, DropReason, MESSAGES_DROPPED};
//! // After installing a recorder: every series exists, at 0.
//! register();
//! let reasons: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
//! assert_eq!(reasons, ["malformed", "signature", "no_reader", "reader_lagged"]);
//! assert_eq!(MESSAGES_DROPPED, "hydra_messages_dropped_total");
//! ```

/// UMF messages published.
pub const MESSAGES_SENT: &str = "hydra_messages_sent_total";
/// Messages that reached this instance's channels.
pub const MESSAGES_RECEIVED: &str = "hydra_messages_received_total";
/// Received messages never handed to a reader, by `reason`.
pub const MESSAGES_DROPPED: &str = "hydra_messages_dropped_total";
/// Lost Redis connections made again.
pub const REDIS_RECONNECTS: &str = "hydra_redis_reconnects_total";

/// Why a received message was dropped: the values of `hydra_messages_dropped_total`'s `reason`.
///
/// Used in the [module example](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not valid UTF-8 or not a valid UMF message.
    Malformed,
    /// Without a valid signature while `forceMessageSignature` is set.
    Signature,
    /// Nobody reads this instance's messages and no request waits for it.
    NoReader,
    /// A reader fell so far behind that the oldest messages were discarded.
    ReaderLagged,
}

impl DropReason {
    /// Every reason, for series that should exist (at 0) before the first drop.
    pub const ALL: [DropReason; 4] = [
        Self::Malformed,
        Self::Signature,
        Self::NoReader,
        Self::ReaderLagged,
    ];

    /// The `reason` label's value.
    ///
    /// Used in the [module example](self).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Signature => "signature",
            Self::NoReader => "no_reader",
            Self::ReaderLagged => "reader_lagged",
        }
    }
}

pub(crate) fn message_sent() {
    metrics::counter!(MESSAGES_SENT).increment(1);
}

pub(crate) fn message_received() {
    metrics::counter!(MESSAGES_RECEIVED).increment(1);
}

pub(crate) fn messages_dropped(reason: DropReason, n: u64) {
    metrics::counter!(MESSAGES_DROPPED, "reason" => reason.as_str()).increment(n);
}

pub(crate) fn redis_reconnected() {
    metrics::counter!(REDIS_RECONNECTS).increment(1);
}

/// Makes every series of this module exist in the installed recorder, at 0 until something
/// happens, so a scrape shows them from the start (and `rate()` sees the first increment). A
/// no-op without a recorder; leaves counts already made alone.
///
/// Used in the [module example](self).
pub fn register() {
    for name in [MESSAGES_SENT, MESSAGES_RECEIVED, REDIS_RECONNECTS] {
        metrics::counter!(name).increment(0);
    }
    for reason in DropReason::ALL {
        messages_dropped(reason, 0);
    }
    metrics::describe_counter!(MESSAGES_SENT, "UMF messages published by this process");
    metrics::describe_counter!(
        MESSAGES_RECEIVED,
        "UMF messages that reached this process's instance channels"
    );
    metrics::describe_counter!(
        MESSAGES_DROPPED,
        "received messages never handed to a reader, by reason"
    );
    metrics::describe_counter!(
        REDIS_RECONNECTS,
        "lost Redis connections of registered instances made again"
    );
}
