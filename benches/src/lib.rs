//! Shared pieces of the benches and the load tools: the latency histogram.

pub mod hist;
