//! The exmdb RPC server: a [`gromox_runtime::Protocol`] executing [`gromox_exmdb_proto`] calls
//! against a shared [`StoreCache`] on the runtime's worker threads.
//!
//! Per connection: the first frame must be the version handshake; then each request frame
//! names a mailbox directory and a call. A malformed, truncated-then-closed or oversized frame
//! closes that connection only. Every mailbox directory is validated (absolute, no `..`, under
//! `<state>/user/` or `<state>/domain/`, an existing directory) and checked to be homed here.
//! A response larger than the frame limit is not framed: the call is answered
//! [`Status::TooBig`] and logged.
//!
//! Tables (content and hierarchy tables, MS-OXCTABL) are server state owned by the connection
//! that loaded them ([`ConnTables`]): their ids are only valid on that connection and for the
//! mailbox they were loaded from, at most [`proto::MAX_TABLES`] are open at once, holding at
//! most [`proto::MAX_TABLE_ROWS`] rows together when one is loaded, each with a restriction of
//! at most [`proto::MAX_TABLE_RESTRICTION`] bytes and at most [`proto::MAX_BOOKMARKS`]
//! bookmarks, and they are dropped when the connection closes: what one connection can make
//! the server hold is bounded. A table holds only its ordered row ids, never a store lock;
//! every call on it locks the store for that call alone. A QueryTable answer is cut to the rows
//! that fit in a frame. Message and attachment instances ([`crate::instance`]) are connection
//! state in the same way, bounded by [`proto::MAX_INSTANCES`] and [`proto::MAX_INSTANCE_BYTES`].

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use gromox_base::acl::HostsAllow;
use gromox_exmdb_proto::{self as proto, nf, Call, FolderEntry, Notification, Response, Status};
use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Protocol, Session};

use crate::cache::StoreCache;
use crate::error::Error;
use crate::ics;
use crate::instance::Instances;
use crate::message::MessageContent;
use crate::notify::{BoundedSubscription, Event, Notifier, StoreNotice};
use crate::store::Obj;
use crate::table::{ContentTable, HierarchyTable, TableNotification, TableRowId, TableSpec};
use gromox_exmdb_proto::GlobSet;
use gromox_mapi::props::PropTag;

/// Decides whether a mailbox is homed on this server: `Ok(())`, or the name of its home.
pub type HomeCheck = Box<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// Shared server state.
pub struct ExmdbServer {
    pub cache: Arc<StoreCache>,
    state: PathBuf,
    acl: RwLock<HostsAllow>,
    home: Option<HomeCheck>,
    frozen: Mutex<HashSet<PathBuf>>,
    log: slog::Logger,
    metrics: Arc<gromox_runtime::Registry>,
    /// Largest response payload sent ([`proto::MAX_FRAME`]; smaller in tests).
    max_response: usize,
}

/// The tables and instances one connection holds (see the module documentation).
#[derive(Debug, Default)]
pub struct ConnTables {
    next: u32,
    open: HashMap<u32, OpenTable>,
    /// Message and attachment instances.
    pub instances: Instances,
}

struct OpenTable {
    /// The mailbox the table was loaded from.
    path: PathBuf,
    table: AnyTable,
    /// The store's changes since the table was loaded or last brought up to date
    /// (TableNotifications); bounded, so an idle table costs little on a busy store.
    changes: BoundedSubscription,
    /// Keeps the store's notifier (and so this subscription) across the store's closes.
    _notifier: Arc<Notifier>,
}

impl std::fmt::Debug for OpenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTable")
            .field("path", &self.path)
            .field("table", &self.table)
            .finish()
    }
}

/// Most store changes a table holds for its next TableNotifications; beyond, it is reloaded.
const TABLE_CHANGE_QUEUE: usize = 1024;

#[derive(Debug)]
enum AnyTable {
    Content(ContentTable),
    Hierarchy(HierarchyTable),
}

impl ConnTables {
    /// Number of open tables.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no table is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Whether another table with `restriction` may be loaded.
    fn room(&self, restriction: Option<&gromox_mapi::restriction::Restriction>) -> Result<(), (Status, String)> {
        if self.open.len() >= proto::MAX_TABLES {
            return Err((
                Status::BadRequest,
                format!("at most {} tables per connection", proto::MAX_TABLES),
            ));
        }
        restriction_fits(restriction, "table")
    }

    /// Whether a loaded table of `rows` rows may be kept beside the open ones.
    fn rows_fit(&self, rows: usize) -> Result<(), (Status, String)> {
        let held: usize = self.open.values().map(|t| t.table.held_rows()).sum();
        if held.saturating_add(rows) > proto::MAX_TABLE_ROWS {
            return Err((
                Status::BadRequest,
                format!(
                    "the connection's tables would hold {} rows (at most {})",
                    held.saturating_add(rows),
                    proto::MAX_TABLE_ROWS
                ),
            ));
        }
        Ok(())
    }

    fn insert(&mut self, path: PathBuf, table: AnyTable, notifier: &Arc<Notifier>) -> u32 {
        // Not reused while the old table is open.
        crate::instance::next_handle(&mut self.next, &self.open);
        self.open.insert(
            self.next,
            OpenTable {
                path,
                table,
                changes: notifier.subscribe_bounded(TABLE_CHANGE_QUEUE),
                _notifier: notifier.clone(),
            },
        );
        self.next
    }

    /// The table `id` loaded from mailbox `path`.
    fn get(&mut self, path: &Path, id: u32) -> Result<&mut AnyTable, (Status, String)> {
        self.get_open(path, id).map(|t| &mut t.table)
    }

    fn get_open(&mut self, path: &Path, id: u32) -> Result<&mut OpenTable, (Status, String)> {
        match self.open.get_mut(&id) {
            Some(t) if t.path == path => Ok(t),
            _ => Err((Status::NotFound, format!("no table {id} on this connection"))),
        }
    }
}

impl AnyTable {
    fn row_count(&self) -> usize {
        match self {
            AnyTable::Content(t) => t.row_count(),
            AnyTable::Hierarchy(t) => t.row_count(),
        }
    }

    /// Rows held in memory, hidden ones (collapsed categories) included.
    fn held_rows(&self) -> usize {
        match self {
            AnyTable::Content(t) => t.held_rows(),
            AnyTable::Hierarchy(t) => t.row_count(),
        }
    }

    /// The content table of a categorized-view call (MS-OXCTABL RopExpandRow and friends).
    fn content(&mut self) -> Result<&mut ContentTable, (Status, String)> {
        match self {
            AnyTable::Content(t) => Ok(t),
            AnyTable::Hierarchy(_) => Err((Status::BadRequest, "not a content table".into())),
        }
    }
}

/// A restriction the server keeps (a table's, a search folder's): at most
/// [`proto::MAX_TABLE_RESTRICTION`] bytes in its wire form.
fn restriction_fits(r: Option<&gromox_mapi::restriction::Restriction>, what: &str) -> Result<(), (Status, String)> {
    let size = r.map_or(0, |r| gromox_mapi::restriction::encode(r, true).len());
    if size > proto::MAX_TABLE_RESTRICTION {
        return Err((
            Status::BadRequest,
            format!(
                "{what} restriction of {size} bytes (at most {})",
                proto::MAX_TABLE_RESTRICTION
            ),
        ));
    }
    Ok(())
}

