//! `ShareableList` (≈ `multiprocessing.shared_memory.ShareableList`): a fixed-length list of
//! ints, floats, bools, `None`s, strings and byte strings in one named block.
//!
//! Layout: a header (`b"MPSL"`, the item count), then one slot per item: a tag byte, 7 bytes of
//! padding, the value's length (`u64`), and the payload, whose capacity is fixed at creation
//! (8 bytes for numbers, the value's length rounded up to 8 for text and bytes, as in
//! Python). Lengths are stored, so trailing NUL bytes survive (CPython 3.11 strips them).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::SharedMemory;
use crate::error::ShmError;

/// One item of a [`ShareableList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// A 64-bit integer (`int`).
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// `None`.
    None,
    /// A string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
}

impl Item {
    fn tag(&self) -> u8 {
        match self {
            Item::Int(_) => 1,
            Item::Float(_) => 2,
            Item::Bool(_) => 3,
            Item::None => 4,
            Item::Str(_) => 5,
            Item::Bytes(_) => 6,
        }
    }

    fn payload(&self) -> Vec<u8> {
        match self {
            Item::Int(v) => v.to_le_bytes().to_vec(),
            Item::Float(v) => v.to_le_bytes().to_vec(),
            Item::Bool(v) => vec![u8::from(*v)],
            Item::None => Vec::new(),
            Item::Str(s) => s.as_bytes().to_vec(),
            Item::Bytes(b) => b.clone(),
        }
    }

    fn capacity(&self) -> usize {
        self.payload().len().next_multiple_of(8).max(8)
    }

    fn decode(tag: u8, payload: &[u8]) -> Option<Item> {
        let eight = || <[u8; 8]>::try_from(payload).ok();
        Some(match tag {
            1 => Item::Int(i64::from_le_bytes(eight()?)),
            2 => Item::Float(f64::from_le_bytes(eight()?)),
            3 => Item::Bool(*payload.first()? != 0),
            4 => Item::None,
            5 => Item::Str(String::from_utf8(payload.to_vec()).ok()?),
            6 => Item::Bytes(payload.to_vec()),
            _ => return None,
        })
    }
}

const MAGIC: &[u8; 4] = b"MPSL";
const HEADER: usize = 16; // magic, count (u32), slot table starts after
const SLOT_HEADER: usize = 16; // tag + padding, length

/// A fixed-length list in a named shared block (≈ `ShareableList(sequence)`).
///
/// ```
/// use multiproc::shared::{Item, ShareableList};
///
/// let list = ShareableList::new(&[Item::Int(1), Item::Str("howdy".into()), Item::None]).unwrap();
/// let same = ShareableList::attach(list.shm().name()).unwrap(); // in any process
/// same.set(0, Item::Float(2.5)).unwrap();                   // a type change fits in 8 bytes
/// assert_eq!(list.get(0).unwrap(), Item::Float(2.5));
/// assert!(list.set(1, Item::Str("far too long for the slot".into())).is_err());
/// list.shm().unlink().unwrap();
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    /// (slot offset, payload capacity) of each item.
    slots: Vec<(usize, usize)>,
}

impl ShareableList {
    /// A new list holding `items`, in a new block with a generated name.
    pub fn new(items: &[Item]) -> Result<ShareableList, ShmError> {
        let count = u32::try_from(items.len()).map_err(|_| ShmError::InvalidSize)?;
        let table = HEADER + 8 * items.len();
        let total = table
            + items
                .iter()
                .map(|i| SLOT_HEADER + i.capacity())
                .sum::<usize>();
        let shm = SharedMemory::create(total)?;
        let mut head = [0u8; HEADER];
        head[..4].copy_from_slice(MAGIC);
        head[4..8].copy_from_slice(&count.to_le_bytes());
        shm.write_at(0, &head)?;
        let mut slots = Vec::with_capacity(items.len());
        let mut offset = table;
        for (i, item) in items.iter().enumerate() {
            let cap = item.capacity();
            shm.write_at(HEADER + 8 * i, &(offset as u64).to_le_bytes())?;
            slots.push((offset, cap));
            offset += SLOT_HEADER + cap;
        }
        let list = ShareableList { shm, slots };
        for (i, item) in items.iter().enumerate() {
            list.set(i, item.clone())?;
        }
        Ok(list)
    }

