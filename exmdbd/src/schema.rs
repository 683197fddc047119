//! Table layout of `exchange.sqlite3` (Gromox schema generation 27) and the one function
//! that sets up every connection.
//!
//! Table and column names, types and keys follow what Gromox 3.10 creates (see
//! `gromox-schemas.md`), so that a Gromox store opens here and tools that know Gromox find
//! their way; the statements themselves are this project's.

use rusqlite::{Connection, OptionalExtension};

/// Schema generation written into `configurations` (config id 10).
pub const SCHEMA_VERSION: i64 = 27;

/// Page size of stores created here (Gromox uses SQLite's default, 4096; any size opens).
pub const PAGE_SIZE: u32 = 8192;

/// Configuration ids of the `configurations` table.
pub mod cfg {
    pub const MAILBOX_GUID: i64 = 1;
    pub const CURRENT_EID: i64 = 2;
    pub const MAXIMUM_EID: i64 = 3;
    pub const LAST_CHANGE_NUMBER: i64 = 4;
    pub const LAST_CID: i64 = 5;
    pub const LAST_ARTICLE_NUMBER: i64 = 6;
    pub const SEARCH_STATE: i64 = 7;
    pub const DEFAULT_PERMISSION: i64 = 8;
    pub const ANONYMOUS_PERMISSION: i64 = 9;
    pub const SCHEMA_VERSION: i64 = 10;
    pub const MAPPING_SIGNATURE: i64 = 11;
}

/// Durability of committed writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`, content files written without fsync: a write that
    /// returned survives the process being killed (SIGKILL, panic, OOM kill), because SQLite's
    /// WAL append and the content files are in the kernel's page cache before the call returns.
    /// A power loss or kernel crash may lose the last transactions (never corrupts the store).
    #[default]
    Process,
    /// WAL with `synchronous=FULL`, content files and their directories fsync'd before the
    /// transaction that references them commits: a write that returned survives power loss.
    Power,
}

/// Automatic WAL checkpoint of a store whose checkpoints run in the background (see
/// `StoreOptions::background_checkpoint`): only a backstop should the background thread fall
/// behind (4000 pages otherwise).
pub const WAL_BACKSTOP_PAGES: i64 = 32_000;

/// Applies every PRAGMA a store connection needs. The single place for them.
pub fn setup_connection(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    // WAL: readers do not block the writer; a commit is one append to the -wal file.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    // NORMAL in WAL mode: commits are durable against process death, FULL adds an fsync
    // per commit for durability against power loss (see `Durability`).
    let sync = match durability {
        Durability::Process => "NORMAL",
        Durability::Power => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; \
         PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=4000;"
    ))?;
    Ok(())
}

const COMMON_HEAD: &str = "
CREATE TABLE configurations (config_id INTEGER PRIMARY KEY, config_value BLOB NOT NULL);
CREATE TABLE allocated_eids (range_begin INTEGER NOT NULL, range_end INTEGER NOT NULL,
  allocate_time INTEGER NOT NULL, is_system INTEGER DEFAULT NULL);
CREATE INDEX time_index ON allocated_eids(allocate_time);
CREATE TABLE named_properties (propid INTEGER PRIMARY KEY AUTOINCREMENT,
  name_string TEXT COLLATE NOCASE NOT NULL);
CREATE UNIQUE INDEX namedprop_unique ON named_properties(name_string);
CREATE TABLE store_properties (proptag INTEGER UNIQUE NOT NULL, propval BLOB NOT NULL);
";

