//! The head of an entry file (format version 3): everything a reader needs
//! before the first byte of a part, verified by a blake3 of its own, so
//! that a response is never started from an unchecked header, record or
//! chunk table.
//!
//! ```text
//! fixed (32): magic "cdnedisk" (8) | version u32 LE (4) | key_len u32 LE (4) |
//!             meta_len u32 LE (4) | part count n u32 LE (4) |
//!             chunk shift u32 LE (4) | reserved u32 (4, zero)
//! n × part_len u64 LE | n × blake3 of the whole part (32) |
//! key | meta JSON |
//! chunk table: for each part, one blake3 (32) per chunk of it (2^shift bytes,
//!              the last one shorter), parts in order |
//! blake3 of every head byte before it (32)
//! ```
//!
//! The parts follow the head, in order, and end the file. Nothing here reads
//! a file: `read` does, `chunks` verifies the parts a chunk at a time.

use bytes::Bytes;

use super::chunks;
use super::format::{id_of, Bad, Id};

/// File magic.
pub(super) const MAGIC: [u8; 8] = *b"cdnedisk";
/// Format version. 1: key + meta + one body under `ab/cd/<64 hex>.obj`;
/// 2: header, key, meta, parts and a trailing blake3 of all of it (read
/// whole on every hit); 3: this head, verified on its own, and a blake3 per
/// chunk of each part, so a large part is read and verified a chunk at a
/// time as it is sent.
pub(super) const VERSION: u32 = 3;
/// Versions this node wrote before: their files are misses, deleted
/// quietly (not bad entries) and fetched again.
const OLD_VERSIONS: [u32; 2] = [1, 2];
/// Fixed head: magic, version, key_len, meta_len, part count, chunk shift, reserved.
pub(super) const FIXED_LEN: usize = 32;
/// One blake3.
pub(super) const HASH_LEN: usize = 32;
/// The shortest file any head can make: the fixed head and the head's hash.
pub(super) const MIN_FILE_LEN: u64 = (FIXED_LEN + HASH_LEN) as u64;
/// Most parts an entry may have (its lengths and hashes are then at most
/// 64 × 40 bytes).
pub(super) const MAX_PARTS: usize = 64;
/// Chunk sizes a reader accepts: 4 KiB to 16 MiB (written: [`chunks::SHIFT`]).
const SHIFTS: std::ops::RangeInclusive<u32> = 12..=24;
/// Bytes of the fixed head and the part lengths of an entry of `MAX_PARTS`
/// parts: enough to know how long the whole head is.
pub(super) const LENGTHS_MAX: usize = FIXED_LEN + 8 * MAX_PARTS;

/// An entry's shape, from the fixed head and the part lengths alone (not
/// verified yet: the head's hash covers them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    /// Bytes of the key.
    pub key_len: u32,
    /// Bytes of the metadata JSON.
    pub meta_len: u32,
    /// Chunks are `1 << shift` bytes.
    pub shift: u32,
    /// Bytes of each part, in order.
    pub parts: Vec<u64>,
}

impl Shape {
    /// The shape of the entry whose file starts with `b` (at least
    /// [`LENGTHS_MAX`] bytes, or the whole file if shorter): `Bad::Old` for
    /// a version this node wrote before, `Bad::Header` for anything not a
    /// head of ours.
    pub fn decode(b: &[u8]) -> Result<Shape, Bad> {
        let u32_at = |i: usize| {
            b.get(i..i + 4)
                .map(|s| u32::from_le_bytes(s.try_into().unwrap_or_default()))
        };
        if b.get(..8) != Some(&MAGIC[..]) {
            return Err(Bad::Header);
        }
        match u32_at(8).ok_or(Bad::Header)? {
            VERSION => {}
            v if OLD_VERSIONS.contains(&v) => return Err(Bad::Old),
            _ => return Err(Bad::Header),
        }
        let field = |i| u32_at(i).ok_or(Bad::Header);
        let (key_len, meta_len, n, shift) = (field(12)?, field(16)?, field(20)?, field(24)?);
        let n = usize::try_from(n).map_err(|_| Bad::Header)?;
        if n > MAX_PARTS || !SHIFTS.contains(&shift) || field(28)? != 0 {
            return Err(Bad::Header);
        }
        let parts = (0..n)
            .map(|i| {
                let at = FIXED_LEN + 8 * i;
                let s = b.get(at..at + 8).ok_or(Bad::Header)?;
                Ok(u64::from_le_bytes(s.try_into().map_err(|_| Bad::Header)?))
            })
            .collect::<Result<Vec<u64>, Bad>>()?;
        Ok(Shape {
            key_len,
            meta_len,
            shift,
            parts,
        })
    }