/// A count as the protocol's `u32`.
fn n32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ExmdbServer {
    pub fn new(
        cache: Arc<StoreCache>,
        state: PathBuf,
        acl: HostsAllow,
        home: Option<HomeCheck>,
        log: slog::Logger,
    ) -> Self {
        ExmdbServer {
            cache,
            state,
            acl: RwLock::new(acl),
            home,
            frozen: Mutex::new(HashSet::new()),
            log,
            metrics: Arc::default(),
            max_response: proto::MAX_FRAME,
        }
    }

    /// Answer responses larger than `n` bytes with [`Status::TooBig`] (default and maximum:
    /// the frame limit).
    pub fn with_max_response(mut self, n: usize) -> Self {
        self.max_response = n.min(proto::MAX_FRAME);
        self
    }

    /// Record calls into `m` (the server's registry, exported for httpd's `/metrics`).
    pub fn with_metrics(mut self, m: Arc<gromox_runtime::Registry>) -> Self {
        self.metrics = m;
        self
    }

    /// Replace the access list (SIGHUP).
    pub fn set_acl(&self, acl: HostsAllow) {
        *self.acl.write().unwrap_or_else(|p| p.into_inner()) = acl;
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.acl.read().unwrap_or_else(|p| p.into_inner()).allows(ip)
    }

    /// Validates a client-supplied mailbox directory.
    pub fn check_dir(&self, dir: &str) -> Result<PathBuf, (Status, String)> {
        let bad = |m: &str| (Status::BadMailbox, format!("{dir:?}: {m}"));
        let p = Path::new(dir);
        if !p.is_absolute()
            || p.components()
                .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        {
            return Err(bad("not a plain absolute path"));
        }
        let rel = p
            .strip_prefix(&self.state)
            .map_err(|_| bad("not under the state directory"))?;
        let mut comps = rel.components();
        let ok = match comps.next() {
            Some(Component::Normal(c)) => (c == "user" || c == "domain") && comps.next().is_some(),
            _ => false,
        };
        if !ok {
            return Err(bad("not a user/ or domain/ store"));
        }
        if !p.is_dir() {
            return Err((Status::NotFound, format!("{dir:?}: no such mailbox")));
        }
        if let Some(h) = &self.home {
            h(p).map_err(|home| (Status::MisroutedMailbox, format!("mailbox is homed on {home}")))?;
        }
        Ok(p.to_path_buf())
    }

    /// Executes one decoded request outside any connection (tables it loads are dropped at
    /// once); returns the response payload.
    pub fn execute(&self, dir: &str, call: Call) -> Vec<u8> {
        self.execute_with(dir, call, &mut ConnTables::default())
    }

    /// Executes one decoded request of a connection holding `tables`; returns the response
    /// payload (a [`Status::TooBig`] error when the response would exceed the frame limit).
    pub fn execute_with(&self, dir: &str, call: Call, tables: &mut ConnTables) -> Vec<u8> {
        let (name, t) = (call.name(), std::time::Instant::now());
        let r = self.run(dir, call, tables);
        let r = match r {
            Ok(r) => proto::encode_response_limited(&r, self.max_response).map_err(|(e, n)| {
                slog::warn!(self.log, "response exceeds the frame limit, answered TooBig"; "event" => "exmdb.response_too_big",
                    "dir" => dir, "call" => name, "bytes" => n, "limit" => self.max_response);
                e
            }),
            Err((s, m)) => {
                slog::debug!(self.log, "call failed"; "event" => "exmdb.call_failed", "dir" => dir, "status" => ?s, "error" => &m);
                Err(proto::encode_error(s, &m))
            }
        };
        self.metrics
            .request(name, if r.is_ok() { "OK" } else { "error" }, t.elapsed());
        r.unwrap_or_else(|e| e)
    }

    fn run(&self, dir: &str, call: Call, tables: &mut ConnTables) -> Result<Response, (Status, String)> {
        let path = self.check_dir(dir)?;
        let frozen = self.frozen.lock().unwrap_or_else(|p| p.into_inner()).contains(&path);
        match call {
            Call::Thaw => {
                self.frozen.lock().unwrap_or_else(|p| p.into_inner()).remove(&path);
                return Ok(Response::Done);
            }
            Call::Freeze => {
                self.frozen.lock().unwrap_or_else(|p| p.into_inner()).insert(path);
                return Ok(Response::Done);
            }
            Call::Ping | Call::Subscribe { .. } => {}
            _ if frozen => return Err((Status::Frozen, "mailbox is in maintenance mode".into())),
            Call::Unload => {
                return match self.cache.unload(&path) {
                    Ok(_) => Ok(Response::Done),
                    Err(()) => Err((Status::StoreError, "the store is in use; try again".into())),
                };
            }
            _ => {}
        }
        // MIME → MAPI conversion is CPU work that needs no store: done before the store lock.
        let converted = match &call {
            Call::DeliverMail { mime, .. } => Some(crate::delivery::convert(mime)),
            _ => None,
        };
        let store = self.cache.get(&path).map_err(err)?;
        let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
        let call_kind = if matches!(call, Call::CopyMessages { .. }) {
            CallKind::Copy
        } else {
            CallKind::Other
        };
        let r = match call {
            Call::Ping | Call::Freeze | Call::Thaw | Call::Unload | Call::Subscribe { .. } => Response::Done,
            Call::GetStoreProps => Response::Props(st.get_props(Obj::Store).map_err(err)?),
            Call::SetStoreProps(p) => {
                st.set_props(Obj::Store, &p).map_err(err)?;
                Response::Done
            }
            Call::RemoveStoreProps(t) => {
                st.remove_props(Obj::Store, &t).map_err(err)?;
                Response::Done
            }
            Call::ListFolders => Response::Folders(
                st.list_folders()
                    .map_err(err)?
                    .into_iter()
                    .filter(|f| !f.deleted)
                    .map(|f| FolderEntry {
                        id: f.id,
                        parent: f.parent.unwrap_or(0),
                        name: f.name,
                        container_class: f.container_class,
                    })
                    .collect(),
            ),
            Call::CreateFolder { parent, name, class } => {
                Response::Id(st.create_folder(parent, &name, class.as_deref()).map_err(err)?)
            }
            Call::GetFolderProps(id) => Response::Props(st.get_props(Obj::Folder(id)).map_err(err)?),
            Call::GetMessageProps(id) => Response::Props(st.read_message(id).map_err(err)?.props),
            Call::DeliverMessage { folder, props, mime } => {
                let c = MessageContent {
                    props,
                    ..Default::default()
                };
                let d = st.deliver_message(folder, &c, mime.as_deref()).map_err(err)?;
                Response::Delivered {
                    folder: d.folder,
                    message: d.message,
                }
            }
            Call::SetReadState { mid, read } => {
                st.set_read(mid, read).map_err(err)?;
                Response::Done
            }
            Call::DeleteMessages { mids, hard } => {
                st.delete_messages(&mids, hard).map_err(err)?;
                Response::Done
            }
            Call::MoveMessages { mids, to } | Call::CopyMessages { mids, to } => {
                let copy = matches!(call_kind, CallKind::Copy);
                let mut ids = Vec::with_capacity(mids.len());
                for m in mids {
                    let r = if copy {
                        st.copy_message(m, to)
                    } else {
                        st.move_message(m, to)
                    };
                    ids.push(match r {
                        Ok(id) => id,
                        Err(Error::NotFound(_)) => 0,
                        Err(e) => return Err(err(e)),
                    });
                }
                Response::Ids(ids)
            }
            Call::FolderState { folder } => {
                let (max_cn, count) = st.folder_state(folder).map_err(err)?;
                Response::FolderState { max_cn, count }
            }
            Call::ListMessages {
                folder,
                after_mid,
                limit,
                min_cn,
            } => Response::Messages(
                st.message_summaries(folder, after_mid, limit.min(100_000), min_cn)
                    .map_err(err)?
                    .into_iter()
                    .map(|m| proto::MessageSummary {
                        mid: m.mid,
                        change_number: m.change_number,
                        flags: proto::ImapFlags {
                            read: m.flags.read,
                            flagged: m.flags.flagged,
                            answered: m.flags.answered,
                            forwarded: m.flags.forwarded,
                            draft: m.flags.draft,
                            keywords: m.flags.keywords,
                        },
                        delivery_time: m.delivery_time,
                    })
                    .collect(),
            ),
            Call::MessageRfc822 { mid } => Response::Bytes(st.message_rfc822(mid).map_err(err)?),
            Call::AppendRfc822 {
                folder,
                mime,
                flags,
                delivery_time,
            } => {
                let f = crate::imapview::ImapFlags {
                    read: flags.read,
                    flagged: flags.flagged,
                    answered: flags.answered,
                    forwarded: flags.forwarded,
                    draft: flags.draft,
                    keywords: flags.keywords,
                };
                let d = st.append_rfc822(folder, &mime, &f, delivery_time).map_err(err)?;
                Response::Delivered {
                    folder: d.folder,
                    message: d.message,
                }
            }
            Call::SetMessageFlags {
                mid,
                read,
                flagged,
                answered,
                forwarded,
                keywords,
            } => {
                st.set_message_flags(
                    mid,
                    &crate::imapview::FlagChange {
                        read,
                        flagged,
                        answered,
                        forwarded,
                        keywords,
                    },
                )
                .map_err(err)?;
                Response::Done
            }
            Call::DeleteFolder { folder, hard } => {
                st.delete_folder(folder, hard).map_err(err)?;
                Response::Done
            }
            Call::MoveFolder { folder, parent, name } => {
                st.rename_folder(folder, parent, &name).map_err(err)?;
                Response::Done
            }
            Call::EmptyFolder { folder, hard } => Response::Count(st.empty_folder(folder, hard).map_err(err)? as u64),
            Call::PurgeSoftdelOlder { age_secs } => {
                let s = st
                    .purge_older_than(std::time::Duration::from_secs(age_secs))
                    .map_err(err)?;
                Response::Count(s.messages as u64)
            }
            Call::SetPermission { folder, user, rights } => {
                st.set_permission(folder, &user, rights).map_err(err)?;
                Response::Done
            }
            Call::RemovePermission { folder, user } => {
                st.remove_permission(folder, &user).map_err(err)?;
                Response::Done
            }
            Call::DeliverMail { mime, now, from, rcpt } => {
                let Some(mapi) = converted else {
                    return Err((Status::StoreError, "conversion missing".into()));
                };
                let d = st.deliver_mail(&mapi, &mime, now).map_err(err)?;
                slog::debug!(self.log, "mail delivered"; "event" => "exmdb.deliver_mail", "dir" => dir, "from" => from,
                    "rcpt" => rcpt, "folder" => d.folder, "message" => d.message, "rules" => d.matched.join(", "));
                Response::MailDelivered(d)
            }
            Call::CheckQuota { size } => {
                st.check_quota(size, crate::QuotaKind::Receive).map_err(err)?;
                Response::Done
            }
            Call::AutoreplyDue { peer, now, window } => {
                Response::Count(u64::from(st.autoreply_due(&peer, now, window).map_err(err)?))
            }
            Call::MailboxRights { user } => Response::Count(u64::from(st.mailbox_rights(&user).map_err(err)?)),
            Call::PurgeSoftdel => {
                let s = st.purge().map_err(err)?;
                Response::Count((s.messages + s.folders) as u64)
            }
            Call::PurgeDatafiles => Response::Count(st.purge_content().map_err(err)? as u64),
            Call::GetNamedPropIds { create, names } => {
                let mut ids = Vec::with_capacity(names.len());
                for n in &names {
                    ids.push(st.get_named_propid(n, create).map_err(err)?.unwrap_or(0));
                }
                Response::PropIds(ids)
            }
            Call::GetNamedPropNames { ids } => {
                let mut names = Vec::with_capacity(ids.len());
                for id in ids {
                    names.push(st.get_propname(id).map_err(err)?);
                }
                Response::PropNames(names)
            }
            Call::ReadMessage { mid } => {
                let m = st.read_message(mid).map_err(err)?;
                depth_fits(&m, 0)?;
                Response::Message(m)
            }
            Call::WriteMessage {
                folder,
                associated,
                mid: None,
                content,
            } => Response::Id(st.create_message(folder, &content, associated).map_err(err)?),
            Call::WriteMessage {
                folder,
                associated,
                mid: Some(mid),
                content,
            } => Response::Id(st.overwrite_message(folder, mid, &content, associated).map_err(err)?),
            Call::LoadContentTable {
                folder,
                associated,
                restriction,
                sort,
                categories,
                expanded,
            } => {
                live_folder(&st, folder)?;
                tables.room(restriction.as_ref())?;
                let spec = TableSpec {
                    folder,
                    associated,
                    restriction,
                    sort,
                    categories: categories as usize,
                    expanded: expanded as usize,
                    mv_instance: None,
                };
                let t = ContentTable::load(&st, spec).map_err(err)?;
                tables.rows_fit(t.held_rows())?;
                let rows = n32(t.row_count());
                Response::Table {
                    id: tables.insert(path, AnyTable::Content(t), st.notifier()),
                    rows,
                }
            }
            Call::LoadHierarchyTable {
                folder,
                recursive,
                restriction,
                sort,
            } => {
                live_folder(&st, folder)?;
                tables.room(restriction.as_ref())?;
                let t = HierarchyTable::load(&st, folder, recursive, restriction.as_ref(), &sort).map_err(err)?;
                tables.rows_fit(t.row_count())?;
                let rows = n32(t.row_count());
                Response::Table {
                    id: tables.insert(path, AnyTable::Hierarchy(t), st.notifier()),
                    rows,
                }
            }
            Call::QueryTable {
                table,
                columns,
                count,
                forward,
                no_advance,
            } => {
                // Bounded work and memory per call whatever the column count, and no more rows
                // than fit in a frame (the response header and counts are under 64 bytes).
                let count = (count as usize).min(proto::MAX_QUERY_CELLS / columns.len().max(1));
                let budget = self.max_response.saturating_sub(64);
                Response::Rows(
                    match tables.get(&path, table)? {
                        AnyTable::Content(t) => t.query_rows_within(&st, &columns, count, forward, no_advance, budget),
                        AnyTable::Hierarchy(t) => {
                            t.query_rows_within(&st, &columns, count, forward, no_advance, budget)
                        }
                    }
                    .map_err(err)?,
                )
            }
            Call::SeekTable { table, origin, offset } => Response::Seek {
                moved: match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.seek(origin, offset),
                    AnyTable::Hierarchy(t) => t.seek(origin, offset),
                },
                row_gone: false,
            },
            Call::SeekFraction {
                table,
                numerator,
                denominator,
            } => {
                match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.seek_fraction(numerator, denominator),
                    AnyTable::Hierarchy(t) => t.seek_fraction(numerator, denominator),
                }
                Response::Done
            }
            Call::CreateBookmark { table } => {
                let t = tables.get(&path, table)?;
                let n = match t {
                    AnyTable::Content(t) => t.bookmark_count(),
                    AnyTable::Hierarchy(t) => t.bookmark_count(),
                };
                if n >= proto::MAX_BOOKMARKS {
                    return Err((
                        Status::BadRequest,
                        format!("at most {} bookmarks per table", proto::MAX_BOOKMARKS),
                    ));
                }
                Response::Count(u64::from(match t {
                    AnyTable::Content(t) => t.create_bookmark(),
                    AnyTable::Hierarchy(t) => t.create_bookmark(),
                }))
            }
            Call::SeekBookmark {
                table,
                bookmark,
                offset,
            } => {
                let r = match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.seek_bookmark(bookmark, offset),
                    AnyTable::Hierarchy(t) => t.seek_bookmark(bookmark, offset),
                };
                let (row_gone, moved) = r.ok_or((Status::NotFound, format!("no bookmark {bookmark}")))?;
                Response::Seek { moved, row_gone }
            }
            Call::FreeBookmark { table, bookmark } => {
                let freed = match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.free_bookmark(bookmark),
                    AnyTable::Hierarchy(t) => t.free_bookmark(bookmark),
                };
                if !freed {
                    return Err((Status::NotFound, format!("no bookmark {bookmark}")));
                }
                Response::Done
            }
            Call::FindRow {
                table,
                restriction,
                forward,
            } => Response::Found(
                match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.find_row(&st, &restriction, forward),
                    AnyTable::Hierarchy(t) => t.find_row(&st, &restriction, forward),
                }
                .map_err(err)?
                .map(n32),
            ),
            Call::QueryPosition { table } => {
                let t = tables.get(&path, table)?;
                let position = match t {
                    AnyTable::Content(t) => t.position(),
                    AnyTable::Hierarchy(t) => t.position(),
                };
                Response::Position {
                    position: n32(position),
                    rows: n32(t.row_count()),
                }
            }
            Call::ReloadTable { table } => {
                let ot = tables.get_open(&path, table)?;
                // The reload shows every change so far: none is left to notify.
                ot.changes.take_overflow();
                ot.changes.events.try_iter().for_each(drop);
                let t = &mut ot.table;
                match t {
                    AnyTable::Content(t) => t.reload(&st),
                    AnyTable::Hierarchy(t) => t.reload(&st),
                }
                .map_err(err)?;
                Response::Table {
                    id: table,
                    rows: n32(t.row_count()),
                }
            }
            Call::LocateRow {
                table,
                inst_id,
                inst_num,
            } => Response::Found(
                match tables.get(&path, table)? {
                    AnyTable::Content(t) => t.locate(inst_id, inst_num),
                    AnyTable::Hierarchy(t) => t.locate(inst_id),
                }
                .map(n32),
            ),
            Call::ReadTableRow {
                table,
                columns,
                inst_id,
                inst_num,
            } => {
                let t = tables.get(&path, table)?;
                let row = match t {
                    AnyTable::Content(t) => t.locate(inst_id, inst_num).map(|i| t.row_at(&st, i, &columns)),
                    AnyTable::Hierarchy(t) => t.locate(inst_id).map(|i| t.row_at(&st, i, &columns)),
                }
                .ok_or((
                    Status::NotFound,
                    format!("no row {inst_id:#x}/{inst_num} in table {table}"),
                ))?
                .map_err(err)?;
                Response::Rows(vec![row])
            }
            Call::TableNotifications { table, columns } => {
                let ot = tables.get_open(&path, table)?;
                Response::TableEvents(table_events(&st, ot, &columns).map_err(err)?)
            }
            Call::UnloadTable { table } => {
                tables.get(&path, table)?;
                tables.open.remove(&table);
                Response::Done
            }
            Call::GetPermissions { folder } => Response::Permissions(st.permission_rows(folder).map_err(err)?),
            Call::UpdatePermissions {
                folder,
                replace,
                changes,
            } => {
                st.update_permissions(folder, replace, &changes).map_err(err)?;
                Response::Done
            }
            Call::GetRules { folder } => {
                live_folder(&st, folder)?;
                Response::Rules(st.rules(folder).map_err(err)?)
            }
            Call::UpdateRules {
                folder,
                replace,
                changes,
            } => {
                st.update_rules(folder, replace, &changes).map_err(err)?;
                Response::Done
            }
            Call::SetFolderProps { folder, props } => {
                st.set_folder_props(folder, &props).map_err(err)?;
                Response::Done
            }
            Call::RemoveFolderProps { folder, tags } => {
                st.remove_folder_props(folder, &tags).map_err(err)?;
                Response::Done
            }
            Call::CopyFolder { folder, parent, name } => {
                Response::Id(st.copy_folder(folder, parent, &name).map_err(err)?)
            }
            Call::GetFolderByName { parent, name } => {
                live_folder(&st, parent)?;
                Response::Id(st.find_folder(parent, &name).map_err(err)?.unwrap_or(0))
            }
            Call::ReadAttachment { mid, index } => {
                let a = st.read_attachment(mid, index).map_err(err)?;
                if let Some(e) = a.embedded.as_deref() {
                    depth_fits(e, 1)?;
                }
                Response::Attachment(a)
            }
            Call::SetMessageProps { mid, mut props } => {
                live_message(&st, mid)?;
                // Like Gromox's cu_set_properties, store-maintained tags are not written.
                props.retain(|p| crate::message::client_settable(p.tag));
                // A new change number first, so change probes (midbd) see the edit.
                st.touch_message(mid).map_err(err)?;
                st.set_props(Obj::Message(mid), &props).map_err(err)?;
                Response::Done
            }
            Call::RemoveMessageProps { mid, mut tags } => {
                live_message(&st, mid)?;
                tags.retain(|t| crate::message::client_settable(*t));
                st.touch_message(mid).map_err(err)?;
                st.remove_props(Obj::Message(mid), &tags).map_err(err)?;
                Response::Done
            }
            Call::ExpandRow { table, category } => {
                Response::Count(tables.get(&path, table)?.content()?.expand_row(category).map_err(err)? as u64)
            }
            Call::CollapseRow { table, category } => Response::Count(
                tables
                    .get(&path, table)?
                    .content()?
                    .collapse_row(category)
                    .map_err(err)? as u64,
            ),
            Call::GetCollapseState { table } => Response::Bytes(tables.get(&path, table)?.content()?.collapse_state()),
            Call::SetCollapseState { table, state } => {
                if state.len() > proto::MAX_COLLAPSE_STATE {
                    return Err((
                        Status::BadRequest,
                        format!(
                            "collapse state of {} bytes (at most {})",
                            state.len(),
                            proto::MAX_COLLAPSE_STATE
                        ),
                    ));
                }
                let t = tables.get(&path, table)?.content()?;
                if t.bookmark_count() >= proto::MAX_BOOKMARKS {
                    return Err((
                        Status::BadRequest,
                        format!("at most {} bookmarks per table", proto::MAX_BOOKMARKS),
                    ));
                }
                Response::Count(u64::from(t.set_collapse_state(&state).map_err(err)?))
            }
            Call::SyncContents { folder, state, opts } => {
                let cs = st.sync_contents(folder, &state, &opts).map_err(err)?;
                let new = GlobSet::from_ranges(
                    cs.changed
                        .iter()
                        .filter(|&&m| !cs.given_before.contains(m))
                        .map(|&m| (m, m))
                        .collect(),
                );
                Response::ContentSync(proto::ContentSync {
                    changed: cs.changed,
                    new,
                    deleted: cs.deleted,
                    read: cs.read,
                    unread: cs.unread,
                    state: cs.state,
                })
            }
            Call::SyncMessageHeaders { user, mids } => {
                let (done, headers) = self.message_headers(&st, user, mids).map_err(err)?;
                Response::MessageHeaders { done, headers }
            }
            Call::SyncHierarchy { folder, state } => {
                Response::HierarchySync(st.sync_hierarchy(folder, &state).map_err(err)?)
            }
            Call::ImportMessageChange {
                folder,
                mut state,
                source_key,
                change_key,
                pcl,
                associated,
                content,
            } => {
                let imp = ics::MessageImport {
                    source_key: &source_key,
                    change_key: change_key.as_deref(),
                    pcl: pcl.as_deref(),
                    associated,
                    content: &content,
                };
                let o = st.import_message_change(folder, &imp, state.as_mut()).map_err(err)?;
                Response::Imported {
                    outcome: outcome(o),
                    state,
                }
            }
            Call::ImportDeletes {
                folder,
                hierarchy,
                hard,
                source_keys,
                mut state,
            } => {
                live_folder(&st, folder)?;
                let keys: Vec<&[u8]> = source_keys.iter().map(Vec::as_slice).collect();
                let n = if hierarchy {
                    st.import_folder_deletions(&keys, hard, state.as_mut())
                } else {
                    st.import_deletions(folder, &keys, hard, state.as_mut())
                }
                .map_err(err)?;
                Response::ImportCount { count: n as u64, state }
            }
            Call::ImportReadStates {
                folder,
                user,
                changes,
                mut state,
            } => {
                live_folder(&st, folder)?;
                let changes: Vec<(&[u8], bool)> = changes.iter().map(|(k, r)| (k.as_slice(), *r)).collect();
                let n = st
                    .import_read_states(folder, &changes, user.as_deref(), state.as_mut())
                    .map_err(err)?;
                Response::ImportCount { count: n as u64, state }
            }
            Call::ImportMessageMove {
                folder,
                source_folder,
                source_message,
                pcl,
                destination_message,
                change_key,
                mut state,
            } => {
                let imp = ics::MessageMoveImport {
                    source_folder: &source_folder,
                    source_message: &source_message,
                    pcl: &pcl,
                    destination_message: &destination_message,
                    change_key: change_key.as_deref(),
                };
                let o = st.import_message_move(folder, &imp, state.as_mut()).map_err(err)?;
                Response::Imported {
                    outcome: outcome(o),
                    state,
                }
            }
            Call::ImportFolderChange {
                root,
                parent_source_key,
                source_key,
                change_key,
                pcl,
                name,
                props,
                mut state,
            } => {
                let imp = ics::FolderImport {
                    parent_source_key: &parent_source_key,
                    source_key: &source_key,
                    change_key: change_key.as_deref(),
                    pcl: pcl.as_deref(),
                    name: &name,
                    props: &props,
                };
                let o = st.import_folder_change(root, &imp, state.as_mut()).map_err(err)?;
                Response::Imported {
                    outcome: outcome(o),
                    state,
                }
            }
            Call::ReserveIds { count } => {
                if count as usize > proto::MAX_RESERVE_IDS {
                    return Err((
                        Status::BadRequest,
                        format!("at most {} ids per reservation", proto::MAX_RESERVE_IDS),
                    ));
                }
                let (first, last) = st.reserve_ids(count).map_err(err)?;
                Response::IdRange { first, last }
            }
            Call::CreateSearchFolder { parent, name } => {
                Response::Id(st.create_search_folder(parent, &name).map_err(err)?)
            }
            Call::SetSearchCriteria {
                folder,
                restriction,
                scope,
                flags,
            } => {
                restriction_fits(restriction.as_ref(), "search")?;
                if scope.as_ref().is_some_and(|s| s.len() > proto::MAX_SEARCH_SCOPE) {
                    return Err((
                        Status::BadRequest,
                        format!("at most {} scope folders", proto::MAX_SEARCH_SCOPE),
                    ));
                }
                st.set_search_criteria(folder, restriction.as_ref(), scope.as_deref(), flags)
                    .map_err(err)?;
                Response::Done
            }
            Call::GetSearchCriteria { folder } => {
                let c = st.get_search_criteria(folder).map_err(err)?;
                Response::SearchCriteria {
                    restriction: c.restriction,
                    scope: c.scope,
                    status: c.status,
                }
            }
            Call::LoadMessageInstance {
                folder,
                mid,
                associated,
            } => {
                let id = tables
                    .instances
                    .load_message(&path, &st, folder, mid, associated)
                    .map_err(err)?;
                Response::Count(u64::from(id))
            }
            Call::LoadEmbeddedInstance { attachment, create } => Response::Count(u64::from(
                tables.instances.load_embedded(&path, attachment, create).map_err(err)?,
            )),
            Call::GetInstanceProps { instance } => {
                Response::Props(tables.instances.props(&path, instance).map_err(err)?)
            }
            Call::SetInstanceProps { instance, props } => {
                tables.instances.set_props(&path, instance, props).map_err(err)?;
                Response::Done
            }
            Call::RemoveInstanceProps { instance, tags } => {
                tables.instances.remove_props(&path, instance, &tags).map_err(err)?;
                Response::Done
            }
            Call::GetInstanceRcpts { instance } => {
                Response::PropLists(tables.instances.rcpts(&path, instance).map_err(err)?)
            }
            Call::SetInstanceRcpts { instance, rcpts } => {
                tables.instances.set_rcpts(&path, instance, rcpts).map_err(err)?;
                Response::Done
            }
            Call::GetInstanceAttachments { instance } => {
                Response::PropLists(tables.instances.attachments(&path, instance).map_err(err)?)
            }
            Call::CreateAttachmentInstance { instance } => Response::Count(u64::from(
                tables.instances.create_attachment(&path, instance).map_err(err)?,
            )),
            Call::LoadAttachmentInstance { instance, index } => Response::Count(u64::from(
                tables.instances.load_attachment(&path, instance, index).map_err(err)?,
            )),
            Call::DeleteInstanceAttachment { instance, index } => {
                tables
                    .instances
                    .delete_attachment(&path, instance, index)
                    .map_err(err)?;
                Response::Done
            }
            Call::FlushInstance { instance } => {
                Response::Count(tables.instances.flush(&path, &mut st, instance).map_err(err)?)
            }
            Call::UnloadInstance { instance } => {
                tables.instances.unload(&path, instance).map_err(err)?;
                Response::Done
            }
            Call::ReadMessageInstance { instance } => {
                let m = tables.instances.read_message(&path, instance).map_err(err)?;
                depth_fits(&m, 0)?;
                Response::Message(m)
            }
            Call::ReadAttachmentInstance { instance } => {
                let a = tables.instances.read_attachment(&path, instance).map_err(err)?;
                if let Some(e) = a.embedded.as_deref() {
                    depth_fits(e, 1)?;
                }
                Response::Attachment(a)
            }
            Call::WriteMessageInstance { instance, content } => {
                tables.instances.write_message(&path, instance, content).map_err(err)?;
                Response::Done
            }
            Call::IsMsgPresent { folder, mid } => {
                Response::Count(u64::from(st.is_msg_present(folder, mid).map_err(err)?))
            }
            Call::IsMsgDeleted { mid } => Response::Count(u64::from(st.is_msg_deleted(mid).map_err(err)?)),
            Call::IsFolderPresent { folder } => Response::Count(u64::from(st.is_folder_present(folder).map_err(err)?)),
            Call::IsFolderDeleted { folder } => Response::Count(u64::from(st.is_folder_deleted(folder).map_err(err)?)),
            Call::GetFolderPerm { folder, user } => {
                Response::Count(u64::from(st.folder_rights(folder, &user).map_err(err)?))
            }
            Call::AllocateCn => Response::Count(st.allocate_cn().map_err(err)?),
            Call::SumHierarchy { folder, recursive } => {
                Response::Count(st.sum_hierarchy(folder, recursive).map_err(err)?)
            }
            Call::SumContent {
                folder,
                associated,
                deleted,
            } => Response::Count(st.sum_content(folder, associated, deleted).map_err(err)?),
            Call::GetAllNamedPropIds => Response::NamedProps(st.all_named_props().map_err(err)?),
            Call::GetFolderByClass { class } => Response::Id(st.receive_folder(&class).map_err(err)?),
            Call::CheckFolderCycle { folder, dest } => {
                Response::Count(u64::from(st.folder_cycle(folder, dest).map_err(err)?))
            }
            Call::MovecopyMessage { mid, to, copy } => {
                live_message(&st, mid)?;
                Response::Id(
                    if copy {
                        st.copy_message(mid, to)
                    } else {
                        st.move_message(mid, to)
                    }
                    .map_err(err)?,
                )
            }
            Call::GetMessageRcpts { mid } => Response::PropLists(st.read_message(mid).map_err(err)?.recipients),
            Call::RecalcSizes => {
                let tx = st.conn.transaction().map_err(|e| err(e.into()))?;
                crate::message::recompute_store_size(&tx).map_err(err)?;
                tx.commit().map_err(|e| err(e.into()))?;
                Response::Done
            }
            Call::Vacuum => {
                st.conn().execute_batch("VACUUM").map_err(|e| err(e.into()))?;
                Response::Done
            }
        };
        Ok(r)
    }
}

