//! The checks of the fuzz targets added with issues 12 and 13 (JKS stores, OCSP
//! responses, port unification, SASL DIGEST-MD5 and JAAS, quorum SASL, snappy-java streams), as library
//! functions: each target in `fuzz_targets/` calls one, and `tests/seeds.rs` runs the
//! seed corpora through them on stable Rust where cargo-fuzz is not installed.

pub mod jks_store;
pub mod ocsp_response;
pub mod quorum_auth;
pub mod sasl_digest;
pub mod snappy_stream;
pub mod tls_sniff;
