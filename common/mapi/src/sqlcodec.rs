//! The `propval` column encoding of Gromox 3.10's SQLite stores.
//!
//! Observed in a store written by Gromox 3.10 and kept here:
//! - I2, I4, I8, Currency, SysTime, Error, Boolean: SQLite INTEGER (SysTime as the FILETIME
//!   bit pattern in a signed 64-bit integer);
//! - R4, R8, AppTime: SQLite REAL;
//! - String8, Unicode: SQLite TEXT (UTF-8);
//! - Binary, SvrEid, Object, Restriction, RuleActions: SQLite BLOB;
//! - Clsid: BLOB of the 16 wire bytes;
//! - multi-valued types: BLOB holding a little-endian u32 count followed by the elements:
//!   fixed-width integers/floats little-endian, GUIDs as 16 bytes, strings NUL-terminated UTF-8,
//!   binaries as u32 length + bytes (Gromox's EXT push format without UTF-16 flag).
//!
//! Content-file references (bodies, attachment data kept in `cid/`) are the store's business and
//! are not handled here.

use crate::guid::Guid;
use crate::props::{PropType, PropVal};
use crate::Error;

/// A value as SQLite stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Encodes a property value for the `propval` column.
pub fn encode(v: &PropVal) -> SqlValue {
    use PropVal as V;
    use SqlValue as S;
    match v {
        V::Null => S::Integer(0),
        V::I2(x) => S::Integer((*x).into()),
        V::I4(x) => S::Integer((*x).into()),
        V::Error(x) => S::Integer((*x).into()),
        V::Boolean(b) => S::Integer((*b).into()),
        V::I8(x) | V::Currency(x) => S::Integer(*x),
        V::SysTime(x) => S::Integer(*x as i64),
        V::R4(x) => S::Real((*x).into()),
        V::R8(x) | V::AppTime(x) => S::Real(*x),
        V::String8(s) | V::Unicode(s) => S::Text(s.clone()),
        V::Clsid(g) => S::Blob(g.0.to_vec()),
        V::Binary(b) | V::SvrEid(b) | V::Object(b) | V::Restriction(b) | V::RuleActions(b) => S::Blob(b.clone()),
        V::MvI2(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvI4(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvR4(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvR8(a) | V::MvAppTime(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvI8(a) | V::MvCurrency(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvSysTime(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.to_le_bytes()))),
        V::MvClsid(a) => S::Blob(mv(a, |o, x| o.extend_from_slice(&x.0))),
        V::MvString8(a) | V::MvUnicode(a) => S::Blob(mv(a, |o, s| {
            // NUL cannot be represented in a NUL-terminated string; cut there like MAPI does.
            let b = s.as_bytes();
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            o.extend_from_slice(&b[..end]);
            o.push(0);
        })),
        V::MvBinary(a) => S::Blob(mv(a, |o, b| {
            o.extend_from_slice(&(b.len() as u32).to_le_bytes());
            o.extend_from_slice(b);
        })),
    }
}

fn mv<T>(a: &[T], f: impl Fn(&mut Vec<u8>, &T)) -> Vec<u8> {
    let mut o = Vec::with_capacity(4 + a.len() * 8);
    o.extend_from_slice(&(a.len() as u32).to_le_bytes());
    for x in a {
        f(&mut o, x);
    }
    o
}

/// Decodes a `propval` column value for a property of type `ty`.
///
/// Tolerates the loose typing of SQLite (an integer where a real is expected and vice versa,
/// text where a blob is expected).
pub fn decode(ty: PropType, v: SqlValue) -> Result<PropVal, Error> {
    use PropType as T;
    use PropVal as V;
    let int = |v: &SqlValue| -> Result<i64, Error> {
        match v {
            SqlValue::Integer(i) => Ok(*i),
            SqlValue::Real(r) => Ok(*r as i64),
            SqlValue::Text(t) => t.trim().parse().map_err(|_| Error::Invalid("integer propval")),
            SqlValue::Blob(_) => Err(Error::Invalid("integer propval")),
        }
    };
    let real = |v: &SqlValue| -> Result<f64, Error> {
        match v {
            SqlValue::Integer(i) => Ok(*i as f64),
            SqlValue::Real(r) => Ok(*r),
            _ => Err(Error::Invalid("real propval")),
        }
    };
    Ok(match ty {
        T::Null | T::Unspecified => V::Null,
        T::I2 => V::I2(int(&v)? as i16),
        T::I4 => V::I4(int(&v)? as i32),
        T::Error => V::Error(int(&v)? as u32),
        T::Boolean => V::Boolean(int(&v)? != 0),
        T::I8 => V::I8(int(&v)?),
        T::Currency => V::Currency(int(&v)?),
        T::SysTime => V::SysTime(int(&v)? as u64),
        T::R4 => V::R4(real(&v)? as f32),
        T::R8 => V::R8(real(&v)?),
        T::AppTime => V::AppTime(real(&v)?),
        T::String8 => V::String8(text(v)?),
        T::Unicode => V::Unicode(text(v)?),
        T::Clsid => V::Clsid(Guid::from_slice(&blob(v)?)?),
        T::Binary => V::Binary(blob(v)?),
        T::SvrEid => V::SvrEid(blob(v)?),
        T::Object => V::Object(blob(v)?),
        T::Restriction => V::Restriction(blob(v)?),
        T::RuleActions => V::RuleActions(blob(v)?),
        mvt => decode_mv_blob(mvt, &blob(v)?)?,
    })
}

fn text(v: SqlValue) -> Result<String, Error> {
    match v {
        SqlValue::Text(t) => Ok(t),
        SqlValue::Blob(b) => String::from_utf8(b).map_err(|_| Error::Invalid("text propval")),
        SqlValue::Integer(i) => Ok(i.to_string()),
        SqlValue::Real(r) => Ok(r.to_string()),
    }
}

fn blob(v: SqlValue) -> Result<Vec<u8>, Error> {
    match v {
        SqlValue::Blob(b) => Ok(b),
        SqlValue::Text(t) => Ok(t.into_bytes()),
        _ => Err(Error::Invalid("blob propval")),
    }
}

struct Rd<'a>(&'a [u8]);
impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Truncated("multi-valued propval"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
}

/// Decodes the blob of a multi-valued property (see the module docs for the layout).
/// This is the entry point of the `sql_mv` fuzz target.
pub fn decode_mv_blob(ty: PropType, b: &[u8]) -> Result<PropVal, Error> {
    use PropType as T;
    use PropVal as V;
    let mut r = Rd(b);
    let n = r.u32()? as usize;
    // Every element takes at least one byte: bound the count by the input before allocating.
    if n > b.len() {
        return Err(Error::Invalid("multi-valued count"));
    }
    macro_rules! fixed {
        ($t:ty, $n:expr) => {{
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(<$t>::from_le_bytes(r.arr::<$n>()?));
            }
            v
        }};
    }
    let out = match ty {
        T::MvI2 => V::MvI2(fixed!(i16, 2)),
        T::MvI4 => V::MvI4(fixed!(i32, 4)),
        T::MvR4 => V::MvR4(fixed!(f32, 4)),
        T::MvR8 => V::MvR8(fixed!(f64, 8)),
        T::MvAppTime => V::MvAppTime(fixed!(f64, 8)),
        T::MvI8 => V::MvI8(fixed!(i64, 8)),
        T::MvCurrency => V::MvCurrency(fixed!(i64, 8)),
        T::MvSysTime => V::MvSysTime(fixed!(u64, 8)),
        T::MvClsid => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(Guid(r.arr::<16>()?));
            }
            V::MvClsid(v)
        }
        T::MvString8 | T::MvUnicode => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let z =
                    r.0.iter()
                        .position(|c| *c == 0)
                        .ok_or(Error::Truncated("multi-valued string"))?;
                let s = std::str::from_utf8(r.take(z)?).map_err(|_| Error::Invalid("multi-valued string"))?;
                v.push(s.to_owned());
                r.take(1)?;
            }
            if ty == T::MvString8 {
                V::MvString8(v)
            } else {
                V::MvUnicode(v)
            }
        }
        T::MvBinary => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.u32()? as usize;
                v.push(r.take(len)?.to_vec());
            }
            V::MvBinary(v)
        }
        other => return Err(Error::UnsupportedType(other as u16)),
    };
    if !r.0.is_empty() {
        return Err(Error::Invalid("trailing bytes in multi-valued propval"));
    }
    Ok(out)
}

