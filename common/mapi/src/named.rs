//! Named properties (MS-OXCDATA §2.6.1 PropertyName) and the property-set GUIDs of
//! MS-OXPROPS §1.3.2.

use crate::guid::Guid;
use crate::Error;

/// PS_MAPI {00020328-0000-0000-C000-000000000046}
pub const PS_MAPI: Guid = Guid::from_fields(0x00020328, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PS_PUBLIC_STRINGS {00020329-0000-0000-C000-000000000046}
pub const PS_PUBLIC_STRINGS: Guid = Guid::from_fields(0x00020329, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PS_INTERNET_HEADERS {00020386-0000-0000-C000-000000000046}
pub const PS_INTERNET_HEADERS: Guid = Guid::from_fields(0x00020386, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Appointment {00062002-0000-0000-C000-000000000046}
pub const PSETID_APPOINTMENT: Guid = Guid::from_fields(0x00062002, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Task {00062003-0000-0000-C000-000000000046}
pub const PSETID_TASK: Guid = Guid::from_fields(0x00062003, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Address {00062004-0000-0000-C000-000000000046}
pub const PSETID_ADDRESS: Guid = Guid::from_fields(0x00062004, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Common {00062008-0000-0000-C000-000000000046}
pub const PSETID_COMMON: Guid = Guid::from_fields(0x00062008, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Log {0006200A-0000-0000-C000-000000000046}
pub const PSETID_LOG: Guid = Guid::from_fields(0x0006200A, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Note {0006200E-0000-0000-C000-000000000046}
pub const PSETID_NOTE: Guid = Guid::from_fields(0x0006200E, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Sharing {00062040-0000-0000-C000-000000000046}
pub const PSETID_SHARING: Guid = Guid::from_fields(0x00062040, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
/// PSETID_Meeting {6ED8DA90-450B-101B-98DA-00AA003F1305}
pub const PSETID_MEETING: Guid = Guid::from_fields(
    0x6ED8DA90,
    0x450B,
    0x101B,
    [0x98, 0xDA, 0x00, 0xAA, 0x00, 0x3F, 0x13, 0x05],
);
/// PSETID_Attachment {96357F7F-59E1-47D0-99A7-46515C183B54}
pub const PSETID_ATTACHMENT: Guid = Guid::from_fields(
    0x96357F7F,
    0x59E1,
    0x47D0,
    [0x99, 0xA7, 0x46, 0x51, 0x5C, 0x18, 0x3B, 0x54],
);
/// PSETID_CalendarAssistant {11000E07-B51B-40D6-AF21-CAA85EDAB1D0}
pub const PSETID_CALENDAR_ASSISTANT: Guid = Guid::from_fields(
    0x11000E07,
    0xB51B,
    0x40D6,
    [0xAF, 0x21, 0xCA, 0xA8, 0x5E, 0xDA, 0xB1, 0xD0],
);
/// PSETID_Messaging {41F28F13-83F4-4114-A584-EEDB5A6B0BFF}
pub const PSETID_MESSAGING: Guid = Guid::from_fields(
    0x41F28F13,
    0x83F4,
    0x4114,
    [0xA5, 0x84, 0xEE, 0xDB, 0x5A, 0x6B, 0x0B, 0xFF],
);
/// PSETID_AirSync {71035549-0739-4DCB-9163-00F0580DBBDF}
pub const PSETID_AIRSYNC: Guid = Guid::from_fields(
    0x71035549,
    0x0739,
    0x4DCB,
    [0x91, 0x63, 0x00, 0xF0, 0x58, 0x0D, 0xBB, 0xDF],
);

/// Kind of a property name: numeric (LID) or string (MS-OXCDATA §2.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PropNameKind {
    Lid(u32),
    Name(String),
}

/// A named property: property set GUID plus LID or name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropName {
    pub guid: Guid,
    pub kind: PropNameKind,
}

/// Maximum length accepted for a string name (bytes); MS-OXCDATA bounds names by the
/// 16-bit NameSize of the wire format.
pub const MAX_NAME_LEN: usize = 0xFFFF;

impl PropName {
    /// A numeric name.
    pub fn lid(guid: Guid, lid: u32) -> PropName {
        PropName {
            guid,
            kind: PropNameKind::Lid(lid),
        }
    }
    /// A string name.
    pub fn name(guid: Guid, name: &str) -> PropName {
        PropName {
            guid,
            kind: PropNameKind::Name(name.to_owned()),
        }
    }

    /// Gromox's `named_properties.name_string` form: `GUID=<guid>,LID=<decimal>` or
    /// `GUID=<guid>,NAME=<name>`.
    pub fn to_name_string(&self) -> String {
        match &self.kind {
            PropNameKind::Lid(l) => format!("GUID={},LID={}", self.guid, l),
            PropNameKind::Name(n) => format!("GUID={},NAME={}", self.guid, n),
        }
    }

    /// Parses the `name_string` form (GUID case-insensitive, as Gromox compares it).
    pub fn parse_name_string(s: &str) -> Result<PropName, Error> {
        let rest = s.strip_prefix("GUID=").ok_or(Error::Invalid("name_string prefix"))?;
        let guid_txt = rest.get(..36).ok_or(Error::Truncated("name_string GUID"))?;
        let guid = Guid::parse(guid_txt)?;
        let rest = &rest[36..];
        if let Some(l) = rest.strip_prefix(",LID=") {
            let lid: u32 = l.parse().map_err(|_| Error::Invalid("name_string LID"))?;
            Ok(PropName::lid(guid, lid))
        } else if let Some(n) = rest.strip_prefix(",NAME=") {
            if n.len() > MAX_NAME_LEN || n.contains('\0') {
                return Err(Error::Invalid("name_string NAME"));
            }
            Ok(PropName::name(guid, n))
        } else {
            Err(Error::Invalid("name_string kind"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn name_strings_like_gromox() {
        let p = PropName::parse_name_string("GUID=6ed8da90-450b-101b-98da-00aa003f1305,LID=1").unwrap();
        assert_eq!(p, PropName::lid(PSETID_MEETING, 1));
        let q =
            PropName::parse_name_string("GUID=96357F7F-59E1-47D0-99A7-46515C183B54,NAME=AttachmentMacInfo").unwrap();
        assert_eq!(q, PropName::name(PSETID_ATTACHMENT, "AttachmentMacInfo"));
        assert_eq!(
            q.to_name_string(),
            "GUID=96357f7f-59e1-47d0-99a7-46515c183b54,NAME=AttachmentMacInfo"
        );
        assert!(PropName::parse_name_string("GUID=x,LID=1").is_err());
        assert!(PropName::parse_name_string("GUID=6ed8da90-450b-101b-98da-00aa003f1305,LID=z").is_err());
    }
}
