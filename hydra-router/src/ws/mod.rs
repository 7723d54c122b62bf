//! The WebSocket gateway, Node hydra-router's protocol:
//!
//! - on connect the client gets `{typ:"connection", bdy:{id, ip}}`;
//! - `ping` to the router → `pong`; `reconnect` with an earlier id takes that id back and drains
//!   the messages queued for it, oldest first (Node's router hands them out newest first);
//!   `wsdir.loc` finds a client on any router; `fwd` to a client id
//!   delivers to that client, on whichever router holds it;
//! - a session is bound to its id: the connection message carries a `reconnectToken` (kept in
//!   Redis for 24 h, so any router can check it), and `reconnect` takes an id back only when no
//!   client holds it and the token matches (an id no router of ours issued, a Node router's, is
//!   taken back the old way, without one); every message a client sends leaves with
//!   `frm` = `{its id}@client:{path}`, whatever it claimed;
//! - a `to` with a `[method]` is done as an HTTP request; the answer comes back as UMF with `rmid`;
//! - a `to` naming a service goes over pub/sub with `via` = `{router}-{client}@hydra-router:/`,
//!   so the service's reply finds the client;
//! - invalid JSON or invalid UMF gets an error message and the connection is closed;
//! - when the router shuts down, every client gets a Close frame (1001 "going away").
//!
//! Routers share their client directories with `wsdir.add|del|rem|sha|dir` broadcasts. Messages
//! for a client that is not connected are queued in Redis for 24 h
//! (`hydra-router:message:queue:{client}:queued`).
//!
//! - [`hub`]: the clients connected here and the queues of absent ones (knows no router state);
//! - [`directory`]: which router holds which client;
//! - [`session`](mod@session): one client connection;
//! - [`channel`]: the router's pub/sub messages (directory broadcasts, replies for clients).

pub mod channel;
pub mod directory;
pub mod hub;
pub mod session;

pub use channel::{announce_start, announce_stop, channel_message};
pub use hub::WsHub;
pub use session::session;

/// Largest WebSocket message accepted.
pub const MAX_WS_MESSAGE: usize = 256 * 1024;
/// The read buffer each connection starts with; it grows for a larger message. (The default,
/// 128 KiB, made an idle connection cost about 138 KiB.)
pub const READ_BUFFER: usize = 4 * 1024;
