//! Shared pieces of the benches and the load tools: the latency histogram, the servers
//! of either system that `zk-compare` and `zk-scale` start side by side, and the
//! standalone server the smoke tests start.

pub mod cluster;
pub mod hist;
pub mod smoke;