    /// Chunks of all parts together; `None` on overflow (garbage).
    fn chunks(&self) -> Option<u64> {
        self.parts
            .iter()
            .try_fold(0u64, |n, p| n.checked_add(chunks::count(*p, self.shift)))
    }

    /// Length of the head; `None` on overflow (garbage).
    pub fn head_len(&self) -> Option<u64> {
        let n = self.parts.len() as u64;
        let mut len = (FIXED_LEN + HASH_LEN) as u64 + n * (8 + HASH_LEN as u64);
        len = len.checked_add(u64::from(self.key_len))?;
        len = len.checked_add(u64::from(self.meta_len))?;
        len.checked_add(self.chunks()?.checked_mul(HASH_LEN as u64)?)
    }

    /// Total file length this shape promises; `None` on overflow (garbage).
    pub fn file_len(&self) -> Option<u64> {
        self.parts
            .iter()
            .try_fold(self.head_len()?, |n, p| n.checked_add(*p))
    }

    /// Where the key starts in the head.
    fn key_at(&self) -> usize {
        FIXED_LEN + self.parts.len() * (8 + HASH_LEN)
    }
}

/// A verified head: the record, and where each part is and how to verify it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    /// The metadata JSON.
    pub meta: Bytes,
    /// Chunks are `1 << shift` bytes.
    pub shift: u32,
    /// Each part, in order.
    pub parts: Vec<PartAt>,
    /// Length of the head (where part 0 starts).
    pub len: u64,
}

/// Where one part is in its file, and its hashes.
#[derive(Debug, Clone)]
pub(super) struct PartAt {
    /// Offset in the file.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// blake3 of the whole part.
    pub hash: [u8; HASH_LEN],
    /// blake3 of each chunk (a slice of the head).
    pub table: Bytes,
}

impl Head {
    /// Verifies the head at the start of `b` (at least the whole head) of a
    /// file of `file_len` bytes for `key`: its shape, the file's length,
    /// the head's own blake3 and the key, in that order (so each reason is
    /// told apart: see [`Bad`]).
    pub fn verify(b: &Bytes, file_len: u64, key: &str) -> Result<Head, Bad> {
        let shape = Shape::decode(b)?;
        if shape.file_len() != Some(file_len) {
            return Err(Bad::LengthHeader);
        }
        // In range: at most the file's length, checked just above.
        let len = shape.head_len().ok_or(Bad::LengthHeader)? as usize;
        if b.len() < len {
            return Err(Bad::LengthHeader);
        }
        if blake3::hash(&b[..len - HASH_LEN]).as_bytes()[..] != b[len - HASH_LEN..len] {
            return Err(Bad::Hash);
        }
        let key_at = shape.key_at();
        let meta_at = key_at + shape.key_len as usize;
        let table_at = meta_at + shape.meta_len as usize;
        // A different key here is a collision or a misplaced file.
        if &b[key_at..meta_at] != key.as_bytes() {
            return Err(Bad::Key);
        }
        let n = shape.parts.len();
        let (mut offset, mut table) = (len as u64, table_at);
        let mut parts = Vec::with_capacity(n);
        for (i, &plen) in shape.parts.iter().enumerate() {
            let at = FIXED_LEN + 8 * n + HASH_LEN * i;
            let mut hash = [0u8; HASH_LEN];
            hash.copy_from_slice(&b[at..at + HASH_LEN]);
            let t = chunks::count(plen, shape.shift) as usize * HASH_LEN;
            parts.push(PartAt {
                offset,
                len: plen,
                hash,
                table: b.slice(table..table + t),
            });
            offset += plen;
            table += t;
        }
        Ok(Head {
            meta: b.slice(meta_at..table_at),
            shift: shape.shift,
            parts,
            len: len as u64,
        })
    }
}

