//! The client protocol's records moved to `zab_core::proto`; this re-export
//! keeps `crate::proto` paths working until the server's modules import them
//! from there.

pub use zab_core::proto::*;