impl ExmdbServer {
    /// The change headers of `mids` (at most [`proto::MAX_SYNC_HEADERS`] of them, and no more
    /// than fit in a response frame): how many ids were looked at, and the headers of the
    /// messages still live among them, in order.
    fn message_headers(
        &self,
        st: &crate::Store,
        user: Option<String>,
        mut mids: Vec<u64>,
    ) -> crate::Result<(u32, Vec<proto::MessageHeader>)> {
        /// Ids read per store call.
        const BATCH: usize = 128;
        mids.truncate(proto::MAX_SYNC_HEADERS);
        let take = mids.len();
        let sync = ics::ContentSync {
            changed: mids,
            deleted: GlobSet::new(),
            read: GlobSet::new(),
            unread: GlobSet::new(),
            given_before: GlobSet::new(),
            user,
            state: proto::SyncState::new(),
        };
        // The response header and counts take under 64 bytes.
        let budget = self.max_response.saturating_sub(64);
        let (mut used, mut headers) = (0usize, Vec::new());
        let mut from = 0;
        while from < take {
            let end = (from + BATCH).min(take);
            let mut at = from;
            for c in st.sync_message_headers(&sync, from, BATCH)? {
                let h = c.header;
                // Headers come in id order, gone messages left out: find this one's index.
                while at < end && sync.changed[at] != h.mid {
                    at += 1;
                }
                let n = proto::header_wire_size(&h);
                if !headers.is_empty() && used + n > budget {
                    return Ok((n32(at), headers));
                }
                used += n;
                headers.push(h);
                at += 1;
            }
            from = end;
        }
        Ok((n32(take), headers))
    }
}

