//! The store: opening and creating `exchange.sqlite3`, ids, properties, folders.
//!
//! Change tracking: every change number a folder or message takes comes with a new
//! PR_CHANGE_KEY merged into its PR_PREDECESSOR_CHANGE_LIST (`stamp_change`); folder property
//! changes and moves take one (`touch_folder_tx`). ICS ([`crate::ics`]) relies on both.

use crate::cid;
use crate::error::{Error, Result};
use crate::layout::{self, fid};
use crate::notify::{Event, Notifier};
use crate::schema::{self, cfg, Durability};
use gromox_mapi::sqlcodec::{self, SqlValue};
use gromox_mapi::tags::*;
use gromox_mapi::time::now_filetime;
use gromox_mapi::{Guid, PropName, PropTag, PropVal, TaggedVal};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `execute` through the connection's statement cache (hot paths prepare each SQL once).
pub(crate) trait ExecCached {
    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize>;
}

impl ExecCached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }
}

/// Whether the database has a table of that name.
pub(crate) fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1)")?
        .query_row([name], |r| r.get(0))
}

/// Size of the id ranges taken from `allocated_eids` (per folder for messages, and for the
/// store-wide folder/embedded-message counter).
pub const EID_RANGE: u64 = 0x10000;

/// Options for opening a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub durability: Durability,
    /// WAL checkpoints are run by the owner of the store (exmdbd's [`crate::cache::StoreCache::checkpoint`]
    /// on its maintenance thread) instead of inside a committing write: the connection's
    /// automatic checkpoint is raised to a backstop of [`crate::schema::WAL_BACKSTOP_PAGES`]
    /// pages, so a delivery never waits for a checkpoint's page copy and fsync.
    pub background_checkpoint: bool,
}

/// Which object table a property row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Store,
    Folder(u64),
    Message(u64),
    Recipient(u64),
    Attachment(u64),
}

impl Obj {
    fn table(self) -> (&'static str, &'static str, i64) {
        match self {
            Obj::Store => ("store_properties", "0", 0),
            Obj::Folder(i) => ("folder_properties", "folder_id", i as i64),
            Obj::Message(i) => ("message_properties", "message_id", i as i64),
            Obj::Recipient(i) => ("recipients_properties", "recipient_id", i as i64),
            Obj::Attachment(i) => ("attachment_properties", "attachment_id", i as i64),
        }
    }
}

/// A folder as listed by [`Store::list_folders`].
#[derive(Debug, Clone, PartialEq)]
pub struct FolderInfo {
    pub id: u64,
    pub parent: Option<u64>,
    pub name: String,
    pub container_class: Option<String>,
    pub deleted: bool,
}

/// An open information store (one mailbox or one public store).
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) dir: PathBuf,
    pub(crate) private: bool,
    pub(crate) durability: Durability,
    pub(crate) notifier: Arc<Notifier>,
    guid: Guid,
    /// Folder states (`imapview::folder_state`) valid while the database is unchanged: keyed by
    /// (`PRAGMA data_version`, this connection's `total_changes`), which move with every commit
    /// of another connection and every change through this one.
    pub(crate) folder_states: std::cell::RefCell<FolderStateCache>,
    /// Search folder population and change capture ([`crate::search`]).
    pub(crate) search: crate::search::SearchState,
    /// Whether `messages` has the summary columns ([`schema::SUMMARY`]);
    /// a Gromox store not brought here by `-U` has not, and tables read properties instead.
    pub(crate) summary: bool,
}

/// See [`Store::folder_states`].
#[derive(Default)]
pub(crate) struct FolderStateCache {
    pub(crate) version: (i64, u64),
    pub(crate) states: std::collections::HashMap<u64, (u64, u64)>,
}

pub(crate) fn sql_of(v: &PropVal) -> Value {
    match sqlcodec::encode(v) {
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(r) => Value::Real(r),
        SqlValue::Text(t) => Value::Text(t),
        SqlValue::Blob(b) => Value::Blob(b),
    }
}

fn sqlvalue_of(v: ValueRef<'_>) -> Option<SqlValue> {
    Some(match v {
        ValueRef::Null => return None,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(r) => SqlValue::Real(r),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    })
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_guid() -> Guid {
    // Entropy from the hasher's random keys, the clock and the pid; GUIDs here only need to
    // be unique, not secret.
    use std::hash::{BuildHasher, Hasher};
    let mut b = [0u8; 16];
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now_filetime());
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    Guid::from_random(b)
}

pub(crate) fn cfg_get(conn: &Connection, id: i64) -> Result<i64> {
    let v: Option<Value> = conn
        .query_row(
            "SELECT config_value FROM configurations WHERE config_id=?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        Some(Value::Integer(i)) => Ok(i),
        Some(Value::Text(t)) => t.parse().map_err(|_| Error::Corrupt(format!("configuration {id}"))),
        _ => Ok(0),
    }
}

fn cfg_set(conn: &Connection, id: i64, v: &dyn rusqlite::ToSql) -> Result<()> {
    conn.exec(
        "REPLACE INTO configurations (config_id, config_value) VALUES (?1, ?2)",
        params![id, v],
    )?;
    Ok(())
}

impl Store {
    /// Path of the database inside a mailbox directory.
    pub fn db_path(maildir: &Path) -> PathBuf {
        maildir.join("exmdb").join("exchange.sqlite3")
    }

