//! Scalar: a minimalist pub/sub chat protocol over TCP, framed as a two-byte little-endian
//! length plus one CBOR item.
//!
//! - [`proto`]: the wire format, sans IO.
//! - [`server`]: the server logic, sans IO.
//! - [`net`]: the mio shell that runs it.
//! - [`store`]: history storage, behind a typed interface the core calls.
//! - [`discovery`]: finding a domain's servers (DNS SRV records, a static table).
#![warn(missing_docs)]

pub mod civil;
pub mod client;
pub mod config;
pub mod discovery;
pub mod federation;
pub mod logs;
pub mod net;
pub mod proto;
pub mod random;
pub mod regular;
pub mod server;
pub mod steady;
pub mod store;
pub mod tls;
pub mod tty;