/// The wire form of an import's outcome.
fn outcome(o: ics::ImportOutcome) -> proto::ImportOutcome {
    match o {
        ics::ImportOutcome::Created(id) => proto::ImportOutcome::Created(id),
        ics::ImportOutcome::Updated(id) => proto::ImportOutcome::Updated(id),
        ics::ImportOutcome::Ignored(id) => proto::ImportOutcome::Ignored(id),
        ics::ImportOutcome::Conflict(id) => proto::ImportOutcome::Conflict(id),
        ics::ImportOutcome::Moved { mid, server_newer } => proto::ImportOutcome::Moved { mid, server_newer },
    }
}

/// A folder that exists and is not soft-deleted, or [`Status::NotFound`].
fn live_folder(st: &crate::Store, folder: u64) -> Result<(), (Status, String)> {
    match crate::store::folder_exists(st.conn(), folder) {
        Ok(true) => Ok(()),
        Ok(false) => Err(err(Error::NotFound("folder"))),
        Err(e) => Err(err(e)),
    }
}

/// A top-level message that is not soft-deleted, or [`Status::NotFound`].
fn live_message(st: &crate::Store, mid: u64) -> Result<(), (Status, String)> {
    match st.message_info(mid) {
        Ok(i) if !i.deleted => Ok(()),
        Ok(_) => Err(err(Error::NotFound("message"))),
        Err(e) => Err(err(e)),
    }
}

