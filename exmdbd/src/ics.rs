//! Incremental change synchronisation (ICS, MS-OXCFXICS) over the store: what a client's state
//! lacks (download) and applying a client's changes (upload), independent of any wire format.
//!
//! A client holds a [`SyncState`] per synchronised folder (MS-OXCFXICS §2.2.1.1): the ids it
//! has (MetaTagIdsetGiven) and the change numbers it has seen (MetaTagCnsetSeen, -SeenFAI,
//! -Read), all in the store's REPLGUID namespace (the mailbox GUID, replica id 1).
//!
//! **Download** ([`Store::sync_contents`], [`Store::sync_hierarchy`]; what is reported: §3.2.5.3):
//! one pass over the folder's live rows in a single read transaction computes
//! - changes: live objects whose change number is not in the seen set, or whose id the client
//!   does not have (so a restored or otherwise reappearing object is never missed);
//! - deletions: ids in IdsetGiven that are not live in the folder (or subtree) now. This needs no
//!   tombstones: soft-deleted, hard-deleted, purged and moved-away objects are all simply "not
//!   live", so a sync from any old state converges, also after a purge;
//! - read-state changes (readStateChanges, §2.2.4.3.22: MetaTagIdsetRead/Unread, §2.2.1.3.4/§2.2.1.3.5;
//!   tracking read state, §3.2.5.6): messages the client has whose
//!   read change number (`messages.read_cn`, or `read_cns` per user in public stores) is not in
//!   CnsetRead;
//! - the state after the client applied all of it: IdsetGiven = (given ∩ live) ∪ sent,
//!   each requested seen set ∪ `1..=last change number`.
//!
//! Memory is bounded by ids, never by messages: the scan streams rows, keeps sent ids as one
//! `u64` each and sets as ranges ([`GlobSet`]); message headers (source key, change key, PCL)
//! are read afterwards in batches ([`Store::sync_message_headers`]), content with
//! [`Store::read_message`].
//!
//! **Upload** (the server side of the import ROPs, §3.2.5.9.4): [`Store::import_message_change`] (RopSynchronizationImportMessageChange),
//! [`Store::import_deletions`] (…ImportDeletes), [`Store::import_read_states`]
//! (…ImportReadStateChanges), [`Store::import_folder_change`] (…ImportHierarchyChange),
//! [`Store::import_folder_deletions`], [`Store::import_message_move`] (…ImportMessageMove).
//! Conflicts are found with predecessor change lists (§3.1.5.6): a client version whose PCL
//! includes the server's change key is newer and replaces it; a client version the server's PCL
//! already includes is older and ignored; anything else is a conflict, reported and not applied.
//! Every applied import takes a new change number (so other clients' syncs see it) and, when the
//! caller passes the importing client's state, records the new id and change number in it, so
//! that client does not download its own change again.
//!
//! Source keys (§2.2.1.2.5) are XIDs: the mailbox GUID with the object's 6-byte id. Objects an
//! import creates take the id in the source key when it is in the store's namespace and in a
//! range the client reserved ([`Store::reserve_ids`], RopGetLocalReplicaIds); otherwise they get
//! a new id and keep the client's source key as PR_SOURCE_KEY.

use crate::error::{Error, Result};
use crate::message::{add_store_size, content_size, write_message_tx, MessageContent, Parent, QuotaKind};
use crate::notify::Event;
use crate::store::{
    create_folder_row, folder_exists, get_prop_conn, put_prop_tx, stamp_change, touch_folder_tx, ExecCached, Obj, Store,
};
use gromox_mapi::ids::{Pcl, Xid};
use gromox_mapi::idset::GlobSet;
use gromox_mapi::tags::*;
use gromox_mapi::time::now_filetime;
use gromox_mapi::{Guid, PropTag, PropVal, TaggedVal};
use rusqlite::{params, Connection, OptionalExtension};

pub use gromox_exmdb_proto::{ContentSyncOptions, FolderSync, HierarchySync, MessageHeader};
pub use gromox_mapi::syncstate::SyncState;

/// The result of a contents synchronisation download: ids, never message data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSync {
    /// New and changed messages to send (normal and FAI as requested), oldest change first.
    pub changed: Vec<u64>,
    /// Ids the client has that are no longer live in the folder (MetaTagIdsetDeleted).
    pub deleted: GlobSet,
    /// Messages the client has that became read (MetaTagIdsetRead).
    pub read: GlobSet,
    /// Messages the client has that became unread (MetaTagIdsetUnread).
    pub unread: GlobSet,
    /// The client's ids before this sync (tells new messages from changed ones).
    pub given_before: GlobSet,
    /// Whose read state the headers carry (public stores).
    pub user: Option<String>,
    /// The state after the client received everything above.
    pub state: SyncState,
}

impl ContentSync {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.deleted.is_empty() && self.read.is_empty() && self.unread.is_empty()
    }
}

/// What the download stream sends ahead of a changed message (its messageChangeHeader, §2.2.4.3):
/// the header as the exmdb protocol carries it, and whether the message is new to the client.
/// Read with [`Store::sync_message_headers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageChange {
    pub header: MessageHeader,
    /// Whether the client did not have the message before (new rather than changed).
    pub new: bool,
}