    /// Opens an existing store (Gromox 3.10 stores included).
    pub fn open(maildir: &Path, opts: &StoreOptions) -> Result<Store> {
        let p = Self::db_path(maildir);
        if !p.exists() {
            return Err(Error::NotFound("store database"));
        }
        let conn = Connection::open(&p)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::setup_connection(&conn, opts.durability)?;
        if opts.background_checkpoint {
            conn.pragma_update(None, "wal_autocheckpoint", schema::WAL_BACKSTOP_PAGES)?;
        }
        let private = table_exists(&conn, "receive_table")?;
        let ver = cfg_get(&conn, cfg::SCHEMA_VERSION)?;
        if ver != schema::SCHEMA_VERSION {
            return Err(Error::SchemaVersion(ver));
        }
        let gtxt: Option<String> = conn
            .query_row(
                "SELECT config_value FROM configurations WHERE config_id=?1",
                [cfg::MAILBOX_GUID],
                |r| r.get(0),
            )
            .optional()?;
        let guid = gtxt.and_then(|t| Guid::parse(&t).ok()).unwrap_or(Guid::NIL);
        let summary = schema::has_summary(&conn)?;
        let mut st = Store {
            conn,
            dir: maildir.to_path_buf(),
            private,
            durability: opts.durability,
            notifier: Arc::new(Notifier::default()),
            guid,
            folder_states: Default::default(),
            search: Default::default(),
            summary,
        };
        st.search_resume()?;
        Ok(st)
    }