/// A message nested `above` levels deep whose embedded messages stay within what the protocol
/// carries (the store nests to any depth; the protocol [`proto::MAX_MESSAGE_DEPTH`] levels),
/// else [`Status::NotSupported`].
fn depth_fits(m: &MessageContent, above: usize) -> Result<(), (Status, String)> {
    if above + nesting(m) > proto::MAX_MESSAGE_DEPTH {
        return Err((
            Status::NotSupported,
            format!("embedded messages nested deeper than {}", proto::MAX_MESSAGE_DEPTH),
        ));
    }
    Ok(())
}

/// How deep embedded messages nest in `c` (0: none).
fn nesting(c: &MessageContent) -> usize {
    c.attachments
        .iter()
        .filter_map(|a| a.embedded.as_deref())
        .map(|e| 1 + nesting(e))
        .max()
        .unwrap_or(0)
}

enum CallKind {
    Copy,
    Other,
}

/// Maps a store event to its wire form.
pub fn notification(e: &Event) -> Notification {
    let n = |kind, is_folder, folder, message, other| Notification {
        kind,
        is_folder,
        folder,
        message,
        other,
    };
    match e {
        Event::NewMail { folder, message, .. } => n(nf::NEW_MAIL, false, *folder, *message, 0),
        Event::MessageCreated { folder, message } => n(nf::OBJECT_CREATED, false, *folder, *message, 0),
        Event::MessageModified { folder, message } => n(nf::OBJECT_MODIFIED, false, *folder, *message, 0),
        Event::MessageDeleted { folder, message } => n(nf::OBJECT_DELETED, false, *folder, *message, 0),
        Event::MessageMoved {
            to,
            message,
            new_message,
            ..
        } => n(nf::OBJECT_MOVED, false, *to, *message, *new_message),
        Event::MessageCopied {
            to,
            message,
            new_message,
            ..
        } => n(nf::OBJECT_COPIED, false, *to, *message, *new_message),
        Event::FolderCreated { folder, parent } => n(nf::OBJECT_CREATED, true, *folder, 0, *parent),
        Event::FolderModified { folder } => n(nf::OBJECT_MODIFIED, true, *folder, 0, 0),
        Event::FolderDeleted { folder } => n(nf::OBJECT_DELETED, true, *folder, 0, 0),
        Event::FolderMoved { folder, to, .. } => n(nf::OBJECT_MOVED, true, *folder, 0, *to),
    }
}