/// A message change a client uploads (RopSynchronizationImportMessageChange, §2.2.3.2.4.2):
/// its identification and change tracking, and the whole new content.
#[derive(Debug, Clone, Copy)]
pub struct MessageImport<'a> {
    /// PR_SOURCE_KEY of the message (22-byte XID).
    pub source_key: &'a [u8],
    /// PR_CHANGE_KEY of the client's version (absent: the server makes one).
    pub change_key: Option<&'a [u8]>,
    /// PR_PREDECESSOR_CHANGE_LIST of the client's version.
    pub pcl: Option<&'a [u8]>,
    /// FAI message (ImportFlag Associated).
    pub associated: bool,
    pub content: &'a MessageContent,
}

/// A folder change a client uploads (RopSynchronizationImportHierarchyChange, §2.2.3.2.4.3).
#[derive(Debug, Clone, Copy)]
pub struct FolderImport<'a> {
    /// PR_PARENT_SOURCE_KEY; empty for the synchronised folder itself.
    pub parent_source_key: &'a [u8],
    /// PR_SOURCE_KEY of the folder.
    pub source_key: &'a [u8],
    pub change_key: Option<&'a [u8]>,
    pub pcl: Option<&'a [u8]>,
    /// PR_DISPLAY_NAME.
    pub name: &'a str,
    /// Other folder properties (container class, comment, …); change tracking tags are ignored.
    pub props: &'a [TaggedVal],
}

/// A message move a client uploads (RopSynchronizationImportMessageMove, §2.2.3.2.4.4): it moved
/// the message from another folder into the synchronised one.
#[derive(Debug, Clone, Copy)]
pub struct MessageMoveImport<'a> {
    /// Source key of the folder the message came from.
    pub source_folder: &'a [u8],
    /// Source key of the message in that folder.
    pub source_message: &'a [u8],
    /// The client's predecessor change list of the message.
    pub pcl: &'a [u8],
    /// Source key the message has in the destination folder.
    pub destination_message: &'a [u8],
    /// Change key of the move (the ChangeNumber field).
    pub change_key: Option<&'a [u8]>,
}

/// What became of an imported change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new object, with this id.
    Created(u64),
    /// The client's version replaced the server's.
    Updated(u64),
    /// The server already has this version or a newer one (§3.1.5.6: the client's PCL is
    /// included in the server's); nothing changed.
    Ignored(u64),
    /// Concurrent changes on both sides (neither PCL includes the other's latest change), or the
    /// server deleted or moved the object: nothing changed; the server's version stays.
    Conflict(u64),
    /// A moved message, with its new id; `server_newer` when the server had changes the
    /// client's PCL did not include (the client should download the message again).
    Moved { mid: u64, server_newer: bool },
}

/// How a client's version relates to the server's (MS-OXCFXICS §3.1.5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The client's version includes the server's latest change.
    ClientNewer,
    /// The server's PCL includes the client's version.
    ServerNewerOrSame,
    /// Neither: concurrent changes.
    Conflict,
}

/// Compares a client version (its PCL, with its change key merged in) against the server's
/// change key and PCL.
pub fn compare_versions(client_pcl: &Pcl, server_ck: &Xid, server_pcl: &Pcl) -> Version {
    if server_pcl.includes(client_pcl) {
        Version::ServerNewerOrSame
    } else if client_pcl.includes(&Pcl(vec![server_ck.clone()])) {
        Version::ClientNewer
    } else {
        Version::Conflict
    }
}

fn parse_xid(b: &[u8], what: &'static str) -> Result<Xid> {
    Xid::parse(b).map_err(|_| Error::InvalidArgument(what))
}

fn binary_prop(c: &Connection, st: &Store, obj: Obj, tag: PropTag) -> Result<Option<Vec<u8>>> {
    Ok(get_prop_conn(c, st.dir(), obj, tag)?.and_then(|v| v.as_bytes().map(<[u8]>::to_vec)))
}

/// A PCL of one change key (empty when the stored key is damaged).
fn pcl_of_ck(ck: &[u8]) -> Vec<u8> {
    Xid::parse(ck).map(|x| Pcl(vec![x]).to_bytes()).unwrap_or_default()
}

/// The store's GLOBSET of a state IDSET (the mailbox GUID's values).
fn own(set: &gromox_mapi::idset::ReplGuidSet, g: Guid) -> GlobSet {
    set.get(&g)
}

impl Store {
    fn last_cn(c: &Connection) -> Result<u64> {
        Ok(crate::store::cfg_get(c, crate::schema::cfg::LAST_CHANGE_NUMBER)?.max(0) as u64)
    }

    /// The source key of a message (§2.2.1.2.5): its stored PR_SOURCE_KEY, else the mailbox
    /// GUID with its id.
    pub fn message_source_key(&self, mid: u64) -> Result<Vec<u8>> {
        Ok(binary_prop(&self.conn, self, Obj::Message(mid), PR_SOURCE_KEY)?
            .unwrap_or_else(|| Xid::from_gc(self.guid(), mid).to_bytes()))
    }

