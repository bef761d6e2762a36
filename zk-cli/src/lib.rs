//! zk-cli's library: [`client`], an asynchronous ZooKeeper client on tokio
//! (the shell's, and the tests'). The records it sends and reads are
//! `zab_core::proto`'s. The shell itself is the `zk-cli` binary.

pub mod client;