impl ExmdbServer {
    /// Starts forwarding the mailbox's events to a listen connection: a thread per
    /// subscription moves events from the store's [`crate::Notifier`] (object events, and the
    /// [`StoreNotice`]s that have a wire form: search completion) to the connection through
    /// [`ConnHandle::push`], with a keep-alive when nothing was sent for [`KEEPALIVE`]; it ends
    /// when the connection is gone.
    fn subscribe(&self, dir: &str, filter: u32, handle: ConnHandle) -> Result<(), (Status, String)> {
        /// How often store notices are looked at.
        const NOTICE_POLL: std::time::Duration = std::time::Duration::from_millis(100);
        let path = self.check_dir(dir)?;
        self.cache.get(&path).map_err(err)?;
        let notifier = self
            .cache
            .notifier(&path)
            .ok_or((Status::StoreError, "store closed meanwhile".to_string()))?;
        let rx = notifier.subscribe();
        let notices = notifier.subscribe_notices();
        let log = self.log.clone();
        let wanted = move |n: &Notification| filter == 0 || filter & (1u32 << n.kind) != 0;
        std::thread::Builder::new()
            .name("exmdb-notify".into())
            .spawn(move || {
                // Holding the notifier keeps it across the store's closes (StoreCache).
                let _notifier = notifier;
                let mut last = std::time::Instant::now();
                loop {
                    let mut out: Vec<Notification> = notices.try_iter().map(|n| notice(&n)).collect();
                    match rx.recv_timeout(NOTICE_POLL) {
                        Ok(ev) => out.push(notification(&ev)),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    out.retain(wanted);
                    if out.is_empty() && last.elapsed() >= KEEPALIVE {
                        out.push(Notification {
                            kind: nf::KEEPALIVE,
                            is_folder: false,
                            folder: 0,
                            message: 0,
                            other: 0,
                        });
                    }
                    for n in out {
                        last = std::time::Instant::now();
                        if !handle.push(Box::new(n.encode())) {
                            slog::debug!(log, "listener gone"; "event" => "exmdb.listener_gone");
                            return;
                        }
                    }
                }
            })
            .map_err(|e| (Status::StoreError, e.to_string()))?;
        Ok(())
    }
}

/// TableNotifications: brings a loaded table up to date with the store's changes since it was
/// loaded or last asked and answers them as TableModified events (MS-OXCNOTIF §2.2.1.4.1.2),
/// added and modified rows with `columns` read right after each change is applied (so each
/// event's position holds when a client applies them in order). A content table is updated
/// by the messages each change names (`ContentTable::apply`; categorized views and Count
/// restrictions are rebuilt and the difference told row by row); a hierarchy table is read
/// again and compared (`HierarchyTable::apply`). A table whose change queue overflowed is
/// reloaded and answers one TABLE_CHANGED, as does a batch of more than `MAX_TABLE_EVENTS`
/// events.
fn table_events(st: &crate::Store, ot: &mut OpenTable, columns: &[PropTag]) -> crate::Result<Vec<proto::TableEvent>> {
    use crate::table::table_event::TABLE_CHANGED;
    // TABLE_CHANGED: re-read the table (no row).
    let changed = || proto::TableEvent {
        event: TABLE_CHANGED,
        row: proto::TableRowRef {
            folder: 0,
            message: 0,
            instance: 0,
        },
        prior: None,
        position: 0,
        values: Vec::new(),
    };
    let overflow = ot.changes.take_overflow();
    let events: Vec<Event> = ot.changes.events.try_iter().collect();
    if events.is_empty() && !overflow {
        return Ok(Vec::new());
    }
    if overflow {
        match &mut ot.table {
            AnyTable::Hierarchy(t) => t.reload(st)?,
            AnyTable::Content(t) => t.reload(st)?,
        }
        return Ok(vec![changed()]);
    }
    // Each notification with the row's columns as the table now has them.
    let wire = |n: TableNotification, row_at: &dyn Fn(usize) -> crate::Result<Vec<Option<gromox_mapi::PropVal>>>| {
        let r = |r: TableRowId| proto::TableRowRef {
            folder: r.folder,
            message: r.message,
            instance: r.instance,
        };
        let event = n.event_type();
        Ok::<_, crate::Error>(match n {
            TableNotification::RowAdded { row, prior, position }
            | TableNotification::RowModified { row, prior, position } => proto::TableEvent {
                event,
                row: r(row),
                prior: prior.map(r),
                position: u32::try_from(position).unwrap_or(u32::MAX),
                values: row_at(position)?,
            },
            TableNotification::RowDeleted { row } => proto::TableEvent {
                event,
                row: r(row),
                prior: None,
                position: 0,
                values: Vec::new(),
            },
            TableNotification::Changed => changed(),
        })
    };
    let mut out = Vec::new();
    let mut too_many = false;
    match &mut ot.table {
        AnyTable::Hierarchy(t) => {
            let shown: HashSet<u64> = t.rows().iter().map(|r| r.0).collect();
            // Folders whose row values may have changed: modified ones, and those whose
            // content counts and sizes changed. New, deleted and moved folders are found by
            // the comparison.
            let mut touched: HashSet<u64> = HashSet::new();
            let mut relevant = false;
            for e in &events {
                match *e {
                    Event::FolderModified { folder } => {
                        relevant = true;
                        touched.insert(folder);
                    }
                    Event::FolderCreated { .. } | Event::FolderDeleted { .. } | Event::FolderMoved { .. } => {
                        relevant = true
                    }
                    Event::NewMail { folder, .. }
                    | Event::MessageCreated { folder, .. }
                    | Event::MessageModified { folder, .. }
                    | Event::MessageDeleted { folder, .. } => {
                        if shown.contains(&folder) {
                            relevant = true;
                            touched.insert(folder);
                        }
                    }
                    Event::MessageMoved { from, to, .. } | Event::MessageCopied { from, to, .. } => {
                        for f in [from, to] {
                            if shown.contains(&f) {
                                relevant = true;
                                touched.insert(f);
                            }
                        }
                    }
                }
            }
            if !relevant {
                return Ok(Vec::new());
            }
            let notes = t.apply(st, &touched)?;
            if notes.len() > proto::MAX_TABLE_EVENTS {
                return Ok(vec![changed()]);
            }
            for n in notes {
                out.push(wire(n, &|p| t.row_at(st, p, columns))?);
            }
        }
        AnyTable::Content(t) => {
            for e in &events {
                let notes = t.apply(st, e)?;
                if too_many || out.len() + notes.len() > proto::MAX_TABLE_EVENTS {
                    too_many = true;
                    continue;
                }
                for n in notes {
                    out.push(wire(n, &|p| t.row_at(st, p, columns))?);
                }
            }
        }
    }
    Ok(if too_many { vec![changed()] } else { out })
}

/// Maps a store notice to its wire form.
pub fn notice(n: &StoreNotice) -> Notification {
    match n {
        StoreNotice::SearchComplete { folder } => Notification {
            kind: nf::SEARCH_COMPLETE,
            is_folder: true,
            folder: *folder,
            message: 0,
            other: 0,
        },
    }
}

/// Keep-alive interval of listen connections.
pub const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(20);

fn err(e: Error) -> (Status, String) {
    let s = match &e {
        Error::NotFound(_) => Status::NotFound,
        Error::NameConflict(_) => Status::NameConflict,
        Error::QuotaExceeded { .. } => Status::QuotaExceeded,
        Error::AccessDenied => Status::AccessDenied,
        Error::InvalidName(_) | Error::InvalidArgument(_) => Status::BadRequest,
        Error::TooBig(_) => Status::TooBig,
        _ => Status::StoreError,
    };
    (s, e.to_string())
}

/// The runtime protocol.
pub struct ExmdbProtocol(pub Arc<ExmdbServer>);

/// One connection.
pub struct ExmdbSession {
    srv: Arc<ExmdbServer>,
    allowed: bool,
    greeted: bool,
    listening: bool,
    /// The connection's tables, dropped with it.
    tables: ConnTables,
}

impl Protocol for ExmdbProtocol {
    type Session = ExmdbSession;
    fn accept(&self, info: &ConnInfo) -> ExmdbSession {
        ExmdbSession {
            srv: self.0.clone(),
            allowed: self.0.allows(info.peer.ip()),
            greeted: false,
            listening: false,
            tables: ConnTables::default(),
        }
    }
    fn busy_reply(&self) -> &[u8] {
        // A handshake answer with a non-OK status: the client reports "busy" and retries.
        b"\x03\x00\x00\x00\x09\x01\x00"
    }
}

impl Session for ExmdbSession {
    fn pushed(&mut self, msg: gromox_runtime::Push, cx: &mut Cx<'_>) -> Next {
        self.pushed_frame(msg, cx)
    }

