//! Messages: recipients, attachments, embedded messages to any depth, FAI, message
//! instances, read state, soft delete/restore/purge, size accounting and quotas, delivery.

use crate::cid;
use crate::error::{Error, Result};
use crate::notify::Event;
use crate::store::ExecCached;
use crate::store::{folder_exists, get_props_conn, put_prop_tx, Obj, Store};
use gromox_mapi::ids::{Pcl, Xid};
use gromox_mapi::tags::*;
use gromox_mapi::time::now_filetime;
use gromox_mapi::{PropTag, PropVal, TaggedVal};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

/// A message's content (properties, recipient rows, attachments with embedded messages): the
/// exmdb protocol's type, so messages cross the RPC without conversion.
pub use gromox_exmdb_proto::{AttachmentContent, MessageContent};

fn val_size(v: &PropVal) -> u64 {
    use PropVal as V;
    (match v {
        V::String8(s) | V::Unicode(s) => s.len() + 1,
        V::Binary(b) | V::SvrEid(b) | V::Object(b) | V::Restriction(b) | V::RuleActions(b) => b.len(),
        V::MvString8(a) | V::MvUnicode(a) => a.iter().map(|s| s.len() + 1).sum(),
        V::MvBinary(a) => a.iter().map(|b| b.len() + 4).sum(),
        V::Clsid(_) => 16,
        V::MvClsid(a) => a.len() * 16,
        V::MvI2(a) => a.len() * 2,
        V::MvI4(a) => a.len() * 4,
        V::MvR4(a) => a.len() * 4,
        V::MvR8(a) | V::MvAppTime(a) => a.len() * 8,
        V::MvI8(a) | V::MvCurrency(a) => a.len() * 8,
        V::MvSysTime(a) => a.len() * 8,
        _ => 8,
    }) as u64
        + 4
}

/// PidTagDeletedOn (MS-OXPROPS): when a message was soft-deleted.
const PR_DELETED_ON: PropTag = PropTag(0x668F_0040);

/// The size a message accounts for (PR_MESSAGE_SIZE): property data of the message, its
/// recipients and attachments, recursively.
pub fn content_size(c: &MessageContent) -> u64 {
    props_size(&c.props)
        + c.recipients.iter().map(|r| props_size(r)).sum::<u64>()
        + c.attachments.iter().map(attachment_size).sum::<u64>()
}

/// The size of an attachment as [`content_size`] counts it: its properties and embedded
/// message.
pub fn attachment_size(a: &AttachmentContent) -> u64 {
    props_size(&a.props) + a.embedded.as_ref().map_or(0, |e| content_size(e))
}

/// The size of a property list as [`content_size`] counts it.
pub fn props_size(p: &[TaggedVal]) -> u64 {
    p.iter().map(|t| val_size(&t.val)).sum()
}

pub(crate) enum Parent {
    Folder(u64, bool),
    Attachment(u64),
}

/// Tags the store maintains itself and clients cannot set.
pub(crate) const COMPUTED: &[PropTag] = &[
    PR_MESSAGE_SIZE,
    PR_MESSAGE_SIZE_EXTENDED,
    PR_MID,
    PR_FID,
    PR_CHANGE_NUMBER,
];

/// The [`crate::schema::SUMMARY`] column values of a message with properties `c`, in that
/// table's order: what [`crate::schema::summary_refresh`] computes from the stored properties.
fn summary_values(c: &MessageContent) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    let find = |tags: &[u32]| {
        tags.iter()
            .find_map(|&t| c.props.iter().find(|p| p.tag.0 == t))
            .map(|p| crate::store::sql_of(&p.val))
    };
    crate::schema::SUMMARY
        .iter()
        .map(|(_, tags, derived)| {
            find(tags)
                .or_else(|| {
                    let (prefix, normalized) = derived.split_at(derived.len().min(2));
                    let text = |v: Value| match v {
                        Value::Text(t) => Some(t),
                        _ => None,
                    };
                    let n = text(find(normalized)?)?;
                    Some(Value::Text(format!(
                        "{}{n}",
                        find(prefix).and_then(text).unwrap_or_default()
                    )))
                })
                .unwrap_or(Value::Null)
        })
        .collect()
}

