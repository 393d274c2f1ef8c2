//! The binary codec of lisafs payloads: an append-only encoder and a
//! bounds-checked decoder. Every read from a peer goes through `Decoder`, so a
//! short, oversized or malformed payload is an error, never a panic.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload too short: needed {need} more bytes, {have} left")]
    Short { need: usize, have: usize },
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
    #[error("invalid message: {0}")]
    Invalid(&'static str),
}

/// Appends fields to a payload in wire order (native endianness: both ends of
/// a lisafs connection run on the same host).
#[derive(Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    /// A fixed-layout struct, copied byte for byte.
    pub fn fixed<T: IntoBytes + Immutable>(&mut self, v: &T) {
        self.buf.extend_from_slice(v.as_bytes());
    }

    /// A byte string preceded by its `u32` length (gVisor's `SizedString`).
    pub fn bytes(&mut self, v: &[u8]) {
        // Payloads are bounded by the message size limit, far below 4 GiB, and
        // the transport refuses to send anything larger.
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }

    /// An array of byte strings preceded by its `u32` count.
    pub fn bytes_array<S: AsRef<[u8]>>(&mut self, v: &[S]) {
        self.u32(v.len() as u32);
        for s in v {
            self.bytes(s.as_ref());
        }
    }
}

/// Reads fields from a received payload; every read checks the bounds.
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Short {
                need: n,
                have: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_ne_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_ne_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_ne_bytes)
    }

    pub fn fixed<T: FromBytes + KnownLayout + Immutable>(&mut self) -> Result<T, DecodeError> {
        let bytes = self.take(size_of::<T>())?;
        T::read_from_bytes(bytes).map_err(|_| DecodeError::Invalid("fixed-size field"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// A counted array whose elements take at least `min_elem` bytes each;
    /// the count is checked against what is left before anything is
    /// allocated, so a hostile count cannot make us reserve gigabytes.
    pub fn array_of<T>(
        &mut self,
        min_elem: usize,
        mut elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.u32()? as usize;
        let need = count.saturating_mul(min_elem.max(1));
        if need > self.buf.len() {
            return Err(DecodeError::Short {
                need,
                have: self.buf.len(),
            });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(elem(self)?);
        }
        Ok(out)
    }

    pub fn bytes_array(&mut self) -> Result<Vec<Vec<u8>>, DecodeError> {
        self.array_of(4, |d| d.bytes().map(<[u8]>::to_vec))
    }

    /// Ends decoding: a message must be consumed exactly.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_length() {
        let mut e = Encoder::new();
        e.u8(7);
        e.u16(0x1234);
        e.u32(0xdead_beef);
        e.u64(u64::MAX);
        e.bytes(b"name");
        e.bytes_array(&[b"a".as_slice(), b"bc"]);
        let buf = e.into_bytes();
        let mut d = Decoder::new(&buf);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u16().unwrap(), 0x1234);
        assert_eq!(d.u32().unwrap(), 0xdead_beef);
        assert_eq!(d.u64().unwrap(), u64::MAX);
        assert_eq!(d.bytes().unwrap(), b"name");
        assert_eq!(
            d.bytes_array().unwrap(),
            vec![b"a".to_vec(), b"bc".to_vec()]
        );
        d.finish().unwrap();
    }

    #[test]
    fn short_and_trailing_input_are_errors() {
        assert!(matches!(
            Decoder::new(&[1, 2]).u32(),
            Err(DecodeError::Short { need: 4, have: 2 })
        ));
        let mut d = Decoder::new(&[1, 2, 3]);
        d.u8().unwrap();
        assert_eq!(d.finish(), Err(DecodeError::Trailing(2)));
        // A string claiming to be longer than the payload.
        let mut e = Encoder::new();
        e.u32(1000);
        e.u8(b'x');
        assert!(Decoder::new(&e.into_bytes()).bytes().is_err());
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        let mut e = Encoder::new();
        e.u32(u32::MAX);
        let buf = e.into_bytes();
        assert!(Decoder::new(&buf).bytes_array().is_err());
    }
}
