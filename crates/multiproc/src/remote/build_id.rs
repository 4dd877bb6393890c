//! The running executable's build id: what a remote task carries so that only a worker
//! running the very same build runs it (a function travels as its offset in the
//! executable, which means nothing in another build).
//!
//! It is the linker's `NT_GNU_BUILD_ID` note (a hash of the linked output, which
//! `rustc`'s default linker invocation on Linux writes), read from `/proc/self/exe`'s
//! section headers; an executable without one is identified by a SHA-256 of its bytes.
//! Written here rather than with an ELF crate: 40 lines read one note.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// This executable's build id, in hex.
pub(crate) fn build_id() -> &'static str {
    // after-fork: kept (a forked child runs the same executable)
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let bytes = std::fs::read("/proc/self/exe").unwrap_or_default();
        match gnu_build_id(&bytes) {
            Some(id) => hex(id),
            None => hex(&Sha256::digest(&bytes)),
        }
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

fn u64_at(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// The `NT_GNU_BUILD_ID` note of a little-endian ELF64 image.
fn gnu_build_id(elf: &[u8]) -> Option<&[u8]> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (shoff, shentsize, shnum) = (u64_at(elf, 0x28)?, u16_at(elf, 0x3a)?, u16_at(elf, 0x3c)?);
    for i in 0..shnum {
        let sh = shoff.checked_add(i.checked_mul(shentsize)?)?;
        if u32_at(elf, sh + 4)? != 7 {
            continue; // not SHT_NOTE
        }
        let (off, size) = (u64_at(elf, sh + 0x18)?, u64_at(elf, sh + 0x20)?);
        let notes = elf.get(off..off.checked_add(size)?)?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                u32_at(notes, at)?,
                u32_at(notes, at + 4)?,
                u32_at(notes, at + 8)?,
            );
            let name_at = at + 12;
            let desc_at = name_at + namesz.next_multiple_of(4);
            let end = desc_at + descsz.next_multiple_of(4);
            if kind == 3 && notes.get(name_at..name_at + namesz)? == b"GNU\0" {
                return notes.get(desc_at..desc_at + descsz);
            }
            at = end;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_test_binary_has_a_stable_build_id() {
        let id = super::build_id();
        assert!(id.len() >= 32, "{id}");
        assert_eq!(id, super::build_id());
        assert!(super::gnu_build_id(b"not an elf").is_none());
    }
}