/// Fuzz/seed entry point: first two bytes select the type (little-endian), the rest is the blob.
pub fn fuzz_decode(data: &[u8]) -> Result<PropVal, Error> {
    if data.len() < 2 {
        return Err(Error::Truncated("fuzz input"));
    }
    let ty = PropType::from_u16(u16::from_le_bytes([data[0], data[1]]))
        .ok_or(Error::UnsupportedType(u16::from_le_bytes([data[0], data[1]])))?;
    let v = decode(ty, SqlValue::Blob(data[2..].to_vec()))?;
    // Everything decoded must encode again and decode to the same value.
    if ty.is_multi() {
        let again = decode(ty, encode(&v))?;
        debug_assert!(same(&again, &v), "multi-valued re-encode mismatch");
    }
    Ok(v)
}

fn same(a: &PropVal, b: &PropVal) -> bool {
    // NaN-aware comparison through the encoded bytes.
    encode(a) == encode(b) || format!("{a:?}") == format!("{b:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn samples() -> Vec<PropVal> {
        use PropVal as V;
        vec![
            V::I2(-2),
            V::I4(-70000),
            V::R4(1.5),
            V::R8(-2.25),
            V::Currency(123_4567),
            V::AppTime(45000.5),
            V::Error(0x8004010F),
            V::Boolean(true),
            V::I8(-(1 << 40)),
            V::String8("ascii".into()),
            V::Unicode("Grüße, 日本".into()),
            V::SysTime(134_398_152_520_000_000),
            V::Clsid(crate::named::PSETID_COMMON),
            V::SvrEid(vec![1, 2, 3]),
            V::Restriction(vec![0, 1]),
            V::RuleActions(vec![9, 9]),
            V::Binary(vec![0, 255, 0]),
            V::Object(vec![]),
            V::MvI2(vec![1, -1]),
            V::MvI4(vec![7, 8, 9]),
            V::MvR4(vec![0.5]),
            V::MvR8(vec![1.0, 2.0]),
            V::MvCurrency(vec![10000]),
            V::MvAppTime(vec![1.25]),
            V::MvI8(vec![i64::MIN, i64::MAX]),
            V::MvString8(vec!["a".into(), "".into()]),
            V::MvUnicode(vec!["Posteingang".into(), "受信トレイ".into()]),
            V::MvSysTime(vec![u64::MAX, 0]),
            V::MvClsid(vec![crate::named::PS_MAPI, crate::named::PSETID_TASK]),
            V::MvBinary(vec![vec![], vec![1, 2, 3]]),
        ]
    }

    #[test]
    fn every_type_roundtrips() {
        for v in samples() {
            let back = decode(v.ptype(), encode(&v)).unwrap();
            assert_eq!(back, v, "type {:?}", v.ptype());
        }
    }

    #[test]
    fn mv_layout() {
        assert_eq!(
            encode(&PropVal::MvI4(vec![1, 2])),
            SqlValue::Blob(vec![2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
        );
        assert_eq!(
            encode(&PropVal::MvUnicode(vec!["ab".into()])),
            SqlValue::Blob(vec![1, 0, 0, 0, b'a', b'b', 0])
        );
        assert!(decode_mv_blob(PropType::MvI4, &[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_mv_blob(PropType::MvBinary, &[1, 0, 0, 0, 9, 0, 0, 0, 1]).is_err());
        assert!(decode_mv_blob(PropType::MvI2, &[1, 0, 0, 0, 1, 0, 0]).is_err());
    }

    #[test]
    fn fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/sql_mv");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            let _ = fuzz_decode(&data);
            n += 1;
        }
        assert!(n > 0);
    }

    #[test]
    fn fuzz_seeds_other_decoders() {
        for (name, f) in crate::fuzz_entry_points() {
            let dir = format!("{}/fuzz/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut n = 0;
            for e in std::fs::read_dir(&dir).unwrap() {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                f(&data);
                n += 1;
            }
            assert!(n > 0, "{dir}");
        }
    }
}
