//! The identifiers of the protocol: transaction ids, epochs and server ids.

use std::fmt;

/// A ZooKeeper transaction id: the high 32 bits are the epoch of the leader
/// that proposed it, the low 32 bits a counter within that epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub i64);

impl Zxid {
    pub const ZERO: Zxid = Zxid(0);

    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid(((epoch.0 as i64) << 32) | counter as i64)
    }

    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32 as u64)
    }

    pub fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch.
    pub fn next(self) -> Zxid {
        Zxid(self.0 + 1)
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A leader epoch (ZooKeeper's `acceptedEpoch` / `currentEpoch`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A server id, as given by `server.N` and the `myid` file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_into_epoch_and_counter() {
        let z = Zxid::new(Epoch(3), 7);
        assert_eq!(z.0, 0x3_0000_0007);
        assert_eq!(z.epoch(), Epoch(3));
        assert_eq!(z.counter(), 7);
        assert_eq!(z.next().counter(), 8);
    }
}