    /// The mailbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Whether this is a private store.
    pub fn is_private(&self) -> bool {
        self.private
    }
    /// The mailbox GUID (namespace of change keys written here).
    pub fn guid(&self) -> Guid {
        self.guid
    }
    /// The notification hub of this store.
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }
    /// Uses a shared notifier (the store cache passes its own).
    pub fn set_notifier(&mut self, n: Arc<Notifier>) {
        self.notifier = n;
    }
    /// Raw connection for read-only inspection (mbck, tests).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Schema generation stored in `configurations`.
    pub fn schema_version(&self) -> Result<i64> {
        cfg_get(&self.conn, cfg::SCHEMA_VERSION)
    }

    /// Creates a store database with its directories (`exmdb/ cid/ eml/ ext/ tmp/`).
    fn create_common(maildir: &Path, force: bool, private: bool, opts: &StoreOptions) -> Result<Store> {
        let p = Self::db_path(maildir);
        if p.exists() {
            if !force {
                return Err(Error::Exists(p));
            }
            for suffix in ["", "-wal", "-shm"] {
                let f = PathBuf::from(format!("{}{suffix}", p.display()));
                if f.exists() {
                    std::fs::remove_file(f)?;
                }
            }
        }
        for d in ["exmdb", "cid", "eml", "ext", "tmp"] {
            std::fs::create_dir_all(maildir.join(d))?;
        }
        let conn = Connection::open(&p)?;
        // Page size of new stores; must precede the first write. Bigger pages pack the
        // ~1 KB inline compressed bodies with less slack (measured by benches/deliver.rs).
        conn.execute_batch(&format!("PRAGMA page_size={}", schema::PAGE_SIZE))?;
        schema::setup_connection(&conn, opts.durability)?;
        let guid = random_guid();
        {
            let tx = conn.unchecked_transaction()?;
            schema::create_tables(&tx, private)?;
            cfg_set(&tx, cfg::MAILBOX_GUID, &guid.to_string())?;
            cfg_set(&tx, cfg::CURRENT_EID, &(fid::FIRST_CUSTOM as i64))?;
            cfg_set(&tx, cfg::MAXIMUM_EID, &(EID_RANGE as i64 - 1))?;
            cfg_set(&tx, cfg::LAST_CHANGE_NUMBER, &0i64)?;
            cfg_set(&tx, cfg::LAST_CID, &0i64)?;
            cfg_set(&tx, cfg::LAST_ARTICLE_NUMBER, &0i64)?;
            cfg_set(&tx, cfg::SEARCH_STATE, &0i64)?;
            cfg_set(&tx, cfg::DEFAULT_PERMISSION, &(if private { 0i64 } else { 0x41b }))?;
            cfg_set(&tx, cfg::ANONYMOUS_PERMISSION, &0i64)?;
            cfg_set(&tx, cfg::SCHEMA_VERSION, &schema::SCHEMA_VERSION)?;
            cfg_set(&tx, cfg::MAPPING_SIGNATURE, &random_guid().to_string())?;
            // The first range (ids 1..0xffff) holds the fixed folder ids and new folder ids.
            tx.exec(
                "INSERT INTO allocated_eids (range_begin, range_end, allocate_time, is_system) VALUES (1, ?1, ?2, 1)",
                params![EID_RANGE as i64 - 1, now_unix()],
            )?;
            tx.commit()?;
        }
        Ok(Store {
            conn,
            dir: maildir.to_path_buf(),
            private,
            durability: opts.durability,
            notifier: Arc::new(Notifier::default()),
            guid,
            folder_states: Default::default(),
            search: Default::default(),
            summary: true,
        })
    }

    /// Creates a private mailbox for `user` with the default folder tree in language `lang`
    /// (`gromox-mkprivate`).
    pub fn create_private(maildir: &Path, user: &str, lang: &str, force: bool, opts: &StoreOptions) -> Result<Store> {
        let mut st = Self::create_common(maildir, force, true, opts)?;
        let now = now_filetime();
        let tx = st.conn.transaction()?;
        for f in layout::PRIVATE_TREE {
            create_folder_row(
                &tx,
                st.guid,
                f.id,
                f.parent,
                layout::folder_name(f.name, lang),
                f.container_class,
                now,
            )?;
            if f.hidden {
                put_prop_tx(
                    &tx,
                    &st.dir,
                    st.durability,
                    Obj::Folder(f.id),
                    &TaggedVal::new(PR_ATTR_HIDDEN, PropVal::Boolean(true)),
                )?;
            }
        }
        for (class, f) in layout::RECEIVE_TABLE {
            tx.exec(
                "INSERT INTO receive_table (class, folder_id, modified_time) VALUES (?1, ?2, ?3)",
                params![class, *f as i64, now as i64],
            )?;
        }
        tx.exec(
            "INSERT INTO permissions (folder_id, username, permission) VALUES (?1, 'default', ?2)",
            params![
                fid::CALENDAR as i64,
                (gromox_mapi::tags::frights::FREEBUSY_SIMPLE | gromox_mapi::tags::frights::VISIBLE) as i64
            ],
        )?;
        tx.exec(
            "INSERT INTO permissions (folder_id, username, permission) VALUES (?1, 'default', ?2)",
            params![
                fid::LOCAL_FREEBUSY as i64,
                gromox_mapi::tags::frights::FREEBUSY_SIMPLE as i64
            ],
        )?;
        let sp: Vec<TaggedVal> = vec![
            TaggedVal::new(PR_CREATION_TIME, PropVal::SysTime(now)),
            TaggedVal::new(PR_OOF_STATE, PropVal::Boolean(false)),
            TaggedVal::new(PR_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_NORMAL_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_ASSOC_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode(user.to_owned())),
        ];
        for p in &sp {
            put_prop_tx(&tx, &st.dir, st.durability, Obj::Store, p)?;
        }
        tx.commit()?;
        Ok(st)
    }

    /// Creates a public store for `domain` (`gromox-mkpublic`).
    pub fn create_public(dir: &Path, domain: &str, force: bool, opts: &StoreOptions) -> Result<Store> {
        let mut st = Self::create_common(dir, force, false, opts)?;
        let now = now_filetime();
        let tx = st.conn.transaction()?;
        for f in layout::PUBLIC_TREE {
            create_folder_row(&tx, st.guid, f.id, f.parent, f.name, f.container_class, now)?;
        }
        for p in [
            TaggedVal::new(PR_CREATION_TIME, PropVal::SysTime(now)),
            TaggedVal::new(PR_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_NORMAL_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_ASSOC_MESSAGE_SIZE_EXTENDED, PropVal::I8(0)),
            TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode(domain.to_owned())),
        ] {
            put_prop_tx(&tx, &st.dir, st.durability, Obj::Store, &p)?;
        }
        tx.commit()?;
        Ok(st)
    }

    /// `-U`: brings an existing store to this implementation's layout ([`schema::upgrade`]:
    /// missing tables, columns and indexes of generation 27, clustered property tables) and
    /// returns the steps taken (empty when it already was).
    pub fn upgrade(maildir: &Path, opts: &StoreOptions) -> Result<Vec<String>> {
        let p = Self::db_path(maildir);
        if !p.exists() {
            return Err(Error::NotFound("store database"));
        }
        let conn = Connection::open(p)?;
        schema::setup_connection(&conn, opts.durability)?;
        let v = cfg_get(&conn, cfg::SCHEMA_VERSION)?;
        // Only public stores have per-user read states.
        let private = table_exists(&conn, "receive_table")? || !table_exists(&conn, "read_states")?;
        schema::upgrade(&conn, private, v)
    }

    // ----- properties -----

    /// All properties of an object, content files resolved.
    pub fn get_props(&self, obj: Obj) -> Result<Vec<TaggedVal>> {
        get_props_conn(&self.conn, &self.dir, obj)
    }

    /// One property.
    pub fn get_prop(&self, obj: Obj, tag: PropTag) -> Result<Option<PropVal>> {
        get_prop_conn(&self.conn, &self.dir, obj, tag)
    }

    /// Sets properties of an object in one transaction.
    pub fn set_props(&mut self, obj: Obj, props: &[TaggedVal]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for p in props {
            put_prop_tx(&tx, &self.dir, self.durability, obj, p)?;
        }
        if let Obj::Message(m) = obj {
            if self.summary && props.iter().any(|p| schema::is_summary_tag(p.tag.0)) {
                schema::summary_refresh(&tx, m as i64)?;
            }
        }
        if let Obj::Folder(f) = obj {
            touch_folder_tx(&tx, &self.dir, self.durability, self.guid, f)?;
        }
        let parent: Option<i64> = match obj {
            Obj::Message(m) => tx
                .query_row("SELECT parent_fid FROM messages WHERE message_id=?1", [m as i64], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten(),
            _ => None,
        };
        tx.commit()?;
        match obj {
            Obj::Folder(f) => self.notifier.emit(Event::FolderModified { folder: f }),
            Obj::Message(m) => {
                if let Some(f) = parent {
                    self.notifier.emit(Event::MessageModified {
                        folder: f as u64,
                        message: m,
                    })
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Removes properties of an object.
    pub fn remove_props(&mut self, obj: Obj, tags: &[PropTag]) -> Result<()> {
        let (t, col, id) = obj.table();
        let tx = self.conn.transaction()?;
        for tag in tags {
            tx.exec(
                &format!("DELETE FROM {t} WHERE {col}=?1 AND proptag=?2"),
                params![id, tag.0 as i64],
            )?;
        }
        if let Obj::Message(m) = obj {
            if self.summary && tags.iter().any(|t| schema::is_summary_tag(t.0)) {
                schema::summary_refresh(&tx, m as i64)?;
            }
        }
        if let Obj::Folder(f) = obj {
            touch_folder_tx(&tx, &self.dir, self.durability, self.guid, f)?;
        }
        tx.commit()?;
        Ok(())
    }

    // ----- named properties -----

    /// The property id of a named property (0x8001..), created on demand when `create`
    /// (MS-OXCPRPT §3.2.5.8 RopGetPropertyIdsFromNames).
    ///
    /// Names in the PS_MAPI property set are not named properties at all: a LID below 0x8000
    /// *is* the property id (MS-OXPROPS §1.3.2, MS-OXCPRPT §3.2.5.8), so it is answered without
    /// a `named_properties` row; a PS_MAPI string name, or a LID outside 0x0001..=0x7FFF, has
    /// no id and is never created.
    pub fn get_named_propid(&mut self, name: &PropName, create: bool) -> Result<Option<u16>> {
        if name.guid == gromox_mapi::named::PS_MAPI {
            return Ok(match name.kind {
                gromox_mapi::named::PropNameKind::Lid(l) if (1..0x8000).contains(&l) => Some(l as u16),
                _ => None,
            });
        }
        let s = name.to_name_string();
        let id: Option<i64> = self
            .conn
            .query_row("SELECT propid FROM named_properties WHERE name_string=?1", [&s], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = id {
            return Ok(u16::try_from(id).ok());
        }
        if !create {
            return Ok(None);
        }
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(propid) FROM named_properties", [], |r| r.get(0))?;
        let next = max.map_or(0x8001, |m| m + 1).max(0x8001);
        if next > 0xFFFE {
            return Err(Error::InvalidArgument("named property ids exhausted"));
        }
        self.conn.exec(
            "INSERT INTO named_properties (propid, name_string) VALUES (?1, ?2)",
            params![next, s],
        )?;
        Ok(Some(next as u16))
    }

    /// The name of a property id (MS-OXCPRPT §3.2.5.7 RopGetNamesFromPropertyIds): ids below
    /// 0x8000 are named in the PS_MAPI set by their own value as LID; ids from 0x8000 come from
    /// `named_properties`.
    pub fn get_propname(&self, id: u16) -> Result<Option<PropName>> {
        if id == 0 {
            return Ok(None);
        }
        if id < 0x8000 {
            return Ok(Some(PropName::lid(gromox_mapi::named::PS_MAPI, u32::from(id))));
        }
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT name_string FROM named_properties WHERE propid=?1",
                [id as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.and_then(|s| PropName::parse_name_string(&s).ok()))
    }

    // ----- ids -----

    /// A new change number.
    pub(crate) fn next_cn(tx: &Connection) -> Result<u64> {
        let v = cfg_get(tx, cfg::LAST_CHANGE_NUMBER)? + 1;
        cfg_set(tx, cfg::LAST_CHANGE_NUMBER, &v)?;
        Ok(v as u64)
    }

    /// Takes the next free range of `EID_RANGE` ids from `allocated_eids`.
    pub(crate) fn alloc_range(tx: &Connection) -> Result<(u64, u64)> {
        let max: Option<i64> = tx.query_row("SELECT MAX(range_end) FROM allocated_eids", [], |r| r.get(0))?;
        let begin = max.unwrap_or(0) as u64 + 1;
        let end = begin + EID_RANGE - 1;
        if end > gromox_mapi::ids::GC_MAX {
            return Err(Error::Corrupt("global counter exhausted".into()));
        }
        tx.exec(
            "INSERT INTO allocated_eids (range_begin, range_end, allocate_time, is_system) VALUES (?1, ?2, ?3, NULL)",
            params![begin as i64, end as i64, now_unix()],
        )?;
        Ok((begin, end))
    }

    /// Reserves `count` ids for a client (RopGetLocalReplicaIds, MS-OXCFXICS §2.2.3.2.4.7):
    /// a range of `allocated_eids` marked `is_system = 2` that no folder or store counter hands
    /// out; ICS imports may create objects with ids from it (see [`crate::ics`]). Returns the
    /// first and last global counter of the range.
    pub fn reserve_ids(&mut self, count: u32) -> Result<(u64, u64)> {
        if count == 0 {
            return Err(Error::InvalidArgument("zero ids reserved"));
        }
        let tx = self.conn.transaction()?;
        let max: Option<i64> = tx.query_row("SELECT MAX(range_end) FROM allocated_eids", [], |r| r.get(0))?;
        let begin = max.unwrap_or(0) as u64 + 1;
        let end = begin + u64::from(count) - 1;
        if end > gromox_mapi::ids::GC_MAX {
            return Err(Error::Corrupt("global counter exhausted".into()));
        }
        tx.exec(
            "INSERT INTO allocated_eids (range_begin, range_end, allocate_time, is_system) VALUES (?1, ?2, ?3, 2)",
            params![begin as i64, end as i64, now_unix()],
        )?;
        tx.commit()?;
        Ok((begin, end))
    }

    /// Whether `gc` lies in a range reserved by [`Store::reserve_ids`].
    pub(crate) fn is_reserved_id(c: &Connection, gc: u64) -> Result<bool> {
        Ok(c.prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM allocated_eids WHERE is_system=2 AND range_begin<=?1 AND range_end>=?1)",
        )?
        .query_row([gc as i64], |r| r.get(0))?)
    }

    /// A new store-wide id (new folders, embedded messages).
    pub(crate) fn next_store_eid(tx: &Connection) -> Result<u64> {
        let mut cur = cfg_get(tx, cfg::CURRENT_EID)? as u64;
        let max = cfg_get(tx, cfg::MAXIMUM_EID)? as u64;
        if cur > max || cur == 0 {
            let (b, e) = Self::alloc_range(tx)?;
            cur = b;
            cfg_set(tx, cfg::MAXIMUM_EID, &(e as i64))?;
        }
        // Skip ids already taken (e.g. a store where fixed ids and counter overlap).
        loop {
            let used: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM folders WHERE folder_id=?1) OR EXISTS(SELECT 1 FROM messages WHERE message_id=?1)",
                [cur as i64],
                |r| r.get(0),
            )?;
            if !used {
                break;
            }
            cur += 1;
        }
        cfg_set(tx, cfg::CURRENT_EID, &(cur as i64 + 1))?;
        Ok(cur)
    }

    /// A new message id from the folder's range, taking a new range when it is used up.
    pub(crate) fn next_message_id(tx: &Connection, folder: u64) -> Result<u64> {
        let (cur, max): (i64, i64) = tx
            .query_row(
                "SELECT cur_eid, max_eid FROM folders WHERE folder_id=?1",
                [folder as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(Error::NotFound("folder"))?;
        let (mut cur, mut max) = (cur as u64, max as u64);
        if cur == 0 || cur > max {
            let (b, e) = Self::alloc_range(tx)?;
            cur = b;
            max = e;
        }
        tx.exec(
            "UPDATE folders SET cur_eid=?1, max_eid=?2 WHERE folder_id=?3",
            params![cur as i64 + 1, max as i64, folder as i64],
        )?;
        Ok(cur)
    }

    /// The store's mapping signature (PR_MAPPING_SIGNATURE): the ProviderUID of its folder and
    /// message entry ids (MS-OXCDATA §2.2.4.1). NIL when the store has none.
    pub fn mapping_signature(&self) -> Result<Guid> {
        let t: Option<String> = self
            .conn
            .query_row(
                "SELECT config_value FROM configurations WHERE config_id=?1",
                [cfg::MAPPING_SIGNATURE],
                |r| r.get(0),
            )
            .optional()?;
        Ok(t.and_then(|t| Guid::parse(&t).ok()).unwrap_or(Guid::NIL))
    }

    /// The entry id of folder `fid` of this store (MS-OXCDATA §2.2.4.1).
    pub fn folder_entry_id(&self, fid: u64) -> Result<Vec<u8>> {
        use gromox_mapi::entryid::{FolderEntryId, EITLT_PRIVATE_FOLDER, EITLT_PUBLIC_FOLDER};
        Ok(FolderEntryId {
            provider_uid: self.mapping_signature()?,
            folder_type: if self.private {
                EITLT_PRIVATE_FOLDER
            } else {
                EITLT_PUBLIC_FOLDER
            },
            database_guid: self.guid,
            gc: fid,
        }
        .to_bytes())
    }

    /// The entry id of message `mid` in folder `fid` of this store (MS-OXCDATA §2.2.4.2).
    pub fn message_entry_id(&self, fid: u64, mid: u64) -> Result<Vec<u8>> {
        use gromox_mapi::entryid::{MessageEntryId, EITLT_PRIVATE_MESSAGE, EITLT_PUBLIC_MESSAGE};
        Ok(MessageEntryId {
            provider_uid: self.mapping_signature()?,
            message_type: if self.private {
                EITLT_PRIVATE_MESSAGE
            } else {
                EITLT_PUBLIC_MESSAGE
            },
            folder_database_guid: self.guid,
            folder_gc: fid,
            message_database_guid: self.guid,
            message_gc: mid,
        }
        .to_bytes())
    }

    /// The replica id of a GUID in `replguidmap` (1 is the store itself), registered on demand.
    pub fn replid_for(&mut self, g: &Guid) -> Result<u16> {
        if *g == self.guid {
            return Ok(1);
        }
        let s = g.to_string();
        let r: Option<i64> = self
            .conn
            .query_row("SELECT replid FROM replguidmap WHERE replguid=?1", [&s], |r| r.get(0))
            .optional()?;
        let id = match r {
            Some(r) => r,
            None => {
                let max: Option<i64> = self
                    .conn
                    .query_row("SELECT MAX(replid) FROM replguidmap", [], |r| r.get(0))?;
                let next = max.unwrap_or(5).max(5) + 1; // ids 1..5 are reserved
                self.conn.exec(
                    "INSERT INTO replguidmap (replid, replguid) VALUES (?1, ?2)",
                    params![next, s],
                )?;
                next
            }
        };
        u16::try_from(id).map_err(|_| Error::Corrupt("replica id out of range".into()))
    }

    // ----- folders -----

    /// Every folder (soft-deleted ones flagged).
    pub fn list_folders(&self) -> Result<Vec<FolderInfo>> {
        let mut st = self.conn.prepare(
            "SELECT f.folder_id, f.parent_id, f.is_deleted, \
             (SELECT propval FROM folder_properties p WHERE p.folder_id=f.folder_id AND p.proptag=?1), \
             (SELECT propval FROM folder_properties p WHERE p.folder_id=f.folder_id AND p.proptag=?2) \
             FROM folders f ORDER BY f.folder_id",
        )?;
        let rows = st.query_map(params![PR_DISPLAY_NAME.0 as i64, PR_CONTAINER_CLASS.0 as i64], |r| {
            Ok(FolderInfo {
                id: r.get::<_, i64>(0)? as u64,
                parent: r.get::<_, Option<i64>>(1)?.map(|p| p as u64),
                deleted: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
                name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                container_class: r.get::<_, Option<String>>(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The child folder of `parent` named `name` (case-insensitive), if any.
    pub fn find_folder(&self, parent: u64, name: &str) -> Result<Option<u64>> {
        find_child(&self.conn, parent, name)
    }

    /// Creates a folder; a sibling with the same name is a [`Error::NameConflict`].
    pub fn create_folder(&mut self, parent: u64, name: &str, container_class: Option<&str>) -> Result<u64> {
        if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidName(name.to_owned()));
        }
        let tx = self.conn.transaction()?;
        if !folder_exists(&tx, parent)? {
            return Err(Error::NotFound("parent folder"));
        }
        if find_child(&tx, parent, name)?.is_some() {
            return Err(Error::NameConflict(name.to_owned()));
        }
        let id = Self::next_store_eid(&tx)?;
        create_folder_row(&tx, self.guid, id, Some(parent), name, container_class, now_filetime())?;
        tx.commit()?;
        self.notifier.emit(Event::FolderCreated { folder: id, parent });
        Ok(id)
    }

    /// Gromox `set_folder_properties` (MS-OXCPRPT §3.2.5.3 RopSetProperties on a folder), in
    /// one transaction with a new change number. Store-maintained tags (ids, change tracking,
    /// computed counts) are skipped; a new PR_DISPLAY_NAME is checked like a rename: a valid
    /// name, no live sibling of that name ([`Error::NameConflict`]), and the default folders of
    /// a private store keep theirs ([`Error::AccessDenied`]).
    pub fn set_folder_props(&mut self, folder: u64, props: &[TaggedVal]) -> Result<()> {
        let tx = self.conn.transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        if let Some(p) = props.iter().find(|p| p.tag.id() == PR_DISPLAY_NAME.id()) {
            let name = p
                .val
                .as_str()
                .ok_or(Error::InvalidArgument("folder name of a non-string type"))?;
            if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) {
                return Err(Error::InvalidName(name.to_owned()));
            }
            let current: Option<String> = get_prop_conn(&tx, &self.dir, Obj::Folder(folder), PR_DISPLAY_NAME)?
                .and_then(|v| v.as_str().map(str::to_owned));
            if current.as_deref() != Some(name) {
                if folder < fid::FIRST_CUSTOM && self.private {
                    return Err(Error::AccessDenied);
                }
                let parent: Option<i64> = tx.query_row(
                    "SELECT parent_id FROM folders WHERE folder_id=?1",
                    [folder as i64],
                    |r| r.get(0),
                )?;
                if let Some(other) = parent.map(|p| find_child(&tx, p as u64, name)).transpose()?.flatten() {
                    if other != folder {
                        return Err(Error::NameConflict(name.to_owned()));
                    }
                }
            }
        }
        for p in props.iter().filter(|p| folder_settable(p.tag)) {
            let p = if p.tag.id() == PR_DISPLAY_NAME.id() {
                // Stored as Unicode whatever string type the client used.
                TaggedVal::new(
                    PR_DISPLAY_NAME,
                    PropVal::Unicode(p.val.as_str().unwrap_or_default().to_owned()),
                )
            } else {
                p.clone()
            };
            put_prop_tx(&tx, &self.dir, self.durability, Obj::Folder(folder), &p)?;
        }
        let cn = Self::next_cn(&tx)?;
        tx.exec(
            "UPDATE folders SET change_number=?1 WHERE folder_id=?2",
            params![cn as i64, folder as i64],
        )?;
        tx.commit()?;
        self.notifier.emit(Event::FolderModified { folder });
        Ok(())
    }

    /// Gromox `remove_folder_properties` (MS-OXCPRPT §3.2.5.5 RopDeleteProperties on a folder):
    /// PR_DISPLAY_NAME (a folder always has a name) and store-maintained tags are kept.
    pub fn remove_folder_props(&mut self, folder: u64, tags: &[PropTag]) -> Result<()> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let tags: Vec<PropTag> = tags
            .iter()
            .copied()
            .filter(|t| folder_settable(*t) && t.id() != PR_DISPLAY_NAME.id())
            .collect();
        self.remove_props(Obj::Folder(folder), &tags)?;
        self.notifier.emit(Event::FolderModified { folder });
        Ok(())
    }

    /// Moves a folder under a new parent (refusing cycles and name conflicts).
    pub fn move_folder(&mut self, folder: u64, new_parent: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        if in_subtree(&tx, folder, new_parent)? {
            return Err(Error::InvalidArgument("folder moved below itself"));
        }
        let name: String = get_prop_conn(&tx, &self.dir, Obj::Folder(folder), PR_DISPLAY_NAME)?
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if find_child(&tx, new_parent, &name)?.is_some() {
            return Err(Error::NameConflict(name));
        }
        let old: Option<i64> = tx.query_row(
            "SELECT parent_id FROM folders WHERE folder_id=?1",
            [folder as i64],
            |r| r.get(0),
        )?;
        let cn = Self::next_cn(&tx)?;
        tx.exec(
            "UPDATE folders SET parent_id=?1, change_number=?2 WHERE folder_id=?3",
            params![new_parent as i64, cn as i64, folder as i64],
        )?;
        stamp_change(
            &tx,
            &self.dir,
            self.durability,
            self.guid,
            Obj::Folder(folder),
            cn,
            None,
            None,
        )?;
        tx.commit()?;
        self.notifier.emit(Event::FolderMoved {
            folder,
            from: old.map(|v| v as u64).unwrap_or(0),
            to: new_parent,
        });
        Ok(())
    }

    /// Deletes a folder: soft (flagged, restorable until purge) or hard (rows removed,
    /// subfolders and messages with it).
    pub fn delete_folder(&mut self, folder: u64, hard: bool) -> Result<()> {
        if folder < fid::FIRST_CUSTOM && self.private {
            return Err(Error::AccessDenied);
        }
        let tx = self.conn.transaction()?;
        if hard {
            tx.exec("DELETE FROM folders WHERE folder_id=?1", [folder as i64])?;
        } else {
            tx.exec("UPDATE folders SET is_deleted=1 WHERE folder_id=?1", [folder as i64])?;
        }
        crate::message::recompute_store_size(&tx)?;
        tx.commit()?;
        self.sync_search_triggers()?;
        self.notifier.emit(Event::FolderDeleted { folder });
        Ok(())
    }

    /// Removes the normal messages of a folder (soft or hard), keeping the folder, its
    /// associated (FAI) messages and its subfolders: MS-OXCFOLD §3.2.5.9 RopEmptyFolder
    /// without WantDeleteAssociated (subfolders are left to RopDeleteFolder).
    pub fn empty_folder(&mut self, folder: u64, hard: bool) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let n = if hard {
            tx.exec(
                "DELETE FROM messages WHERE parent_fid=?1 AND is_associated=0",
                [folder as i64],
            )?
        } else {
            tx.exec(
                "UPDATE messages SET is_deleted=1 WHERE parent_fid=?1 AND is_deleted=0 AND is_associated=0",
                [folder as i64],
            )?
        };
        crate::message::recompute_store_size(&tx)?;
        tx.commit()?;
        self.notifier.emit(Event::FolderModified { folder });
        Ok(n)
    }

    /// Folder for a message class from the receive table (longest matching prefix, as
    /// MS-OXCSTOR §3.2.5.2 describes for RopGetReceiveFolder).
    pub fn receive_folder(&self, class: &str) -> Result<u64> {
        let mut st = self.conn.prepare("SELECT class, folder_id FROM receive_table")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let cl = class.to_ascii_lowercase();
        let mut best: Option<(usize, u64)> = None;
        for r in rows {
            let (c, f) = r?;
            let c = c.to_ascii_lowercase();
            let hit = c.is_empty() || cl == c || cl.starts_with(&format!("{c}."));
            if hit && best.is_none_or(|(l, _)| c.len() > l) {
                best = Some((c.len(), f as u64));
            }
        }
        best.map(|b| b.1).ok_or(Error::NotFound("receive folder"))
    }

    /// Sets the receive folder for a message class.
    pub fn set_receive_folder(&mut self, class: &str, folder: u64) -> Result<()> {
        self.conn.exec(
            "REPLACE INTO receive_table (class, folder_id, modified_time) VALUES (?1, ?2, ?3)",
            params![class, folder as i64, now_filetime() as i64],
        )?;
        Ok(())
    }
}

/// Whether a client may set or remove `tag` on a folder: not one the store maintains (ids,
/// change tracking, computed counts), compared by property id.
fn folder_settable(tag: PropTag) -> bool {
    ![
        PR_FID,
        PR_PARENT_FID,
        PR_CHANGE_NUMBER,
        PR_CHANGE_KEY,
        PR_PREDECESSOR_CHANGE_LIST,
        PR_CONTENT_COUNT,
        PR_SUBFOLDERS,
        PR_ENTRYID,
        PR_PARENT_ENTRYID,
        PR_SOURCE_KEY,
        PR_PARENT_SOURCE_KEY,
        PR_RECORD_KEY,
    ]
    .iter()
    .any(|t| t.id() == tag.id())
}

pub(crate) fn folder_exists(c: &Connection, f: u64) -> Result<bool> {
    Ok(c.query_row(
        "SELECT 1 FROM folders WHERE folder_id=?1 AND is_deleted=0",
        [f as i64],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// Whether `dest` is `folder` or one of its descendants (following `dest`'s parents; a
/// damaged parent chain that loops ends the walk).
pub(crate) fn in_subtree(c: &Connection, folder: u64, dest: u64) -> Result<bool> {
    let mut st = c.prepare_cached("SELECT parent_id FROM folders WHERE folder_id=?1")?;
    let (mut p, mut steps) = (Some(dest), 0);
    while let Some(x) = p {
        if x == folder {
            return Ok(true);
        }
        steps += 1;
        if steps > 4096 {
            break;
        }
        p = st
            .query_row([x as i64], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
            .map(|v| v as u64);
    }
    Ok(false)
}

pub(crate) fn find_child(c: &Connection, parent: u64, name: &str) -> Result<Option<u64>> {
    let r: Option<i64> = c
        .query_row(
            "SELECT f.folder_id FROM folders f JOIN folder_properties p ON p.folder_id=f.folder_id \
             WHERE f.parent_id=?1 AND f.is_deleted=0 AND p.proptag=?2 AND p.propval=?3 COLLATE NOCASE",
            params![parent as i64, PR_DISPLAY_NAME.0 as i64, name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(r.map(|v| v as u64))
}

pub(crate) fn create_folder_row(
    tx: &Transaction<'_>,
    guid: Guid,
    id: u64,
    parent: Option<u64>,
    name: &str,
    cc: Option<&str>,
    now: u64,
) -> Result<()> {
    let cn = Store::next_cn(tx)?;
    let (b, e) = Store::alloc_range(tx)?;
    let private = table_exists(tx, "receive_table")?;
    if private {
        tx.exec(
            "INSERT INTO folders (folder_id, parent_id, change_number, is_search, cur_eid, max_eid, is_deleted) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5, 0)",
            params![id as i64, parent.map(|p| p as i64), cn as i64, b as i64, e as i64],
        )?;
    } else {
        tx.exec(
            "INSERT INTO folders (folder_id, parent_id, change_number, is_deleted, cur_eid, max_eid) \
             VALUES (?1, ?2, ?3, 0, ?4, ?5)",
            params![id as i64, parent.map(|p| p as i64), cn as i64, b as i64, e as i64],
        )?;
    }
    let ck = gromox_mapi::ids::Xid::from_gc(guid, cn);
    let mut props = vec![
        TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode(name.to_owned())),
        TaggedVal::new(PR_COMMENT, PropVal::Unicode(String::new())),
        TaggedVal::new(PR_CREATION_TIME, PropVal::SysTime(now)),
        TaggedVal::new(PR_LAST_MODIFICATION_TIME, PropVal::SysTime(now)),
        TaggedVal::new(PR_LOCAL_COMMIT_TIME_MAX, PropVal::SysTime(now)),
        TaggedVal::new(PR_DELETED_COUNT_TOTAL, PropVal::I4(0)),
        TaggedVal::new(PR_HIERARCHY_CHANGE_NUM, PropVal::I4(0)),
        TaggedVal::new(PR_INTERNET_ARTICLE_NUMBER, PropVal::I4(1)),
        TaggedVal::new(PR_CHANGE_KEY, PropVal::Binary(ck.to_bytes())),
        TaggedVal::new(
            PR_PREDECESSOR_CHANGE_LIST,
            PropVal::Binary(gromox_mapi::ids::Pcl(vec![ck]).to_bytes()),
        ),
    ];
    if let Some(c) = cc {
        props.push(TaggedVal::new(PR_CONTAINER_CLASS, PropVal::Unicode(c.to_owned())));
    }
    for p in &props {
        let (t, col, _) = Obj::Folder(id).table();
        tx.exec(
            &format!("REPLACE INTO {t} ({col}, proptag, propval) VALUES (?1, ?2, ?3)"),
            params![id as i64, p.tag.0 as i64, sql_of(&p.val)],
        )?;
    }
    Ok(())
}

/// Records a change of a folder or message (MS-OXCFXICS §3.1.5.6): its PR_CHANGE_KEY
/// (§2.2.1.2.7) becomes `ck` (by default the store's XID of change number `cn`) and is merged into its
/// PR_PREDECESSOR_CHANGE_LIST (`pcl`, by default the stored one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn stamp_change(
    c: &Connection,
    dir: &Path,
    dur: Durability,
    guid: Guid,
    obj: Obj,
    cn: u64,
    ck: Option<gromox_mapi::ids::Xid>,
    pcl: Option<gromox_mapi::ids::Pcl>,
) -> Result<()> {
    use gromox_mapi::ids::{Pcl, Xid};
    let ck = ck.unwrap_or_else(|| Xid::from_gc(guid, cn));
    let mut pcl = match pcl {
        Some(p) => p,
        None => get_prop_conn(c, dir, obj, PR_PREDECESSOR_CHANGE_LIST)?
            .and_then(|v| v.as_bytes().and_then(|b| Pcl::parse(b).ok()))
            .unwrap_or_default(),
    };
    pcl.merge(ck.clone());
    put_prop_tx(
        c,
        dir,
        dur,
        obj,
        &TaggedVal::new(PR_CHANGE_KEY, PropVal::Binary(ck.to_bytes())),
    )?;
    put_prop_tx(
        c,
        dir,
        dur,
        obj,
        &TaggedVal::new(PR_PREDECESSOR_CHANGE_LIST, PropVal::Binary(pcl.to_bytes())),
    )
}

/// Gives a folder a new change number and change key (its properties or place changed), so
/// hierarchy synchronisation ([`crate::ics`]) sees it. Returns the change number.
pub(crate) fn touch_folder_tx(c: &Connection, dir: &Path, dur: Durability, guid: Guid, folder: u64) -> Result<u64> {
    let cn = Store::next_cn(c)?;
    if c.exec(
        "UPDATE folders SET change_number=?1 WHERE folder_id=?2",
        params![cn as i64, folder as i64],
    )? == 0
    {
        return Err(Error::NotFound("folder"));
    }
    stamp_change(c, dir, dur, guid, Obj::Folder(folder), cn, None, None)?;
    Ok(cn)
}

/// Writes one property row; content-file tags go to `cid/` first.
pub(crate) fn put_prop_tx(c: &Connection, dir: &Path, dur: Durability, obj: Obj, p: &TaggedVal) -> Result<()> {
    let (t, col, id) = obj.table();
    let val: Value = if cid::is_cid_tag(p.tag) {
        let bytes: &[u8] = match &p.val {
            PropVal::Unicode(s) | PropVal::String8(s) => s.as_bytes(),
            PropVal::Binary(b) => b,
            _ => return Err(Error::InvalidArgument("content property of unexpected type")),
        };
        if bytes.len() < cid::INLINE_MAX {
            Value::Blob(cid::compress(bytes)?)
        } else {
            Value::Text(cid::store(dir, "cid", 'Y', bytes, dur)?)
        }
    } else {
        sql_of(&p.val)
    };
    if obj == Obj::Store {
        c.exec(
            &format!("REPLACE INTO {t} (proptag, propval) VALUES (?1, ?2)"),
            params![p.tag.0 as i64, val],
        )?;
    } else {
        c.exec(
            &format!("REPLACE INTO {t} ({col}, proptag, propval) VALUES (?1, ?2, ?3)"),
            params![id, p.tag.0 as i64, val],
        )?;
    }
    Ok(())
}

pub(crate) fn decode_row(dir: &Path, tag: PropTag, v: ValueRef<'_>) -> Result<Option<TaggedVal>> {
    let Some(ty) = tag.ptype() else { return Ok(None) };
    if cid::is_cid_tag(tag) {
        if let ValueRef::Text(t) = v {
            let name = String::from_utf8_lossy(t);
            let data = cid::load(dir, "cid", &name)?;
            let val = match ty {
                gromox_mapi::PropType::Binary => PropVal::Binary(data),
                gromox_mapi::PropType::String8 => PropVal::String8(String::from_utf8_lossy(&data).into_owned()),
                _ => PropVal::Unicode(String::from_utf8_lossy(&data).into_owned()),
            };
            return Ok(Some(TaggedVal { tag, val }));
        }
        if let ValueRef::Blob(b) = v {
            let data = cid::decode(b)?;
            let val = match ty {
                gromox_mapi::PropType::Binary => PropVal::Binary(data),
                gromox_mapi::PropType::String8 => PropVal::String8(String::from_utf8_lossy(&data).into_owned()),
                _ => PropVal::Unicode(String::from_utf8_lossy(&data).into_owned()),
            };
            return Ok(Some(TaggedVal { tag, val }));
        }
    }
    let Some(sv) = sqlvalue_of(v) else { return Ok(None) };
    Ok(Some(TaggedVal {
        tag,
        val: sqlcodec::decode(ty, sv)?,
    }))
}

pub(crate) fn get_props_conn(c: &Connection, dir: &Path, obj: Obj) -> Result<Vec<TaggedVal>> {
    let (t, col, id) = obj.table();
    let sql = if obj == Obj::Store {
        format!("SELECT proptag, propval FROM {t} WHERE ?1=0")
    } else {
        format!("SELECT proptag, propval FROM {t} WHERE {col}=?1")
    };
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query([id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let tag = PropTag(r.get::<_, i64>(0)? as u32);
        if let Some(tv) = decode_row(dir, tag, r.get_ref(1)?)? {
            out.push(tv);
        }
    }
    Ok(out)
}

pub(crate) fn get_prop_conn(c: &Connection, dir: &Path, obj: Obj, tag: PropTag) -> Result<Option<PropVal>> {
    let (t, col, id) = obj.table();
    let sql = if obj == Obj::Store {
        format!("SELECT propval FROM {t} WHERE proptag=?2 AND ?1=0")
    } else {
        format!("SELECT propval FROM {t} WHERE {col}=?1 AND proptag=?2")
    };
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(params![id, tag.0 as i64])?;
    match rows.next()? {
        Some(r) => Ok(decode_row(dir, tag, r.get_ref(0)?)?.map(|t| t.val)),
        None => Ok(None),
    }
}

impl rusqlite::ToSql for Obj {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Integer(self.table().2)))
    }
}