    fn timed_out(&mut self, _cx: &mut Cx<'_>) -> Next {
        // Listen connections are kept alive by the server's keep-alives.
        if self.listening {
            Next::Read
        } else {
            Next::Close
        }
    }

    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if !self.allowed {
            slog::warn!(self.srv.log, "connection refused by exmdb_hosts_allow"; "event" => "exmdb.acl_refused", "peer" => cx.info.peer.to_string());
            proto::write_frame(cx.out, &proto::handshake_response(Status::AccessDenied));
            return Next::Close;
        }
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            let (payload, n) = match proto::split_frame(&data[used..]) {
                Ok(Some(x)) => x,
                Ok(None) => return (used, Next::Read),
                Err(e) => return self.bad(cx, used, e),
            };
            used += n;
            if !self.greeted {
                if let Err(e) = proto::parse_handshake_request(payload) {
                    proto::write_frame(cx.out, &proto::handshake_response(Status::BadRequest));
                    return self.bad(cx, used, e);
                }
                self.greeted = true;
                proto::write_frame(cx.out, &proto::handshake_response(Status::Ok));
                continue;
            }
            match proto::decode_request(payload) {
                Ok((dir, Call::Subscribe { filter })) => {
                    if self.listening {
                        return self.bad(cx, used, proto::ProtoError::Invalid("already subscribed"));
                    }
                    match self.srv.subscribe(&dir, filter, cx.handle.clone()) {
                        Ok(()) => {
                            self.listening = true;
                            proto::write_frame(cx.out, &proto::encode_response(&Response::Done));
                        }
                        Err((st, m)) => proto::write_frame(cx.out, &proto::encode_error(st, &m)),
                    }
                }
                Ok(_) if self.listening => {
                    return self.bad(cx, used, proto::ProtoError::Invalid("call on a listen connection"));
                }
                Ok((dir, call)) => {
                    let resp = self.srv.execute_with(&dir, call, &mut self.tables);
                    proto::write_frame(cx.out, &resp);
                }
                Err(e) => {
                    proto::write_frame(cx.out, &proto::encode_error(Status::BadRequest, &e.to_string()));
                    return self.bad(cx, used, e);
                }
            }
        }
    }
}

impl ExmdbSession {
    fn pushed_frame(&self, msg: gromox_runtime::Push, cx: &mut Cx<'_>) -> Next {
        match msg.downcast::<Vec<u8>>() {
            Ok(payload) => proto::write_frame(cx.out, &payload),
            Err(_) => slog::error!(self.srv.log, "unexpected push"; "event" => "exmdb.bad_push"),
        }
        Next::Read
    }

    fn bad(&self, cx: &mut Cx<'_>, used: usize, e: proto::ProtoError) -> (usize, Next) {
        slog::warn!(self.srv.log, "malformed exmdb frame, closing"; "event" => "exmdb.bad_frame", "peer" => cx.info.peer.to_string(), "error" => e.to_string());
        (used, Next::Close)
    }
}

/// exmdbd's dispatcher as an in-process exmdb server
/// ([`gromox_clients::exmdb::LocalExmdb`]): a process that holds the stores itself (the
/// daemon, or a tool working on local mailboxes) gives its clients
/// [`gromox_clients::exmdb::ExmdbClient::in_process`] or
/// [`gromox_clients::exmdb::ExmdbRouter::with_local_store`], and calls take the same checks
/// (mailbox path, home server, maintenance mode) and code as over the wire, with the size
/// limit of a response left out (nothing is framed).
pub struct LocalExmdbd(pub Arc<ExmdbServer>);

impl gromox_clients::exmdb::LocalExmdb for LocalExmdbd {
    fn session(&self) -> Box<dyn gromox_clients::exmdb::LocalSession> {
        Box::new(LocalConn {
            server: self.0.clone(),
            tables: ConnTables::default(),
        })
    }
}

/// One in-process session: the tables it loaded live as long as it does.
struct LocalConn {
    server: Arc<ExmdbServer>,
    tables: ConnTables,
}

impl gromox_clients::exmdb::LocalSession for LocalConn {
    fn call(&mut self, dir: &str, call: Call) -> Result<Response, (Status, String)> {
        if matches!(call, Call::Subscribe { .. }) {
            return Err((
                Status::NotSupported,
                "in process, subscribe to the store's notifier instead".into(),
            ));
        }
        let (name, t) = (call.name(), std::time::Instant::now());
        let r = self.server.run(dir, call, &mut self.tables);
        if let Err((s, m)) = &r {
            slog::debug!(self.server.log, "call failed"; "event" => "exmdb.call_failed", "dir" => dir, "status" => ?s, "error" => m);
        }
        self.server
            .metrics
            .request(name, if r.is_ok() { "OK" } else { "error" }, t.elapsed());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misrouted_mailbox_is_refused_with_its_own_status() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().to_path_buf();
        let md = crate::paths::user_maildir(&state, "bob@example.org").unwrap();
        std::fs::create_dir_all(&md).unwrap();
        crate::Store::create_private(&md, "bob@example.org", "en", false, &Default::default()).unwrap();
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let cache = Arc::new(StoreCache::new(Default::default(), std::time::Duration::from_secs(60)));
        let acl = HostsAllow::parse("127.0.0.1").unwrap();
        let home: HomeCheck = Box::new(|_| Err("mx2.example.org".into()));
        let srv = ExmdbServer::new(cache.clone(), state.clone(), acl.clone(), Some(home), log.clone());
        let r = proto::decode_response(&Call::Ping, &srv.execute(md.to_str().unwrap(), Call::Ping)).unwrap();
        assert!(
            matches!(r, Err((Status::MisroutedMailbox, ref m)) if m.contains("mx2.example.org")),
            "{r:?}"
        );
        let here = ExmdbServer::new(cache, state, acl, Some(Box::new(|_| Ok(()))), log);
        let r = proto::decode_response(&Call::Ping, &here.execute(md.to_str().unwrap(), Call::Ping)).unwrap();
        assert_eq!(r, Ok(Response::Done));
    }

    fn server(limit: usize) -> (tempfile::TempDir, PathBuf, ExmdbServer) {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().to_path_buf();
        let md = crate::paths::user_maildir(&state, "bob@example.org").unwrap();
        std::fs::create_dir_all(&md).unwrap();
        crate::Store::create_private(&md, "bob@example.org", "en", false, &Default::default()).unwrap();
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let cache = Arc::new(StoreCache::new(Default::default(), std::time::Duration::from_secs(60)));
        let acl = HostsAllow::parse("127.0.0.1").unwrap();
        let srv = ExmdbServer::new(cache, state, acl, None, log).with_max_response(limit);
        (t, md, srv)
    }

    /// Rows of a QueryTable are cut to what fits in a frame: fewer rows, the cursor past them.
    #[test]
    fn query_table_returns_what_fits() {
        let (_t, md, srv) = server(64 * 1024);
        let dir = md.to_str().unwrap();
        let mut tables = ConnTables::default();
        for i in 0..10 {
            let c = MessageContent {
                props: vec![gromox_mapi::TaggedVal::new(
                    gromox_mapi::tags::PR_BODY,
                    gromox_mapi::PropVal::Unicode(format!("{i}").repeat(20_000)),
                )],
                ..Default::default()
            };
            let w = Call::WriteMessage {
                folder: 0x0d,
                associated: false,
                mid: None,
                content: c,
            };
            srv.execute(dir, w);
        }
        let run = |tables: &mut ConnTables, c: &Call| {
            proto::decode_response(c, &srv.execute_with(dir, c.clone(), tables)).unwrap()
        };
        let load = Call::LoadContentTable {
            folder: 0x0d,
            associated: false,
            restriction: None,
            sort: vec![],
            categories: 0,
            expanded: 0,
        };
        let Ok(Response::Table { id, rows: 10 }) = run(&mut tables, &load) else {
            panic!("load")
        };
        let q = Call::QueryTable {
            table: id,
            columns: vec![gromox_mapi::tags::PR_BODY],
            count: 100,
            forward: true,
            no_advance: false,
        };
        // 20 KB rows, 64 KiB frames: three rows a call, then the last one.
        for want in [3, 3, 3, 1, 0] {
            match run(&mut tables, &q) {
                Ok(Response::Rows(r)) => assert_eq!(r.len(), want),
                r => panic!("{r:?}"),
            }
        }
        assert_eq!(
            run(&mut tables, &Call::QueryPosition { table: id }),
            Ok(Response::Position { position: 10, rows: 10 })
        );
        // One row bigger than a frame: TooBig, the cursor stays.
        let (_t2, md2, tiny) = server(8 * 1024);
        let dir2 = md2.to_str().unwrap();
        let c = MessageContent {
            props: vec![gromox_mapi::TaggedVal::new(
                gromox_mapi::tags::PR_BODY,
                gromox_mapi::PropVal::Unicode("x".repeat(20_000)),
            )],
            ..Default::default()
        };
        tiny.execute(
            dir2,
            Call::WriteMessage {
                folder: 0x0d,
                associated: false,
                mid: None,
                content: c,
            },
        );
        let mut t2 = ConnTables::default();
        let run2 = |tables: &mut ConnTables, c: &Call| {
            proto::decode_response(c, &tiny.execute_with(dir2, c.clone(), tables)).unwrap()
        };
        let Ok(Response::Table { id, rows: 1 }) = run2(&mut t2, &load) else {
            panic!("load")
        };
        let q = Call::QueryTable {
            table: id,
            columns: vec![gromox_mapi::tags::PR_BODY],
            count: 100,
            forward: true,
            no_advance: false,
        };
        assert!(matches!(run2(&mut t2, &q), Err((Status::TooBig, _))));
        assert_eq!(
            run2(&mut t2, &Call::QueryPosition { table: id }),
            Ok(Response::Position { position: 0, rows: 1 })
        );
    }