const PRIVATE_FOLDERS: &str = "
CREATE TABLE folders (folder_id INTEGER PRIMARY KEY, parent_id INTEGER,
  change_number INTEGER UNIQUE NOT NULL, is_search INTEGER DEFAULT 0, search_flags INTEGER DEFAULT NULL,
  search_criteria BLOB DEFAULT NULL, cur_eid INTEGER NOT NULL, max_eid INTEGER NOT NULL,
  is_deleted INTEGER DEFAULT 0,
  FOREIGN KEY (parent_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX search_index10 ON folders(is_search);
";

const PUBLIC_FOLDERS: &str = "
CREATE TABLE folders (folder_id INTEGER PRIMARY KEY, parent_id INTEGER,
  change_number INTEGER UNIQUE NOT NULL, is_deleted INTEGER DEFAULT 0,
  cur_eid INTEGER NOT NULL, max_eid INTEGER NOT NULL,
  FOREIGN KEY (parent_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX folder_delete_index ON folders(parent_id, is_deleted);
";

const COMMON_BODY: &str = "
CREATE TABLE folder_properties (folder_id INTEGER NOT NULL, proptag INTEGER NOT NULL, propval BLOB NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_properties_index3 ON folder_properties(folder_id);
CREATE UNIQUE INDEX folder_property_index3 ON folder_properties(folder_id, proptag);
CREATE TABLE permissions (member_id INTEGER PRIMARY KEY AUTOINCREMENT, folder_id INTEGER NOT NULL,
  username TEXT COLLATE NOCASE NOT NULL, permission INTEGER NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_permissions_index ON permissions(folder_id);
CREATE UNIQUE INDEX folder_username_index ON permissions(folder_id, username);
CREATE UNIQUE INDEX folder_username_index2 ON permissions(username, folder_id);
CREATE TABLE rules (rule_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT COLLATE NOCASE,
  provider TEXT COLLATE NOCASE NOT NULL, sequence INTEGER NOT NULL, state INTEGER NOT NULL, level INTEGER,
  user_flags INTEGER, provider_data BLOB, condition BLOB NOT NULL, actions BLOB NOT NULL,
  folder_id INTEGER NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_rules_index ON rules(folder_id);
CREATE TABLE attachments (attachment_id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX mid_attachments_index ON attachments(message_id);
CREATE TABLE attachment_properties (attachment_id INTEGER NOT NULL, proptag INTEGER NOT NULL,
  propval BLOB NOT NULL, PRIMARY KEY (attachment_id, proptag),
  FOREIGN KEY (attachment_id) REFERENCES attachments (attachment_id) ON DELETE CASCADE ON UPDATE CASCADE) WITHOUT ROWID;
CREATE TABLE message_properties (message_id INTEGER NOT NULL, proptag INTEGER NOT NULL, propval BLOB NOT NULL,
  PRIMARY KEY (message_id, proptag),
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE) WITHOUT ROWID;
CREATE INDEX conv_id_index ON message_properties(propval) WHERE proptag = 806551810;
CREATE TABLE message_changes (message_id INTEGER NOT NULL, change_number INTEGER NOT NULL,
  indices BLOB NOT NULL, proptags BLOB NOT NULL,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX mid_changes_index ON message_changes(message_id);
CREATE TABLE recipients (recipient_id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX mid_recipients_index ON recipients(message_id);
CREATE TABLE recipients_properties (recipient_id INTEGER NOT NULL, proptag INTEGER NOT NULL,
  propval BLOB NOT NULL, PRIMARY KEY (recipient_id, proptag),
  FOREIGN KEY (recipient_id) REFERENCES recipients (recipient_id) ON DELETE CASCADE ON UPDATE CASCADE) WITHOUT ROWID;
CREATE TABLE replguidmap (replid INTEGER PRIMARY KEY AUTOINCREMENT, replguid VARCHAR(40));
CREATE UNIQUE INDEX replguidmap_guid ON replguidmap(replguid);
";

const PRIVATE_TAIL: &str = "
CREATE TABLE messages (message_id INTEGER PRIMARY KEY, parent_fid INTEGER, parent_attid INTEGER,
  is_deleted INTEGER DEFAULT 0, is_associated INTEGER, change_number INTEGER UNIQUE NOT NULL,
  read_cn INTEGER UNIQUE DEFAULT NULL, read_state INTEGER DEFAULT 0, message_size INTEGER NOT NULL,
  group_id INTEGER DEFAULT NULL, timer_id INTEGER DEFAULT NULL, mid_string TEXT DEFAULT NULL,
  summary_delivery INTEGER DEFAULT NULL, summary_submit INTEGER DEFAULT NULL,
  summary_subject TEXT DEFAULT NULL, summary_sender TEXT DEFAULT NULL, summary_from TEXT DEFAULT NULL,
  FOREIGN KEY (parent_fid) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (parent_attid) REFERENCES attachments (attachment_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX attid_messages_index8 ON messages(parent_attid);
CREATE INDEX folder_summary_index8 ON messages(parent_fid, is_associated, is_deleted, summary_delivery,
  read_state, message_size, summary_submit, summary_subject, summary_sender, summary_from);
CREATE INDEX parent_read_assoc_index8 ON messages(parent_fid, read_state, is_associated);
CREATE TABLE receive_table (class TEXT COLLATE NOCASE UNIQUE NOT NULL, folder_id INTEGER NOT NULL,
  modified_time INTEGER NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_receive_index ON receive_table(folder_id);
CREATE TABLE search_scopes (folder_id INTEGER NOT NULL, included_fid INTEGER NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (included_fid) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_scope_index ON search_scopes(folder_id);
CREATE INDEX included_scope_index ON search_scopes(included_fid);
CREATE TABLE search_result (folder_id INTEGER NOT NULL, message_id INTEGER NOT NULL,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX fid_result_index ON search_result(folder_id);
CREATE INDEX mid_result_index ON search_result(message_id);
CREATE UNIQUE INDEX search_message_index ON search_result(folder_id, message_id);
CREATE TABLE autoreply_ts (peer VARCHAR(320) PRIMARY KEY, ts INTEGER);
";

const PUBLIC_TAIL: &str = "
CREATE TABLE messages (message_id INTEGER PRIMARY KEY, parent_fid INTEGER, parent_attid INTEGER,
  is_deleted INTEGER DEFAULT 0, is_associated INTEGER, change_number INTEGER UNIQUE NOT NULL,
  message_size INTEGER NOT NULL, group_id INTEGER DEFAULT NULL, mid_string TEXT DEFAULT NULL,
  summary_delivery INTEGER DEFAULT NULL, summary_submit INTEGER DEFAULT NULL,
  summary_subject TEXT DEFAULT NULL, summary_sender TEXT DEFAULT NULL, summary_from TEXT DEFAULT NULL,
  FOREIGN KEY (parent_fid) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (parent_attid) REFERENCES attachments (attachment_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX attid_messages_index ON messages(parent_attid);
CREATE INDEX folder_summary_index ON messages(parent_fid, is_associated, is_deleted, summary_delivery,
  message_size, summary_submit, summary_subject, summary_sender, summary_from);
CREATE TABLE read_states (message_id INTEGER NOT NULL, username TEXT COLLATE NOCASE NOT NULL,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX mid_states_index ON read_states(message_id);
CREATE UNIQUE INDEX state_username_index ON read_states(message_id, username);
CREATE TABLE read_cns (message_id INTEGER NOT NULL, username TEXT COLLATE NOCASE NOT NULL,
  read_cn INTEGER UNIQUE NOT NULL,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX mid_readcn_index ON read_cns(message_id);
CREATE UNIQUE INDEX readcn_username_index ON read_cns(message_id, username);
";

const MSGTIME: &str = "
CREATE TABLE msgtime_index (folder_id INTEGER NOT NULL, message_id INTEGER NOT NULL, mtime INTEGER,
  rcvtime INTEGER, sndtime INTEGER, PRIMARY KEY (folder_id, message_id),
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (message_id) REFERENCES messages (message_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE UNIQUE INDEX msgtime_mt_idx ON msgtime_index (folder_id, mtime, message_id);
CREATE UNIQUE INDEX msgtime_rt_idx ON msgtime_index (folder_id, rcvtime, message_id);
CREATE UNIQUE INDEX msgtime_st_idx ON msgtime_index (folder_id, sndtime, message_id);
";

/// Summary columns of `messages`: copies of the properties content tables sort and restrict
/// by most (Outlook's and the IMAP server's default views), kept current by the store's
/// message writers ([`summary_refresh`]). With the index `folder_summary_index8`
/// (private) or `folder_summary_index` (public), which starts like Gromox's
/// `(parent_fid, is_associated[, is_deleted])` index it replaces and carries these columns, a
/// content table over them reads one contiguous index range in delivery-time order instead of
/// a `messages` row and a primary-key descent per property per message (`crate::table`).
/// Column, then the property tags it copies (a String8 and a Unicode twin share a column),
/// then the tags it is derived from when those are absent: the subject from its prefix and
/// normalized subject, which is how Gromox stores it.
pub const SUMMARY: &[(&str, &[u32], &[u32])] = &[
    ("summary_delivery", &[0x0E06_0040], &[]),
    ("summary_submit", &[0x0039_0040], &[]),
    (
        "summary_subject",
        &[0x0037_001F, 0x0037_001E],
        &[0x003D_001F, 0x003D_001E, 0x0E1D_001F, 0x0E1D_001E],
    ),
    ("summary_sender", &[0x0C1A_001F, 0x0C1A_001E], &[]),
    // PR_SENT_REPRESENTING_NAME: Outlook's and EWS's "From" (the sender as shown; differs from
    // PR_SENDER_NAME only for mail sent on behalf of someone).
    ("summary_from", &[0x0042_001F, 0x0042_001E], &[]),
];

/// The summary column that holds `tag` (same property, and the same type or its String8 /
/// Unicode twin), if any.
pub fn summary_column(tag: u32) -> Option<&'static str> {
    let twin = |t: u32| match t & 0xFFFF {
        0x001E => t | 1,
        _ => t,
    };
    SUMMARY
        .iter()
        .find(|(_, tags, _)| tags.iter().any(|&t| twin(t) == twin(tag)))
        .map(|(c, _, _)| *c)
}

fn tag_list(tags: &[u32]) -> String {
    tags.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// The value of a summary column for message `mid` (an SQL expression), computed from its
/// properties: the first of `tags` it has, else for the subject its prefix (or nothing)
/// followed by its normalized subject.
fn summary_expr(tags: &[u32], derived: &[u32], mid: &str) -> String {
    let one = |tags: &[u32]| {
        format!(
            "(SELECT propval FROM message_properties WHERE message_id={mid} AND proptag IN ({}) LIMIT 1)",
            tag_list(tags)
        )
    };
    if derived.is_empty() {
        return one(tags);
    }
    let (prefix, normalized) = derived.split_at(2);
    format!(
        "COALESCE({}, COALESCE({}, '') || {})",
        one(tags),
        one(prefix),
        one(normalized)
    )
}

/// Whether property `tag` feeds a summary column (its own tag, a twin, or one it is derived
/// from).
pub fn is_summary_tag(tag: u32) -> bool {
    SUMMARY
        .iter()
        .any(|(_, tags, derived)| tags.contains(&tag) || derived.contains(&tag))
}

/// Recomputes message `mid`'s summary columns from its properties. The store's writers call
/// it after changing a property that feeds them (a new message gets them with its row).
/// Triggers on `message_properties` would catch every writer, but cost deliveries ~15 %
/// (measured: one trigger program per property row written); a writer that bypasses the store
/// leaves them stale, which `gromox-mbck` reports and `-p` repairs.
pub fn summary_refresh(conn: &Connection, mid: i64) -> rusqlite::Result<()> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("UPDATE messages SET {} WHERE message_id=?1", summary_sets("?1", "=")));
    conn.prepare_cached(sql)?.execute([mid])?;
    Ok(())
}

/// Every summary column joined by `op` to its value computed for message `mid`, the pairs
/// separated by commas (`=`: assignments) or ORs (`IS NOT`: differences).
fn summary_sets(mid: &str, op: &str) -> String {
    let sep = if op == "=" { ", " } else { " OR " };
    SUMMARY
        .iter()
        .map(|(col, tags, derived)| format!("{col} {op} {}", summary_expr(tags, derived, mid)))
        .collect::<Vec<_>>()
        .join(sep)
}

/// Messages whose summary columns differ from what their properties say (`gromox-mbck`).
pub fn summary_stale(conn: &Connection) -> rusqlite::Result<i64> {
    let differs = summary_sets("messages.message_id", "IS NOT");
    conn.query_row(&format!("SELECT count(*) FROM messages WHERE {differs}"), [], |r| {
        r.get(0)
    })
}

/// Fills every summary column from `message_properties` (after [`upgrade`] added them, or
/// when `gromox-mbck -p` found them stale).
pub fn summary_backfill(conn: &Connection) -> rusqlite::Result<usize> {
    let sets = summary_sets("messages.message_id", "=");
    conn.execute(&format!("UPDATE messages SET {sets}"), [])
}

/// Whether the store has every summary column (created here, or brought here by [`upgrade`]);
/// a Gromox store that was not upgraded has none, a store of an earlier layout of this one
/// lacks the later ones — either way the store is used without them until `-U`.
pub fn has_summary(conn: &Connection) -> rusqlite::Result<bool> {
    let have = columns(conn, "messages")?;
    Ok(SUMMARY.iter().all(|(s, _, _)| have.iter().any(|c| c.name == *s)))
}

/// SQL text without case and whitespace differences.
fn squeeze(sql: &str) -> String {
    sql.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Creates every table of a private (`true`) or public store.
pub fn create_tables(conn: &Connection, private: bool) -> rusqlite::Result<()> {
    let sql = if private {
        [COMMON_HEAD, PRIVATE_FOLDERS, COMMON_BODY, PRIVATE_TAIL, MSGTIME].concat()
    } else {
        [COMMON_HEAD, PUBLIC_FOLDERS, COMMON_BODY, PUBLIC_TAIL, MSGTIME].concat()
    };
    conn.execute_batch(&sql)
}

/// Property tables this implementation clusters by `(object id, proptag)` (`WITHOUT ROWID`)
/// where Gromox keeps a rowid table plus an index on the object id and a unique index on
/// `(object id, proptag)`: same columns and keys, so Gromox's SQL runs on them unchanged, but
/// one B-tree instead of three — a property write touches one page instead of three, a
/// lookup is one descent, and the store is smaller (measured by `benches/deliver.rs`).
pub const CLUSTERED_TABLES: &[&str] = &["message_properties", "recipients_properties", "attachment_properties"];

/// Indexes Gromox creates that this layout leaves out: each is a prefix of another index
/// (`parent_fid` of `parent_fid, is_associated`) or never selective (`is_associated` alone),
/// and each costs a page write per delivered message. Dropped by [`upgrade`].
pub const REDUNDANT_INDEXES: &[&str] = &[
    "pid_messages_index8",
    "assoc_index8",
    "pid_messages_index",
    "assoc_index",
    // Prefixes of folder_summary_index8 / folder_summary_index.
    "parent_assoc_index8",
    "parent_assoc_delete_index",
];

/// Brings the tables of an existing store to this layout (`gromox-mkprivate -U`,
/// `gromox-mkpublic -U`), in one transaction, and returns what it did:
/// - tables the current generation has and the store lacks are created, columns it lacks are
///   added (older Gromox generations grew by tables, columns and indexes);
/// - the property tables of [`CLUSTERED_TABLES`] are rebuilt clustered when they are rowid
///   tables (stores written by Gromox), their rows copied as they are;
/// - missing indexes are created and [`REDUNDANT_INDEXES`] dropped;
/// - the [`SUMMARY`] columns, when added, are filled from the messages' properties;
/// - the schema generation becomes [`SCHEMA_VERSION`].
///
/// A store of a newer generation than this one is refused. Foreign keys are checked before
/// the commit; any failure rolls everything back.
pub fn upgrade(conn: &Connection, private: bool, version: i64) -> crate::Result<Vec<String>> {
    if version > SCHEMA_VERSION {
        return Err(crate::Error::SchemaVersion(version));
    }
    let reference = Connection::open_in_memory()?;
    create_tables(&reference, private)?;
    // Table rebuilds need foreign key enforcement off (it cannot change inside a transaction).
    conn.execute_batch("PRAGMA foreign_keys=OFF")?;
    let r = upgrade_tx(conn, &reference, version);
    conn.execute_batch("PRAGMA foreign_keys=ON")?;
    r
}

fn upgrade_tx(conn: &Connection, reference: &Connection, version: i64) -> crate::Result<Vec<String>> {
    let mut steps = Vec::new();
    let tx = conn.unchecked_transaction()?;
    let objects: Vec<(String, String, String)> = reference
        .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type='index', rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let existing_sql = |kind: &str, name: &str| -> rusqlite::Result<Option<String>> {
        tx.query_row(
            "SELECT sql FROM sqlite_master WHERE type=?1 AND name=?2",
            [kind, name],
            |r| r.get(0),
        )
        .optional()
    };
    let mut summary_added = false;
    for (kind, name, sql) in &objects {
        if kind == "index" {
            if summary_added {
                // Filled before the index over them is built.
                let n = summary_backfill(&tx)?;
                steps.push(format!("filled the summary columns of {n} messages"));
                summary_added = false;
            }
            match existing_sql("index", name)? {
                None => {
                    tx.execute_batch(sql)?;
                    steps.push(format!("created index {name}"));
                }
                // An index over the summary columns from an earlier layout of this one (fewer
                // columns): built again.
                Some(old) if sql.contains("summary_") && squeeze(&old) != squeeze(sql) => {
                    tx.execute_batch(&format!("DROP INDEX \"{name}\"; {sql}"))?;
                    steps.push(format!("rebuilt index {name}"));
                }
                Some(_) => {}
            }
            continue;
        }
        let Some(old_sql) = existing_sql("table", name)? else {
            tx.execute_batch(sql)?;
            steps.push(format!("created table {name}"));
            continue;
        };
        let want = columns(reference, name)?;
        let have = columns(&tx, name)?;
        for c in want
            .iter()
            .filter(|c| !have.iter().any(|h| h.name.eq_ignore_ascii_case(&c.name)))
        {
            if c.not_null && c.default.is_none() {
                return Err(crate::Error::Corrupt(format!(
                    "table {name} lacks column {} (NOT NULL without a default): cannot add it",
                    c.name
                )));
            }
            let mut ddl = format!("ALTER TABLE \"{name}\" ADD COLUMN \"{}\" {}", c.name, c.ty);
            if let Some(d) = &c.default {
                ddl.push_str(&format!(" DEFAULT {d}"));
            }
            tx.execute_batch(&ddl)?;
            steps.push(format!("added column {name}.{}", c.name));
            summary_added |= name == "messages" && c.name.starts_with("summary_");
        }
        if CLUSTERED_TABLES.contains(&name.as_str()) && !old_sql.to_ascii_uppercase().contains("WITHOUT ROWID") {
            let cols = want
                .iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let tmp = format!("{name}__clustered");
            let create = sql.replacen(&format!("CREATE TABLE {name} "), &format!("CREATE TABLE {tmp} "), 1);
            if create == *sql {
                return Err(crate::Error::Corrupt(format!("cannot rebuild {name}")));
            }
            tx.execute_batch(&create)?;
            // A later duplicate of (object, proptag) wins, as it would have on read.
            let n = tx.execute(
                &format!("INSERT OR REPLACE INTO {tmp} ({cols}) SELECT {cols} FROM {name} ORDER BY rowid"),
                [],
            )?;
            tx.execute_batch(&format!("DROP TABLE {name}; ALTER TABLE {tmp} RENAME TO {name};"))?;
            steps.push(format!("clustered {name} ({n} rows)"));
        }
    }
    if summary_added {
        let n = summary_backfill(&tx)?;
        steps.push(format!("filled the summary columns of {n} messages"));
    }
    // Indexes of rebuilt tables went with the old table: create what is missing again.
    for (kind, name, sql) in &objects {
        if kind == "index" && existing_sql("index", name)?.is_none() {
            tx.execute_batch(sql)?;
            steps.push(format!("created index {name}"));
        }
    }
    for name in REDUNDANT_INDEXES {
        if existing_sql("index", name)?.is_some() {
            tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
            steps.push(format!("dropped index {name}"));
        }
    }
    {
        let mut s = tx.prepare("PRAGMA foreign_key_check")?;
        let mut rows = s.query([])?;
        if let Some(r) = rows.next()? {
            let t: String = r.get(0)?;
            return Err(crate::Error::Corrupt(format!("foreign key violation in {t}")));
        }
    }
    if version != SCHEMA_VERSION {
        tx.execute(
            "REPLACE INTO configurations (config_id, config_value) VALUES (?1, ?2)",
            rusqlite::params![cfg::SCHEMA_VERSION, SCHEMA_VERSION],
        )?;
        steps.push(format!("schema generation {version} -> {SCHEMA_VERSION}"));
    }
    tx.commit()?;
    Ok(steps)
}

/// A column as `PRAGMA table_info` describes it.
struct Column {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<Column>> {
    conn.prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?1)")?
        .query_map([table], |r| {
            Ok(Column {
                name: r.get(0)?,
                ty: r.get(1)?,
                not_null: r.get::<_, i64>(2)? != 0,
                default: r.get(3)?,
            })
        })?
        .collect()
}

/// Tables every store has; `mbck` checks them.
pub const REQUIRED_TABLES: &[&str] = &[
    "configurations",
    "allocated_eids",
    "named_properties",
    "store_properties",
    "folders",
    "folder_properties",
    "permissions",
    "rules",
    "messages",
    "message_properties",
    "message_changes",
    "recipients",
    "recipients_properties",
    "attachments",
    "attachment_properties",
    "replguidmap",
];
