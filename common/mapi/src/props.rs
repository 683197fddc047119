//! Property tags, types and values (MS-OXCDATA §2.9 and §2.11.1).

use crate::guid::Guid;

/// Property types of MS-OXCDATA §2.11.1 (the low 16 bits of a property tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum PropType {
    Unspecified = 0x0000,
    Null = 0x0001,
    I2 = 0x0002,
    I4 = 0x0003,
    R4 = 0x0004,
    R8 = 0x0005,
    Currency = 0x0006,
    AppTime = 0x0007,
    Error = 0x000A,
    Boolean = 0x000B,
    Object = 0x000D,
    I8 = 0x0014,
    String8 = 0x001E,
    Unicode = 0x001F,
    SysTime = 0x0040,
    Clsid = 0x0048,
    SvrEid = 0x00FB,
    Restriction = 0x00FD,
    RuleActions = 0x00FE,
    Binary = 0x0102,
    MvI2 = 0x1002,
    MvI4 = 0x1003,
    MvR4 = 0x1004,
    MvR8 = 0x1005,
    MvCurrency = 0x1006,
    MvAppTime = 0x1007,
    MvI8 = 0x1014,
    MvString8 = 0x101E,
    MvUnicode = 0x101F,
    MvSysTime = 0x1040,
    MvClsid = 0x1048,
    MvBinary = 0x1102,
}

impl PropType {
    /// All types, for tests and table-driven code.
    pub const ALL: [PropType; 32] = [
        PropType::Unspecified,
        PropType::Null,
        PropType::I2,
        PropType::I4,
        PropType::R4,
        PropType::R8,
        PropType::Currency,
        PropType::AppTime,
        PropType::Error,
        PropType::Boolean,
        PropType::Object,
        PropType::I8,
        PropType::String8,
        PropType::Unicode,
        PropType::SysTime,
        PropType::Clsid,
        PropType::SvrEid,
        PropType::Restriction,
        PropType::RuleActions,
        PropType::Binary,
        PropType::MvI2,
        PropType::MvI4,
        PropType::MvR4,
        PropType::MvR8,
        PropType::MvCurrency,
        PropType::MvAppTime,
        PropType::MvI8,
        PropType::MvString8,
        PropType::MvUnicode,
        PropType::MvSysTime,
        PropType::MvClsid,
        PropType::MvBinary,
    ];

    /// The type for a raw 16-bit value; `None` for unknown types. The MV_INSTANCE bit
    /// (0x2000) is ignored.
    pub fn from_u16(v: u16) -> Option<PropType> {
        let v = v & !0x2000;
        PropType::ALL.iter().copied().find(|t| *t as u16 == v)
    }

    /// Whether this is a multi-valued type (bit 0x1000).
    pub fn is_multi(self) -> bool {
        (self as u16) & 0x1000 != 0
    }
}

/// A property tag: property id in the high 16 bits, property type in the low 16 bits
/// (MS-OXCDATA §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropTag(pub u32);