    /// SyncMessageHeaders answers as many headers as fit in a frame and says how many ids it
    /// covered; ids of vanished messages count as covered; asking again gets the rest.
    #[test]
    fn message_headers_are_cut_to_the_frame() {
        let (_t, md, srv) = server(4096);
        let dir = md.to_str().unwrap();
        let mut mids = Vec::new();
        for _ in 0..100 {
            let w = Call::WriteMessage {
                folder: 0x0d,
                associated: false,
                mid: None,
                content: MessageContent::default(),
            };
            match proto::decode_response(&w, &srv.execute(dir, w.clone())).unwrap() {
                Ok(Response::Id(m)) => mids.push(m),
                r => panic!("{r:?}"),
            }
        }
        srv.execute(
            dir,
            Call::DeleteMessages {
                mids: vec![mids[1]],
                hard: true,
            },
        );
        let mut asked = vec![0x7777_7777];
        asked.extend_from_slice(&mids);
        let (mut from, mut got) = (0, Vec::new());
        let mut pages = 0;
        while from < asked.len() {
            let c = Call::SyncMessageHeaders {
                user: None,
                mids: asked[from..].to_vec(),
            };
            let p = srv.execute(dir, c.clone());
            assert!(p.len() <= 4096);
            match proto::decode_response(&c, &p).unwrap() {
                Ok(Response::MessageHeaders { done, headers }) => {
                    assert!(done > 0);
                    from += done as usize;
                    got.extend(headers.into_iter().map(|h| h.mid));
                }
                r => panic!("{r:?}"),
            }
            pages += 1;
        }
        assert!(pages > 2, "{pages} pages");
        let mut want = mids.clone();
        want.remove(1);
        assert_eq!(got, want);
        // A collapsed categorized table shows one row but holds (and is counted with) them all.
        let mut tables = ConnTables::default();
        let load = Call::LoadContentTable {
            folder: 0x0d,
            associated: false,
            restriction: None,
            sort: vec![proto::SortKey {
                tag: gromox_mapi::tags::PR_SUBJECT,
                descending: false,
            }],
            categories: 1,
            expanded: 0,
        };
        let Ok(Response::Table { id, rows: 1 }) =
            proto::decode_response(&load, &srv.execute_with(dir, load.clone(), &mut tables)).unwrap()
        else {
            panic!("load")
        };
        assert_eq!(tables.open[&id].table.held_rows(), 100);
    }

    /// A response over the (here small) frame limit is answered TooBig instead of being
    /// framed; the write it answered is done, smaller answers pass.
    #[test]
    fn oversized_responses_are_answered_too_big() {
        let (_t, md, srv) = server(4096);
        let dir = md.to_str().unwrap();
        let big = MessageContent {
            props: vec![gromox_mapi::TaggedVal::new(
                gromox_mapi::tags::PR_BODY,
                gromox_mapi::PropVal::Unicode("x".repeat(10_000)),
            )],
            ..Default::default()
        };
        let write = Call::WriteMessage {
            folder: 0x0d,
            associated: false,
            mid: None,
            content: big,
        };
        let Ok(Response::Id(mid)) = proto::decode_response(&write, &srv.execute(dir, write.clone())).unwrap() else {
            panic!("write failed")
        };
        let read = Call::ReadMessage { mid };
        match proto::decode_response(&read, &srv.execute(dir, read.clone())).unwrap() {
            Err((Status::TooBig, m)) => assert!(m.contains("4096"), "{m}"),
            r => panic!("{r:?}"),
        }
        let small = Call::GetFolderProps(0x0d);
        assert!(matches!(
            proto::decode_response(&small, &srv.execute(dir, small.clone())).unwrap(),
            Ok(Response::Props(_))
        ));
    }

    /// Instance ids are valid only for the mailbox that loaded them (and on their connection),
    /// are freed with it, and an instance's children flush nowhere once it is unloaded.
    #[test]
    fn instances_are_per_mailbox_and_connection() {
        let (t, md, srv) = server(proto::MAX_FRAME);
        let dir = md.to_str().unwrap();
        let md2 = crate::paths::user_maildir(t.path(), "carol@example.org").unwrap();
        std::fs::create_dir_all(&md2).unwrap();
        crate::Store::create_private(&md2, "carol@example.org", "en", false, &Default::default()).unwrap();
        let dir2 = md2.to_str().unwrap();
        let mut conn = ConnTables::default();
        let mut run =
            |dir: &str, c: Call| proto::decode_response(&c, &srv.execute_with(dir, c.clone(), &mut conn)).unwrap();
        let load = Call::LoadMessageInstance {
            folder: 0x0d,
            mid: None,
            associated: false,
        };
        let Ok(Response::Count(id)) = run(dir, load.clone()) else {
            panic!("load")
        };
        let id = u32::try_from(id).unwrap();
        let props = Call::GetInstanceProps { instance: id };
        assert!(matches!(run(dir2, props.clone()), Err((Status::NotFound, _))));
        assert_eq!(run(dir, props.clone()), Ok(Response::Props(vec![])));
        let Ok(Response::Count(att)) = run(dir, Call::CreateAttachmentInstance { instance: id }) else {
            panic!("attachment")
        };
        assert_eq!(run(dir, Call::UnloadInstance { instance: id }), Ok(Response::Done));
        let flush = Call::FlushInstance {
            instance: u32::try_from(att).unwrap(),
        };
        assert!(matches!(run(dir, flush), Err((Status::NotFound, _))));
        // A new message of a folder that does not exist is refused at once.
        let bad = Call::LoadMessageInstance {
            folder: 0x7777_7777,
            mid: None,
            associated: false,
        };
        assert!(matches!(run(dir, bad), Err((Status::NotFound, _))));
        assert_eq!(conn.instances.len(), 1);
        assert!(conn.instances.held_bytes() < 1024);
    }

    /// A connection holds at most MAX_TABLES tables; ids are per mailbox and connection, and
    /// unloading makes room again.
    #[test]
    fn tables_are_bounded_per_connection() {
        let (_t, md, srv) = server(proto::MAX_FRAME);
        let dir = md.to_str().unwrap();
        let mut tables = ConnTables::default();
        let load = Call::LoadContentTable {
            folder: 0x0d,
            associated: false,
            restriction: None,
            sort: vec![],
            categories: 0,
            expanded: 0,
        };
        let run = |tables: &mut ConnTables, c: &Call| {
            proto::decode_response(c, &srv.execute_with(dir, c.clone(), tables)).unwrap()
        };
        let mut ids = Vec::new();
        for _ in 0..proto::MAX_TABLES {
            match run(&mut tables, &load) {
                Ok(Response::Table { id, rows: 0 }) => ids.push(id),
                r => panic!("{r:?}"),
            }
        }
        assert!(matches!(run(&mut tables, &load), Err((Status::BadRequest, _))));
        assert_eq!(tables.len(), proto::MAX_TABLES);
        let unload = Call::UnloadTable { table: ids[3] };
        assert_eq!(run(&mut tables, &unload), Ok(Response::Done));
        assert!(matches!(run(&mut tables, &unload), Err((Status::NotFound, _))));
        assert!(matches!(run(&mut tables, &load), Ok(Response::Table { .. })));
        // Another connection does not see these tables.
        let mut other = ConnTables::default();
        let q = Call::QueryPosition { table: ids[0] };
        assert!(matches!(run(&mut other, &q), Err((Status::NotFound, _))));
        assert_eq!(run(&mut tables, &q), Ok(Response::Position { position: 0, rows: 0 }));
        // A restriction too big to keep is refused.
        let big = gromox_mapi::restriction::Restriction::Exist(gromox_mapi::tags::PR_SUBJECT);
        let big = gromox_mapi::restriction::Restriction::Or(vec![big; proto::MAX_TABLE_RESTRICTION / 4]);
        let load_big = Call::LoadContentTable {
            folder: 0x0d,
            associated: false,
            restriction: Some(big),
            sort: vec![],
            categories: 0,
            expanded: 0,
        };
        tables.open.remove(&ids[5]);
        match run(&mut tables, &load_big) {
            Err((Status::BadRequest, m)) => assert!(m.contains("restriction"), "{m}"),
            r => panic!("{r:?}"),
        }
        // Unknown folders are not loaded.
        let bad = Call::LoadHierarchyTable {
            folder: 0x7777_7777,
            recursive: false,
            restriction: None,
            sort: vec![],
        };
        assert!(matches!(run(&mut tables, &bad), Err((Status::NotFound, _))));
    }
}