/// What a head records of the parts: their chunk size and each one's hashes.
pub(super) struct Parts {
    /// Chunks are `1 << shift` bytes.
    pub shift: u32,
    /// Each part, in order.
    pub parts: Vec<Hashed>,
}

/// One part's length and hashes.
pub(super) struct Hashed {
    /// Bytes.
    pub len: u64,
    /// blake3 of the whole part.
    pub hash: [u8; HASH_LEN],
    /// blake3 of each chunk.
    pub table: Bytes,
}

impl Parts {
    /// `parts`, hashed whole and in chunks of `1 << shift` bytes.
    pub fn hash(parts: &[&[u8]], shift: u32) -> Parts {
        let parts = parts
            .iter()
            .map(|p| Hashed {
                len: p.len() as u64,
                hash: *blake3::hash(p).as_bytes(),
                table: chunks::table(p, shift).into(),
            })
            .collect();
        Parts { shift, parts }
    }

    /// The parts of a verified head, as they are.
    pub fn of(head: &Head) -> Parts {
        let parts = head
            .parts
            .iter()
            .map(|p| Hashed {
                len: p.len,
                hash: p.hash,
                table: p.table.clone(),
            })
            .collect();
        Parts {
            shift: head.shift,
            parts,
        }
    }

    /// The file length of an entry of these parts for `key` and `meta`;
    /// `None` if a length does not fit its field.
    pub fn file_len(&self, key: &str, meta: &[u8]) -> Option<u64> {
        Shape {
            key_len: u32::try_from(key.len()).ok()?,
            meta_len: u32::try_from(meta.len()).ok()?,
            shift: self.shift,
            parts: self.parts.iter().map(|p| p.len).collect(),
        }
        .file_len()
    }
}

/// The head of an entry for `key` with `meta` and parts hashed as `parts`
/// say. `None` if a length does not fit its field.
pub(super) fn encode(key: &str, meta: &[u8], parts: &Parts) -> Option<Vec<u8>> {
    let n = parts.parts.len();
    let table: usize = parts.parts.iter().map(|p| p.table.len()).sum();
    let mut b = Vec::with_capacity(FIXED_LEN + n * 40 + key.len() + meta.len() + table + HASH_LEN);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&u32::try_from(key.len()).ok()?.to_le_bytes());
    b.extend_from_slice(&u32::try_from(meta.len()).ok()?.to_le_bytes());
    b.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    b.extend_from_slice(&parts.shift.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for p in &parts.parts {
        b.extend_from_slice(&p.len.to_le_bytes());
    }
    for p in &parts.parts {
        b.extend_from_slice(&p.hash);
    }
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(meta);
    for p in &parts.parts {
        b.extend_from_slice(&p.table);
    }
    let hash = blake3::hash(&b);
    b.extend_from_slice(hash.as_bytes());
    Some(b)
}

/// A whole entry file for `key` with `meta` and `parts` in chunks of `1 << shift` bytes (tests).
#[cfg(test)]
pub(super) fn entry_file(key: &str, meta: &[u8], parts: &[&[u8]], shift: u32) -> Vec<u8> {
    let mut b = encode(key, meta, &Parts::hash(parts, shift)).expect("small");
    for p in parts {
        b.extend_from_slice(p);
    }
    b
}