    /// The source key of a folder: its stored PR_SOURCE_KEY, else the mailbox GUID with its id.
    pub fn folder_source_key(&self, fid: u64) -> Result<Vec<u8>> {
        Ok(binary_prop(&self.conn, self, Obj::Folder(fid), PR_SOURCE_KEY)?
            .unwrap_or_else(|| Xid::from_gc(self.guid(), fid).to_bytes()))
    }

    /// Contents synchronisation download of one folder from `state` (possibly empty); see the
    /// module documentation. Runs in one read transaction, so the result is a consistent
    /// snapshot.
    pub fn sync_contents(&self, folder: u64, state: &SyncState, opts: &ContentSyncOptions) -> Result<ContentSync> {
        let g = self.guid();
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let given = own(&state.given, g);
        let seen = own(&state.seen, g);
        let seen_fai = own(&state.seen_fai, g);
        let seen_read = own(&state.read, g);
        let last = Self::last_cn(&tx)?;
        let user = if self.private { None } else { opts.user.as_deref() };
        let want_read = opts.read_state && (self.private || user.is_some());
        let sql = if self.private {
            "SELECT message_id, change_number, COALESCE(is_associated,0), read_cn, COALESCE(read_state,0) \
             FROM messages WHERE parent_fid=?1 AND is_deleted=0 ORDER BY message_id"
        } else {
            "SELECT m.message_id, m.change_number, COALESCE(m.is_associated,0), \
             (SELECT read_cn FROM read_cns r WHERE r.message_id=m.message_id AND r.username=?2), \
             EXISTS(SELECT 1 FROM read_states s WHERE s.message_id=m.message_id AND s.username=?2) \
             FROM messages m WHERE m.parent_fid=?1 AND m.is_deleted=0 ORDER BY m.message_id"
        };
        let mut live = GlobSet::new();
        let mut changed: Vec<(u64, u64)> = Vec::new();
        let mut read = GlobSet::new();
        let mut unread = GlobSet::new();
        {
            let mut s = tx.prepare_cached(sql)?;
            let mut rows = if self.private {
                s.query(params![folder as i64])?
            } else {
                s.query(params![folder as i64, user])?
            };
            while let Some(r) = rows.next()? {
                let mid = r.get::<_, i64>(0)? as u64;
                let cn = r.get::<_, i64>(1)? as u64;
                let assoc = r.get::<_, i64>(2)? != 0;
                live.push_value(mid);
                let (wanted, seen_set) = if assoc {
                    (opts.fai, &seen_fai)
                } else {
                    (opts.normal, &seen)
                };
                if !wanted {
                    continue;
                }
                let has = given.contains(mid);
                if !has || !seen_set.contains(cn) {
                    changed.push((cn, mid));
                    continue;
                }
                if want_read && !assoc {
                    if let Some(rcn) = r.get::<_, Option<i64>>(3)? {
                        if !seen_read.contains(rcn as u64) {
                            if r.get::<_, i64>(4)? != 0 {
                                read.push_value(mid);
                            } else {
                                unread.push_value(mid);
                            }
                        }
                    }
                }
            }
        }
        drop(tx);
        changed.sort_unstable();
        let deleted = given.difference(&live);
        let mut new_given = given.difference(&deleted);
        new_given.union_with(&GlobSet::from_ranges(changed.iter().map(|&(_, m)| (m, m)).collect()));
        let mut st = SyncState::new();
        st.given.set(g, new_given);
        let upto = GlobSet::from_range(1, last);
        let grow = |old: &gromox_mapi::idset::ReplGuidSet, yes: bool| {
            let mut s = old.clone();
            if yes && last > 0 {
                let mut mine = own(old, g);
                mine.union_with(&upto);
                s.set(g, mine);
            }
            s
        };
        st.seen = grow(&state.seen, opts.normal);
        st.seen_fai = grow(&state.seen_fai, opts.fai);
        st.read = grow(&state.read, want_read);
        Ok(ContentSync {
            changed: changed.into_iter().map(|(_, m)| m).collect(),
            deleted,
            read,
            unread,
            given_before: given,
            user: user.map(str::to_owned),
            state: st,
        })
    }

