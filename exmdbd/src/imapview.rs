//! What the message index (midbd) needs of a store, in IMAP terms: folder change probes,
//! message summaries with IMAP flags, RFC 5322 renditions, MIME appends and flag changes.
//!
//! IMAP flags map onto MAPI properties (MS-OXPROPS, MS-OXOFLAG, MS-OXOMSG):
//! `\Seen` ⇄ the read state; `\Draft` ⇄ `MSGFLAG_UNSENT` in PR_MESSAGE_FLAGS; `\Flagged` ⇄
//! PR_FLAG_STATUS = followupFlagged (2, with PR_FOLLOWUP_ICON red);
//! `\Answered` ⇄ PR_LAST_VERB_EXECUTED reply-to-sender/reply-to-all (102/103); `$Forwarded`
//! ⇄ PR_LAST_VERB_EXECUTED forward (104); keywords ⇄ the Outlook categories (PidNameKeywords).
//!
//! Conversion between stored messages and MIME goes through `gromox-convert`: the kept
//! original MIME is returned byte-identical; messages created through MAPI/EWS get a rendition
//! generated from their properties.

use gromox_convert::mapi::{from_mapi, to_mapi, MapiAttachment, MapiMessage};
use gromox_mapi::named::{PropName, PS_PUBLIC_STRINGS};
use gromox_mapi::tags::{
    msgflag, PR_CLIENT_SUBMIT_TIME, PR_CREATION_TIME, PR_FLAG_STATUS, PR_LAST_MODIFICATION_TIME, PR_LAST_VERB_EXECUTED,
    PR_MESSAGE_CLASS, PR_MESSAGE_DELIVERY_TIME, PR_MESSAGE_FLAGS,
};
use gromox_mapi::time::{filetime_to_unix, unix_to_filetime};
use gromox_mapi::{PropTag, PropType, PropVal, TaggedVal};
use rusqlite::params;

use crate::message::{AttachmentContent, Delivered, MessageContent};
use crate::store::{Obj, Store};
use crate::{Error, Result};

/// PR_FOLLOWUP_ICON (MS-OXPROPS; 6 = red flag).
const PR_FOLLOWUP_ICON: PropTag = PropTag(0x1095_0003);
/// PR_LAST_VERB_EXECUTION_TIME (MS-OXPROPS).
const PR_LAST_VERB_EXECUTION_TIME: PropTag = PropTag(0x1082_0040);
/// PR_TODO_ITEM_FLAGS is not set: a plain flag (MS-OXOFLAG §3.1.4.1.1).
const FOLLOWUP_FLAGGED: i32 = 2;
const VERB_REPLY_TO_SENDER: i32 = 102;
const VERB_REPLY_TO_ALL: i32 = 103;
const VERB_FORWARD: i32 = 104;

/// IMAP-relevant state of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImapFlags {
    pub read: bool,
    pub flagged: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub draft: bool,
    pub keywords: Vec<String>,
}

/// One message as the index mirrors it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub mid: u64,
    pub change_number: u64,
    pub flags: ImapFlags,
    /// Unix seconds: delivery time, else submit, creation or modification time.
    pub delivery_time: i64,
}

/// Flag changes (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagChange {
    pub read: Option<bool>,
    pub flagged: Option<bool>,
    pub answered: Option<bool>,
    pub forwarded: Option<bool>,
    pub keywords: Option<Vec<String>>,
}

type Named = Vec<(PropName, PropVal)>;

fn split(store: &Store, p: &[TaggedVal]) -> Result<(Vec<TaggedVal>, Named)> {
    let mut tagged = Vec::new();
    let mut named = Vec::new();
    for t in p {
        if t.tag.id() < 0x8000 {
            tagged.push(t.clone());
        } else if let Some(n) = store.get_propname(t.tag.id())? {
            named.push((n, t.val.clone()));
        }
    }
    Ok((tagged, named))
}

