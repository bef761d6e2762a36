//! Writes the committed seed corpus, `fuzz/seeds/<target>/`, from the real
//! encoders: small valid examples of every record each target decodes, plus a
//! few edge cases (null fields, legacy forms, torn and truncated files).
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds
//! ```
//!
//! Each seed starts with the target's control byte(s) (see the target's docs).

mod client;
mod quorum;
mod sasl;
mod storage;

use std::fs;
use std::path::{Path, PathBuf};

use zab_core::records::{Acl, Id, Stat};

/// One target's seed folder, emptied first; seeds are numbered in the order added.
pub struct Seeds {
    dir: PathBuf,
    n: usize,
}
impl Seeds {
    pub fn new(root: &Path, target: &str) -> Seeds {
        let dir = root.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Seeds { dir, n: 0 }
    }

    pub fn add(&mut self, name: &str, bytes: &[u8]) {
        self.n += 1;
        fs::write(self.dir.join(format!("{:03}-{name}", self.n)), bytes).unwrap();
    }

    pub fn with(&mut self, name: &str, control: &[u8], bytes: &[u8]) {
        let mut v = control.to_vec();
        v.extend_from_slice(bytes);
        self.add(name, &v);
    }
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

pub fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0001,
        mzxid: 0x1_0000_0002,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 1,
        cversion: 2,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 3,
        num_children: 0,
        pzxid: 0x1_0000_0001,
    }
}

pub fn digest_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id::new("digest", "user:aGFzaA=="),
    }]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    client::client_seeds(&root);
    quorum::quorum_seeds(&root);
    quorum::election_seeds(&root);
    storage::storage_seeds(&root);
    storage::apache_log_seeds(&root);
    storage::zkdb_seeds(&root);
    sasl::sasl_seeds(&root);
    for t in fs::read_dir(&root).unwrap() {
        let t = t.unwrap().path();
        println!(
            "{}: {} seeds",
            t.display(),
            fs::read_dir(&t).unwrap().count()
        );
    }
}
