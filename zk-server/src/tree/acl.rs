//! The ACL table: ACL lists interned so that a million nodes share a handful
//! of them (ZooKeeper's `ReferenceCountedACLCache`), and the shared handle
//! ([`AclRef`]) that replies and watch triggers carry.
//!
//! A node holds a slot number of this table; the tree counts each node as a
//! user of its slot when it is inserted and releases it when it goes. Who
//! may do what with an ACL is `auth.rs`'s business, not this table's.

use std::collections::HashMap;
use std::sync::Arc;

use zab_core::records::Acl;

/// An interned ACL list with the id snapshots refer to it by.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    pub id: i64,
    pub acl: Vec<Acl>,
}

impl std::ops::Deref for AclEntry {
    type Target = Vec<Acl>;
    fn deref(&self) -> &Vec<Acl> {
        &self.acl
    }
}

/// A shared ACL list.
pub type AclRef = Arc<AclEntry>;

/// An ACL list that is not (yet) in the tree's table.
pub fn detached_acl(acl: Vec<Acl>) -> AclRef {
    Arc::new(AclEntry { id: -1, acl })
}

struct AclSlot {
    acl: AclRef,
    /// Nodes that use this list.
    users: u64,
}

/// Deduplicates ACL lists so that a million nodes share a handful of them
/// (ZooKeeper's `ReferenceCountedACLCache`). A node holds a slot number; a
/// list no node uses any more is dropped.
#[derive(Default)]
pub(super) struct AclTable {
    slots: Vec<Option<AclSlot>>,
    free: Vec<u32>,
    by_value: HashMap<Vec<Acl>, u32>,
    pub(super) by_id: HashMap<i64, u32>,
    next_id: i64,
}

impl AclTable {
    fn put(&mut self, id: i64, acl: Vec<Acl>) -> u32 {
        let entry = AclSlot {
            acl: Arc::new(AclEntry {
                id,
                acl: acl.clone(),
            }),
            users: 0,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_value.insert(acl, slot);
        self.by_id.insert(id, slot);
        slot
    }

    /// The slot of `acl` (added if new), with one more user.
    pub(super) fn acquire(&mut self, acl: &[Acl]) -> u32 {
        let slot = match self.by_value.get(acl) {
            Some(&s) => s,
            None => {
                self.next_id += 1;
                self.put(self.next_id, acl.to_vec())
            }
        };
        self.add_user(slot);
        slot
    }

    pub(super) fn add_user(&mut self, slot: u32) {
        self.slots[slot as usize]
            .as_mut()
            .expect("live ACL slot")
            .users += 1;
    }

    /// One user fewer; the list goes when nobody uses it.
    pub(super) fn release(&mut self, slot: u32) {
        let s = self.slots[slot as usize].as_mut().expect("live ACL slot");
        s.users -= 1;
        if s.users == 0 {
            let s = self.slots[slot as usize].take().unwrap();
            if self.by_value.get(s.acl.acl.as_slice()) == Some(&slot) {
                self.by_value.remove(s.acl.acl.as_slice());
            }
            self.by_id.remove(&s.acl.id);
            self.free.push(slot);
        }
    }

    /// Add a list with a known id (loading a snapshot).
    pub(super) fn load(&mut self, id: i64, acl: Vec<Acl>) {
        self.next_id = self.next_id.max(id);
        if let Some(&old) = self.by_id.get(&id) {
            if self.slots[old as usize]
                .as_ref()
                .is_some_and(|s| s.users == 0)
            {
                self.slots[old as usize] = None;
                self.free.push(old);
            }
        }
        self.put(id, acl);
    }

    pub(super) fn get(&self, slot: u32) -> &AclRef {
        &self.slots[slot as usize]
            .as_ref()
            .expect("live ACL slot")
            .acl
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = &AclRef> {
        self.slots.iter().flatten().map(|s| &s.acl)
    }
}