    /// Headers of changed messages (`sync.changed[from..from + max]`), read in one go; messages
    /// gone since the sync was computed are left out.
    pub fn sync_message_headers(&self, sync: &ContentSync, from: usize, max: usize) -> Result<Vec<MessageChange>> {
        let end = from.saturating_add(max).min(sync.changed.len());
        let ids = sync.changed.get(from..end).unwrap_or(&[]);
        let sql = if self.private {
            "SELECT change_number, COALESCE(is_associated,0), COALESCE(read_state,0), message_size FROM messages \
             WHERE message_id=?1 AND is_deleted=0 AND parent_fid IS NOT NULL"
        } else {
            "SELECT change_number, COALESCE(is_associated,0), \
             EXISTS(SELECT 1 FROM read_states s WHERE s.message_id=messages.message_id AND s.username=?2), \
             message_size FROM messages WHERE message_id=?1 AND is_deleted=0 AND parent_fid IS NOT NULL"
        };
        let mut out = Vec::with_capacity(ids.len());
        let tx = self.conn.unchecked_transaction()?;
        for &mid in ids {
            let mut stmt = tx.prepare_cached(sql)?;
            let map = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? != 0,
                    r.get::<_, i64>(2)? != 0,
                    r.get::<_, i64>(3)?.max(0) as u64,
                ))
            };
            let row = if self.private {
                stmt.query_row(params![mid as i64], map)
            } else {
                stmt.query_row(params![mid as i64, sync.user.as_deref()], map)
            }
            .optional()?;
            drop(stmt);
            let Some((cn, associated, read, size)) = row else {
                continue;
            };
            let obj = Obj::Message(mid);
            let change_key =
                binary_prop(&tx, self, obj, PR_CHANGE_KEY)?.unwrap_or_else(|| Xid::from_gc(self.guid(), cn).to_bytes());
            let pcl = match binary_prop(&tx, self, obj, PR_PREDECESSOR_CHANGE_LIST)? {
                Some(p) => p,
                None => pcl_of_ck(&change_key),
            };
            let last_modified = get_prop_conn(&tx, self.dir(), obj, PR_LAST_MODIFICATION_TIME)?
                .and_then(|v| v.as_i64())
                .unwrap_or(0) as u64;
            out.push(MessageChange {
                header: MessageHeader {
                    mid,
                    source_key: binary_prop(&tx, self, obj, PR_SOURCE_KEY)?
                        .unwrap_or_else(|| Xid::from_gc(self.guid(), mid).to_bytes()),
                    change_number: cn,
                    change_key,
                    pcl,
                    associated,
                    read,
                    last_modified,
                    size,
                },
                new: !sync.given_before.contains(mid),
            });
        }
        Ok(out)
    }

    /// Hierarchy synchronisation download of the subtree below `root` (not `root` itself);
    /// see the module documentation.
    pub fn sync_hierarchy(&self, root: u64, state: &SyncState) -> Result<HierarchySync> {
        let g = self.guid();
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, root)? {
            return Err(Error::NotFound("folder"));
        }
        let given = own(&state.given, g);
        let seen = own(&state.seen, g);
        let last = Self::last_cn(&tx)?;
        // Pre-order walk: parents before children.
        let mut live = Vec::new();
        let mut changed = Vec::new();
        let mut stack = vec![root];
        let mut sk_of = std::collections::HashMap::new();
        sk_of.insert(root, Vec::new());
        while let Some(parent) = stack.pop() {
            let kids: Vec<(u64, u64)> = {
                let mut s = tx.prepare_cached(
                    "SELECT folder_id, change_number FROM folders WHERE parent_id=?1 AND is_deleted=0 \
                     ORDER BY folder_id DESC",
                )?;
                let v = s
                    .query_map([parent as i64], |r| {
                        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            for (fid, cn) in kids {
                if fid == root || live.len() > 1_000_000 {
                    return Err(Error::Corrupt("folder tree has a cycle".into()));
                }
                live.push(fid);
                stack.push(fid);
                let sk = binary_prop(&tx, self, Obj::Folder(fid), PR_SOURCE_KEY)?
                    .unwrap_or_else(|| Xid::from_gc(g, fid).to_bytes());
                sk_of.insert(fid, sk.clone());
                if given.contains(fid) && seen.contains(cn) {
                    continue;
                }
                let mut props = crate::store::get_props_conn(&tx, self.dir(), Obj::Folder(fid))?;
                let ck = props
                    .iter()
                    .find(|p| p.tag == PR_CHANGE_KEY)
                    .and_then(|p| p.val.as_bytes())
                    .map(<[u8]>::to_vec)
                    .unwrap_or_else(|| Xid::from_gc(g, cn).to_bytes());
                let pcl = match props
                    .iter()
                    .find(|p| p.tag == PR_PREDECESSOR_CHANGE_LIST)
                    .and_then(|p| p.val.as_bytes())
                {
                    Some(p) => p.to_vec(),
                    None => pcl_of_ck(&ck),
                };
                let parent_sk = sk_of.get(&parent).cloned().unwrap_or_default();
                props.retain(|p| {
                    ![
                        PR_SOURCE_KEY,
                        PR_PARENT_SOURCE_KEY,
                        PR_CHANGE_KEY,
                        PR_PREDECESSOR_CHANGE_LIST,
                    ]
                    .contains(&p.tag)
                });
                props.push(TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(sk.clone())));
                props.push(TaggedVal::new(PR_PARENT_SOURCE_KEY, PropVal::Binary(parent_sk.clone())));
                props.push(TaggedVal::new(PR_CHANGE_KEY, PropVal::Binary(ck.clone())));
                props.push(TaggedVal::new(PR_PREDECESSOR_CHANGE_LIST, PropVal::Binary(pcl.clone())));
                changed.push(FolderSync {
                    folder: fid,
                    parent,
                    source_key: sk,
                    parent_source_key: parent_sk,
                    change_number: cn,
                    change_key: ck,
                    pcl,
                    props,
                });
            }
        }
        drop(tx);
        let live = GlobSet::from_ranges(live.into_iter().map(|f| (f, f)).collect());
        let deleted = given.difference(&live);
        let mut st = SyncState::new();
        st.given.set(g, live);
        let mut s = own(&state.seen, g);
        s.union_with(&GlobSet::from_range(1, last));
        st.seen = state.seen.clone();
        st.seen.set(g, s);
        st.seen_fai = state.seen_fai.clone();
        st.read = state.read.clone();
        Ok(HierarchySync {
            changed,
            deleted,
            state: st,
        })
    }

    // ----- upload -----

    /// The live message of `folder` a source key names, if any; `Err(Conflict)`-worthy cases
    /// (the id exists but is deleted or elsewhere) come back as `Some((mid, false))`.
    fn find_message_sk(&self, c: &Connection, folder: u64, sk: &Xid) -> Result<Option<(u64, bool)>> {
        if sk.guid == self.guid() && sk.local_id.len() == 6 {
            let mid = sk.gc();
            let row: Option<(Option<i64>, i64)> = c
                .prepare_cached("SELECT parent_fid, COALESCE(is_deleted,0) FROM messages WHERE message_id=?1")?
                .query_row([mid as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((p, del)) = row {
                return Ok(Some((mid, p == Some(folder as i64) && del == 0)));
            }
        }
        let hit: Option<i64> = c
            .prepare_cached(
                "SELECT m.message_id FROM messages m JOIN message_properties p \
                 ON p.message_id=m.message_id AND p.proptag=?2 \
                 WHERE m.parent_fid=?1 AND m.is_deleted=0 AND p.propval=?3",
            )?
            .query_row(params![folder as i64, PR_SOURCE_KEY.0 as i64, sk.to_bytes()], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(hit.map(|m| (m as u64, true)))
    }

    /// The folder a source key names (live folders only).
    fn find_folder_sk(&self, c: &Connection, sk: &Xid) -> Result<Option<u64>> {
        if sk.guid == self.guid() && sk.local_id.len() == 6 && folder_exists(c, sk.gc())? {
            return Ok(Some(sk.gc()));
        }
        let hit: Option<i64> = c
            .prepare_cached(
                "SELECT f.folder_id FROM folders f JOIN folder_properties p \
                 ON p.folder_id=f.folder_id AND p.proptag=?1 WHERE f.is_deleted=0 AND p.propval=?2",
            )?
            .query_row(params![PR_SOURCE_KEY.0 as i64, sk.to_bytes()], |r| r.get(0))
            .optional()?;
        Ok(hit.map(|f| f as u64))
    }

    /// The id a new object with source key `sk` gets: the id in the key when the key is in the
    /// store's namespace, in a range the client reserved and unused; otherwise `None` (take a
    /// new id and keep the key as PR_SOURCE_KEY).
    fn claimable_id(&self, c: &Connection, sk: &Xid) -> Result<Option<u64>> {
        if sk.guid != self.guid() || sk.local_id.len() != 6 {
            return Ok(None);
        }
        let id = sk.gc();
        if !Store::is_reserved_id(c, id)? {
            return Ok(None);
        }
        let used: bool = c.query_row(
            "SELECT EXISTS(SELECT 1 FROM folders WHERE folder_id=?1) OR EXISTS(SELECT 1 FROM messages WHERE message_id=?1)",
            [id as i64],
            |r| r.get(0),
        )?;
        Ok((!used).then_some(id))
    }

    fn server_version(&self, c: &Connection, obj: Obj, cn: u64) -> Result<(Xid, Pcl)> {
        // A missing or damaged change key counts as the store's change of that number.
        let ck = binary_prop(c, self, obj, PR_CHANGE_KEY)?
            .and_then(|b| Xid::parse(&b).ok())
            .unwrap_or_else(|| Xid::from_gc(self.guid(), cn));
        let pcl = binary_prop(c, self, obj, PR_PREDECESSOR_CHANGE_LIST)?
            .and_then(|b| Pcl::parse(&b).ok())
            .unwrap_or_else(|| Pcl(vec![ck.clone()]));
        Ok((ck, pcl))
    }

    /// Imports a message change (create or replace by source key) into `folder`, with conflict
    /// detection by predecessor change lists (§3.1.5.6); see [`ImportOutcome`]. With `state`
    /// (the importing client's contents state), an applied change is recorded in it.
    pub fn import_message_change(
        &mut self,
        folder: u64,
        imp: &MessageImport<'_>,
        state: Option<&mut SyncState>,
    ) -> Result<ImportOutcome> {
        let sk = parse_xid(imp.source_key, "source key")?;
        let client_ck = imp.change_key.map(|b| parse_xid(b, "change key")).transpose()?;
        let mut client_pcl = match imp.pcl {
            Some(b) => Pcl::parse(b).map_err(|_| Error::InvalidArgument("predecessor change list"))?,
            None => Pcl::default(),
        };
        if let Some(ck) = &client_ck {
            client_pcl.merge(ck.clone());
        }
        let mut content = imp.content.clone();
        content.props.retain(|p| {
            ![PR_SOURCE_KEY, PR_CHANGE_KEY, PR_PREDECESSOR_CHANGE_LIST]
                .iter()
                .any(|t| t.id() == p.tag.id())
        });
        self.check_quota(content_size(&content), QuotaKind::Send)?;
        let g = self.guid();
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let existing = self.find_message_sk(&tx, folder, &sk)?;
        let (mid, outcome) = match existing {
            Some((mid, false)) => return Ok(ImportOutcome::Conflict(mid)),
            Some((mid, true)) => {
                let (cn, assoc): (i64, i64) = tx.query_row(
                    "SELECT change_number, COALESCE(is_associated,0) FROM messages WHERE message_id=?1",
                    [mid as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if (assoc != 0) != imp.associated {
                    return Err(Error::InvalidArgument("FAI flag differs from the stored message"));
                }
                let (sck, spcl) = self.server_version(&tx, Obj::Message(mid), cn as u64)?;
                match compare_versions(&client_pcl, &sck, &spcl) {
                    Version::ServerNewerOrSame => return Ok(ImportOutcome::Ignored(mid)),
                    Version::Conflict => return Ok(ImportOutcome::Conflict(mid)),
                    Version::ClientNewer => {}
                }
                let sk_prop = binary_prop(&tx, self, Obj::Message(mid), PR_SOURCE_KEY)?;
                write_message_tx(self, &tx, mid, Parent::Folder(folder, imp.associated), &content, false)?;
                // The kept original MIME no longer renders this content.
                tx.exec("UPDATE messages SET mid_string=NULL WHERE message_id=?1", [mid as i64])?;
                if let Some(b) = sk_prop {
                    put_prop_tx(
                        &tx,
                        self.dir(),
                        self.durability,
                        Obj::Message(mid),
                        &TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(b)),
                    )?;
                }
                crate::message::recompute_store_size(&tx)?;
                (mid, ImportOutcome::Updated(mid))
            }
            None => {
                let (mid, keep_sk) = match self.claimable_id(&tx, &sk)? {
                    Some(id) => (id, false),
                    None => (Store::next_message_id(&tx, folder)?, true),
                };
                let size = write_message_tx(self, &tx, mid, Parent::Folder(folder, imp.associated), &content, true)?;
                if keep_sk {
                    put_prop_tx(
                        &tx,
                        self.dir(),
                        self.durability,
                        Obj::Message(mid),
                        &TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(sk.to_bytes())),
                    )?;
                }
                add_store_size(&tx, size as i64, imp.associated)?;
                (mid, ImportOutcome::Created(mid))
            }
        };
        let cn: i64 = tx.query_row(
            "SELECT change_number FROM messages WHERE message_id=?1",
            [mid as i64],
            |r| r.get(0),
        )?;
        let cn = cn as u64;
        if client_ck.is_some() {
            // The client's version keeps its change key; its PCL is the client's.
            stamp_change(
                &tx,
                self.dir(),
                self.durability,
                g,
                Obj::Message(mid),
                cn,
                client_ck,
                Some(client_pcl),
            )?;
        }
        tx.commit()?;
        self.notifier.emit(match outcome {
            ImportOutcome::Created(_) => Event::MessageCreated { folder, message: mid },
            _ => Event::MessageModified { folder, message: mid },
        });
        if let Some(s) = state {
            s.given.insert(g, mid);
            if imp.associated {
                s.seen_fai.insert(g, cn);
            } else {
                s.seen.insert(g, cn);
            }
        }
        Ok(outcome)
    }

    /// Imports deletions (RopSynchronizationImportDeletes, §2.2.3.2.4.5) of messages of
    /// `folder` by source key, soft or hard. Keys of messages the folder does not have are
    /// skipped. Returns how many were deleted.
    pub fn import_deletions(
        &mut self,
        folder: u64,
        source_keys: &[&[u8]],
        hard: bool,
        state: Option<&mut SyncState>,
    ) -> Result<usize> {
        let mut mids = Vec::new();
        for sk in source_keys {
            let sk = parse_xid(sk, "source key")?;
            if let Some((mid, true)) = self.find_message_sk(&self.conn, folder, &sk)? {
                mids.push(mid);
            }
        }
        self.delete_messages(&mids, hard)?;
        if let Some(s) = state {
            let g = self.guid();
            for m in &mids {
                s.given.remove(&g, *m);
            }
        }
        Ok(mids.len())
    }

    /// Imports read-state changes (RopSynchronizationImportReadStateChanges, §2.2.3.2.4.6):
    /// `(source key, read)` pairs of messages of `folder`; `user` names the reader in public
    /// stores; FAI messages are skipped. Each change takes a new read change number, recorded in `state` (CnsetRead).
    /// Returns how many messages were found.
    pub fn import_read_states(
        &mut self,
        folder: u64,
        changes: &[(&[u8], bool)],
        user: Option<&str>,
        mut state: Option<&mut SyncState>,
    ) -> Result<usize> {
        let g = self.guid();
        let mut n = 0;
        for (sk, read) in changes {
            let sk = parse_xid(sk, "source key")?;
            let Some((mid, true)) = self.find_message_sk(&self.conn, folder, &sk)? else {
                continue;
            };
            // Read-state changes of FAI messages are ignored (§3.2.5.9.4.6).
            if self.message_info(mid)?.associated {
                continue;
            }
            let rcn: Option<i64> = if self.private {
                self.set_read(mid, *read)?;
                self.conn
                    .query_row("SELECT read_cn FROM messages WHERE message_id=?1", [mid as i64], |r| {
                        r.get(0)
                    })?
            } else {
                let user = user.ok_or(Error::InvalidArgument("public store read state needs a user"))?;
                self.set_read_for_user(mid, user, *read)?;
                self.conn
                    .query_row(
                        "SELECT read_cn FROM read_cns WHERE message_id=?1 AND username=?2",
                        params![mid as i64, user],
                        |r| r.get(0),
                    )
                    .optional()?
            };
            if let (Some(s), Some(cn)) = (state.as_deref_mut(), rcn) {
                s.read.insert(g, cn as u64);
            }
            n += 1;
        }
        Ok(n)
    }

    /// Imports a message move into `folder` (RopSynchronizationImportMessageMove, §2.2.3.2.4.4):
    /// the message named by the source folder and message keys moves here and takes the
    /// destination key's id (if claimable, see the module documentation). The move happens even
    /// when the server changed the message meanwhile ([`ImportOutcome::Moved`] says so; the
    /// client's state then does not mark the new change number seen, so it downloads the
    /// message again).
    pub fn import_message_move(
        &mut self,
        folder: u64,
        imp: &MessageMoveImport<'_>,
        state: Option<&mut SyncState>,
    ) -> Result<ImportOutcome> {
        let src_folder_sk = parse_xid(imp.source_folder, "source folder key")?;
        let src_sk = parse_xid(imp.source_message, "source message key")?;
        let dst_sk = parse_xid(imp.destination_message, "destination message key")?;
        let client_ck = imp.change_key.map(|b| parse_xid(b, "change key")).transpose()?;
        let client_pcl = Pcl::parse(imp.pcl).map_err(|_| Error::InvalidArgument("predecessor change list"))?;
        let g = self.guid();
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let from = self
            .find_folder_sk(&tx, &src_folder_sk)?
            .ok_or(Error::NotFound("source folder"))?;
        let mid = match self.find_message_sk(&tx, from, &src_sk)? {
            Some((m, true)) => m,
            _ => return Err(Error::NotFound("message")),
        };
        let (cn, assoc): (i64, i64) = tx.query_row(
            "SELECT change_number, COALESCE(is_associated,0) FROM messages WHERE message_id=?1",
            [mid as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (sck, _) = self.server_version(&tx, Obj::Message(mid), cn as u64)?;
        let server_newer = !client_pcl.includes(&Pcl(vec![sck]));
        let (new, keep_sk) = match self.claimable_id(&tx, &dst_sk)? {
            Some(id) => (id, false),
            None => (Store::next_message_id(&tx, folder)?, true),
        };
        let ncn = Store::next_cn(&tx)?;
        tx.exec(
            "UPDATE messages SET message_id=?1, parent_fid=?2, change_number=?3 WHERE message_id=?4",
            params![new as i64, folder as i64, ncn as i64, mid as i64],
        )?;
        tx.exec(
            "DELETE FROM message_properties WHERE message_id=?1 AND proptag=?2",
            params![new as i64, PR_SOURCE_KEY.0 as i64],
        )?;
        if keep_sk {
            put_prop_tx(
                &tx,
                self.dir(),
                self.durability,
                Obj::Message(new),
                &TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(dst_sk.to_bytes())),
            )?;
        }
        stamp_change(
            &tx,
            self.dir(),
            self.durability,
            g,
            Obj::Message(new),
            ncn,
            client_ck,
            None,
        )?;
        tx.commit()?;
        self.notifier.emit(Event::MessageMoved {
            from,
            to: folder,
            message: mid,
            new_message: new,
        });
        if let Some(s) = state {
            s.given.insert(g, new);
            if !server_newer {
                if assoc != 0 {
                    s.seen_fai.insert(g, ncn);
                } else {
                    s.seen.insert(g, ncn);
                }
            }
        }
        Ok(ImportOutcome::Moved { mid: new, server_newer })
    }

    /// Imports a folder change (RopSynchronizationImportHierarchyChange, §2.2.3.2.4.3) below
    /// `root` (the synchronised folder): creates the folder or renames, moves and updates it,
    /// with the same conflict detection as messages. With `state` (the importing client's
    /// hierarchy state), an applied change is recorded in it.
    pub fn import_folder_change(
        &mut self,
        root: u64,
        imp: &FolderImport<'_>,
        state: Option<&mut SyncState>,
    ) -> Result<ImportOutcome> {
        let name = imp.name;
        if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidName(name.to_owned()));
        }
        let sk = parse_xid(imp.source_key, "source key")?;
        let client_ck = imp.change_key.map(|b| parse_xid(b, "change key")).transpose()?;
        let mut client_pcl = match imp.pcl {
            Some(b) => Pcl::parse(b).map_err(|_| Error::InvalidArgument("predecessor change list"))?,
            None => Pcl::default(),
        };
        if let Some(ck) = &client_ck {
            client_pcl.merge(ck.clone());
        }
        let g = self.guid();
        let tx = self.conn.unchecked_transaction()?;
        if !folder_exists(&tx, root)? {
            return Err(Error::NotFound("folder"));
        }
        let parent = if imp.parent_source_key.is_empty() {
            root
        } else {
            let psk = parse_xid(imp.parent_source_key, "parent source key")?;
            self.find_folder_sk(&tx, &psk)?
                .ok_or(Error::NotFound("parent folder"))?
        };
        let sibling = crate::store::find_child(&tx, parent, name)?;
        let props: Vec<&TaggedVal> = imp
            .props
            .iter()
            .filter(|p| {
                ![
                    PR_SOURCE_KEY,
                    PR_PARENT_SOURCE_KEY,
                    PR_CHANGE_KEY,
                    PR_PREDECESSOR_CHANGE_LIST,
                    PR_DISPLAY_NAME,
                ]
                .iter()
                .any(|t| t.id() == p.tag.id())
            })
            .collect();
        let (fid, outcome) = match self.find_folder_sk(&tx, &sk)? {
            Some(fid) => {
                let cn: i64 = tx.query_row(
                    "SELECT change_number FROM folders WHERE folder_id=?1",
                    [fid as i64],
                    |r| r.get(0),
                )?;
                let (sck, spcl) = self.server_version(&tx, Obj::Folder(fid), cn as u64)?;
                match compare_versions(&client_pcl, &sck, &spcl) {
                    Version::ServerNewerOrSame => return Ok(ImportOutcome::Ignored(fid)),
                    Version::Conflict => return Ok(ImportOutcome::Conflict(fid)),
                    Version::ClientNewer => {}
                }
                if sibling.is_some_and(|s| s != fid) {
                    return Err(Error::NameConflict(name.to_owned()));
                }
                let cur: Option<i64> =
                    tx.query_row("SELECT parent_id FROM folders WHERE folder_id=?1", [fid as i64], |r| {
                        r.get(0)
                    })?;
                if cur != Some(parent as i64) {
                    // Refuse moving a folder below itself.
                    let mut p = Some(parent);
                    while let Some(x) = p {
                        if x == fid {
                            return Err(Error::InvalidArgument("folder moved below itself"));
                        }
                        p = tx
                            .query_row("SELECT parent_id FROM folders WHERE folder_id=?1", [x as i64], |r| {
                                r.get::<_, Option<i64>>(0)
                            })
                            .optional()?
                            .flatten()
                            .map(|v| v as u64);
                    }
                    tx.exec(
                        "UPDATE folders SET parent_id=?1 WHERE folder_id=?2",
                        params![parent as i64, fid as i64],
                    )?;
                }
                (fid, ImportOutcome::Updated(fid))
            }
            None => {
                if sibling.is_some() {
                    return Err(Error::NameConflict(name.to_owned()));
                }
                let (fid, keep_sk) = match self.claimable_id(&tx, &sk)? {
                    Some(id) => (id, false),
                    None => (Store::next_store_eid(&tx)?, true),
                };
                create_folder_row(&tx, g, fid, Some(parent), name, None, now_filetime())?;
                if keep_sk {
                    put_prop_tx(
                        &tx,
                        self.dir(),
                        self.durability,
                        Obj::Folder(fid),
                        &TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(sk.to_bytes())),
                    )?;
                }
                (fid, ImportOutcome::Created(fid))
            }
        };
        put_prop_tx(
            &tx,
            self.dir(),
            self.durability,
            Obj::Folder(fid),
            &TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode(name.to_owned())),
        )?;
        for p in props {
            put_prop_tx(&tx, self.dir(), self.durability, Obj::Folder(fid), p)?;
        }
        let cn = touch_folder_tx(&tx, self.dir(), self.durability, g, fid)?;
        if client_ck.is_some() {
            stamp_change(
                &tx,
                self.dir(),
                self.durability,
                g,
                Obj::Folder(fid),
                cn,
                client_ck,
                Some(client_pcl),
            )?;
        }
        tx.commit()?;
        self.notifier.emit(match outcome {
            ImportOutcome::Created(_) => Event::FolderCreated { folder: fid, parent },
            _ => Event::FolderModified { folder: fid },
        });
        if let Some(s) = state {
            s.given.insert(g, fid);
            s.seen.insert(g, cn);
        }
        Ok(outcome)
    }

    /// Imports folder deletions (RopSynchronizationImportDeletes with the hierarchy flag) by
    /// source key, soft or hard; unknown keys are skipped. Returns how many were deleted.
    pub fn import_folder_deletions(
        &mut self,
        source_keys: &[&[u8]],
        hard: bool,
        state: Option<&mut SyncState>,
    ) -> Result<usize> {
        let mut fids = Vec::new();
        for sk in source_keys {
            let sk = parse_xid(sk, "source key")?;
            if let Some(f) = self.find_folder_sk(&self.conn, &sk)? {
                fids.push(f);
            }
        }
        for f in &fids {
            self.delete_folder(*f, hard)?;
        }
        if let Some(s) = state {
            let g = self.guid();
            for f in &fids {
                s.given.remove(&g, *f);
            }
        }
        Ok(fids.len())
    }
}
