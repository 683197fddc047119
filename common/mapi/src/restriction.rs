//! Restrictions (MS-OXCDATA §2.12): the filter grammar of tables, search folders, rules and
//! ICS, its wire format, and the one reference evaluator every user of restrictions calls.
//!
//! - [`Restriction`]: the twelve restriction types of §2.12.1–§2.12.12;
//! - [`decode`] / [`encode`]: the packet formats. `wide` selects the 32-bit counts of extended
//!   rules (MS-OXORULE §2.2.4) instead of the 16-bit counts of ROP buffers (§2.11.1.1); the
//!   decoder is total and bounded (nesting depth [`MAX_DEPTH`], node count [`MAX_NODES`]);
//! - [`read_value`] / [`write_value`]: PropertyValue encoding (§2.11.2.1) used inside
//!   restrictions;
//! - [`Matcher`]: evaluates a restriction against any [`PropSource`] (a message, a recipient
//!   row, a folder). Semantics, where the specification leaves them open, follow Exchange and
//!   Gromox: a test on a missing property is false (so `NOT` of it is true); string
//!   comparisons ignore case; a multi-valued property satisfies a single-valued comparison when
//!   any of its values does; `RE` and `MEMBER_OF_DL` are not evaluated and are false.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::props::{PropTag, PropType, PropVal, TaggedVal};
use crate::{Error, Guid};

/// Deepest nesting the decoder accepts.
pub const MAX_DEPTH: usize = 64;
/// Most restriction nodes one decoded restriction may have.
pub const MAX_NODES: usize = 100_000;

/// Relational operators of property, compare-properties and size restrictions (§2.12.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// Regular expression (`RELOP_RE`): not evaluated (false).
    Re,
    /// Membership in a distribution list (`RELOP_MEMBER_OF_DL`): not evaluated (false).
    MemberOfDl,
}

impl RelOp {
    fn from_u8(v: u8) -> Option<RelOp> {
        Some(match v {
            0 => RelOp::Lt,
            1 => RelOp::Le,
            2 => RelOp::Gt,
            3 => RelOp::Ge,
            4 => RelOp::Eq,
            5 => RelOp::Ne,
            6 => RelOp::Re,
            0x64 => RelOp::MemberOfDl,
            _ => return None,
        })
    }
    fn to_u8(self) -> u8 {
        match self {
            RelOp::Lt => 0,
            RelOp::Le => 1,
            RelOp::Gt => 2,
            RelOp::Ge => 3,
            RelOp::Eq => 4,
            RelOp::Ne => 5,
            RelOp::Re => 6,
            RelOp::MemberOfDl => 0x64,
        }
    }
    fn holds(self, o: Ordering) -> bool {
        match self {
            RelOp::Lt => o == Ordering::Less,
            RelOp::Le => o != Ordering::Greater,
            RelOp::Gt => o == Ordering::Greater,
            RelOp::Ge => o != Ordering::Less,
            RelOp::Eq => o == Ordering::Equal,
            RelOp::Ne => o != Ordering::Equal,
            RelOp::Re | RelOp::MemberOfDl => false,
        }
    }
}

/// How a content restriction matches (§2.12.4: FuzzyLevelLow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuzzyLevel {
    /// `FL_FULLSTRING`: the whole value equals the comparand.
    FullString,
    /// `FL_SUBSTRING`: the comparand occurs anywhere.
    Substring,
    /// `FL_PREFIX`: the value starts with the comparand.
    Prefix,
}

/// FuzzyLevelHigh flags (§2.12.4).
pub const FL_IGNORECASE: u16 = 0x0001;
/// Ignore non-spacing characters (treated like [`FL_IGNORECASE`] here).
pub const FL_IGNORENONSPACE: u16 = 0x0002;
/// Loose match (treated like [`FL_IGNORECASE`] here).
pub const FL_LOOSE: u16 = 0x0004;

/// The sub-objects a [`Restriction::SubObject`] looks into (§2.12.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubObject {
    /// `PidTagMessageRecipients` (0x0E12000D).
    Recipients,
    /// `PidTagMessageAttachments` (0x0E13000D).
    Attachments,
}

impl SubObject {
    /// The property tag naming it on the wire.
    pub fn tag(self) -> PropTag {
        match self {
            SubObject::Recipients => PropTag(0x0E12_000D),
            SubObject::Attachments => PropTag(0x0E13_000D),
        }
    }
}

/// A restriction (MS-OXCDATA §2.12).
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    /// §2.12.1: all must hold (an empty AND holds).
    And(Vec<Restriction>),
    /// §2.12.2: one must hold (an empty OR does not).
    Or(Vec<Restriction>),
    /// §2.12.3.
    Not(Box<Restriction>),
    /// §2.12.4: string or binary content.
    Content {
        level: FuzzyLevel,
        /// FuzzyLevelHigh flags ([`FL_IGNORECASE`] …).
        flags: u16,
        tag: PropTag,
        value: TaggedVal,
    },
    /// §2.12.5: the property compared with a constant.
    Property { op: RelOp, tag: PropTag, value: TaggedVal },
    /// §2.12.6: two properties of the object compared.
    CompareProps { op: RelOp, tag1: PropTag, tag2: PropTag },
    /// §2.12.7: `(value & mask) == 0` (`eqz`) or `!= 0`.
    BitMask { nonzero: bool, tag: PropTag, mask: u32 },
    /// §2.12.8: the size of the value in bytes compared with `size`.
    Size { op: RelOp, tag: PropTag, size: u32 },
    /// §2.12.9: the property exists.
    Exist(PropTag),
    /// §2.12.10: some recipient or attachment satisfies the restriction.
    SubObject {
        sub: SubObject,
        restriction: Box<Restriction>,
    },
    /// §2.12.11: annotations; holds when the inner restriction holds (or there is none).
    Comment {
        values: Vec<TaggedVal>,
        restriction: Option<Box<Restriction>>,
    },
    /// §2.12.12: at most `count` objects of a scan satisfy the inner restriction.
    Count { count: u32, restriction: Box<Restriction> },
}

