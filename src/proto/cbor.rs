//! The small subset of CBOR (RFC 8949) that Scalar needs, read in place and written into
//! caller-owned buffers.
//!
//! Reading borrows text and byte strings straight out of the frame, so decoding a message
//! allocates nothing. Writing always uses the shortest head form and definite lengths, which is
//! the core deterministic encoding of RFC 8949 §4.2.1 as long as callers emit map keys in
//! ascending order (every Scalar encoder does).

/// Why a byte string is not one well-formed CBOR item of the kinds Scalar accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CborError {
    /// The input ended in the middle of an item.
    Truncated,
    /// An indefinite-length string, array or map: Scalar only allows definite lengths.
    Indefinite,
    /// A tagged item: Scalar defines no tags, so any tag is refused.
    Tag,
    /// A text string that is not valid UTF-8.
    InvalidUtf8,
    /// Additional information 28–30, or a two-byte simple value below 32: not well-formed.
    Reserved,
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// The most levels of arrays and maps inside a message's top-level map (bounds recursion).
pub const MAX_DEPTH: u32 = 16;

/// One CBOR data item as seen by the reader: containers report only their length, their
/// members follow in the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    /// Major type 0.
    Uint(u64),
    /// Major type 1: the value is `-1 - n`.
    Nint(u64),
    /// Major type 2.
    Bytes(&'a [u8]),
    /// Major type 3, already checked to be UTF-8.
    Text(&'a str),
    /// Major type 4 with its number of members.
    Array(u64),
    /// Major type 5 with its number of pairs.
    Map(u64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`, floats and other simple values: well-formed, but never meaningful to Scalar.
    Other,
}

/// A cursor over CBOR bytes that hands out borrowed items.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        Ok(self.take(1)?[0])
    }

    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        let be = |b: &[u8]| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        match info {
            0..=23 => Ok(u64::from(info)),
            24 => Ok(u64::from(self.byte()?)),
            25 => Ok(be(self.take(2)?)),
            26 => Ok(be(self.take(4)?)),
            27 => Ok(be(self.take(8)?)),
            31 => Err(CborError::Indefinite),
            _ => Err(CborError::Reserved),
        }
    }

    fn string(&mut self, len: u64) -> Result<&'a [u8], CborError> {
        let len = usize::try_from(len).map_err(|_| CborError::Truncated)?;
        self.take(len)
    }

    /// Reads the next item's head and, for strings, its content.
    pub fn item(&mut self) -> Result<Item<'a>, CborError> {
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        if major == 7 {
            return match info {
                20 => Ok(Item::Bool(false)),
                21 => Ok(Item::Bool(true)),
                22 => Ok(Item::Null),
                0..=19 | 23 => Ok(Item::Other),
                24 if self.byte()? >= 32 => Ok(Item::Other),
                25 => self.take(2).map(|_| Item::Other),
                26 => self.take(4).map(|_| Item::Other),
                27 => self.take(8).map(|_| Item::Other),
                31 => Err(CborError::Indefinite),
                _ => Err(CborError::Reserved),
            };
        }
        let arg = self.argument(info)?;
        match major {
            0 => Ok(Item::Uint(arg)),
            1 => Ok(Item::Nint(arg)),
            2 => self.string(arg).map(Item::Bytes),
            3 => {
                let raw = self.string(arg)?;
                std::str::from_utf8(raw)
                    .map(Item::Text)
                    .map_err(|_| CborError::InvalidUtf8)
            }
            4 => Ok(Item::Array(arg)),
            5 => Ok(Item::Map(arg)),
            _ => Err(CborError::Tag),
        }
    }

    /// Reads one complete item, members included, and returns the raw bytes it spans. The item
    /// counts as nesting level 1: a value inside a message's top-level map.
    pub fn skip(&mut self) -> Result<&'a [u8], CborError> {
        self.skip_at(1)
    }

    /// Like [`skip`](Reader::skip) for an item at nesting `level`; arrays and maps deeper than
    /// [`MAX_DEPTH`] are refused.
    pub fn skip_at(&mut self, level: u32) -> Result<&'a [u8], CborError> {
        let start = self.pos;
        self.skip_nested(level)?;
        Ok(&self.buf[start..self.pos])
    }

    fn skip_nested(&mut self, level: u32) -> Result<(), CborError> {
        let members = match self.item()? {
            Item::Array(n) => n,
            Item::Map(n) => n.checked_mul(2).ok_or(CborError::Truncated)?,
            _ => return Ok(()),
        };
        if level > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        for _ in 0..members {
            self.skip_nested(level + 1)?;
        }
        Ok(())
    }

    /// True once every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// The output did not fit the buffer the caller provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// Writes CBOR items into a caller-owned slice, never past its end.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Writer<'b> {
    /// Starts writing at the first byte of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Overwrites one byte already written (used to patch a map head once its size is known).
    pub fn patch(&mut self, at: usize, byte: u8) {
        if let Some(b) = self.buf.get_mut(at).filter(|_| at < self.len) {
            *b = byte;
        }
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        let end = self.len.checked_add(bytes.len()).ok_or(Overflow)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(Overflow)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends an item head in its shortest form.
    pub fn head(&mut self, major: u8, arg: u64) -> Result<(), Overflow> {
        let mut tmp = [0u8; 9];
        let n = encode_head(major, arg, &mut tmp);
        self.raw(&tmp[..n])
    }

    /// Appends an unsigned integer.
    pub fn uint(&mut self, v: u64) -> Result<(), Overflow> {
        self.head(0, v)
    }

    /// Appends a text string.
    pub fn text(&mut self, s: &str) -> Result<(), Overflow> {
        self.head(3, s.len() as u64)?;
        self.raw(s.as_bytes())
    }

    /// Appends a byte string.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Overflow> {
        self.head(2, b.len() as u64)?;
        self.raw(b)
    }

    /// Appends an array head; its members must follow.
    pub fn array(&mut self, len: usize) -> Result<(), Overflow> {
        self.head(4, len as u64)
    }

    /// Appends a map head; its key/value pairs must follow.
    pub fn map(&mut self, pairs: usize) -> Result<(), Overflow> {
        self.head(5, pairs as u64)
    }

    /// Appends `true` or `false`.
    pub fn bool(&mut self, v: bool) -> Result<(), Overflow> {
        self.raw(&[if v { 0xf5 } else { 0xf4 }])
    }

    /// Appends `null`.
    pub fn null(&mut self) -> Result<(), Overflow> {
        self.raw(&[0xf6])
    }
}

/// Encodes an item head in its shortest form into `out`, returning the number of bytes used.
pub fn encode_head(major: u8, arg: u64, out: &mut [u8; 9]) -> usize {
    let m = major << 5;
    if arg < 24 {
        out[0] = m | arg as u8;
        1
    } else if arg <= u64::from(u8::MAX) {
        out[0] = m | 24;
        out[1] = arg as u8;
        2
    } else if arg <= u64::from(u16::MAX) {
        out[0] = m | 25;
        out[1..3].copy_from_slice(&(arg as u16).to_be_bytes());
        3
    } else if arg <= u64::from(u32::MAX) {
        out[0] = m | 26;
        out[1..5].copy_from_slice(&(arg as u32).to_be_bytes());
        5
    } else {
        out[0] = m | 27;
        out[1..9].copy_from_slice(&arg.to_be_bytes());
        9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_use_the_shortest_form() {
        let cases: [(u64, &[u8]); 7] = [
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 24]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 1, 0]),
            (65536, &[0x1a, 0, 1, 0, 0]),
            (1 << 32, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (v, want) in cases {
            let mut buf = [0u8; 9];
            let mut w = Writer::new(&mut buf);
            w.uint(v).unwrap();
            let n = w.len();
            assert_eq!(&buf[..n], want, "uint {v}");
            assert_eq!(Reader::new(want).item(), Ok(Item::Uint(v)));
        }
    }

    #[test]
    fn refuses_indefinite_tags_and_reserved() {
        assert_eq!(Reader::new(&[0x5f]).item(), Err(CborError::Indefinite));
        assert_eq!(Reader::new(&[0x9f]).item(), Err(CborError::Indefinite));
        assert_eq!(Reader::new(&[0xc1, 0x00]).item(), Err(CborError::Tag));
        assert_eq!(Reader::new(&[0x1c]).item(), Err(CborError::Reserved));
        assert_eq!(Reader::new(&[0xf8, 0x10]).item(), Err(CborError::Reserved));
        assert_eq!(
            Reader::new(&[0x62, 0xff, 0xfe]).item(),
            Err(CborError::InvalidUtf8)
        );
        assert_eq!(Reader::new(&[0x63, 0x61]).item(), Err(CborError::Truncated));
    }

    #[test]
    fn skip_bounds_nesting() {
        let deep = [0x81u8; 40];
        assert_eq!(Reader::new(&deep).skip(), Err(CborError::TooDeep));
        let ok = [0x82, 0x01, 0xa1, 0x02, 0xf9, 0x3c, 0x00];
        let mut r = Reader::new(&ok);
        assert_eq!(r.skip(), Ok(&ok[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn writer_never_overflows() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.text("hello"), Err(Overflow));
    }
}
