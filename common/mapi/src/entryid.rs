//! Entry ids of MS-OXCDATA §2.2.4: folder (§2.2.4.1), message (§2.2.4.2) and store object
//! (§2.2.4.3) entry ids.

use crate::guid::Guid;
use crate::ids::{gc_from_bytes, gc_to_bytes};
use crate::Error;

/// eitLTPrivateFolder
pub const EITLT_PRIVATE_FOLDER: u16 = 0x0001;
/// eitLTPublicFolder
pub const EITLT_PUBLIC_FOLDER: u16 = 0x0003;
/// eitLTPrivateMessage
pub const EITLT_PRIVATE_MESSAGE: u16 = 0x0007;
/// eitLTPublicMessage
pub const EITLT_PUBLIC_MESSAGE: u16 = 0x0009;

/// ProviderUID of store object entry ids (MS-OXCDATA §2.2.4.3).
pub const STORE_PROVIDER_UID: Guid = Guid([
    0x38, 0xa1, 0xbb, 0x10, 0x05, 0xe5, 0x10, 0x1a, 0xa1, 0xbb, 0x08, 0x00, 0x2b, 0x2a, 0x56, 0xc2,
]);
/// WrappedProviderUID of a private mailbox store.
pub const WRAPPED_PRIVATE_UID: Guid = Guid([
    0x1b, 0x55, 0xfa, 0x20, 0xaa, 0x66, 0x11, 0xcd, 0x9b, 0xc8, 0x00, 0xaa, 0x00, 0x2f, 0xc4, 0x5a,
]);
/// WrappedProviderUID of a public folder store.
pub const WRAPPED_PUBLIC_UID: Guid = Guid([
    0x1c, 0x83, 0x02, 0x10, 0xaa, 0x66, 0x11, 0xcd, 0x9b, 0xc8, 0x00, 0xaa, 0x00, 0x2f, 0xc4, 0x5a,
]);

/// Folder entry id (MS-OXCDATA §2.2.4.1), 46 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntryId {
    pub provider_uid: Guid,
    pub folder_type: u16,
    pub database_guid: Guid,
    pub gc: u64,
}

/// Message entry id (MS-OXCDATA §2.2.4.2), 70 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntryId {
    pub provider_uid: Guid,
    pub message_type: u16,
    pub folder_database_guid: Guid,
    pub folder_gc: u64,
    pub message_database_guid: Guid,
    pub message_gc: u64,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Error> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(Error::Truncated("entry id"))
}

impl FolderEntryId {
    /// Wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(46);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&self.provider_uid.0);
        v.extend_from_slice(&self.folder_type.to_le_bytes());
        v.extend_from_slice(&self.database_guid.0);
        v.extend_from_slice(&gc_to_bytes(self.gc));
        v.extend_from_slice(&[0; 2]);
        v
    }
    /// Parses the wire bytes.
    pub fn parse(b: &[u8]) -> Result<FolderEntryId, Error> {
        if b.len() != 46 {
            return Err(Error::Invalid("folder entry id size"));
        }
        let folder_type = u16_at(b, 20)?;
        if folder_type != EITLT_PRIVATE_FOLDER && folder_type != EITLT_PUBLIC_FOLDER {
            return Err(Error::Invalid("folder entry id type"));
        }
        Ok(FolderEntryId {
            provider_uid: Guid::from_slice(&b[4..])?,
            folder_type,
            database_guid: Guid::from_slice(&b[22..])?,
            gc: gc_from_bytes(&b[38..44]),
        })
    }
}

impl MessageEntryId {
    /// Wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(70);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&self.provider_uid.0);
        v.extend_from_slice(&self.message_type.to_le_bytes());
        v.extend_from_slice(&self.folder_database_guid.0);
        v.extend_from_slice(&gc_to_bytes(self.folder_gc));
        v.extend_from_slice(&[0; 2]);
        v.extend_from_slice(&self.message_database_guid.0);
        v.extend_from_slice(&gc_to_bytes(self.message_gc));
        v.extend_from_slice(&[0; 2]);
        v
    }
    /// Parses the wire bytes.
    pub fn parse(b: &[u8]) -> Result<MessageEntryId, Error> {
        if b.len() != 70 {
            return Err(Error::Invalid("message entry id size"));
        }
        let message_type = u16_at(b, 20)?;
        if message_type != EITLT_PRIVATE_MESSAGE && message_type != EITLT_PUBLIC_MESSAGE {
            return Err(Error::Invalid("message entry id type"));
        }
        Ok(MessageEntryId {
            provider_uid: Guid::from_slice(&b[4..])?,
            message_type,
            folder_database_guid: Guid::from_slice(&b[22..])?,
            folder_gc: gc_from_bytes(&b[38..44]),
            message_database_guid: Guid::from_slice(&b[46..])?,
            message_gc: gc_from_bytes(&b[62..68]),
        })
    }
}