impl Restriction {
    /// A property restriction (§2.12.5) `tag == val`.
    pub fn eq(tag: PropTag, val: PropVal) -> Restriction {
        Restriction::Property {
            op: RelOp::Eq,
            tag,
            value: TaggedVal::new(tag, val),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire format

/// A bounds-checked little-endian reader shared by the restriction and rule-action decoders.
pub(crate) struct Reader<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) wide: bool,
    nodes: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8], wide: bool) -> Self {
        Reader {
            b,
            pos: 0,
            wide,
            nodes: 0,
        }
    }
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated(what))?;
        let s = self.b.get(self.pos..end).ok_or(Error::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, Error> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn count(&mut self, what: &'static str) -> Result<usize, Error> {
        Ok(if self.wide {
            self.u32(what)? as usize
        } else {
            usize::from(self.u16(what)?)
        })
    }
    /// A count of elements that each take at least `min` bytes: refused when the input
    /// cannot hold them, so a lying count never allocates.
    fn bounded(&self, n: usize, min: usize, what: &'static str) -> Result<usize, Error> {
        if n.saturating_mul(min.max(1)) > self.b.len() - self.pos {
            return Err(Error::Truncated(what));
        }
        Ok(n)
    }
    fn string8(&mut self) -> Result<String, Error> {
        let rest = &self.b[self.pos..];
        let end = rest.iter().position(|&c| c == 0).ok_or(Error::Truncated("string8"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }
    fn unicode(&mut self) -> Result<String, Error> {
        let mut units = Vec::new();
        loop {
            let u = self.u16("unicode string")?;
            if u == 0 {
                break;
            }
            units.push(u);
        }
        Ok(String::from_utf16_lossy(&units))
    }
    fn binary(&mut self) -> Result<Vec<u8>, Error> {
        let n = self.count("binary length")?;
        Ok(self.take(n, "binary")?.to_vec())
    }
}

/// Read one PropertyValue of type `ty` (MS-OXCDATA §2.11.2.1); `wide` selects 32-bit binary
/// lengths.
pub fn read_value(b: &[u8], ty: PropType, wide: bool) -> Result<(PropVal, usize), Error> {
    let mut r = Reader {
        b,
        pos: 0,
        wide,
        nodes: 0,
    };
    let v = value(&mut r, ty)?;
    Ok((v, r.pos))
}

fn value(r: &mut Reader<'_>, ty: PropType) -> Result<PropVal, Error> {
    use PropType as T;
    use PropVal as V;
    let mvcount = |r: &mut Reader<'_>, min: usize| -> Result<usize, Error> {
        let n = r.u32("multi-value count")? as usize;
        r.bounded(n, min, "multi-value")
    };
    Ok(match ty {
        T::Null | T::Unspecified => V::Null,
        T::I2 => V::I2(r.u16("i2")? as i16),
        T::I4 => V::I4(r.u32("i4")? as i32),
        T::R4 => V::R4(f32::from_bits(r.u32("r4")?)),
        T::R8 => V::R8(f64::from_bits(r.u64("r8")?)),
        T::Currency => V::Currency(r.u64("currency")? as i64),
        T::AppTime => V::AppTime(f64::from_bits(r.u64("apptime")?)),
        T::Error => V::Error(r.u32("error")?),
        T::Boolean => V::Boolean(r.u8("boolean")? != 0),
        T::I8 => V::I8(r.u64("i8")? as i64),
        T::SysTime => V::SysTime(r.u64("systime")?),
        T::String8 => V::String8(r.string8()?),
        T::Unicode => V::Unicode(r.unicode()?),
        T::Clsid => V::Clsid(Guid::from_slice(r.take(16, "guid")?)?),
        T::SvrEid => V::SvrEid(r.binary()?),
        T::Object => V::Object(r.binary()?),
        T::Binary => V::Binary(r.binary()?),
        T::Restriction => {
            // Nested restriction values keep their serialized form.
            let start = r.pos;
            restriction(r, 1)?;
            V::Restriction(r.b[start..r.pos].to_vec())
        }
        T::RuleActions => return Err(Error::UnsupportedType(ty as u16)),
        T::MvI2 => {
            let n = mvcount(r, 2)?;
            V::MvI2(
                (0..n)
                    .map(|_| r.u16("i2").map(|v| v as i16))
                    .collect::<Result<_, _>>()?,
            )
        }
        T::MvI4 => {
            let n = mvcount(r, 4)?;
            V::MvI4(
                (0..n)
                    .map(|_| r.u32("i4").map(|v| v as i32))
                    .collect::<Result<_, _>>()?,
            )
        }
        T::MvR4 => {
            let n = mvcount(r, 4)?;
            V::MvR4(
                (0..n)
                    .map(|_| r.u32("r4").map(f32::from_bits))
                    .collect::<Result<_, _>>()?,
            )
        }
        T::MvR8 | T::MvAppTime => {
            let n = mvcount(r, 8)?;
            let v = (0..n)
                .map(|_| r.u64("r8").map(f64::from_bits))
                .collect::<Result<_, _>>()?;
            if ty == T::MvR8 {
                V::MvR8(v)
            } else {
                V::MvAppTime(v)
            }
        }
        T::MvCurrency | T::MvI8 => {
            let n = mvcount(r, 8)?;
            let v = (0..n)
                .map(|_| r.u64("i8").map(|v| v as i64))
                .collect::<Result<_, _>>()?;
            if ty == T::MvI8 {
                V::MvI8(v)
            } else {
                V::MvCurrency(v)
            }
        }
        T::MvSysTime => {
            let n = mvcount(r, 8)?;
            V::MvSysTime((0..n).map(|_| r.u64("systime")).collect::<Result<_, _>>()?)
        }
        T::MvString8 => {
            let n = mvcount(r, 1)?;
            V::MvString8((0..n).map(|_| r.string8()).collect::<Result<_, _>>()?)
        }
        T::MvUnicode => {
            let n = mvcount(r, 2)?;
            V::MvUnicode((0..n).map(|_| r.unicode()).collect::<Result<_, _>>()?)
        }
        T::MvClsid => {
            let n = mvcount(r, 16)?;
            V::MvClsid(
                (0..n)
                    .map(|_| r.take(16, "guid").and_then(Guid::from_slice))
                    .collect::<Result<_, _>>()?,
            )
        }
        T::MvBinary => {
            let n = mvcount(r, if r.wide { 4 } else { 2 })?;
            V::MvBinary((0..n).map(|_| r.binary()).collect::<Result<_, _>>()?)
        }
    })
}

/// Read one TaggedPropertyValue (MS-OXCDATA §2.11.4: tag, then the value); returns it and
/// the bytes used.
pub fn read_tagged(b: &[u8], wide: bool) -> Result<(TaggedVal, usize), Error> {
    let mut r = Reader {
        b,
        pos: 0,
        wide,
        nodes: 0,
    };
    let t = tagged(&mut r)?;
    Ok((t, r.pos))
}

/// Append one TaggedPropertyValue.
pub fn write_tagged(out: &mut Vec<u8>, t: &TaggedVal, wide: bool) {
    put_tagged(out, t, wide)
}

fn tagged(r: &mut Reader<'_>) -> Result<TaggedVal, Error> {
    let tag = PropTag(r.u32("property tag")?);
    let ty = tag.ptype().ok_or(Error::UnsupportedType(tag.type_raw()))?;
    // MV_INSTANCE (0x2000) in a comparand's tag means a single value of the MV type.
    let ty = if tag.type_raw() & 0x2000 != 0 {
        PropType::from_u16(tag.type_raw() & !0x3000).ok_or(Error::UnsupportedType(tag.type_raw()))?
    } else {
        ty
    };
    Ok(TaggedVal {
        tag,
        val: value(r, ty)?,
    })
}

fn restriction(r: &mut Reader<'_>, depth: usize) -> Result<Restriction, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid("restriction nesting too deep"));
    }
    r.nodes += 1;
    if r.nodes > MAX_NODES {
        return Err(Error::Invalid("restriction too large"));
    }
    let relop = |r: &mut Reader<'_>| RelOp::from_u8(r.u8("relop")?).ok_or(Error::Invalid("relop"));
    Ok(match r.u8("restriction type")? {
        t @ (0x00 | 0x01) => {
            let n = r.count("restriction count")?;
            let n = r.bounded(n, 1, "restrictions")?;
            let v = (0..n)
                .map(|_| restriction(r, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if t == 0 {
                Restriction::And(v)
            } else {
                Restriction::Or(v)
            }
        }
        0x02 => Restriction::Not(Box::new(restriction(r, depth + 1)?)),
        0x03 => {
            let low = r.u16("fuzzy level")?;
            let flags = r.u16("fuzzy level")?;
            let level = match low {
                0 => FuzzyLevel::FullString,
                1 => FuzzyLevel::Substring,
                2 => FuzzyLevel::Prefix,
                _ => return Err(Error::Invalid("fuzzy level")),
            };
            let tag = PropTag(r.u32("property tag")?);
            Restriction::Content {
                level,
                flags,
                tag,
                value: tagged(r)?,
            }
        }
        0x04 => {
            let op = relop(r)?;
            let tag = PropTag(r.u32("property tag")?);
            Restriction::Property {
                op,
                tag,
                value: tagged(r)?,
            }
        }
        0x05 => Restriction::CompareProps {
            op: relop(r)?,
            tag1: PropTag(r.u32("property tag")?),
            tag2: PropTag(r.u32("property tag")?),
        },
        0x06 => {
            let nonzero = match r.u8("bitmap relop")? {
                0 => false,
                1 => true,
                _ => return Err(Error::Invalid("bitmap relop")),
            };
            Restriction::BitMask {
                nonzero,
                tag: PropTag(r.u32("property tag")?),
                mask: r.u32("mask")?,
            }
        }
        0x07 => Restriction::Size {
            op: relop(r)?,
            tag: PropTag(r.u32("property tag")?),
            size: r.u32("size")?,
        },
        0x08 => Restriction::Exist(PropTag(r.u32("property tag")?)),
        0x09 => {
            let sub = match r.u32("subobject")? {
                0x0E12_000D => SubObject::Recipients,
                0x0E13_000D => SubObject::Attachments,
                _ => return Err(Error::Invalid("subobject")),
            };
            Restriction::SubObject {
                sub,
                restriction: Box::new(restriction(r, depth + 1)?),
            }
        }
        0x0A => {
            let n = usize::from(r.u8("comment count")?);
            let n = r.bounded(n, 4, "comment values")?;
            let values = (0..n).map(|_| tagged(r)).collect::<Result<Vec<_>, _>>()?;
            let restriction = match r.u8("restriction present")? {
                0 => None,
                _ => Some(Box::new(restriction(r, depth + 1)?)),
            };
            Restriction::Comment { values, restriction }
        }
        0x0B => Restriction::Count {
            count: r.u32("count")?,
            restriction: Box::new(restriction(r, depth + 1)?),
        },
        _ => return Err(Error::Invalid("restriction type")),
    })
}

/// Decode a restriction that fills `b` exactly.
pub fn decode(b: &[u8], wide: bool) -> Result<Restriction, Error> {
    let mut r = Reader {
        b,
        pos: 0,
        wide,
        nodes: 0,
    };
    let res = restriction(&mut r, 1)?;
    if r.pos != b.len() {
        return Err(Error::Invalid("trailing bytes after restriction"));
    }
    Ok(res)
}

fn put_count(out: &mut Vec<u8>, n: usize, wide: bool) {
    if wide {
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(n.min(usize::from(u16::MAX)) as u16).to_le_bytes());
    }
}

fn put_unicode(out: &mut Vec<u8>, s: &str) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out.extend_from_slice(&[0, 0]);
}

