//! Shared pieces of the benches and the load tools: the latency histogram, and the
//! standalone server the smoke tests start.

pub mod hist;
pub mod smoke;
