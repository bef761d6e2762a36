//! Path validation moved to `zab_core::path`; this re-export keeps
//! `crate::path` paths working until the server's modules import it from there.

pub use zab_core::path::validate_path;