/// The key stored in the head at the start of `b` (at least
/// [`LENGTHS_MAX`] bytes and the key, or the whole file) of a file of
/// `len` bytes, if the head is ours, adds up to the file's length, and its
/// key names `id`. Not verified by the head's hash (it is for purges and
/// the key pass: a `get` verifies all before anything is served).
/// `Err(Bad::Old)` for a file of an older version.
pub(super) fn key_of(b: &[u8], len: u64, id: Id) -> Result<Option<String>, Bad> {
    let shape = Shape::decode(b)?;
    if shape.file_len() != Some(len) {
        return Ok(None);
    }
    let at = shape.key_at();
    let Some(key) = b.get(at..at + shape.key_len as usize) else {
        return Ok(None);
    };
    match std::str::from_utf8(key) {
        Ok(key) if id_of(key) == id => Ok(Some(key.to_string())),
        _ => Ok(None),
    }
}

/// Bytes of the head before the key, for a head of `n` parts: what
/// [`key_of`] needs besides the key.
pub(super) fn key_at(n: usize) -> usize {
    FIXED_LEN + n * (8 + HASH_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(key: &str, meta: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        encode(key, meta, &Parts::hash(parts, 12)).unwrap()
    }

    #[test]
    fn a_head_round_trips_with_its_table() {
        let body = vec![7u8; 10_000]; // 3 chunks of 4 KiB
        let head = head_of("/k", b"{}", &[&body, b"br", b""]);
        let file_len = head.len() as u64 + 10_002;
        let h = Head::verify(&Bytes::from(head.clone()), file_len, "/k").unwrap();
        assert_eq!(h.len, head.len() as u64);
        assert_eq!(&h.meta[..], b"{}");
        assert_eq!(h.shift, 12);
        let lens: Vec<_> = h
            .parts
            .iter()
            .map(|p| (p.offset, p.len, p.table.len()))
            .collect();
        let at = head.len() as u64;
        assert_eq!(
            lens,
            [
                (at, 10_000, 3 * 32),
                (at + 10_000, 2, 32),
                (at + 10_002, 0, 0)
            ]
        );
        assert_eq!(h.parts[0].hash, *blake3::hash(&body).as_bytes());
        assert_eq!(
            &h.parts[0].table[..32],
            blake3::hash(&body[..4096]).as_bytes()
        );
        assert_eq!(
            key_of(&head, file_len, id_of("/k")),
            Ok(Some("/k".to_string()))
        );
        assert_eq!(key_of(&head, file_len, id_of("/other")), Ok(None));
    }

    #[test]
    fn each_kind_of_damage_is_told_apart() {
        let head = head_of("/k", b"{\"a\":1}", &[b"body"]);
        let len = head.len() as u64 + 4;
        let check = |b: &[u8], len| Head::verify(&Bytes::copy_from_slice(b), len, "/k").err();
        assert_eq!(check(&head, len), None);
        assert_eq!(check(&head, len + 1), Some(Bad::LengthHeader));
        assert_eq!(check(&head[..20], len), Some(Bad::Header));
        assert_eq!(
            Head::verify(&Bytes::from(head.clone()), len, "/j").err(),
            Some(Bad::Key)
        );
        for at in [FIXED_LEN + 8 + 3, key_at(1) + 4, head.len() - 1] {
            let mut b = head.clone();
            b[at] ^= 1;
            assert_eq!(check(&b, len), Some(Bad::Hash), "byte {at}");
        }
        let mut b = head.clone();
        b[0] = b'X';
        assert_eq!(check(&b, len), Some(Bad::Header));
        for (version, bad) in [(2u32, Bad::Old), (1, Bad::Old), (4, Bad::Header)] {
            let mut b = head.clone();
            b[8..12].copy_from_slice(&version.to_le_bytes());
            assert_eq!(check(&b, len), Some(bad), "version {version}");
        }
        let mut b = head.clone();
        b[24..28].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(check(&b, len), Some(Bad::Header), "chunk shift");
    }

    #[test]
    fn shapes_of_garbage_never_overflow() {
        let mut b = head_of("/k", b"", &[b"x"]);
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        b[FIXED_LEN..FIXED_LEN + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let shape = Shape::decode(&b).unwrap();
        assert_eq!(shape.file_len(), None);
        assert_eq!(
            Head::verify(&Bytes::from(b), 100, "/k").err(),
            Some(Bad::LengthHeader)
        );
    }
}