/// A stored message in the conversion library's form (named properties resolved to names).
pub fn to_bridge(store: &Store, c: &MessageContent) -> Result<MapiMessage> {
    let (props, named) = split(store, &c.props)?;
    let mut attachments = Vec::new();
    for a in &c.attachments {
        let (props, named) = split(store, &a.props)?;
        let embedded = match &a.embedded {
            Some(e) => Some(Box::new(to_bridge(store, e)?)),
            None => None,
        };
        attachments.push(MapiAttachment { props, named, embedded });
    }
    Ok(MapiMessage {
        props,
        named,
        recipients: c
            .recipients
            .iter()
            .map(|r| split(store, r).map(|x| x.0))
            .collect::<Result<_>>()?,
        attachments,
    })
}

/// A converted message in the store's terms: named properties get their ids in `store`
/// (created on demand, from 0x8001).
pub fn from_bridge(store: &mut Store, m: &MapiMessage) -> Result<MessageContent> {
    let mut props = m.props.clone();
    for (name, val) in &m.named {
        if let Some(id) = store.get_named_propid(name, true)? {
            props.push(TaggedVal::new(PropTag::new(id, val.ptype()), val.clone()));
        }
    }
    let mut attachments = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        let mut aprops = a.props.clone();
        for (name, val) in &a.named {
            if let Some(id) = store.get_named_propid(name, true)? {
                aprops.push(TaggedVal::new(PropTag::new(id, val.ptype()), val.clone()));
            }
        }
        let embedded = match &a.embedded {
            Some(e) => Some(Box::new(from_bridge(store, e)?)),
            None => None,
        };
        attachments.push(AttachmentContent {
            props: aprops,
            embedded,
        });
    }
    Ok(MessageContent {
        props,
        recipients: m.recipients.clone(),
        attachments,
    })
}

fn keywords_name() -> PropName {
    PropName::name(PS_PUBLIC_STRINGS, "Keywords")
}

impl Store {
    /// The keywords property tag of this store, if the named property exists (or is created).
    fn keywords_tag(&mut self, create: bool) -> Result<Option<PropTag>> {
        Ok(self
            .get_named_propid(&keywords_name(), create)?
            .map(|id| PropTag::new(id, PropType::MvUnicode)))
    }