pub(crate) fn write_message_tx(
    st: &Store,
    tx: &Connection,
    mid: u64,
    parent: Parent,
    c: &MessageContent,
    new_row: bool,
) -> Result<u64> {
    let cn = Store::next_cn(tx)?;
    let size = content_size(c);
    // A replaced message keeps its change history: the stored predecessor change list is
    // merged with the one the writer sent (MS-OXCFXICS §2.2.1.2.8).
    let stored_pcl = if new_row {
        None
    } else {
        crate::store::get_prop_conn(tx, &st.dir, Obj::Message(mid), PR_PREDECESSOR_CHANGE_LIST)?
            .and_then(|v| v.as_bytes().and_then(|b| Pcl::parse(b).ok()))
    };
    if new_row {
        let (fid, attid, assoc) = match parent {
            Parent::Folder(f, a) => (Some(f as i64), None, Some(a as i64)),
            Parent::Attachment(a) => (None, Some(a as i64), None),
        };
        if st.summary {
            // The summary columns are written with the row (crate::schema::SUMMARY); the
            // statement text is built once per store kind.
            static SQL: [std::sync::OnceLock<String>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
            let sql = SQL[usize::from(st.private)].get_or_init(|| {
                let cols: Vec<&str> = crate::schema::SUMMARY.iter().map(|(c, _, _)| *c).collect();
                let marks: Vec<String> = (7..7 + cols.len()).map(|i| format!("?{i}")).collect();
                format!(
                    "INSERT INTO messages (message_id, parent_fid, parent_attid, is_deleted, is_associated, \
                     change_number, {}message_size, {}) VALUES (?1, ?2, ?3, 0, ?4, ?5, {}?6, {})",
                    if st.private { "read_state, " } else { "" },
                    cols.join(", "),
                    if st.private { "0, " } else { "" },
                    marks.join(", ")
                )
            });
            let mut values: Vec<rusqlite::types::Value> = vec![
                (mid as i64).into(),
                fid.into(),
                attid.into(),
                assoc.into(),
                (cn as i64).into(),
                (size as i64).into(),
            ];
            values.extend(summary_values(c));
            tx.exec(sql, params_from_iter(values))?;
        } else if st.private {
            tx.exec(
                "INSERT INTO messages (message_id, parent_fid, parent_attid, is_deleted, is_associated, change_number, \
                 read_state, message_size) VALUES (?1, ?2, ?3, 0, ?4, ?5, 0, ?6)",
                params![mid as i64, fid, attid, assoc, cn as i64, size as i64],
            )?;
        } else {
            tx.exec(
                "INSERT INTO messages (message_id, parent_fid, parent_attid, is_deleted, is_associated, change_number, \
                 message_size) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
                params![mid as i64, fid, attid, assoc, cn as i64, size as i64],
            )?;
        }
    } else {
        tx.exec(
            "UPDATE messages SET change_number=?1, message_size=?2 WHERE message_id=?3",
            params![cn as i64, size as i64, mid as i64],
        )?;
        tx.exec("DELETE FROM message_properties WHERE message_id=?1", [mid as i64])?;
        tx.exec("DELETE FROM recipients WHERE message_id=?1", [mid as i64])?;
        tx.exec("DELETE FROM attachments WHERE message_id=?1", [mid as i64])?;
    }
    let ck = Xid::from_gc(st.guid(), cn);
    let mut pcl = c
        .get(PR_PREDECESSOR_CHANGE_LIST)
        .and_then(|v| v.as_bytes())
        .and_then(|b| Pcl::parse(b).ok())
        .unwrap_or_default();
    if let Some(old) = stored_pcl {
        for x in old.0 {
            pcl.merge(x);
        }
    }
    pcl.merge(ck.clone());
    let now = now_filetime();
    let obj = Obj::Message(mid);
    for p in &c.props {
        if COMPUTED.contains(&p.tag) || p.tag == PR_CHANGE_KEY || p.tag == PR_PREDECESSOR_CHANGE_LIST {
            continue;
        }
        put_prop_tx(tx, &st.dir, st.durability, obj, p)?;
    }
    let mut extra = vec![
        TaggedVal::new(PR_CHANGE_KEY, PropVal::Binary(ck.to_bytes())),
        TaggedVal::new(PR_PREDECESSOR_CHANGE_LIST, PropVal::Binary(pcl.to_bytes())),
    ];
    if c.get(PR_CREATION_TIME).is_none() {
        extra.push(TaggedVal::new(PR_CREATION_TIME, PropVal::SysTime(now)));
    }
    if c.get(PR_LAST_MODIFICATION_TIME).is_none() {
        extra.push(TaggedVal::new(PR_LAST_MODIFICATION_TIME, PropVal::SysTime(now)));
    }
    for p in &extra {
        put_prop_tx(tx, &st.dir, st.durability, obj, p)?;
    }
    // A new row got its summary columns with it; a rewritten message's may have changed.
    if st.summary && !new_row {
        crate::schema::summary_refresh(tx, mid as i64)?;
    }
    for r in &c.recipients {
        tx.exec("INSERT INTO recipients (message_id) VALUES (?1)", [mid as i64])?;
        let rid = tx.last_insert_rowid() as u64;
        for p in r {
            put_prop_tx(tx, &st.dir, st.durability, Obj::Recipient(rid), p)?;
        }
    }
    for a in &c.attachments {
        tx.exec("INSERT INTO attachments (message_id) VALUES (?1)", [mid as i64])?;
        let aid = tx.last_insert_rowid() as u64;
        for p in &a.props {
            put_prop_tx(tx, &st.dir, st.durability, Obj::Attachment(aid), p)?;
        }
        if let Some(e) = &a.embedded {
            let emid = Store::next_store_eid(tx)?;
            write_message_tx(st, tx, emid, Parent::Attachment(aid), e, true)?;
        }
    }
    Ok(size)
}

/// Identity properties of a message that the store computes from its row rather than
/// storing: PR_ENTRYID and PR_PARENT_ENTRYID (MS-OXCDATA §2.2.4.2 and §2.2.4.1 entry ids from
/// the mapping signature and mailbox GUID), PR_SOURCE_KEY (MS-OXCFXICS §2.2.1.2.5; a stored
/// one — kept from an ICS import — wins) and PR_PARENT_SOURCE_KEY, PR_FID and
/// PR_CHANGE_NUMBER (MS-OXPROPS), PR_INSTANCE_KEY (MS-OXCTABL: the row's id, 8 bytes).
pub const IDENTITY_TAGS: &[PropTag] = &[
    PR_ENTRYID,
    PR_PARENT_ENTRYID,
    PR_SOURCE_KEY,
    PR_PARENT_SOURCE_KEY,
    PR_FID,
    PR_CHANGE_NUMBER,
    PR_INSTANCE_KEY,
];

/// Whether `tag` names one of [`IDENTITY_TAGS`] (by property id).
pub fn is_identity_tag(tag: PropTag) -> bool {
    IDENTITY_TAGS.iter().any(|t| t.id() == tag.id())
}

/// Store-maintained tags stripped when reading content back.
const STORE_TAGS: &[PropTag] = &[PR_CHANGE_KEY, PR_PREDECESSOR_CHANGE_LIST];

/// Whether a client may set `tag` on a message: not one the store computes or keeps for change
/// tracking (compared by property id, whatever type the client gives it).
pub(crate) fn client_settable(tag: PropTag) -> bool {
    !COMPUTED.iter().chain(STORE_TAGS).any(|t| t.id() == tag.id())
}

fn read_message_conn(st: &Store, c: &Connection, mid: u64) -> Result<MessageContent> {
    let mut props = get_props_conn(c, &st.dir, Obj::Message(mid))?;
    // Gromox keeps the subject split into prefix and normalized subject; present the whole.
    if !props.iter().any(|p| p.tag.id() == PR_SUBJECT.id()) {
        let find = |t: PropTag| props.iter().find(|p| p.tag.id() == t.id()).and_then(|p| p.val.as_str());
        if let Some(n) = find(PR_NORMALIZED_SUBJECT) {
            let s = format!("{}{n}", find(PR_SUBJECT_PREFIX).unwrap_or(""));
            props.push(TaggedVal::new(PR_SUBJECT, PropVal::Unicode(s)));
        }
    }
    let mut out = MessageContent {
        props,
        ..Default::default()
    };
    let rids: Vec<i64> = {
        let mut s =
            c.prepare_cached("SELECT recipient_id FROM recipients WHERE message_id=?1 ORDER BY recipient_id")?;
        let v = s
            .query_map([mid as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    for rid in rids {
        out.recipients
            .push(get_props_conn(c, &st.dir, Obj::Recipient(rid as u64))?);
    }
    let aids: Vec<i64> = {
        let mut s =
            c.prepare_cached("SELECT attachment_id FROM attachments WHERE message_id=?1 ORDER BY attachment_id")?;
        let v = s
            .query_map([mid as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    for aid in aids {
        let props = get_props_conn(c, &st.dir, Obj::Attachment(aid as u64))?;
        let emb: Option<i64> = c
            .query_row("SELECT message_id FROM messages WHERE parent_attid=?1", [aid], |r| {
                r.get(0)
            })
            .optional()?;
        let embedded = match emb {
            Some(e) => Some(Box::new(read_message_conn(st, c, e as u64)?)),
            None => None,
        };
        out.attachments.push(AttachmentContent { props, embedded });
    }
    Ok(out)
}

/// Strips the store-maintained change tracking tags (for comparisons with what was written).
pub fn without_store_tags(mut c: MessageContent) -> MessageContent {
    c.props.retain(|p| !STORE_TAGS.contains(&p.tag));
    for a in &mut c.attachments {
        if let Some(e) = a.embedded.take() {
            a.embedded = Some(Box::new(without_store_tags(*e)));
        }
    }
    c
}

/// Adds `delta` to the store's size counters.
pub(crate) fn add_store_size(tx: &Connection, delta: i64, assoc: bool) -> Result<()> {
    let second = if assoc {
        PR_ASSOC_MESSAGE_SIZE_EXTENDED
    } else {
        PR_NORMAL_MESSAGE_SIZE_EXTENDED
    };
    for tag in [PR_MESSAGE_SIZE_EXTENDED, second] {
        let n = tx.exec(
            "UPDATE store_properties SET propval=propval+?1 WHERE proptag=?2",
            params![delta, tag.0 as i64],
        )?;
        if n == 0 {
            tx.exec(
                "INSERT INTO store_properties (proptag, propval) VALUES (?1, ?2)",
                params![tag.0 as i64, delta],
            )?;
        }
    }
    Ok(())
}

/// Recomputes the store size counters from the message rows (top-level messages, soft-deleted
/// ones included: they occupy space until purged).
pub(crate) fn recompute_store_size(tx: &Connection) -> Result<()> {
    let (all, assoc): (i64, i64) = tx.query_row(
        "SELECT COALESCE(SUM(message_size),0), COALESCE(SUM(CASE WHEN is_associated THEN message_size ELSE 0 END),0) \
         FROM messages WHERE parent_fid IS NOT NULL",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (tag, v) in [
        (PR_MESSAGE_SIZE_EXTENDED, all),
        (PR_NORMAL_MESSAGE_SIZE_EXTENDED, all - assoc),
        (PR_ASSOC_MESSAGE_SIZE_EXTENDED, assoc),
    ] {
        tx.exec(
            "REPLACE INTO store_properties (proptag, propval) VALUES (?1, ?2)",
            params![tag.0 as i64, v],
        )?;
    }
    Ok(())
}

/// Which quota a write is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// PR_PROHIBIT_RECEIVE_QUOTA (delivery).
    Receive,
    /// PR_PROHIBIT_SEND_QUOTA (client saves).
    Send,
}

/// Row-level facts about a message (what IMAP and table views need besides properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    pub folder: u64,
    pub size: u64,
    pub read: bool,
    pub associated: bool,
    pub deleted: bool,
    pub change_number: u64,
}

/// A delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub folder: u64,
    pub message: u64,
}

/// Counts of a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeStats {
    pub messages: usize,
    pub folders: usize,
    pub files: usize,
}

/// An editable copy of a message. Changes live in memory until [`Store::flush_instance`]
/// writes them in one transaction; dropping the instance without flushing discards them.
#[derive(Debug, Clone)]
pub struct MessageInstance {
    pub folder: u64,
    pub message: Option<u64>,
    pub associated: bool,
    pub content: MessageContent,
}

impl MessageInstance {
    /// A new, unsaved message in `folder`.
    pub fn new(folder: u64, associated: bool) -> MessageInstance {
        MessageInstance {
            folder,
            message: None,
            associated,
            content: MessageContent::default(),
        }
    }
}

impl Store {
    /// Size used by messages (PR_MESSAGE_SIZE_EXTENDED), bytes.
    pub fn store_size(&self) -> Result<u64> {
        Ok(self
            .get_prop(Obj::Store, PR_MESSAGE_SIZE_EXTENDED)?
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            .max(0) as u64)
    }

    /// Whether the store is above its warning threshold (PR_STORAGE_QUOTA_LIMIT, KiB).
    pub fn quota_warning(&self) -> Result<bool> {
        let lim = self
            .get_prop(Obj::Store, PR_STORAGE_QUOTA_LIMIT)?
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        Ok(lim > 0 && self.store_size()? > lim as u64 * 1024)
    }

    /// Refuses with [`Error::QuotaExceeded`] when adding `extra` bytes passes the quota
    /// (limits are store properties in KiB, 0 or absent = unlimited).
    pub fn check_quota(&self, extra: u64, kind: QuotaKind) -> Result<()> {
        let tag = match kind {
            QuotaKind::Receive => PR_PROHIBIT_RECEIVE_QUOTA,
            QuotaKind::Send => PR_PROHIBIT_SEND_QUOTA,
        };
        let lim = self.get_prop(Obj::Store, tag)?.and_then(|v| v.as_i64()).unwrap_or(0);
        if lim <= 0 {
            return Ok(());
        }
        let limit = lim as u64 * 1024;
        let used = self.store_size()?;
        if used + extra > limit {
            return Err(Error::QuotaExceeded { used, limit });
        }
        Ok(())
    }

    /// Writes a new message (normal or FAI) into a folder in one transaction.
    pub fn create_message(&mut self, folder: u64, c: &MessageContent, associated: bool) -> Result<u64> {
        self.check_quota(content_size(c), QuotaKind::Send)?;
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        crate::search::refuse_search_target(&tx, self.private, folder)?;
        let mid = Store::next_message_id(&tx, folder)?;
        let size = write_message_tx(self, &tx, mid, Parent::Folder(folder, associated), c, true)?;
        add_store_size(&tx, size as i64, associated)?;
        tx.commit()?;
        self.notifier.emit(Event::MessageCreated { folder, message: mid });
        Ok(mid)
    }

    /// Gromox `write_message` onto an existing message (MS-OXCMSG §3.2.5.3
    /// RopSaveChangesMessage of an opened message): `mid`, a live top-level message of
    /// `folder` with the same normal/FAI kind, gets `c` as its whole content — properties,
    /// recipients and attachments replaced in one transaction, a new change number (change
    /// key and predecessor change list follow), PR_MESSAGE_SIZE and the store size counters
    /// updated by the difference, which alone is checked against the send quota. The kept
    /// original MIME no longer describes the message and is let go; content files and kept
    /// MIME nothing refers to any more are removed by the next purge of data files.
    pub fn overwrite_message(&mut self, folder: u64, mid: u64, c: &MessageContent, associated: bool) -> Result<u64> {
        let info = self.message_info(mid)?;
        if info.deleted || info.folder != folder {
            return Err(Error::NotFound("message in that folder"));
        }
        if info.associated != associated {
            return Err(Error::InvalidArgument("the message's associated (FAI) flag differs"));
        }
        let new_size = content_size(c);
        if new_size > info.size {
            self.check_quota(new_size - info.size, QuotaKind::Send)?;
        }
        let tx = self.conn.unchecked_transaction()?;
        let size = write_message_tx(self, &tx, mid, Parent::Folder(folder, associated), c, false)?;
        tx.exec("UPDATE messages SET mid_string=NULL WHERE message_id=?1", [mid as i64])?;
        add_store_size(&tx, size as i64 - info.size as i64, associated)?;
        tx.commit()?;
        self.notifier.emit(Event::MessageModified { folder, message: mid });
        Ok(mid)
    }

    /// One attachment of a live top-level message by its index in attachment-id order (the
    /// order [`Store::read_message`] lists them): properties and embedded message, read
    /// without the rest of the message.
    pub fn read_attachment(&self, mid: u64, index: u32) -> Result<AttachmentContent> {
        if self.message_info(mid)?.deleted {
            return Err(Error::NotFound("message"));
        }
        let aid: i64 = self
            .conn
            .prepare_cached(
                "SELECT attachment_id FROM attachments WHERE message_id=?1 ORDER BY attachment_id LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![mid as i64, i64::from(index)], |r| r.get(0))
            .optional()?
            .ok_or(Error::NotFound("attachment"))?;
        let props = get_props_conn(&self.conn, &self.dir, Obj::Attachment(aid as u64))?;
        let emb: Option<i64> = self
            .conn
            .query_row("SELECT message_id FROM messages WHERE parent_attid=?1", [aid], |r| {
                r.get(0)
            })
            .optional()?;
        let embedded = match emb {
            Some(e) => Some(Box::new(read_message_conn(self, &self.conn, e as u64)?)),
            None => None,
        };
        Ok(AttachmentContent { props, embedded })
    }

    /// Reads a message with recipients, attachments and embedded messages. Soft-deleted
    /// messages are not found.
    pub fn read_message(&self, mid: u64) -> Result<MessageContent> {
        let ok: Option<i64> = self
            .conn
            .query_row(
                "SELECT is_deleted FROM messages WHERE message_id=?1",
                [mid as i64],
                |r| r.get(0),
            )
            .optional()?;
        match ok {
            Some(0) => read_message_conn(self, &self.conn, mid),
            _ => Err(Error::NotFound("message")),
        }
    }

    /// One of the [`IDENTITY_TAGS`] of a message (`None` for other tags, for a message that
    /// does not exist, and for the folder-relative ones of an embedded message).
    pub fn message_identity_prop(&self, mid: u64, tag: PropTag) -> Result<Option<PropVal>> {
        if !is_identity_tag(tag) {
            return Ok(None);
        }
        let row: Option<(Option<i64>, i64)> = self
            .conn
            .prepare_cached("SELECT parent_fid, change_number FROM messages WHERE message_id=?1")?
            .query_row([mid as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((parent, cn)) = row else {
            return Ok(None);
        };
        let fid = parent.map(|f| f as u64);
        let bin = PropVal::Binary;
        Ok(match tag.id() {
            id if id == PR_SOURCE_KEY.id() => Some(bin(self.message_source_key(mid)?)),
            id if id == PR_CHANGE_NUMBER.id() => Some(PropVal::I8(cn)),
            id if id == PR_INSTANCE_KEY.id() => Some(bin(mid.to_le_bytes().to_vec())),
            _ => match fid {
                None => None,
                Some(f) => match tag.id() {
                    id if id == PR_ENTRYID.id() => Some(bin(self.message_entry_id(f, mid)?)),
                    id if id == PR_PARENT_ENTRYID.id() => Some(bin(self.folder_entry_id(f)?)),
                    id if id == PR_PARENT_SOURCE_KEY.id() => Some(bin(self.folder_source_key(f)?)),
                    _ => Some(PropVal::I8(f as i64)),
                },
            },
        })
    }

    /// Message ids of a folder (normal or FAI), soft-deleted ones excluded.
    pub fn list_messages(&self, folder: u64, associated: bool) -> Result<Vec<u64>> {
        let mut s = self.conn.prepare_cached(
            "SELECT message_id FROM messages WHERE parent_fid=?1 AND is_deleted=0 AND COALESCE(is_associated,0)=?2 \
             ORDER BY message_id",
        )?;
        let v = s
            .query_map(params![folder as i64, associated as i64], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|v| v as u64))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Soft-deleted message ids of a folder.
    pub fn list_deleted_messages(&self, folder: u64) -> Result<Vec<u64>> {
        let mut s = self.conn.prepare_cached(
            "SELECT message_id FROM messages WHERE parent_fid=?1 AND is_deleted=1 ORDER BY message_id",
        )?;
        let v = s
            .query_map([folder as i64], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|v| v as u64))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn parent_of(&self, mid: u64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT parent_fid FROM messages WHERE message_id=?1",
                [mid as i64],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten()
            .map(|v| v as u64)
            .ok_or(Error::NotFound("message"))
    }

    /// Deletes messages: soft (invisible, restorable until purge) or hard.
    pub fn delete_messages(&mut self, mids: &[u64], hard: bool) -> Result<()> {
        let mut ev = Vec::new();
        let tx = self.conn.unchecked_transaction()?;
        for &m in mids {
            let f = self.parent_of(m)?;
            if hard {
                tx.exec("DELETE FROM messages WHERE message_id=?1", [m as i64])?;
            } else {
                tx.exec("UPDATE messages SET is_deleted=1 WHERE message_id=?1", [m as i64])?;
                // When it was deleted, for `purge_older_than` (PidTagDeletedOn, MS-OXPROPS).
                tx.exec(
                    "INSERT OR REPLACE INTO message_properties (message_id, proptag, propval) VALUES (?1, ?2, ?3)",
                    params![
                        m as i64,
                        PR_DELETED_ON.0 as i64,
                        gromox_mapi::time::now_filetime() as i64
                    ],
                )?;
            }
            ev.push(Event::MessageDeleted { folder: f, message: m });
        }
        if hard {
            recompute_store_size(&tx)?;
        }
        tx.commit()?;
        for e in ev {
            self.notifier.emit(e);
        }
        Ok(())
    }

    /// Brings soft-deleted messages back.
    pub fn restore_messages(&mut self, mids: &[u64]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for &m in mids {
            if tx.exec(
                "UPDATE messages SET is_deleted=0 WHERE message_id=?1 AND is_deleted=1",
                [m as i64],
            )? == 0
            {
                return Err(Error::NotFound("deleted message"));
            }
            tx.exec(
                "DELETE FROM message_properties WHERE message_id=?1 AND proptag=?2",
                params![m as i64, PR_DELETED_ON.0 as i64],
            )?;
            // Back in the folder: a change that synchronising clients must see again.
            let cn = Store::next_cn(&tx)?;
            tx.exec(
                "UPDATE messages SET change_number=?1 WHERE message_id=?2",
                params![cn as i64, m as i64],
            )?;
            crate::store::stamp_change(
                &tx,
                &self.dir,
                self.durability,
                self.guid(),
                Obj::Message(m),
                cn,
                None,
                None,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes soft-deleted messages and folders for good, then every content file (`cid/`,
    /// `eml/`) no row refers to.
    pub fn purge(&mut self) -> Result<PurgeStats> {
        let tx = self.conn.transaction()?;
        let messages = tx.exec("DELETE FROM messages WHERE is_deleted=1", [])?;
        let folders = tx.exec("DELETE FROM folders WHERE is_deleted=1", [])?;
        recompute_store_size(&tx)?;
        tx.commit()?;
        self.sync_search_triggers()?;
        let files = self.purge_content()?;
        Ok(PurgeStats {
            messages,
            folders,
            files,
        })
    }

    /// Remove soft-deleted messages deleted more than `age` ago (their PidTagDeletedOn, else
    /// their last modification time; messages with neither count as old) and then content
    /// files nothing refers to. Soft-deleted folders are kept (their age is not recorded).
    pub fn purge_older_than(&mut self, age: std::time::Duration) -> Result<PurgeStats> {
        let cutoff = gromox_mapi::time::now_filetime().saturating_sub(age.as_secs().saturating_mul(10_000_000)) as i64;
        let tx = self.conn.transaction()?;
        let messages = tx.exec(
            "DELETE FROM messages WHERE is_deleted=1 AND COALESCE(\
               (SELECT propval FROM message_properties p WHERE p.message_id=messages.message_id AND p.proptag=?1), \
               (SELECT propval FROM message_properties p WHERE p.message_id=messages.message_id AND p.proptag=?2), 0) < ?3",
            params![PR_DELETED_ON.0 as i64, PR_LAST_MODIFICATION_TIME.0 as i64, cutoff],
        )?;
        recompute_store_size(&tx)?;
        tx.commit()?;
        let files = self.purge_content()?;
        Ok(PurgeStats {
            messages,
            folders: 0,
            files,
        })
    }

    /// Content file names referenced by the database (`cid/` and `eml/`).
    pub fn referenced_files(&self) -> Result<(std::collections::HashSet<String>, std::collections::HashSet<String>)> {
        let mut cids = std::collections::HashSet::new();
        for t in [
            "message_properties",
            "attachment_properties",
            "recipients_properties",
            "folder_properties",
            "store_properties",
        ] {
            let mut s = self.conn.prepare(&format!(
                "SELECT proptag, propval FROM {t} WHERE typeof(propval)='text'"
            ))?;
            let mut rows = s.query([])?;
            while let Some(r) = rows.next()? {
                if cid::is_cid_tag(PropTag(r.get::<_, i64>(0)? as u32)) {
                    cids.insert(r.get::<_, String>(1)?);
                }
            }
        }
        let mut emls = std::collections::HashSet::new();
        let mut s = self
            .conn
            .prepare("SELECT mid_string FROM messages WHERE mid_string IS NOT NULL")?;
        let mut rows = s.query([])?;
        while let Some(r) = rows.next()? {
            emls.insert(r.get::<_, String>(0)?);
        }
        Ok((cids, emls))
    }

    /// Names of the kept MIME stored inline (table `kept_mime`; empty when it does not exist).
    pub fn inline_mime_names(&self) -> Result<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        if !crate::store::table_exists(&self.conn, "kept_mime")? {
            return Ok(out);
        }
        let mut s = self.conn.prepare("SELECT name FROM kept_mime")?;
        let mut rows = s.query([])?;
        while let Some(r) = rows.next()? {
            out.insert(r.get::<_, String>(0)?);
        }
        Ok(out)
    }

    /// Deletes unreferenced content files and inline kept MIME; returns how many.
    pub fn purge_content(&mut self) -> Result<usize> {
        let (cids, emls) = self.referenced_files()?;
        let mut n = 0;
        if crate::store::table_exists(&self.conn, "kept_mime")? {
            n += self.conn.execute(
                "DELETE FROM kept_mime WHERE name NOT IN \
                 (SELECT mid_string FROM messages WHERE mid_string IS NOT NULL)",
                [],
            )?;
        }
        for (sub, set) in [("cid", &cids), ("eml", &emls)] {
            for f in cid::list(&self.dir, sub)? {
                if !set.contains(&f) && cid::valid_name(&f) {
                    std::fs::remove_file(cid::path(&self.dir, sub, &f))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Sets or clears the read state (private stores: `messages.read_state` and a new read
    /// change number).
    pub fn set_read(&mut self, mid: u64, read: bool) -> Result<()> {
        if !self.private {
            return Err(Error::InvalidArgument(
                "public store read state is per user (set_read_for_user)",
            ));
        }
        let tx = self.conn.unchecked_transaction()?;
        let cn = Store::next_cn(&tx)?;
        let n = tx.exec(
            "UPDATE messages SET read_state=?1, read_cn=?2 WHERE message_id=?3 AND is_deleted=0",
            params![read as i64, cn as i64, mid as i64],
        )?;
        if n == 0 {
            return Err(Error::NotFound("message"));
        }
        tx.commit()?;
        let f = self.parent_of(mid)?;
        self.notifier.emit(Event::MessageModified {
            folder: f,
            message: mid,
        });
        Ok(())
    }

    /// Public stores: sets `user`'s read state (`read_states`) and records a read change
    /// number for the user (`read_cns`).
    pub fn set_read_for_user(&mut self, mid: u64, user: &str, read: bool) -> Result<()> {
        if self.private {
            return self.set_read(mid, read);
        }
        let tx = self.conn.unchecked_transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM messages WHERE message_id=?1 AND is_deleted=0)",
            [mid as i64],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(Error::NotFound("message"));
        }
        if read {
            tx.exec(
                "INSERT OR IGNORE INTO read_states (message_id, username) VALUES (?1, ?2)",
                params![mid as i64, user],
            )?;
        } else {
            tx.exec(
                "DELETE FROM read_states WHERE message_id=?1 AND username=?2",
                params![mid as i64, user],
            )?;
        }
        let cn = Store::next_cn(&tx)?;
        tx.exec(
            "REPLACE INTO read_cns (message_id, username, read_cn) VALUES (?1, ?2, ?3)",
            params![mid as i64, user, cn as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Public stores: whether `user` has read the message.
    pub fn is_read_for_user(&self, mid: u64, user: &str) -> Result<bool> {
        if self.private {
            return self.is_read(mid);
        }
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM read_states WHERE message_id=?1 AND username=?2)",
            params![mid as i64, user],
            |r| r.get(0),
        )?)
    }

    /// The read state of a message.
    pub fn is_read(&self, mid: u64) -> Result<bool> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT read_state FROM messages WHERE message_id=?1",
                [mid as i64],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|v| v != 0).ok_or(Error::NotFound("message"))
    }

    /// Row-level facts about a top-level message.
    pub fn message_info(&self, mid: u64) -> Result<MessageInfo> {
        let sql = if self.private {
            "SELECT parent_fid, message_size, read_state, is_associated, is_deleted, change_number FROM messages \
             WHERE message_id=?1 AND parent_fid IS NOT NULL"
        } else {
            "SELECT parent_fid, message_size, 0, is_associated, is_deleted, change_number FROM messages \
             WHERE message_id=?1 AND parent_fid IS NOT NULL"
        };
        self.conn
            .prepare_cached(sql)?
            .query_row([mid as i64], |r| {
                Ok(MessageInfo {
                    folder: r.get::<_, i64>(0)? as u64,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    read: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
                    associated: r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
                    deleted: r.get::<_, Option<i64>>(4)?.unwrap_or(0) != 0,
                    change_number: r.get::<_, i64>(5)? as u64,
                })
            })
            .optional()?
            .ok_or(Error::NotFound("message"))
    }

    /// Copies a folder with its properties, messages (normal and FAI) and subfolders under
    /// `to_parent`, as `name`; returns the new folder id. The folder must be live and
    /// `to_parent` outside its subtree ([`Error::InvalidArgument`]: the copy would contain
    /// itself). Each folder and message is its own transaction.
    pub fn copy_folder(&mut self, folder: u64, to_parent: u64, name: &str) -> Result<u64> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let mut p = Some(to_parent);
        while let Some(x) = p {
            if x == folder {
                return Err(Error::InvalidArgument("folder copied into its own subtree"));
            }
            p = self
                .conn
                .query_row("SELECT parent_id FROM folders WHERE folder_id=?1", [x as i64], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .optional()?
                .flatten()
                .map(|v| v as u64);
        }
        self.copy_folder_tree(folder, to_parent, name)
    }

    fn copy_folder_tree(&mut self, folder: u64, to_parent: u64, name: &str) -> Result<u64> {
        let props = self.get_props(Obj::Folder(folder))?;
        let class = props
            .iter()
            .find(|p| p.tag == PR_CONTAINER_CLASS)
            .and_then(|p| p.val.as_str())
            .map(str::to_owned);
        let new = self.create_folder(to_parent, name, class.as_deref())?;
        let keep: Vec<TaggedVal> = props
            .into_iter()
            .filter(|p| {
                ![
                    PR_DISPLAY_NAME,
                    PR_CHANGE_KEY,
                    PR_PREDECESSOR_CHANGE_LIST,
                    PR_CREATION_TIME,
                ]
                .contains(&p.tag)
            })
            .collect();
        self.set_props(Obj::Folder(new), &keep)?;
        for assoc in [false, true] {
            for m in self.list_messages(folder, assoc)? {
                let c = without_store_tags(self.read_message(m)?);
                self.create_message(new, &c, assoc)?;
            }
        }
        let children: Vec<(u64, String)> = self
            .list_folders()?
            .into_iter()
            .filter(|f| f.parent == Some(folder) && !f.deleted)
            .map(|f| (f.id, f.name))
            .collect();
        for (child, cname) in children {
            self.copy_folder_tree(child, new, &cname)?;
        }
        Ok(new)
    }

    /// Copies a message into another folder; returns the new id.
    pub fn copy_message(&mut self, mid: u64, to: u64) -> Result<u64> {
        let from = self.parent_of(mid)?;
        let c = self.read_message(mid)?;
        let assoc: bool = self.conn.query_row(
            "SELECT COALESCE(is_associated,0) FROM messages WHERE message_id=?1",
            [mid as i64],
            |r| r.get(0),
        )?;
        let new = self.create_message(to, &without_store_tags(c), assoc)?;
        // The copy shares the kept original MIME (eml/ files are only removed when no message
        // refers to them) and keeps the read state, so IMAP sees the same message.
        let read_col = if self.private {
            ", read_state=(SELECT read_state FROM messages WHERE message_id=?2)"
        } else {
            ""
        };
        self.conn.execute(
            &format!(
                "UPDATE messages SET mid_string=(SELECT mid_string FROM messages WHERE message_id=?2){read_col} \
                 WHERE message_id=?1"
            ),
            params![new as i64, mid as i64],
        )?;
        self.notifier.emit(Event::MessageCopied {
            from,
            to,
            message: mid,
            new_message: new,
        });
        Ok(new)
    }

    /// Moves a message into another folder (new id from the target folder's range).
    pub fn move_message(&mut self, mid: u64, to: u64) -> Result<u64> {
        let from = self.parent_of(mid)?;
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, to)? {
            return Err(Error::NotFound("folder"));
        }
        crate::search::refuse_search_target(&tx, self.private, to)?;
        let new = Store::next_message_id(&tx, to)?;
        let cn = Store::next_cn(&tx)?;
        tx.exec(
            "UPDATE messages SET message_id=?1, parent_fid=?2, change_number=?3 WHERE message_id=?4",
            params![new as i64, to as i64, cn as i64, mid as i64],
        )?;
        // A moved message is a new object in its new folder: its source key follows its new id.
        tx.exec(
            "DELETE FROM message_properties WHERE message_id=?1 AND proptag=?2",
            params![new as i64, PR_SOURCE_KEY.0 as i64],
        )?;
        crate::store::stamp_change(
            &tx,
            &self.dir,
            self.durability,
            self.guid(),
            Obj::Message(new),
            cn,
            None,
            None,
        )?;
        tx.commit()?;
        self.notifier.emit(Event::MessageMoved {
            from,
            to,
            message: mid,
            new_message: new,
        });
        Ok(new)
    }

    /// Loads a message into an editable instance.
    pub fn open_instance(&self, mid: u64) -> Result<MessageInstance> {
        let folder = self.parent_of(mid)?;
        let assoc: bool = self.conn.query_row(
            "SELECT COALESCE(is_associated,0) FROM messages WHERE message_id=?1",
            [mid as i64],
            |r| r.get(0),
        )?;
        Ok(MessageInstance {
            folder,
            message: Some(mid),
            associated: assoc,
            content: self.read_message(mid)?,
        })
    }

    /// Writes an instance atomically (all or nothing); returns the message id.
    pub fn flush_instance(&mut self, inst: &mut MessageInstance) -> Result<u64> {
        let Some(mid) = inst.message else {
            let mid = self.create_message(inst.folder, &inst.content, inst.associated)?;
            inst.message = Some(mid);
            inst.content = self.read_message(mid)?;
            return Ok(mid);
        };
        self.overwrite_message(inst.folder, mid, &inst.content, inst.associated)?;
        inst.content = self.read_message(mid)?;
        Ok(mid)
    }

    /// Delivers a message: picks the receive folder for its class (or `folder`), enforces
    /// the prohibit-receive quota ([`Error::QuotaExceeded`]), keeps the original MIME compressed
    /// in `eml/`, writes the message in one transaction and notifies subscribers.
    ///
    /// Point of durability: the commit of that transaction. Content and MIME files are
    /// written (renamed into place) before it, so when this returns `Ok` the message survives
    /// a kill of the process (and, with `Durability::Power`, a power loss); if the process dies
    /// earlier, the message is absent and at most unreferenced files remain.
    pub fn deliver_message(
        &mut self,
        folder: Option<u64>,
        c: &MessageContent,
        mime: Option<&[u8]>,
    ) -> Result<Delivered> {
        let class = c
            .get(PR_MESSAGE_CLASS)
            .and_then(|v| v.as_str())
            .unwrap_or("IPM.Note")
            .to_owned();
        let folder = match folder {
            Some(f) => f,
            None => self.receive_folder(&class)?,
        };
        let size = content_size(c) + mime.map_or(0, |m| m.len() as u64);
        self.check_quota(size, QuotaKind::Receive)?;
        // Small MIME goes into the database with the message (one transaction, no file);
        // larger MIME to `eml/` first, referenced by the commit below.
        let mut inline = None;
        let eml = match mime {
            Some(m) if m.len() <= cid::MIME_INLINE_MAX => {
                let name = cid::name_for('I', m);
                inline = Some(cid::compress(m)?);
                Some(name)
            }
            Some(m) => Some(cid::store(&self.dir, "eml", 'Z', m, self.durability)?),
            None => None,
        };
        let mut c2;
        let c = if c.get(PR_MESSAGE_DELIVERY_TIME).is_none() {
            c2 = c.clone();
            c2.set(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(now_filetime()));
            &c2
        } else {
            c
        };
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        crate::search::refuse_search_target(&tx, self.private, folder)?;
        let mid = Store::next_message_id(&tx, folder)?;
        let msize = write_message_tx(self, &tx, mid, Parent::Folder(folder, false), c, true)?;
        if let Some(e) = &eml {
            if let Some(z) = &inline {
                tx.exec(cid::KEPT_MIME_DDL, [])?;
                tx.exec(
                    "INSERT OR IGNORE INTO kept_mime (name, data) VALUES (?1, ?2)",
                    params![e, z],
                )?;
            }
            tx.exec(
                "UPDATE messages SET mid_string=?1 WHERE message_id=?2",
                params![e, mid as i64],
            )?;
        }
        add_store_size(&tx, msize as i64, false)?;
        tx.commit()?; // <- point of durability
        self.notifier.emit(Event::NewMail {
            folder,
            message: mid,
            class,
        });
        Ok(Delivered { folder, message: mid })
    }

    /// The original MIME of a delivered message, if kept.
    pub fn message_mime(&self, mid: u64) -> Result<Option<Vec<u8>>> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT mid_string FROM messages WHERE message_id=?1",
                [mid as i64],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        match s {
            Some(name) if name.starts_with(cid::INLINE_MIME_PREFIX) => {
                let z: Option<Vec<u8>> = self
                    .conn
                    .query_row("SELECT data FROM kept_mime WHERE name=?1", [&name], |r| r.get(0))
                    .optional()
                    .map_err(|e| Error::Corrupt(format!("kept MIME {name}: {e}")))?;
                match z {
                    Some(z) => Ok(Some(cid::decode(&z)?)),
                    None => Err(Error::Corrupt(format!("kept MIME {name} missing"))),
                }
            }
            Some(name) => Ok(Some(cid::load(&self.dir, "eml", &name)?)),
            None => Ok(None),
        }
    }
}