    /// Attaches to an existing list by its block's name.
    pub fn attach(name: &str) -> Result<ShareableList, ShmError> {
        let shm = SharedMemory::attach(name)?;
        let mut head = [0u8; HEADER];
        shm.read_at(0, &mut head).map_err(|_| ShmError::NotAList)?;
        if &head[..4] != MAGIC {
            return Err(ShmError::NotAList);
        }
        let count = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        // The count comes from the block: it may not size an allocation beyond what the
        // block can hold.
        if count > (shm.size() - HEADER) / 8 {
            return Err(ShmError::NotAList);
        }
        let mut offsets = Vec::with_capacity(count);
        for i in 0..count {
            let mut o = [0u8; 8];
            shm.read_at(HEADER + 8 * i, &mut o)
                .map_err(|_| ShmError::NotAList)?;
            offsets.push(u64::from_le_bytes(o) as usize);
        }
        let mut slots = Vec::with_capacity(count);
        for (i, &o) in offsets.iter().enumerate() {
            let end = offsets.get(i + 1).copied().unwrap_or(shm.size());
            if o.checked_add(SLOT_HEADER).is_none_or(|s| end < s) || end > shm.size() {
                return Err(ShmError::NotAList);
            }
            slots.push((o, end - o - SLOT_HEADER));
        }
        Ok(ShareableList { shm, slots })
    }

    /// The block behind the list (`.shm`).
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The number of items (fixed).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Item `i` ([`ShmError::IndexOutOfRange`] past the end).
    pub fn get(&self, i: usize) -> Result<Item, ShmError> {
        let &(offset, cap) = self.slots.get(i).ok_or(ShmError::IndexOutOfRange)?;
        let mut head = [0u8; SLOT_HEADER];
        self.shm.read_at(offset, &mut head)?;
        let len = (u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")) as usize).min(cap);
        let mut payload = vec![0u8; len];
        self.shm.read_at(offset + SLOT_HEADER, &mut payload)?;
        Item::decode(head[0], &payload).ok_or(ShmError::NotAList)
    }

    /// Replaces item `i`; the type may change, but the value must fit the slot's capacity
    /// ([`ShmError::ExceedsStorage`]).
    pub fn set(&self, i: usize, item: Item) -> Result<(), ShmError> {
        let &(offset, cap) = self.slots.get(i).ok_or(ShmError::IndexOutOfRange)?;
        let payload = item.payload();
        if payload.len() > cap {
            return Err(ShmError::ExceedsStorage {
                len: payload.len(),
                capacity: cap,
            });
        }
        let mut head = [0u8; SLOT_HEADER];
        head[0] = item.tag();
        head[8..16].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        self.shm.write_at(offset + SLOT_HEADER, &payload)?;
        self.shm.write_at(offset, &head)
    }

    /// How many items equal `value` (`count`).
    pub fn count(&self, value: &Item) -> usize {
        (0..self.len())
            .filter(|&i| self.get(i).ok().as_ref() == Some(value))
            .count()
    }

    /// The first position of `value` (`index`), or [`ShmError::NotInList`].
    pub fn index(&self, value: &Item) -> Result<usize, ShmError> {
        (0..self.len())
            .find(|&i| self.get(i).ok().as_ref() == Some(value))
            .ok_or(ShmError::NotInList)
    }

    /// Every item.
    pub fn to_vec(&self) -> Result<Vec<Item>, ShmError> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

impl fmt::Debug for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareableList({:?}, name={:?})",
            self.to_vec().unwrap_or_default(),
            self.shm.name()
        )
    }
}

impl Serialize for ShareableList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ShareableList::attach(&name).map_err(crate::wire::de_error)
    }
}
