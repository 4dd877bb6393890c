//! A reference-counted mapped segment that serializes as a handle (its fd).

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::handle;
use crate::sys::shm::Segment;

#[derive(Debug, Clone)]
pub(crate) struct Mapping(pub(crate) Arc<Segment>);

impl Mapping {
    pub(crate) fn create(len: usize) -> std::io::Result<Mapping> {
        Ok(Mapping(Arc::new(Segment::create(len)?)))
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.0.ptr().as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let index = handle::push_fd(self.0.fd()).map_err(serde::ser::Error::custom)?;
        index.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(d)?;
        let fd = handle::take_fd(index).map_err(serde::de::Error::custom)?;
        let seg = Segment::map(fd).map_err(serde::de::Error::custom)?;
        Ok(Mapping(Arc::new(seg)))
    }
}
