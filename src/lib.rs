//! Scalar: a minimalist pub/sub chat protocol over TCP, framed as a two-byte little-endian
//! length plus one CBOR item.
//!
//! - [`proto`]: the wire format, sans IO.
//! - [`server`]: the server logic, sans IO.
#![warn(missing_docs)]

pub mod proto;
pub mod server;