fn put_string8(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// Append one PropertyValue (MS-OXCDATA §2.11.2.1).
pub fn write_value(out: &mut Vec<u8>, v: &PropVal, wide: bool) {
    use PropVal as V;
    let bin = |out: &mut Vec<u8>, b: &[u8]| {
        put_count(out, b.len(), wide);
        out.extend_from_slice(b);
    };
    let n = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_le_bytes());
    match v {
        V::Null => {}
        V::I2(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::I4(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::R4(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        V::R8(x) | V::AppTime(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        V::Currency(x) | V::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::Error(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::Boolean(x) => out.push(u8::from(*x)),
        V::SysTime(x) => out.extend_from_slice(&x.to_le_bytes()),
        V::String8(s) => put_string8(out, s),
        V::Unicode(s) => put_unicode(out, s),
        V::Clsid(g) => out.extend_from_slice(&g.0),
        V::SvrEid(b) | V::Object(b) | V::Binary(b) | V::RuleActions(b) => bin(out, b),
        V::Restriction(b) => out.extend_from_slice(b),
        V::MvI2(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        V::MvI4(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        V::MvR4(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes()));
        }
        V::MvR8(v) | V::MvAppTime(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes()));
        }
        V::MvCurrency(v) | V::MvI8(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        V::MvSysTime(v) => {
            n(out, v.len());
            v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        V::MvString8(v) => {
            n(out, v.len());
            v.iter().for_each(|s| put_string8(out, s));
        }
        V::MvUnicode(v) => {
            n(out, v.len());
            v.iter().for_each(|s| put_unicode(out, s));
        }
        V::MvClsid(v) => {
            n(out, v.len());
            v.iter().for_each(|g| out.extend_from_slice(&g.0));
        }
        V::MvBinary(v) => {
            n(out, v.len());
            v.iter().for_each(|b| bin(out, b));
        }
    }
}

fn put_tagged(out: &mut Vec<u8>, t: &TaggedVal, wide: bool) {
    out.extend_from_slice(&t.tag.0.to_le_bytes());
    write_value(out, &t.val, wide);
}

/// Encode a restriction (the inverse of [`decode`]).
pub fn encode(r: &Restriction, wide: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, r, wide);
    out
}

fn encode_into(out: &mut Vec<u8>, r: &Restriction, wide: bool) {
    match r {
        Restriction::And(v) | Restriction::Or(v) => {
            out.push(u8::from(matches!(r, Restriction::Or(_))));
            put_count(out, v.len(), wide);
            v.iter().for_each(|x| encode_into(out, x, wide));
        }
        Restriction::Not(x) => {
            out.push(0x02);
            encode_into(out, x, wide);
        }
        Restriction::Content {
            level,
            flags,
            tag,
            value,
        } => {
            out.push(0x03);
            let low: u16 = match level {
                FuzzyLevel::FullString => 0,
                FuzzyLevel::Substring => 1,
                FuzzyLevel::Prefix => 2,
            };
            out.extend_from_slice(&low.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&tag.0.to_le_bytes());
            put_tagged(out, value, wide);
        }
        Restriction::Property { op, tag, value } => {
            out.push(0x04);
            out.push(op.to_u8());
            out.extend_from_slice(&tag.0.to_le_bytes());
            put_tagged(out, value, wide);
        }
        Restriction::CompareProps { op, tag1, tag2 } => {
            out.push(0x05);
            out.push(op.to_u8());
            out.extend_from_slice(&tag1.0.to_le_bytes());
            out.extend_from_slice(&tag2.0.to_le_bytes());
        }
        Restriction::BitMask { nonzero, tag, mask } => {
            out.push(0x06);
            out.push(u8::from(*nonzero));
            out.extend_from_slice(&tag.0.to_le_bytes());
            out.extend_from_slice(&mask.to_le_bytes());
        }
        Restriction::Size { op, tag, size } => {
            out.push(0x07);
            out.push(op.to_u8());
            out.extend_from_slice(&tag.0.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
        }
        Restriction::Exist(tag) => {
            out.push(0x08);
            out.extend_from_slice(&tag.0.to_le_bytes());
        }
        Restriction::SubObject { sub, restriction } => {
            out.push(0x09);
            out.extend_from_slice(&sub.tag().0.to_le_bytes());
            encode_into(out, restriction, wide);
        }
        Restriction::Comment { values, restriction } => {
            out.push(0x0A);
            out.push(values.len().min(255) as u8);
            values.iter().take(255).for_each(|t| put_tagged(out, t, wide));
            match restriction {
                Some(x) => {
                    out.push(1);
                    encode_into(out, x, wide);
                }
                None => out.push(0),
            }
        }
        Restriction::Count { count, restriction } => {
            out.push(0x0B);
            out.extend_from_slice(&count.to_le_bytes());
            encode_into(out, restriction, wide);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// An object a restriction is evaluated against.
pub trait PropSource {
    /// The value of `tag`'s property. Implementations match on the property id and return
    /// the stored value whatever its type (String8 and Unicode are interchangeable); the
    /// evaluator checks types itself.
    fn prop(&self, tag: PropTag) -> Option<Cow<'_, PropVal>>;
    /// Visit recipient or attachment rows until `f` returns true; whether it did.
    fn any_sub(&self, which: SubObject, f: &mut dyn FnMut(&dyn PropSource) -> bool) -> bool {
        let _ = (which, f);
        false
    }
}

/// A plain property list as a [`PropSource`] (rows, tests).
impl PropSource for Vec<TaggedVal> {
    fn prop(&self, tag: PropTag) -> Option<Cow<'_, PropVal>> {
        self.iter()
            .find(|t| t.tag.id() == tag.id())
            .map(|t| Cow::Borrowed(&t.val))
    }
}

/// Evaluates one restriction over a sequence of objects (a table scan). Count restrictions
/// (§2.12.12) keep their remaining counts across the objects of one `Matcher`.
pub struct Matcher<'r> {
    r: &'r Restriction,
    counts: Vec<u32>,
}

impl<'r> Matcher<'r> {
    /// A matcher for `r`.
    pub fn new(r: &'r Restriction) -> Self {
        let mut counts = Vec::new();
        collect_counts(r, &mut counts);
        Matcher { r, counts }
    }

    /// Whether `obj` satisfies the restriction.
    pub fn matches(&mut self, obj: &dyn PropSource) -> bool {
        let mut idx = 0;
        eval(self.r, obj, &mut self.counts, &mut idx)
    }
}

fn collect_counts(r: &Restriction, out: &mut Vec<u32>) {
    match r {
        Restriction::And(v) | Restriction::Or(v) => v.iter().for_each(|x| collect_counts(x, out)),
        Restriction::Not(x) | Restriction::SubObject { restriction: x, .. } => collect_counts(x, out),
        Restriction::Comment {
            restriction: Some(x), ..
        } => collect_counts(x, out),
        Restriction::Count { count, restriction } => {
            out.push(*count);
            collect_counts(restriction, out);
        }
        _ => {}
    }
}

/// Whether `obj` satisfies `r` (Count restrictions act as plain wrappers here; use
/// [`Matcher`] for a scan).
pub fn matches(r: &Restriction, obj: &dyn PropSource) -> bool {
    Matcher::new(r).matches(obj)
}

/// Number of Count nodes in `r` (to skip them when a branch is not evaluated).
fn count_nodes(r: &Restriction) -> usize {
    let mut v = Vec::new();
    collect_counts(r, &mut v);
    v.len()
}

fn eval(r: &Restriction, obj: &dyn PropSource, counts: &mut [u32], idx: &mut usize) -> bool {
    match r {
        Restriction::And(v) => {
            let mut ok = true;
            for x in v {
                if ok {
                    ok = eval(x, obj, counts, idx);
                } else {
                    *idx += count_nodes(x);
                }
            }
            ok
        }
        Restriction::Or(v) => {
            let mut ok = false;
            for x in v {
                if !ok {
                    ok = eval(x, obj, counts, idx);
                } else {
                    *idx += count_nodes(x);
                }
            }
            ok
        }
        Restriction::Not(x) => !eval(x, obj, counts, idx),
        Restriction::Comment { restriction, .. } => match restriction {
            Some(x) => eval(x, obj, counts, idx),
            None => true,
        },
        Restriction::Count { restriction, .. } => {
            let me = *idx;
            *idx += 1;
            if counts.get(me).copied().unwrap_or(0) == 0 {
                *idx += count_nodes(restriction);
                return false;
            }
            let ok = eval(restriction, obj, counts, idx);
            if ok {
                if let Some(c) = counts.get_mut(me) {
                    *c -= 1;
                }
            }
            ok
        }
        Restriction::SubObject { sub, restriction } => {
            let start = *idx;
            let found = obj.any_sub(*sub, &mut |row| {
                let mut i = start;
                eval(restriction, row, counts, &mut i)
            });
            *idx = start + count_nodes(restriction);
            found
        }
        Restriction::Exist(tag) => obj.prop(*tag).is_some_and(|v| !matches!(*v, PropVal::Null)),
        Restriction::Content {
            level,
            flags,
            tag,
            value,
        } => match obj.prop(*tag) {
            Some(v) => content(&v, &value.val, *level, *flags),
            None => false,
        },
        Restriction::Property { op, tag, value } => match obj.prop(*tag) {
            Some(v) => property(&v, &value.val, *op),
            None => false,
        },
        Restriction::CompareProps { op, tag1, tag2 } => match (obj.prop(*tag1), obj.prop(*tag2)) {
            (Some(a), Some(b)) => compare(&a, &b).is_some_and(|o| op.holds(o)),
            _ => false,
        },
        Restriction::BitMask { nonzero, tag, mask } => match obj.prop(*tag).and_then(|v| v.as_i64()) {
            Some(v) => ((v as u32) & mask != 0) == *nonzero,
            None => false,
        },
        Restriction::Size { op, tag, size } => match obj.prop(*tag) {
            Some(v) => op.holds(value_size(&v).cmp(&u64::from(*size))),
            None => false,
        },
    }
}

/// Case-insensitive order of two strings (their lowercase forms compared), without
/// allocating when both are ASCII — the common case in table sorts, which compare each row
/// many times.
fn cmp_ignore_case(x: &str, y: &str) -> Ordering {
    if x.is_ascii() && y.is_ascii() {
        x.bytes()
            .map(|b| b.to_ascii_lowercase())
            .cmp(y.bytes().map(|b| b.to_ascii_lowercase()))
    } else {
        lower(x).cmp(&lower(y))
    }
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_uppercase()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn content(v: &PropVal, needle: &PropVal, level: FuzzyLevel, flags: u16) -> bool {
    let fold = flags & (FL_IGNORECASE | FL_IGNORENONSPACE | FL_LOOSE) != 0;
    let text = |hay: &str, n: &str| {
        if fold && hay.is_ascii() && n.is_ascii() {
            // ASCII: the same answer as lowercasing both, without allocating per value.
            let (h, n) = (hay.as_bytes(), n.as_bytes());
            return match level {
                FuzzyLevel::FullString => h.eq_ignore_ascii_case(n),
                FuzzyLevel::Substring => n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)),
                FuzzyLevel::Prefix => h.get(..n.len()).is_some_and(|p| p.eq_ignore_ascii_case(n)),
            };
        }
        let (h, n) = if fold {
            (lower(hay), lower(n))
        } else {
            (Cow::Borrowed(hay), Cow::Borrowed(n))
        };
        match level {
            FuzzyLevel::FullString => h == n,
            FuzzyLevel::Substring => h.contains(&*n),
            FuzzyLevel::Prefix => h.starts_with(&*n),
        }
    };
    let bytes = |hay: &[u8], n: &[u8]| match level {
        FuzzyLevel::FullString => hay == n,
        FuzzyLevel::Substring => n.is_empty() || hay.windows(n.len()).any(|w| w == n),
        FuzzyLevel::Prefix => hay.starts_with(n),
    };
    match (v, needle.as_str(), needle.as_bytes()) {
        (PropVal::String8(h) | PropVal::Unicode(h), Some(n), _) => text(h, n),
        (PropVal::MvString8(hs) | PropVal::MvUnicode(hs), Some(n), _) => hs.iter().any(|h| text(h, n)),
        (PropVal::Binary(h), _, Some(n)) => bytes(h, n),
        (PropVal::MvBinary(hs), _, Some(n)) => hs.iter().any(|h| bytes(h, n)),
        _ => false,
    }
}

/// Elements of a multi-valued value as single values.
fn elements(v: &PropVal) -> Option<Vec<PropVal>> {
    use PropVal as V;
    Some(match v {
        V::MvI2(x) => x.iter().map(|&e| V::I2(e)).collect(),
        V::MvI4(x) => x.iter().map(|&e| V::I4(e)).collect(),
        V::MvR4(x) => x.iter().map(|&e| V::R4(e)).collect(),
        V::MvR8(x) => x.iter().map(|&e| V::R8(e)).collect(),
        V::MvCurrency(x) => x.iter().map(|&e| V::Currency(e)).collect(),
        V::MvAppTime(x) => x.iter().map(|&e| V::AppTime(e)).collect(),
        V::MvI8(x) => x.iter().map(|&e| V::I8(e)).collect(),
        V::MvString8(x) => x.iter().map(|e| V::String8(e.clone())).collect(),
        V::MvUnicode(x) => x.iter().map(|e| V::Unicode(e.clone())).collect(),
        V::MvSysTime(x) => x.iter().map(|&e| V::SysTime(e)).collect(),
        V::MvClsid(x) => x.iter().map(|&e| V::Clsid(e)).collect(),
        V::MvBinary(x) => x.iter().map(|e| V::Binary(e.clone())).collect(),
        _ => return None,
    })
}

fn property(v: &PropVal, c: &PropVal, op: RelOp) -> bool {
    if !c.ptype().is_multi() {
        if let Some(els) = elements(v) {
            // A multi-valued property against one value: any element (MV_INSTANCE semantics).
            return els.iter().any(|e| compare(e, c).is_some_and(|o| op.holds(o)));
        }
    }
    compare(v, c).is_some_and(|o| op.holds(o))
}

/// Order of two values of compatible types (`None`: not comparable). Integers compare by
/// value across I2/I4/I8, floats across R4/R8/AppTime, strings case-insensitively across
/// String8/Unicode, binaries by length then bytes (as Exchange does), multi-valued values by
/// count then element-wise.
pub fn compare(a: &PropVal, b: &PropVal) -> Option<Ordering> {
    use PropVal as V;
    let int = |v: &PropVal| match *v {
        V::I2(x) => Some(i64::from(x)),
        V::I4(x) => Some(i64::from(x)),
        V::I8(x) => Some(x),
        _ => None,
    };
    let float = |v: &PropVal| match *v {
        V::R4(x) => Some(f64::from(x)),
        V::R8(x) | V::AppTime(x) => Some(x),
        _ => None,
    };
    match (a, b) {
        (V::Currency(x), V::Currency(y)) => Some(x.cmp(y)),
        (V::Boolean(x), V::Boolean(y)) => Some(x.cmp(y)),
        (V::Error(x), V::Error(y)) => Some(x.cmp(y)),
        (V::SysTime(x), V::SysTime(y)) => Some(x.cmp(y)),
        (V::Clsid(x), V::Clsid(y)) => Some(x.0.cmp(&y.0)),
        (V::String8(x) | V::Unicode(x), V::String8(y) | V::Unicode(y)) => Some(cmp_ignore_case(x, y)),
        _ if int(a).is_some() && int(b).is_some() => Some(int(a)?.cmp(&int(b)?)),
        _ if float(a).is_some() && float(b).is_some() => float(a)?.partial_cmp(&float(b)?),
        _ => match (a.as_bytes(), b.as_bytes()) {
            (Some(x), Some(y)) if a.ptype() == b.ptype() || (is_binary(a) && is_binary(b)) => {
                Some(x.len().cmp(&y.len()).then_with(|| x.cmp(y)))
            }
            _ => {
                let (ea, eb) = (elements(a)?, elements(b)?);
                let mut o = ea.len().cmp(&eb.len());
                for (x, y) in ea.iter().zip(&eb) {
                    if o != Ordering::Equal {
                        break;
                    }
                    o = compare(x, y)?;
                }
                Some(o)
            }
        },
    }
}

fn is_binary(v: &PropVal) -> bool {
    matches!(v, PropVal::Binary(_) | PropVal::SvrEid(_))
}

/// Size of a value in bytes as a size restriction sees it: fixed sizes for scalars, strings
/// with their terminator (UTF-16 for Unicode), binaries by length, multi-valued values summed.
pub fn value_size(v: &PropVal) -> u64 {
    use PropVal as V;
    let u16len = |s: &str| 2 * (s.encode_utf16().count() as u64 + 1);
    match v {
        V::Null => 0,
        V::Boolean(_) => 2,
        V::I2(_) => 2,
        V::I4(_) | V::R4(_) | V::Error(_) => 4,
        V::R8(_) | V::Currency(_) | V::AppTime(_) | V::I8(_) | V::SysTime(_) => 8,
        V::Clsid(_) => 16,
        V::String8(s) => s.len() as u64 + 1,
        V::Unicode(s) => u16len(s),
        V::Binary(b) | V::SvrEid(b) | V::Object(b) | V::Restriction(b) | V::RuleActions(b) => b.len() as u64,
        V::MvString8(x) => x.iter().map(|s| s.len() as u64 + 1).sum(),
        V::MvUnicode(x) => x.iter().map(|s| u16len(s)).sum(),
        V::MvBinary(x) => x.iter().map(|b| b.len() as u64).sum(),
        _ => elements(v).map(|e| e.iter().map(value_size).sum()).unwrap_or(0),
    }
}

/// Fuzz entry: decode (both count widths), re-encode, decode again; evaluate against a
/// small object. Never panics.
pub fn fuzz(data: &[u8]) {
    for wide in [false, true] {
        if let Ok(r) = decode(data, wide) {
            let again = decode(&encode(&r, wide), wide);
            // NaN comparands break PartialEq, so only check that the encoding decodes.
            assert!(again.is_ok(), "re-encoded restriction does not decode");
            let obj = vec![
                TaggedVal::new(crate::tags::PR_SUBJECT, PropVal::Unicode("Hello".into())),
                TaggedVal::new(PropTag(0x0E07_0003), PropVal::I4(1)),
            ];
            let _ = matches(&r, &obj);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::PR_SUBJECT;

    const FLAGS: PropTag = PropTag(0x0E07_0003);
    const SIZE: PropTag = PropTag(0x0E08_0003);
    const IMPORTANCE: PropTag = PropTag(0x0017_0003);
    const KEYWORDS: PropTag = PropTag(0x8001_101F);
    const TIME: PropTag = PropTag(0x0E06_0040);
    const BIN: PropTag = PropTag(0x0FFF_0102);
    const BODY: PropTag = PropTag(0x1000_001F);
    const FLOAT: PropTag = PropTag(0x8002_0005);
    const BOOL: PropTag = PropTag(0x0E1B_000B);
    const RECIP_TYPE: PropTag = PropTag(0x0C15_0003);
    const SMTP: PropTag = PropTag(0x39FE_001F);

    struct Msg {
        props: Vec<TaggedVal>,
        recipients: Vec<Vec<TaggedVal>>,
    }

    impl PropSource for Msg {
        fn prop(&self, tag: PropTag) -> Option<Cow<'_, PropVal>> {
            self.props.prop(tag)
        }
        fn any_sub(&self, which: SubObject, f: &mut dyn FnMut(&dyn PropSource) -> bool) -> bool {
            which == SubObject::Recipients && self.recipients.iter().any(|r| f(r))
        }
    }

    fn msg() -> Msg {
        Msg {
            props: vec![
                TaggedVal::new(PR_SUBJECT, PropVal::Unicode("Quarterly Report".into())),
                TaggedVal::new(FLAGS, PropVal::I4(0x11)),
                TaggedVal::new(SIZE, PropVal::I4(5000)),
                TaggedVal::new(KEYWORDS, PropVal::MvUnicode(vec!["Blue".into(), "Work".into()])),
                TaggedVal::new(TIME, PropVal::SysTime(133_000_000_000_000_000)),
                TaggedVal::new(BIN, PropVal::Binary(vec![1, 2, 3, 4])),
                TaggedVal::new(FLOAT, PropVal::R8(2.5)),
                TaggedVal::new(BOOL, PropVal::Boolean(true)),
            ],
            recipients: vec![
                vec![
                    TaggedVal::new(RECIP_TYPE, PropVal::I4(1)),
                    TaggedVal::new(SMTP, PropVal::Unicode("alice@example.org".into())),
                ],
                vec![
                    TaggedVal::new(RECIP_TYPE, PropVal::I4(2)),
                    TaggedVal::new(SMTP, PropVal::Unicode("bob@example.org".into())),
                ],
            ],
        }
    }

    fn prop(op: RelOp, tag: PropTag, val: PropVal) -> Restriction {
        Restriction::Property {
            op,
            tag,
            value: TaggedVal::new(tag, val),
        }
    }

    fn content(level: FuzzyLevel, flags: u16, tag: PropTag, val: PropVal) -> Restriction {
        Restriction::Content {
            level,
            flags,
            tag,
            value: TaggedVal::new(tag, val),
        }
    }

    /// Each restriction, evaluated on `msg()`, and round-tripped through both wire formats.
    fn check(r: &Restriction, want: bool) {
        assert_eq!(matches(r, &msg()), want, "{r:?}");
        for wide in [false, true] {
            let b = encode(r, wide);
            assert_eq!(decode(&b, wide).as_ref(), Ok(r), "wide={wide}");
        }
    }

    #[test]
    fn content_case_folding_ascii_and_beyond() {
        use FuzzyLevel::*;
        let u = |v: &str| PropVal::Unicode(v.into());
        let hay = u("Re: Quarterly REPORT");
        for (level, needle, want) in [
            (Substring, "report", true),
            (Substring, "ly rep", true),
            (Substring, "", true),
            (Substring, "reports", false),
            (Prefix, "re: q", true),
            (Prefix, "Re: Quarterly REPORT and more", false),
            (FullString, "re: quarterly report", true),
            (FullString, "re: quarterly", false),
        ] {
            assert_eq!(
                super::content(&hay, &u(needle), level, FL_IGNORECASE),
                want,
                "{level:?} {needle}"
            );
        }
        assert!(!super::content(&hay, &u("report"), Substring, 0));
        // Beyond ASCII the values are lowercased (Unicode case folding).
        let hay = u("Größe ÄRGER");
        assert!(super::content(&hay, &u("ärger"), Substring, FL_IGNORECASE));
        assert!(super::content(&u("ÄRGER"), &u("ärger"), FullString, FL_IGNORECASE));
        assert!(!super::content(&u("ÄRGER"), &u("ärger"), FullString, 0));
    }

    #[test]
    fn content_restrictions_on_strings_binaries_and_multi_values() {
        use FuzzyLevel::*;
        let s = |v: &str| PropVal::Unicode(v.into());
        check(&content(Substring, FL_IGNORECASE, PR_SUBJECT, s("report")), true);
        check(&content(Substring, 0, PR_SUBJECT, s("report")), false);
        check(&content(Prefix, FL_IGNORECASE, PR_SUBJECT, s("QUARTER")), true);
        check(&content(Prefix, 0, PR_SUBJECT, s("Report")), false);
        check(&content(FullString, FL_LOOSE, PR_SUBJECT, s("quarterly report")), true);
        check(&content(FullString, 0, PR_SUBJECT, s("Quarterly")), false);
        check(
            &content(
                Substring,
                0,
                PR_SUBJECT.with_type(PropType::String8),
                PropVal::String8("Report".into()),
            ),
            true,
        );
        // Multi-valued: any element.
        check(&content(FullString, FL_IGNORECASE, KEYWORDS, s("work")), true);
        check(&content(Substring, 0, KEYWORDS, s("Red")), false);
        // Binary.
        check(&content(Substring, 0, BIN, PropVal::Binary(vec![2, 3])), true);
        check(&content(Prefix, 0, BIN, PropVal::Binary(vec![2])), false);
        check(&content(FullString, 0, BIN, PropVal::Binary(vec![1, 2, 3, 4])), true);
        // Missing property: false; its negation true.
        check(&content(Substring, 0, BODY, s("x")), false);
        check(&Restriction::Not(Box::new(content(Substring, 0, BODY, s("x")))), true);
        // A content restriction on a non-string property never matches.
        check(&content(Substring, 0, FLAGS, s("1")), false);
    }

    #[test]
    fn property_restrictions_on_every_type() {
        use RelOp::*;
        check(&prop(Eq, FLAGS, PropVal::I4(0x11)), true);
        check(&prop(Ne, FLAGS, PropVal::I4(0x11)), false);
        check(&prop(Gt, SIZE, PropVal::I4(4999)), true);
        check(&prop(Ge, SIZE, PropVal::I4(5000)), true);
        check(&prop(Lt, SIZE, PropVal::I4(5000)), false);
        check(&prop(Le, SIZE, PropVal::I8(5000)), true);
        check(&prop(Gt, TIME, PropVal::SysTime(132_000_000_000_000_000)), true);
        check(&prop(Lt, TIME, PropVal::SysTime(132_000_000_000_000_000)), false);
        check(&prop(Eq, PR_SUBJECT, PropVal::Unicode("QUARTERLY REPORT".into())), true);
        check(&prop(Lt, PR_SUBJECT, PropVal::Unicode("r".into())), true);
        check(&prop(Eq, BIN, PropVal::Binary(vec![1, 2, 3, 4])), true);
        check(&prop(Lt, BIN, PropVal::Binary(vec![9, 9, 9, 9, 9])), true);
        check(&prop(Gt, FLOAT, PropVal::R8(2.25)), true);
        check(&prop(Eq, FLOAT, PropVal::R4(2.5)), true);
        check(&prop(Eq, BOOL, PropVal::Boolean(true)), true);
        check(&prop(Eq, BOOL, PropVal::Boolean(false)), false);
        // Multi-valued property against one value: any element.
        check(&prop(Eq, KEYWORDS, PropVal::Unicode("blue".into())), true);
        check(&prop(Eq, KEYWORDS, PropVal::Unicode("red".into())), false);
        // ... against a multi value: the whole set.
        check(
            &prop(Eq, KEYWORDS, PropVal::MvUnicode(vec!["Blue".into(), "Work".into()])),
            true,
        );
        check(&prop(Eq, KEYWORDS, PropVal::MvUnicode(vec!["Blue".into()])), false);
        // Missing property and incomparable types: false.
        check(&prop(Eq, IMPORTANCE, PropVal::I4(1)), false);
        check(&prop(Ne, IMPORTANCE, PropVal::I4(1)), false);
        check(&prop(Eq, FLAGS, PropVal::Unicode("17".into())), false);
        // Unevaluated operators.
        check(&prop(Re, PR_SUBJECT, PropVal::Unicode(".*".into())), false);
    }

    #[test]
    fn compare_bitmask_size_exist() {
        check(
            &Restriction::CompareProps {
                op: RelOp::Gt,
                tag1: SIZE,
                tag2: FLAGS,
            },
            true,
        );
        check(
            &Restriction::CompareProps {
                op: RelOp::Eq,
                tag1: SIZE,
                tag2: FLAGS,
            },
            false,
        );
        check(
            &Restriction::CompareProps {
                op: RelOp::Eq,
                tag1: SIZE,
                tag2: IMPORTANCE,
            },
            false,
        );
        check(
            &Restriction::BitMask {
                nonzero: true,
                tag: FLAGS,
                mask: 0x01,
            },
            true,
        );
        check(
            &Restriction::BitMask {
                nonzero: false,
                tag: FLAGS,
                mask: 0x02,
            },
            true,
        );
        check(
            &Restriction::BitMask {
                nonzero: true,
                tag: FLAGS,
                mask: 0x02,
            },
            false,
        );
        check(
            &Restriction::BitMask {
                nonzero: false,
                tag: IMPORTANCE,
                mask: 1,
            },
            false,
        );
        check(
            &Restriction::Size {
                op: RelOp::Eq,
                tag: BIN,
                size: 4,
            },
            true,
        );
        check(
            &Restriction::Size {
                op: RelOp::Gt,
                tag: PR_SUBJECT,
                size: 30,
            },
            true,
        ); // 17 UTF-16 units
        check(
            &Restriction::Size {
                op: RelOp::Eq,
                tag: FLAGS,
                size: 4,
            },
            true,
        );
        check(
            &Restriction::Size {
                op: RelOp::Eq,
                tag: BODY,
                size: 0,
            },
            false,
        );
        check(&Restriction::Exist(PR_SUBJECT), true);
        check(&Restriction::Exist(BODY), false);
    }

    #[test]
    fn logic_sub_objects_comments() {
        let has = Restriction::Exist(PR_SUBJECT);
        let hasnt = Restriction::Exist(BODY);
        check(&Restriction::And(vec![]), true);
        check(&Restriction::Or(vec![]), false);
        check(&Restriction::And(vec![has.clone(), hasnt.clone()]), false);
        check(&Restriction::Or(vec![hasnt.clone(), has.clone()]), true);
        check(&Restriction::Not(Box::new(hasnt.clone())), true);
        let cc_bob = Restriction::And(vec![
            prop(RelOp::Eq, RECIP_TYPE, PropVal::I4(2)),
            content(FuzzyLevel::Prefix, FL_IGNORECASE, SMTP, PropVal::Unicode("BOB@".into())),
        ]);
        check(
            &Restriction::SubObject {
                sub: SubObject::Recipients,
                restriction: Box::new(cc_bob),
            },
            true,
        );
        let to_bob = Restriction::And(vec![
            prop(RelOp::Eq, RECIP_TYPE, PropVal::I4(1)),
            content(FuzzyLevel::Prefix, 0, SMTP, PropVal::Unicode("bob@".into())),
        ]);
        check(
            &Restriction::SubObject {
                sub: SubObject::Recipients,
                restriction: Box::new(to_bob),
            },
            false,
        );
        check(
            &Restriction::SubObject {
                sub: SubObject::Attachments,
                restriction: Box::new(has.clone()),
            },
            false,
        );
        check(
            &Restriction::Comment {
                values: vec![TaggedVal::new(PropTag(0x6707_001F), PropVal::Unicode("note".into()))],
                restriction: Some(Box::new(hasnt)),
            },
            false,
        );
        check(
            &Restriction::Comment {
                values: vec![],
                restriction: None,
            },
            true,
        );
    }

    #[test]
    fn count_limits_matches_across_a_scan() {
        let r = Restriction::Count {
            count: 2,
            restriction: Box::new(Restriction::Exist(PR_SUBJECT)),
        };
        let mut m = Matcher::new(&r);
        let row = msg();
        assert_eq!(
            (0..4).map(|_| m.matches(&row)).collect::<Vec<_>>(),
            vec![true, true, false, false]
        );
        check(&r, true);
    }

    #[test]
    fn decoder_refuses_bad_input_without_panicking() {
        assert!(decode(&[], false).is_err());
        assert!(decode(&[0x0C], false).is_err(), "unknown type");
        assert!(decode(&[0x00, 0xFF, 0xFF], false).is_err(), "count larger than input");
        assert!(decode(&[0x08, 1, 2, 3], false).is_err(), "truncated tag");
        assert!(decode(&[0x08, 0x1F, 0, 0x37, 0, 0], false).is_err(), "trailing byte");
        // Deep nesting is refused, not a stack overflow.
        let deep = vec![0x02u8; 100_000];
        assert_eq!(
            decode(&deep, false),
            Err(Error::Invalid("restriction nesting too deep"))
        );
        // A lying multi-value count does not allocate.
        let mut b = vec![0x04, 4];
        b.extend_from_slice(&KEYWORDS.0.to_le_bytes());
        b.extend_from_slice(&KEYWORDS.0.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&b, false).is_err());
    }

    #[test]
    fn wire_format_matches_the_specification() {
        // MS-OXCDATA §2.12.5: RestrictType 0x04, RelOp, PropTag, TaggedValue (tag, value).
        let r = prop(RelOp::Eq, FLAGS, PropVal::I4(7));
        assert_eq!(
            encode(&r, false),
            vec![0x04, 0x04, 0x03, 0x00, 0x07, 0x0E, 0x03, 0x00, 0x07, 0x0E, 7, 0, 0, 0]
        );
        // §2.12.1 with 16-bit (ROP) and 32-bit (extended rule) counts.
        let a = Restriction::And(vec![Restriction::Exist(FLAGS)]);
        assert_eq!(encode(&a, false), vec![0x00, 1, 0, 0x08, 0x03, 0x00, 0x07, 0x0E]);
        assert_eq!(encode(&a, true), vec![0x00, 1, 0, 0, 0, 0x08, 0x03, 0x00, 0x07, 0x0E]);
        // §2.12.4 content with a Unicode comparand: FuzzyLevelLow, FuzzyLevelHigh, tag, value.
        let c = content(
            FuzzyLevel::Substring,
            FL_IGNORECASE,
            PR_SUBJECT,
            PropVal::Unicode("a".into()),
        );
        assert_eq!(
            encode(&c, false),
            vec![0x03, 1, 0, 1, 0, 0x1F, 0, 0x37, 0, 0x1F, 0, 0x37, 0, b'a', 0, 0, 0]
        );
    }
}
