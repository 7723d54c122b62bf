//! End-to-end tests of the built `hydra-cli` binary, against a real `redis-server` per test,
//! real registered Rust services and (in `interop`) real Node hydra peers.

mod common;

mod cfg;
mod discovery;
mod interop;
mod messaging;
mod profiles;
mod usage;