    /// `(highest change number, message count)` of a folder's live normal messages; read-state
    /// changes count as changes. One indexed query.
    pub fn folder_state(&self, folder: u64) -> Result<(u64, u64)> {
        // Unchanged database: the answer of last time (the count is O(folder size)).
        let data_version: i64 = self
            .conn()
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let version = (data_version, self.conn().total_changes());
        {
            let mut c = self.folder_states.borrow_mut();
            if c.version != version {
                c.version = version;
                c.states.clear();
            }
            if let Some(st) = c.states.get(&folder) {
                return Ok(*st);
            }
        }
        let read_cn = if self.is_private() {
            "COALESCE(MAX(read_cn),0)"
        } else {
            "0"
        };
        let sql = format!(
            "SELECT COALESCE(MAX(change_number),0), {read_cn}, COUNT(*) FROM messages \
             WHERE parent_fid=?1 AND is_deleted=0 AND COALESCE(is_associated,0)=0"
        );
        let (cn, rcn, n): (i64, i64, i64) = self
            .conn()
            .prepare_cached(&sql)?
            .query_row([folder as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let st = (cn.max(rcn) as u64, n as u64);
        let mut c = self.folder_states.borrow_mut();
        if c.version == version {
            c.states.insert(folder, st);
        }
        Ok(st)
    }

    /// Summaries of up to `limit` live normal messages of `folder` with ids above
    /// `after_mid` and a change number (or read-state change number) of at least `min_cn`
    /// (0: all), ascending by id.
    pub fn message_summaries(&mut self, folder: u64, after_mid: u64, limit: u32, min_cn: u64) -> Result<Vec<Summary>> {
        let kw = self.keywords_tag(false)?;
        let read_col = if self.is_private() { "m.read_state" } else { "0" };
        let tags = [
            PR_MESSAGE_FLAGS,
            PR_FLAG_STATUS,
            PR_LAST_VERB_EXECUTED,
            PR_MESSAGE_DELIVERY_TIME,
            PR_CLIENT_SUBMIT_TIME,
            PR_CREATION_TIME,
            PR_LAST_MODIFICATION_TIME,
            kw.unwrap_or(PropTag(0)),
        ];
        let mut sql = format!("SELECT m.message_id, m.change_number, {read_col}, COALESCE(m.read_cn, 0)");
        for i in 0..tags.len() {
            sql.push_str(&format!(", p{i}.propval"));
        }
        sql.push_str(" FROM messages m");
        for (i, t) in tags.iter().enumerate() {
            sql.push_str(&format!(
                " LEFT JOIN message_properties p{i} ON p{i}.message_id=m.message_id AND p{i}.proptag={}",
                t.0 as i64
            ));
        }
        sql.push_str(
            " WHERE m.parent_fid=?1 AND m.is_deleted=0 AND COALESCE(m.is_associated,0)=0 AND m.message_id>?2 \
             AND (m.change_number>=?4 OR COALESCE(m.read_cn, 0)>=?4) ORDER BY m.message_id LIMIT ?3",
        );
        if !self.is_private() {
            sql = sql.replace("COALESCE(m.read_cn, 0)", "0");
        }
        let dir = self.dir().to_path_buf();
        let mut st = self.conn().prepare(&sql)?;
        let mut rows = st.query(params![
            folder as i64,
            after_mid as i64,
            i64::from(limit),
            min_cn as i64
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals: Vec<Option<PropVal>> = Vec::with_capacity(tags.len());
            for (i, t) in tags.iter().enumerate() {
                vals.push(if t.0 == 0 {
                    None
                } else {
                    crate::store::decode_row(&dir, *t, r.get_ref(4 + i)?)?.map(|tv| tv.val)
                });
            }
            let int = |i: usize| vals[i].as_ref().and_then(|v| v.as_i64());
            let time = |i: usize| match vals[i] {
                Some(PropVal::SysTime(t)) => Some(filetime_to_unix(t)),
                _ => None,
            };
            let verb = int(2).unwrap_or(0) as i32;
            let cn = r.get::<_, i64>(1)?.max(r.get::<_, i64>(3)?) as u64;
            out.push(Summary {
                mid: r.get::<_, i64>(0)? as u64,
                change_number: cn,
                flags: ImapFlags {
                    read: r.get::<_, i64>(2)? != 0,
                    flagged: int(1) == Some(i64::from(FOLLOWUP_FLAGGED)),
                    answered: verb == VERB_REPLY_TO_SENDER || verb == VERB_REPLY_TO_ALL,
                    forwarded: verb == VERB_FORWARD,
                    draft: int(0).is_some_and(|f| f as u32 & msgflag::UNSENT != 0),
                    keywords: match &vals[7] {
                        Some(PropVal::MvUnicode(k)) | Some(PropVal::MvString8(k)) => k.clone(),
                        _ => Vec::new(),
                    },
                },
                delivery_time: time(3).or(time(4)).or(time(5)).or(time(6)).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The RFC 5322 form of a message: the kept original MIME byte-identical, else one
    /// generated from its properties.
    pub fn message_rfc822(&self, mid: u64) -> Result<Vec<u8>> {
        if let Some(m) = self.message_mime(mid)? {
            return Ok(m);
        }
        let c = self.read_message(mid)?;
        Ok(gromox_convert::mime_out::mapi_to_mime(&from_mapi(&to_bridge(
            self, &c,
        )?)))
    }

    /// Store a MIME message into `folder` (kept byte-identical as the original) with IMAP
    /// flags and a delivery time (Unix seconds; `None`: now).
    pub fn append_rfc822(
        &mut self,
        folder: u64,
        mime: &[u8],
        flags: &ImapFlags,
        delivery_time: Option<i64>,
    ) -> Result<Delivered> {
        let mapi = to_mapi(&gromox_convert::mime_in::mime_to_mapi(mime));
        let mut content = from_bridge(self, &mapi)?;
        if content.get(PR_MESSAGE_CLASS).is_none() {
            content.set(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into()));
        }
        let when = delivery_time
            .map(unix_to_filetime)
            .unwrap_or_else(gromox_mapi::time::now_filetime);
        content.set(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(when));
        let mut mf = content.get(PR_MESSAGE_FLAGS).and_then(|v| v.as_i64()).unwrap_or(0) as u32;
        if flags.draft {
            mf |= msgflag::UNSENT;
        } else {
            mf &= !msgflag::UNSENT;
        }
        content.set(PR_MESSAGE_FLAGS, PropVal::I4(mf as i32));
        apply_flag_props(
            &mut content.props,
            flags.flagged,
            verb_of(flags.answered, flags.forwarded),
        );
        if !flags.keywords.is_empty() {
            if let Some(t) = self.keywords_tag(true)? {
                content.set(t, PropVal::MvUnicode(flags.keywords.clone()));
            }
        }
        let d = self.deliver_message(Some(folder), &content, Some(mime))?;
        if flags.read && self.is_private() {
            self.set_read(d.message, true)?;
        }
        Ok(d)
    }

    /// Rename `folder` to `name` under `parent` (moving it when the parent differs). Default
    /// folders are refused; a sibling of that name is a [`Error::NameConflict`].
    pub fn rename_folder(&mut self, folder: u64, parent: u64, name: &str) -> Result<()> {
        if name.is_empty() || name.contains(['\r', '\n']) {
            return Err(Error::InvalidName(name.to_string()));
        }
        if folder < crate::layout::fid::FIRST_CUSTOM && self.is_private() {
            return Err(Error::AccessDenied);
        }
        let cur: Option<i64> = self
            .conn()
            .query_row(
                "SELECT parent_id FROM folders WHERE folder_id=?1",
                [folder as i64],
                |r| r.get(0),
            )
            .map_err(|_| Error::NotFound("folder"))?;
        if let Some(other) = self.find_folder(parent, name)? {
            if other != folder {
                return Err(Error::NameConflict(name.to_string()));
            }
        }
        self.set_props(
            Obj::Folder(folder),
            &[TaggedVal::new(
                gromox_mapi::tags::PR_DISPLAY_NAME,
                PropVal::Unicode(name.to_string()),
            )],
        )?;
        if cur.map(|p| p as u64) != Some(parent) {
            self.move_folder(folder, parent)?;
        }
        Ok(())
    }

    /// Change a message's IMAP flags; every change gets a new change number (so
    /// [`Store::folder_state`] notices it) and emits the modified-object notification.
    pub fn set_message_flags(&mut self, mid: u64, c: &FlagChange) -> Result<()> {
        if let Some(read) = c.read {
            if self.is_private() {
                self.set_read(mid, read)?;
            }
        }
        let mut set: Vec<TaggedVal> = Vec::new();
        let mut remove: Vec<PropTag> = Vec::new();
        if let Some(f) = c.flagged {
            if f {
                set.push(TaggedVal::new(PR_FLAG_STATUS, PropVal::I4(FOLLOWUP_FLAGGED)));
                set.push(TaggedVal::new(PR_FOLLOWUP_ICON, PropVal::I4(6)));
            } else {
                remove.extend([PR_FLAG_STATUS, PR_FOLLOWUP_ICON]);
            }
        }
        if c.answered.is_some() || c.forwarded.is_some() {
            let cur = self
                .get_prop(Obj::Message(mid), PR_LAST_VERB_EXECUTED)?
                .and_then(|v| v.as_i64())
                .unwrap_or(0) as i32;
            let is_reply = cur == VERB_REPLY_TO_SENDER || cur == VERB_REPLY_TO_ALL;
            let answered = c.answered.unwrap_or(is_reply);
            let forwarded = c.forwarded.unwrap_or(cur == VERB_FORWARD);
            match verb_of(answered, forwarded) {
                Some(v) if v != cur => {
                    set.push(TaggedVal::new(PR_LAST_VERB_EXECUTED, PropVal::I4(v)));
                    set.push(TaggedVal::new(
                        PR_LAST_VERB_EXECUTION_TIME,
                        PropVal::SysTime(gromox_mapi::time::now_filetime()),
                    ));
                }
                Some(_) => {}
                None if cur != 0 && (is_reply || cur == VERB_FORWARD) => {
                    remove.extend([PR_LAST_VERB_EXECUTED, PR_LAST_VERB_EXECUTION_TIME])
                }
                None => {}
            }
        }
        if let Some(k) = &c.keywords {
            if let Some(t) = self.keywords_tag(true)? {
                if k.is_empty() {
                    remove.push(t);
                } else {
                    set.push(TaggedVal::new(t, PropVal::MvUnicode(k.clone())));
                }
            }
        }
        if !remove.is_empty() {
            self.remove_props(Obj::Message(mid), &remove)?;
        }
        if !set.is_empty() || !remove.is_empty() {
            self.touch_message(mid)?;
            // set_props notifies subscribers (an empty list still does).
            self.set_props(Obj::Message(mid), &set)?;
        }
        Ok(())
    }

    /// Give live message `mid` a new change number (after a property change), so change probes
    /// (`folder_state`, `message_summaries` with `min_cn`) see it.
    pub fn touch_message(&mut self, mid: u64) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let cn = Store::next_cn(&tx)?;
        let n = tx.execute(
            "UPDATE messages SET change_number=?1 WHERE message_id=?2 AND is_deleted=0",
            params![cn as i64, mid as i64],
        )?;
        if n == 0 {
            return Err(Error::NotFound("message"));
        }
        crate::store::stamp_change(
            &tx,
            &self.dir,
            self.durability,
            self.guid(),
            Obj::Message(mid),
            cn,
            None,
            None,
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// The last verb for IMAP `\Answered` / `$Forwarded` (a reply wins when both are set).
fn verb_of(answered: bool, forwarded: bool) -> Option<i32> {
    if answered {
        Some(VERB_REPLY_TO_SENDER)
    } else if forwarded {
        Some(VERB_FORWARD)
    } else {
        None
    }
}

fn apply_flag_props(props: &mut Vec<TaggedVal>, flagged: bool, verb: Option<i32>) {
    props.retain(|p| p.tag != PR_FLAG_STATUS && p.tag != PR_LAST_VERB_EXECUTED);
    if flagged {
        props.push(TaggedVal::new(PR_FLAG_STATUS, PropVal::I4(FOLLOWUP_FLAGGED)));
        props.push(TaggedVal::new(PR_FOLLOWUP_ICON, PropVal::I4(6)));
    }
    if let Some(v) = verb {
        props.push(TaggedVal::new(PR_LAST_VERB_EXECUTED, PropVal::I4(v)));
    }
}

#[cfg(test)]
mod tests {
    use crate::{MessageContent, Store};
    use gromox_mapi::tags::PR_SUBJECT;
    use gromox_mapi::PropVal;

    const INBOX: u64 = crate::layout::fid::INBOX;

    fn msg() -> MessageContent {
        let mut c = MessageContent::default();
        c.set(PR_SUBJECT, PropVal::Unicode("x".into()));
        c
    }

    /// The folder-state probe answers from its cache only while nothing changed: writes
    /// through this store, read-state changes and commits by another connection all show.
    #[test]
    fn folder_state_follows_every_change() {
        let t = tempfile::tempdir().unwrap();
        let mut a = Store::create_private(t.path(), "a@example.org", "en", false, &Default::default()).unwrap();
        assert_eq!(a.folder_state(INBOX).unwrap(), (0, 0));
        let m1 = a.deliver_message(Some(INBOX), &msg(), None).unwrap().message;
        let (cn1, n1) = a.folder_state(INBOX).unwrap();
        assert_eq!(n1, 1);
        assert_eq!(a.folder_state(INBOX).unwrap(), (cn1, 1), "cached, unchanged");
        a.set_read(m1, true).unwrap();
        let (cn2, _) = a.folder_state(INBOX).unwrap();
        assert!(cn2 > cn1, "a read-state change is a new state");
        // Another connection (another process, e.g. in-process delivery) commits.
        let mut b = Store::open(t.path(), &Default::default()).unwrap();
        b.deliver_message(Some(INBOX), &msg(), None).unwrap();
        let (cn3, n3) = a.folder_state(INBOX).unwrap();
        assert_eq!(n3, 2);
        assert!(cn3 > cn2);
        a.delete_messages(&[m1], false).unwrap();
        assert_eq!(a.folder_state(INBOX).unwrap().1, 1);
    }
}