/// Store object entry id (MS-OXCDATA §2.2.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntryId {
    /// True for a private mailbox, false for a public folder store.
    pub private: bool,
    pub server_short_name: String,
    pub mailbox_dn: String,
}

const DLL_NAME: &[u8; 14] = b"emsmdb.dll\0\0\0\0";

impl StoreEntryId {
    /// Wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&STORE_PROVIDER_UID.0);
        v.push(0); // Version
        v.push(0); // Flag
        v.extend_from_slice(DLL_NAME);
        v.extend_from_slice(&[0; 4]); // WrappedFlags
        v.extend_from_slice(if self.private {
            &WRAPPED_PRIVATE_UID.0
        } else {
            &WRAPPED_PUBLIC_UID.0
        });
        v.extend_from_slice(&(if self.private { 0x0Cu32 } else { 0x06u32 }).to_le_bytes());
        v.extend_from_slice(self.server_short_name.as_bytes());
        v.push(0);
        v.extend_from_slice(self.mailbox_dn.as_bytes());
        v.push(0);
        v
    }
    /// Parses the wire bytes.
    pub fn parse(b: &[u8]) -> Result<StoreEntryId, Error> {
        if b.len() < 58 {
            return Err(Error::Truncated("store entry id"));
        }
        if b[4..20] != STORE_PROVIDER_UID.0 || &b[22..36] != DLL_NAME {
            return Err(Error::Invalid("store entry id header"));
        }
        let private = if b[40..56] == WRAPPED_PRIVATE_UID.0 {
            true
        } else if b[40..56] == WRAPPED_PUBLIC_UID.0 {
            false
        } else {
            return Err(Error::Invalid("store entry id provider"));
        };
        let rest = &b[60..];
        let z = rest
            .iter()
            .position(|c| *c == 0)
            .ok_or(Error::Truncated("server name"))?;
        let server = std::str::from_utf8(&rest[..z]).map_err(|_| Error::Invalid("server name"))?;
        let rest = &rest[z + 1..];
        let z2 = rest
            .iter()
            .position(|c| *c == 0)
            .ok_or(Error::Truncated("mailbox dn"))?;
        let dn = std::str::from_utf8(&rest[..z2]).map_err(|_| Error::Invalid("mailbox dn"))?;
        Ok(StoreEntryId {
            private,
            server_short_name: server.to_owned(),
            mailbox_dn: dn.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrips() {
        let f = FolderEntryId {
            provider_uid: Guid([1; 16]),
            folder_type: EITLT_PRIVATE_FOLDER,
            database_guid: Guid([2; 16]),
            gc: 0x0d,
        };
        let b = f.to_bytes();
        assert_eq!(b.len(), 46);
        assert_eq!(b[43], 0x0d);
        assert_eq!(FolderEntryId::parse(&b).unwrap(), f);
        let m = MessageEntryId {
            provider_uid: Guid([1; 16]),
            message_type: EITLT_PRIVATE_MESSAGE,
            folder_database_guid: Guid([2; 16]),
            folder_gc: 0x0d,
            message_database_guid: Guid([2; 16]),
            message_gc: 0x30000,
        };
        assert_eq!(MessageEntryId::parse(&m.to_bytes()).unwrap(), m);
        let s = StoreEntryId {
            private: true,
            server_short_name: "mail".into(),
            mailbox_dn: "/o=x/cn=alice".into(),
        };
        assert_eq!(StoreEntryId::parse(&s.to_bytes()).unwrap(), s);
        assert!(FolderEntryId::parse(&b[..45]).is_err());
    }
}