impl PropTag {
    /// Builds a tag from id and type.
    pub const fn new(id: u16, ty: PropType) -> PropTag {
        PropTag(((id as u32) << 16) | ty as u32)
    }
    /// The property id (high 16 bits).
    pub const fn id(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The raw type (low 16 bits).
    pub const fn type_raw(self) -> u16 {
        self.0 as u16
    }
    /// The type, if known.
    pub fn ptype(self) -> Option<PropType> {
        PropType::from_u16(self.type_raw())
    }
    /// The same property id with another type.
    pub const fn with_type(self, ty: PropType) -> PropTag {
        PropTag((self.0 & 0xFFFF_0000) | ty as u32)
    }
    /// Whether the id lies in the named-property range (0x8000..=0xFFFE).
    pub const fn is_named(self) -> bool {
        self.id() >= 0x8000
    }
}

impl std::fmt::Display for PropTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// A property value of one of the MS-OXCDATA §2.11.1 types.
///
/// `Restriction` and `RuleActions` carry their serialized form (MS-OXCDATA §2.12,
/// MS-OXORULE §2.2.5) as bytes; the store keeps them opaque.
#[derive(Debug, Clone, PartialEq)]
pub enum PropVal {
    Null,
    I2(i16),
    I4(i32),
    R4(f32),
    R8(f64),
    /// Currency: 64-bit signed integer scaled by 10,000.
    Currency(i64),
    /// OLE automation date (days since 1899-12-30 as a double).
    AppTime(f64),
    /// An error code (MS-OXCDATA §2.4).
    Error(u32),
    Boolean(bool),
    /// An embedded object reference (e.g. PR_ATTACH_DATA_OBJ); the bytes are opaque.
    Object(Vec<u8>),
    I8(i64),
    /// 8-bit string; kept as text (the store keeps strings in UTF-8).
    String8(String),
    Unicode(String),
    /// FILETIME: 100 ns units since 1601-01-01 UTC.
    SysTime(u64),
    Clsid(Guid),
    SvrEid(Vec<u8>),
    Restriction(Vec<u8>),
    RuleActions(Vec<u8>),
    Binary(Vec<u8>),
    MvI2(Vec<i16>),
    MvI4(Vec<i32>),
    MvR4(Vec<f32>),
    MvR8(Vec<f64>),
    MvCurrency(Vec<i64>),
    MvAppTime(Vec<f64>),
    MvI8(Vec<i64>),
    MvString8(Vec<String>),
    MvUnicode(Vec<String>),
    MvSysTime(Vec<u64>),
    MvClsid(Vec<Guid>),
    MvBinary(Vec<Vec<u8>>),
}

impl PropVal {
    /// The property type of this value.
    pub fn ptype(&self) -> PropType {
        use PropVal as V;
        match self {
            V::Null => PropType::Null,
            V::I2(_) => PropType::I2,
            V::I4(_) => PropType::I4,
            V::R4(_) => PropType::R4,
            V::R8(_) => PropType::R8,
            V::Currency(_) => PropType::Currency,
            V::AppTime(_) => PropType::AppTime,
            V::Error(_) => PropType::Error,
            V::Boolean(_) => PropType::Boolean,
            V::Object(_) => PropType::Object,
            V::I8(_) => PropType::I8,
            V::String8(_) => PropType::String8,
            V::Unicode(_) => PropType::Unicode,
            V::SysTime(_) => PropType::SysTime,
            V::Clsid(_) => PropType::Clsid,
            V::SvrEid(_) => PropType::SvrEid,
            V::Restriction(_) => PropType::Restriction,
            V::RuleActions(_) => PropType::RuleActions,
            V::Binary(_) => PropType::Binary,
            V::MvI2(_) => PropType::MvI2,
            V::MvI4(_) => PropType::MvI4,
            V::MvR4(_) => PropType::MvR4,
            V::MvR8(_) => PropType::MvR8,
            V::MvCurrency(_) => PropType::MvCurrency,
            V::MvAppTime(_) => PropType::MvAppTime,
            V::MvI8(_) => PropType::MvI8,
            V::MvString8(_) => PropType::MvString8,
            V::MvUnicode(_) => PropType::MvUnicode,
            V::MvSysTime(_) => PropType::MvSysTime,
            V::MvClsid(_) => PropType::MvClsid,
            V::MvBinary(_) => PropType::MvBinary,
        }
    }

    /// Text of a String8/Unicode value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropVal::String8(s) | PropVal::Unicode(s) => Some(s),
            _ => None,
        }
    }
    /// Bytes of a Binary-like value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            PropVal::Binary(b)
            | PropVal::SvrEid(b)
            | PropVal::Object(b)
            | PropVal::Restriction(b)
            | PropVal::RuleActions(b) => Some(b),
            _ => None,
        }
    }
    /// Integer view of I2/I4/I8/Currency/SysTime/Error/Boolean values.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            PropVal::I2(v) => Some(v.into()),
            PropVal::I4(v) => Some(v.into()),
            PropVal::I8(v) | PropVal::Currency(v) => Some(v),
            PropVal::SysTime(v) => Some(v as i64),
            PropVal::Error(v) => Some(v.into()),
            PropVal::Boolean(b) => Some(b.into()),
            _ => None,
        }
    }
    /// Boolean view.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            PropVal::Boolean(b) => Some(b),
            _ => self.as_i64().map(|v| v != 0),
        }
    }
}

/// A tag with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedVal {
    pub tag: PropTag,
    pub val: PropVal,
}

impl TaggedVal {
    /// Pairs a tag and a value; the tag's type is set from the value.
    pub fn new(tag: PropTag, val: PropVal) -> TaggedVal {
        TaggedVal {
            tag: tag.with_type(val.ptype()),
            val,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_parts() {
        let t = PropTag(0x0037001F);
        assert_eq!(t.id(), 0x37);
        assert_eq!(t.ptype(), Some(PropType::Unicode));
        assert_eq!(t.with_type(PropType::String8).0, 0x0037001E);
        assert_eq!(PropTag::new(0x8001, PropType::MvI4).0, 0x80011003);
        assert!(PropTag(0x80011003).is_named());
        assert_eq!(PropType::from_u16(0x3003), Some(PropType::MvI4));
        assert_eq!(PropType::from_u16(0x0099), None);
    }
}
