//! Client of exmdbd's RPC protocol ([`gromox_exmdb_proto`]): a small pool of connections to
//! one server, with connect/read timeouts. A pooled connection the server closed while idle
//! (e.g. after a restart) is detected before reuse and replaced, so a call is never sent twice;
//! while the server is down, calls fail with an error instead of hanging.
//!
//! When the store is in this process, [`ExmdbClient::in_process`] gives the same client API
//! over a [`LocalExmdb`] (exmdbd's dispatcher on a local store cache, `exmdbd::rpc::LocalExmdbd`):
//! calls run directly, with the same validation and results, without sockets or encoding.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use gromox_exmdb_proto::ContentSyncOptions;
use gromox_exmdb_proto::{self as proto, Call, Response, Status};
use gromox_mapi::props::{PropTag, TaggedVal};

/// Errors of the exmdb client.
#[derive(Debug, thiserror::Error)]
pub enum ExmdbError {
    /// Network error or timeout.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the connection at the handshake (e.g. `AccessDenied`).
    #[error("refused by server: {0:?}")]
    Refused(Status),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// The server sent bytes that do not decode.
    #[error("protocol error: {0}")]
    Protocol(#[from] proto::ProtoError),
    /// The call failed on the server.
    #[error("{0:?}: {1}")]
    Call(Status, String),
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ExmdbOptions {
    /// Most idle connections kept (`rpc_proxy_connection_num`).
    pub pool_size: usize,
    pub connect_timeout: Duration,
    /// Read/write timeout of one call.
    pub io_timeout: Duration,
}

impl Default for ExmdbOptions {
    fn default() -> Self {
        ExmdbOptions {
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(60),
        }
    }
}

/// A pool of connections to one exmdbd, or the in-process path to a local one.
pub struct ExmdbClient {
    addr: SocketAddr,
    opts: ExmdbOptions,
    pool: Mutex<Vec<Conn>>,
    local: Option<Arc<dyn LocalExmdb>>,
}

/// An exmdb server in this process (DESIGN.md §5: the in-process path when the store is
/// local). exmdbd implements it over its dispatcher; calls behave as over the wire, minus
/// the sockets and the encoding.
pub trait LocalExmdb: Send + Sync {
    /// A new session: the state one connection would hold (its loaded tables).
    fn session(&self) -> Box<dyn LocalSession>;
}

/// One in-process session of a [`LocalExmdb`].
pub trait LocalSession: Send {
    /// Runs `call` on mailbox `dir` (a call that turns a connection into a listen connection,
    /// [`Call::Subscribe`], answers [`Status::NotSupported`]: subscribe to the store's notifier
    /// in process instead).
    fn call(&mut self, dir: &str, call: Call) -> Result<Response, (Status, String)>;
}

/// A connection: a socket to exmdbd, or an in-process session.
enum Link {
    Tcp(Conn),
    Local(Box<dyn LocalSession>),
}

impl Link {
    fn call(&mut self, dir: &str, call: &Call) -> Result<Result<Response, (Status, String)>, ExmdbError> {
        match self {
            Link::Tcp(c) => c.call(dir, call),
            Link::Local(s) => Ok(s.call(dir, call.clone())),
        }
    }
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

/// A search folder's criteria ([`ExmdbClient::get_search_criteria`]; MS-OXCFOLD §2.2.1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchCriteria {
    /// `None` before the first SetSearchCriteria.
    pub restriction: Option<gromox_mapi::restriction::Restriction>,
    pub scope: Vec<u64>,
    /// RopGetSearchCriteria SearchFlags (MS-OXCFOLD §2.2.1.5.2; SEARCH_COMPLETE 0x1000 once
    /// populated).
    pub status: u32,
}

/// A message change to import ([`ExmdbClient::import_message_change`]).
#[derive(Debug, Clone, Copy)]
pub struct MessageImport<'a> {
    /// PidTagSourceKey of the message.
    pub source_key: &'a [u8],
    /// PidTagChangeKey of the client's version (absent: the server makes one).
    pub change_key: Option<&'a [u8]>,
    /// PidTagPredecessorChangeList of the client's version.
    pub pcl: Option<&'a [u8]>,
    pub associated: bool,
    pub content: &'a proto::MessageContent,
}

/// A message move to import ([`ExmdbClient::import_message_move`]).
#[derive(Debug, Clone, Copy)]
pub struct MessageMoveImport<'a> {
    pub source_folder: &'a [u8],
    pub source_message: &'a [u8],
    pub pcl: &'a [u8],
    pub destination_message: &'a [u8],
    pub change_key: Option<&'a [u8]>,
}

/// A folder change to import ([`ExmdbClient::import_folder_change`]).
#[derive(Debug, Clone, Copy)]
pub struct FolderImport<'a> {
    /// Empty for a folder directly below the synchronised one.
    pub parent_source_key: &'a [u8],
    pub source_key: &'a [u8],
    pub change_key: Option<&'a [u8]>,
    pub pcl: Option<&'a [u8]>,
    pub name: &'a str,
    pub props: &'a [gromox_mapi::props::TaggedVal],
}

impl ExmdbClient {
    pub fn new(addr: SocketAddr, opts: ExmdbOptions) -> ExmdbClient {
        ExmdbClient {
            addr,
            opts,
            pool: Mutex::new(Vec::new()),
            local: None,
        }
    }

    /// A client whose calls run in this process on `local` (no network; `addr` reports the
    /// unspecified address).
    pub fn in_process(local: Arc<dyn LocalExmdb>) -> ExmdbClient {
        ExmdbClient {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            opts: ExmdbOptions::default(),
            pool: Mutex::new(Vec::new()),
            local: Some(local),
        }
    }

    /// Whether calls run in this process.
    pub fn is_in_process(&self) -> bool {
        self.local.is_some()
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `call` on mailbox `dir`.
    pub fn call(&self, dir: &str, call: &Call) -> Result<Response, ExmdbError> {
        if let Some(l) = &self.local {
            return l
                .session()
                .call(dir, call.clone())
                .map_err(|(s, m)| ExmdbError::Call(s, m));
        }
        let mut c = match self.take_live() {
            Some(c) => c,
            None => self.connect()?,
        };
        let r = c.call(dir, call)?;
        // The server closes a connection after answering BadRequest (a request it could not
        // decode): such a connection is not reused.
        let reusable = !matches!(r, Err((Status::BadRequest, _)));
        let mut p = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if reusable && p.len() < self.opts.pool_size {
            p.push(c);
        }
        drop(p);
        r.map_err(|(s, m)| ExmdbError::Call(s, m))
    }

    /// Liveness check of the server and the mailbox.
    pub fn ping(&self, dir: &str) -> Result<(), ExmdbError> {
        self.call(dir, &Call::Ping).map(|_| ())
    }

    /// `(highest change number, count)` of a folder's messages ([`Call::FolderState`]).
    pub fn folder_state(&self, dir: &str, folder: u64) -> Result<(u64, u64), ExmdbError> {
        match self.call(dir, &Call::FolderState { folder })? {
            Response::FolderState { max_cn, count } => Ok((max_cn, count)),
            r => Err(unexpected(r)),
        }
    }

    /// Message summaries with ids above `after_mid` and a change number of at least `min_cn`
    /// ([`Call::ListMessages`]).
    pub fn list_messages(
        &self,
        dir: &str,
        folder: u64,
        after_mid: u64,
        limit: u32,
        min_cn: u64,
    ) -> Result<Vec<proto::MessageSummary>, ExmdbError> {
        match self.call(
            dir,
            &Call::ListMessages {
                folder,
                after_mid,
                limit,
                min_cn,
            },
        )? {
            Response::Messages(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// The RFC 5322 rendition of a message ([`Call::MessageRfc822`]).
    pub fn message_rfc822(&self, dir: &str, mid: u64) -> Result<Vec<u8>, ExmdbError> {
        match self.call(dir, &Call::MessageRfc822 { mid })? {
            Response::Bytes(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// The property ids of named properties in order, 0 where unknown and not created
    /// ([`Call::GetNamedPropIds`], Gromox `get_named_propids`).
    pub fn get_named_propids(
        &self,
        dir: &str,
        create: bool,
        names: &[gromox_mapi::named::PropName],
    ) -> Result<Vec<u16>, ExmdbError> {
        let call = Call::GetNamedPropIds {
            create,
            names: names.to_vec(),
        };
        match self.call(dir, &call)? {
            Response::PropIds(v) if v.len() == names.len() => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// The names of property ids in order, `None` where an id is not mapped
    /// ([`Call::GetNamedPropNames`], Gromox `get_named_propnames`).
    pub fn get_named_propnames(
        &self,
        dir: &str,
        ids: &[u16],
    ) -> Result<Vec<Option<gromox_mapi::named::PropName>>, ExmdbError> {
        match self.call(dir, &Call::GetNamedPropNames { ids: ids.to_vec() })? {
            Response::PropNames(v) if v.len() == ids.len() => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// A whole message: properties, recipients, attachments and embedded messages
    /// ([`Call::ReadMessage`], Gromox `read_message`).
    pub fn read_message(&self, dir: &str, mid: u64) -> Result<proto::MessageContent, ExmdbError> {
        match self.call(dir, &Call::ReadMessage { mid })? {
            Response::Message(m) => Ok(m),
            r => Err(unexpected(r)),
        }
    }

    /// Stores a whole message as a new message of `folder`; its id ([`Call::WriteMessage`],
    /// Gromox `write_message`).
    pub fn write_message(
        &self,
        dir: &str,
        folder: u64,
        associated: bool,
        content: &proto::MessageContent,
    ) -> Result<u64, ExmdbError> {
        let call = Call::WriteMessage {
            folder,
            associated,
            mid: None,
            content: content.clone(),
        };
        match self.call(dir, &call)? {
            Response::Id(id) => Ok(id),
            r => Err(unexpected(r)),
        }
    }

    /// Replaces the whole content of message `mid` of `folder` (normal or FAI as
    /// `associated`), as a message-instance save does ([`Call::WriteMessage`] with a message
    /// id, Gromox `write_message` onto an existing message).
    pub fn overwrite_message(
        &self,
        dir: &str,
        folder: u64,
        mid: u64,
        associated: bool,
        content: &proto::MessageContent,
    ) -> Result<(), ExmdbError> {
        let call = Call::WriteMessage {
            folder,
            associated,
            mid: Some(mid),
            content: content.clone(),
        };
        match self.call(dir, &call)? {
            Response::Id(id) if id == mid => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    /// A folder's permission rows: default and anonymous members first
    /// ([`Call::GetPermissions`], MS-OXCPERM §2.2.1).
    pub fn get_permissions(&self, dir: &str, folder: u64) -> Result<Vec<proto::PermissionRow>, ExmdbError> {
        match self.call(dir, &Call::GetPermissions { folder })? {
            Response::Permissions(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// Adds, modifies and removes permission rows in one transaction; `replace` first
    /// removes every member ([`Call::UpdatePermissions`], MS-OXCPERM §2.2.2).
    pub fn update_permissions(
        &self,
        dir: &str,
        folder: u64,
        replace: bool,
        changes: &[proto::PermissionChange],
    ) -> Result<(), ExmdbError> {
        let call = Call::UpdatePermissions {
            folder,
            replace,
            changes: changes.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// A folder's server-side rules in evaluation order ([`Call::GetRules`], MS-OXORULE
    /// §2.2.1).
    pub fn get_rules(&self, dir: &str, folder: u64) -> Result<Vec<proto::Rule>, ExmdbError> {
        match self.call(dir, &Call::GetRules { folder })? {
            Response::Rules(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// Adds, modifies and removes rules in one transaction; `replace` first removes every
    /// rule of the folder ([`Call::UpdateRules`], MS-OXORULE §2.2.2).
    pub fn update_rules(
        &self,
        dir: &str,
        folder: u64,
        replace: bool,
        changes: &[proto::RuleChange],
    ) -> Result<(), ExmdbError> {
        let call = Call::UpdateRules {
            folder,
            replace,
            changes: changes.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Sets folder properties ([`Call::SetFolderProps`], Gromox `set_folder_properties`).
    pub fn set_folder_props(
        &self,
        dir: &str,
        folder: u64,
        props: &[gromox_mapi::props::TaggedVal],
    ) -> Result<(), ExmdbError> {
        let call = Call::SetFolderProps {
            folder,
            props: props.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Removes folder properties ([`Call::RemoveFolderProps`], Gromox
    /// `remove_folder_properties`).
    pub fn remove_folder_props(
        &self,
        dir: &str,
        folder: u64,
        tags: &[gromox_mapi::props::PropTag],
    ) -> Result<(), ExmdbError> {
        let call = Call::RemoveFolderProps {
            folder,
            tags: tags.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Copies a folder with its messages and subfolders under `parent` as `name`; the new
    /// folder's id ([`Call::CopyFolder`]).
    pub fn copy_folder(&self, dir: &str, folder: u64, parent: u64, name: &str) -> Result<u64, ExmdbError> {
        let call = Call::CopyFolder {
            folder,
            parent,
            name: name.to_string(),
        };
        match self.call(dir, &call)? {
            Response::Id(id) => Ok(id),
            r => Err(unexpected(r)),
        }
    }

    /// The subfolder of `parent` named `name`, if any ([`Call::GetFolderByName`], Gromox
    /// `get_folder_by_name`).
    pub fn get_folder_by_name(&self, dir: &str, parent: u64, name: &str) -> Result<Option<u64>, ExmdbError> {
        let call = Call::GetFolderByName {
            parent,
            name: name.to_string(),
        };
        match self.call(dir, &call)? {
            Response::Id(id) => Ok((id != 0).then_some(id)),
            r => Err(unexpected(r)),
        }
    }

    /// One attachment of a message by index, with its data and embedded message, without
    /// the rest of the message ([`Call::ReadAttachment`]).
    pub fn read_attachment(&self, dir: &str, mid: u64, index: u32) -> Result<proto::AttachmentContent, ExmdbError> {
        match self.call(dir, &Call::ReadAttachment { mid, index })? {
            Response::Attachment(a) => Ok(a),
            r => Err(unexpected(r)),
        }
    }

    /// Contents synchronisation download of `folder` from `state` ([`Call::SyncContents`],
    /// MS-OXCFXICS §3.2.5.3): ids of new and changed messages, deletions, read-state changes and
    /// the new state. Headers: [`ExmdbClient::each_message_header`]; contents:
    /// [`ExmdbClient::read_message`].
    pub fn sync_contents(
        &self,
        dir: &str,
        folder: u64,
        state: &proto::SyncState,
        opts: &ContentSyncOptions,
    ) -> Result<proto::ContentSync, ExmdbError> {
        let call = Call::SyncContents {
            folder,
            state: state.clone(),
            opts: opts.clone(),
        };
        match self.call(dir, &call)? {
            Response::ContentSync(c) => Ok(c),
            r => Err(unexpected(r)),
        }
    }

    /// One page of change headers of `mids` ([`Call::SyncMessageHeaders`]): how many of `mids`
    /// the server looked at (at most [`proto::MAX_SYNC_HEADERS`], fewer when a frame is full)
    /// and the headers of those still live.
    pub fn sync_message_headers(
        &self,
        dir: &str,
        user: Option<&str>,
        mids: &[u64],
    ) -> Result<(usize, Vec<proto::MessageHeader>), ExmdbError> {
        let call = Call::SyncMessageHeaders {
            user: user.map(str::to_owned),
            mids: mids[..mids.len().min(proto::MAX_SYNC_HEADERS)].to_vec(),
        };
        match self.call(dir, &call)? {
            Response::MessageHeaders { done, headers } if (done as usize) <= mids.len() => Ok((done as usize, headers)),
            r => Err(unexpected(r)),
        }
    }

    /// The change headers of all of `mids` in order, page by page, each handed to `f` (so a
    /// first sync of a large folder never holds them all).
    pub fn each_message_header(
        &self,
        dir: &str,
        user: Option<&str>,
        mids: &[u64],
        mut f: impl FnMut(proto::MessageHeader),
    ) -> Result<(), ExmdbError> {
        let mut from = 0;
        while from < mids.len() {
            let (done, headers) = self.sync_message_headers(dir, user, &mids[from..])?;
            if done == 0 {
                return Err(ExmdbError::Protocol(proto::ProtoError::Invalid(
                    "no progress in SyncMessageHeaders",
                )));
            }
            headers.into_iter().for_each(&mut f);
            from += done;
        }
        Ok(())
    }

    /// Hierarchy synchronisation download of the subtree below `folder`
    /// ([`Call::SyncHierarchy`]).
    pub fn sync_hierarchy(
        &self,
        dir: &str,
        folder: u64,
        state: &proto::SyncState,
    ) -> Result<proto::HierarchySync, ExmdbError> {
        let call = Call::SyncHierarchy {
            folder,
            state: state.clone(),
        };
        match self.call(dir, &call)? {
            Response::HierarchySync(h) => Ok(h),
            r => Err(unexpected(r)),
        }
    }

    /// Runs an import call; with `state`, the server's updated state replaces it.
    fn import(&self, dir: &str, call: &Call, state: Option<&mut proto::SyncState>) -> Result<Response, ExmdbError> {
        let r = self.call(dir, call)?;
        let back = match &r {
            Response::Imported { state, .. } | Response::ImportCount { state, .. } => state.clone(),
            _ => return Err(unexpected(r)),
        };
        if let (Some(s), Some(b)) = (state, back) {
            *s = b;
        }
        Ok(r)
    }

    /// Imports a whole message by source key into `folder` with conflict detection
    /// ([`Call::ImportMessageChange`], MS-OXCFXICS §2.2.3.2.4.2); with the client's `state`,
    /// the change is recorded in it.
    pub fn import_message_change(
        &self,
        dir: &str,
        folder: u64,
        imp: &MessageImport<'_>,
        state: Option<&mut proto::SyncState>,
    ) -> Result<proto::ImportOutcome, ExmdbError> {
        let call = Call::ImportMessageChange {
            folder,
            state: state.as_deref().cloned(),
            source_key: imp.source_key.to_vec(),
            change_key: imp.change_key.map(<[u8]>::to_vec),
            pcl: imp.pcl.map(<[u8]>::to_vec),
            associated: imp.associated,
            content: imp.content.clone(),
        };
        match self.import(dir, &call, state)? {
            Response::Imported { outcome, .. } => Ok(outcome),
            r => Err(unexpected(r)),
        }
    }

    /// Deletes messages of `folder` (or, with `hierarchy`, folders) by source key
    /// ([`Call::ImportDeletes`], MS-OXCFXICS §2.2.3.2.4.5); how many were deleted.
    pub fn import_deletes(
        &self,
        dir: &str,
        folder: u64,
        hierarchy: bool,
        hard: bool,
        source_keys: &[Vec<u8>],
        state: Option<&mut proto::SyncState>,
    ) -> Result<u64, ExmdbError> {
        let call = Call::ImportDeletes {
            folder,
            hierarchy,
            hard,
            source_keys: source_keys.to_vec(),
            state: state.as_deref().cloned(),
        };
        match self.import(dir, &call, state)? {
            Response::ImportCount { count, .. } => Ok(count),
            r => Err(unexpected(r)),
        }
    }

    /// Read-state changes by source key ([`Call::ImportReadStates`], MS-OXCFXICS
    /// §2.2.3.2.4.6); how many messages were found.
    pub fn import_read_states(
        &self,
        dir: &str,
        folder: u64,
        user: Option<&str>,
        changes: &[(Vec<u8>, bool)],
        state: Option<&mut proto::SyncState>,
    ) -> Result<u64, ExmdbError> {
        let call = Call::ImportReadStates {
            folder,
            user: user.map(str::to_owned),
            changes: changes.to_vec(),
            state: state.as_deref().cloned(),
        };
        match self.import(dir, &call, state)? {
            Response::ImportCount { count, .. } => Ok(count),
            r => Err(unexpected(r)),
        }
    }

    /// A message move into `folder` ([`Call::ImportMessageMove`], MS-OXCFXICS §2.2.3.2.4.4).
    pub fn import_message_move(
        &self,
        dir: &str,
        folder: u64,
        imp: &MessageMoveImport<'_>,
        state: Option<&mut proto::SyncState>,
    ) -> Result<proto::ImportOutcome, ExmdbError> {
        let call = Call::ImportMessageMove {
            folder,
            source_folder: imp.source_folder.to_vec(),
            source_message: imp.source_message.to_vec(),
            pcl: imp.pcl.to_vec(),
            destination_message: imp.destination_message.to_vec(),
            change_key: imp.change_key.map(<[u8]>::to_vec),
            state: state.as_deref().cloned(),
        };
        match self.import(dir, &call, state)? {
            Response::Imported { outcome, .. } => Ok(outcome),
            r => Err(unexpected(r)),
        }
    }

    /// A folder change below `root` ([`Call::ImportFolderChange`], MS-OXCFXICS §2.2.3.2.4.3).
    pub fn import_folder_change(
        &self,
        dir: &str,
        root: u64,
        imp: &FolderImport<'_>,
        state: Option<&mut proto::SyncState>,
    ) -> Result<proto::ImportOutcome, ExmdbError> {
        let call = Call::ImportFolderChange {
            root,
            parent_source_key: imp.parent_source_key.to_vec(),
            source_key: imp.source_key.to_vec(),
            change_key: imp.change_key.map(<[u8]>::to_vec),
            pcl: imp.pcl.map(<[u8]>::to_vec),
            name: imp.name.to_owned(),
            props: imp.props.to_vec(),
            state: state.as_deref().cloned(),
        };
        match self.import(dir, &call, state)? {
            Response::Imported { outcome, .. } => Ok(outcome),
            r => Err(unexpected(r)),
        }
    }

    fn count(&self, dir: &str, call: &Call) -> Result<u64, ExmdbError> {
        match self.call(dir, call)? {
            Response::Count(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    fn id(&self, dir: &str, call: &Call) -> Result<u64, ExmdbError> {
        match self.call(dir, call)? {
            Response::Id(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    /// A search folder under `parent` ([`Call::CreateSearchFolder`], MS-OXCFOLD §2.2.1.2 with
    /// FOLDER_SEARCH).
    pub fn create_search_folder(&self, dir: &str, parent: u64, name: &str) -> Result<u64, ExmdbError> {
        let call = Call::CreateSearchFolder {
            parent,
            name: name.to_owned(),
        };
        self.id(dir, &call)
    }

    /// Sets a search folder's criteria and starts (or stops) its search
    /// ([`Call::SetSearchCriteria`], MS-OXCFOLD §2.2.1.4; `flags` as in §2.2.1.4.1).
    pub fn set_search_criteria(
        &self,
        dir: &str,
        folder: u64,
        restriction: Option<&gromox_mapi::restriction::Restriction>,
        scope: Option<&[u64]>,
        flags: u32,
    ) -> Result<(), ExmdbError> {
        let call = Call::SetSearchCriteria {
            folder,
            restriction: restriction.cloned(),
            scope: scope.map(<[u64]>::to_vec),
            flags,
        };
        self.call(dir, &call).map(|_| ())
    }

    /// A search folder's restriction, scope folders and state flags
    /// ([`Call::GetSearchCriteria`], MS-OXCFOLD §2.2.1.5).
    pub fn get_search_criteria(&self, dir: &str, folder: u64) -> Result<SearchCriteria, ExmdbError> {
        match self.call(dir, &Call::GetSearchCriteria { folder })? {
            Response::SearchCriteria {
                restriction,
                scope,
                status,
            } => Ok(SearchCriteria {
                restriction,
                scope,
                status,
            }),
            r => Err(unexpected(r)),
        }
    }

    /// Whether `mid` is a live message of `folder` ([`Call::IsMsgPresent`]).
    pub fn is_msg_present(&self, dir: &str, folder: u64, mid: u64) -> Result<bool, ExmdbError> {
        Ok(self.count(dir, &Call::IsMsgPresent { folder, mid })? != 0)
    }

    /// Whether message `mid` is soft-deleted ([`Call::IsMsgDeleted`]).
    pub fn is_msg_deleted(&self, dir: &str, mid: u64) -> Result<bool, ExmdbError> {
        Ok(self.count(dir, &Call::IsMsgDeleted { mid })? != 0)
    }

    /// Whether `folder` exists and is live ([`Call::IsFolderPresent`]).
    pub fn is_folder_present(&self, dir: &str, folder: u64) -> Result<bool, ExmdbError> {
        Ok(self.count(dir, &Call::IsFolderPresent { folder })? != 0)
    }

    /// Whether `folder` is soft-deleted ([`Call::IsFolderDeleted`]).
    pub fn is_folder_deleted(&self, dir: &str, folder: u64) -> Result<bool, ExmdbError> {
        Ok(self.count(dir, &Call::IsFolderDeleted { folder })? != 0)
    }

    /// The rights of `user` on `folder` ([`Call::GetFolderPerm`], MS-OXCPERM §2.2.7).
    pub fn get_folder_perm(&self, dir: &str, folder: u64, user: &str) -> Result<u32, ExmdbError> {
        let call = Call::GetFolderPerm {
            folder,
            user: user.to_owned(),
        };
        let n = self.count(dir, &call)?;
        u32::try_from(n).map_err(|_| unexpected(Response::Count(n)))
    }

    /// A new change number ([`Call::AllocateCn`]).
    pub fn allocate_cn(&self, dir: &str) -> Result<u64, ExmdbError> {
        self.count(dir, &Call::AllocateCn)
    }

    /// How many live subfolders `folder` has ([`Call::SumHierarchy`]).
    pub fn sum_hierarchy(&self, dir: &str, folder: u64, recursive: bool) -> Result<u64, ExmdbError> {
        self.count(dir, &Call::SumHierarchy { folder, recursive })
    }

    /// How many normal or FAI, live or soft-deleted messages `folder` holds
    /// ([`Call::SumContent`]).
    pub fn sum_content(&self, dir: &str, folder: u64, associated: bool, deleted: bool) -> Result<u64, ExmdbError> {
        let call = Call::SumContent {
            folder,
            associated,
            deleted,
        };
        self.count(dir, &call)
    }

    /// Every named property of the store with its id ([`Call::GetAllNamedPropIds`]).
    pub fn get_all_named_propids(&self, dir: &str) -> Result<Vec<(u16, gromox_mapi::named::PropName)>, ExmdbError> {
        match self.call(dir, &Call::GetAllNamedPropIds)? {
            Response::NamedProps(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// The receive folder of a message class ([`Call::GetFolderByClass`]).
    pub fn get_folder_by_class(&self, dir: &str, class: &str) -> Result<u64, ExmdbError> {
        let call = Call::GetFolderByClass {
            class: class.to_owned(),
        };
        self.id(dir, &call)
    }

    /// Whether `dest` is `folder` or below it ([`Call::CheckFolderCycle`]).
    pub fn check_folder_cycle(&self, dir: &str, folder: u64, dest: u64) -> Result<bool, ExmdbError> {
        Ok(self.count(dir, &Call::CheckFolderCycle { folder, dest })? != 0)
    }

    /// Moves or copies one message into `to`; its new id ([`Call::MovecopyMessage`]).
    pub fn movecopy_message(&self, dir: &str, mid: u64, to: u64, copy: bool) -> Result<u64, ExmdbError> {
        self.id(dir, &Call::MovecopyMessage { mid, to, copy })
    }

    /// The recipient rows of a message ([`Call::GetMessageRcpts`]).
    pub fn get_message_rcpts(&self, dir: &str, mid: u64) -> Result<Vec<Vec<TaggedVal>>, ExmdbError> {
        match self.call(dir, &Call::GetMessageRcpts { mid })? {
            Response::PropLists(l) => Ok(l),
            r => Err(unexpected(r)),
        }
    }

    /// Reserves `count` ids for objects the client creates; the first and last
    /// ([`Call::ReserveIds`], MS-OXCFXICS §2.2.3.2.4.7 RopGetLocalReplicaIds).
    pub fn reserve_ids(&self, dir: &str, count: u32) -> Result<(u64, u64), ExmdbError> {
        match self.call(dir, &Call::ReserveIds { count })? {
            Response::IdRange { first, last } => Ok((first, last)),
            r => Err(unexpected(r)),
        }
    }

    /// A connection of its own for table and instance calls: tables and message instances
    /// are server state of the connection that loaded them, so they cannot go through the
    /// pool. The connection (and every table
    /// still loaded on it) is closed when the [`ExmdbTables`] is dropped.
    pub fn tables(&self) -> Result<ExmdbTables, ExmdbError> {
        if let Some(l) = &self.local {
            return Ok(ExmdbTables {
                conn: Link::Local(l.session()),
            });
        }
        let conn = match self.take_live() {
            Some(c) => c,
            None => self.connect()?,
        };
        Ok(ExmdbTables { conn: Link::Tcp(conn) })
    }

    /// Sets properties of a message ([`Call::SetMessageProps`], Gromox
    /// `set_message_properties`).
    pub fn set_message_props(
        &self,
        dir: &str,
        mid: u64,
        props: &[gromox_mapi::props::TaggedVal],
    ) -> Result<(), ExmdbError> {
        let call = Call::SetMessageProps {
            mid,
            props: props.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Removes properties of a message ([`Call::RemoveMessageProps`], Gromox
    /// `remove_message_properties`).
    pub fn remove_message_props(
        &self,
        dir: &str,
        mid: u64,
        tags: &[gromox_mapi::props::PropTag],
    ) -> Result<(), ExmdbError> {
        let call = Call::RemoveMessageProps {
            mid,
            tags: tags.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Store a MIME message with IMAP flags; its id ([`Call::AppendRfc822`]).
    pub fn append_rfc822(
        &self,
        dir: &str,
        folder: u64,
        mime: &[u8],
        flags: &proto::ImapFlags,
        delivery_time: Option<i64>,
    ) -> Result<u64, ExmdbError> {
        match self.call(
            dir,
            &Call::AppendRfc822 {
                folder,
                mime: mime.to_vec(),
                flags: flags.clone(),
                delivery_time,
            },
        )? {
            Response::Delivered { message, .. } => Ok(message),
            r => Err(unexpected(r)),
        }
    }

    /// Copy (`copy`) or move messages; the new ids in order, 0 where a message was gone.
    pub fn copy_messages(&self, dir: &str, mids: &[u64], to: u64, copy: bool) -> Result<Vec<u64>, ExmdbError> {
        let mids = mids.to_vec();
        let call = if copy {
            Call::CopyMessages { mids, to }
        } else {
            Call::MoveMessages { mids, to }
        };
        match self.call(dir, &call)? {
            Response::Ids(v) => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    /// Deliver an Internet message to the mailbox `dir` with server-side conversion and inbox
    /// rules ([`Call::DeliverMail`]). Over quota is `Err(Call(QuotaExceeded, _))`.
    pub fn deliver_mail(
        &self,
        dir: &str,
        from: &str,
        rcpt: &str,
        mime: &[u8],
        now: i64,
    ) -> Result<proto::MailDelivery, ExmdbError> {
        let call = Call::DeliverMail {
            from: from.to_string(),
            rcpt: rcpt.to_string(),
            mime: mime.to_vec(),
            now,
        };
        // In process the call is handed over as it is (no second copy of the MIME).
        let r = match &self.local {
            Some(l) => l.session().call(dir, call).map_err(|(s, m)| ExmdbError::Call(s, m))?,
            None => self.call(dir, &call)?,
        };
        match r {
            Response::MailDelivered(d) => Ok(d),
            r => Err(unexpected(r)),
        }
    }

    /// Whether the mailbox can take `size` more bytes: `Ok(None)`, or `Ok(Some(message))`
    /// when it is over its receive quota ([`Call::CheckQuota`]).
    pub fn over_quota(&self, dir: &str, size: u64) -> Result<Option<String>, ExmdbError> {
        match self.call(dir, &Call::CheckQuota { size }) {
            Ok(_) => Ok(None),
            Err(ExmdbError::Call(Status::QuotaExceeded, m)) => Ok(Some(m)),
            Err(e) => Err(e),
        }
    }

    /// Whether an automatic reply to `peer` is due (and then recorded) ([`Call::AutoreplyDue`]).
    pub fn autoreply_due(&self, dir: &str, peer: &str, now: i64, window: i64) -> Result<bool, ExmdbError> {
        let call = Call::AutoreplyDue {
            peer: peer.to_string(),
            now,
            window,
        };
        match self.call(dir, &call)? {
            Response::Count(n) => Ok(n != 0),
            r => Err(unexpected(r)),
        }
    }

    fn take_live(&self) -> Option<Conn> {
        let mut p = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = p.pop() {
            if c.alive() {
                return Some(c);
            }
        }
        None
    }

    fn connect(&self) -> Result<Conn, ExmdbError> {
        let s = TcpStream::connect_timeout(&self.addr, self.opts.connect_timeout)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(self.opts.io_timeout))?;
        s.set_write_timeout(Some(self.opts.io_timeout))?;
        let mut c = Conn { s, buf: Vec::new() };
        c.send(&proto::handshake_request())?;
        let p = c.recv()?;
        match proto::parse_handshake_response(&p)? {
            Status::Ok => Ok(c),
            s => Err(ExmdbError::Refused(s)),
        }
    }
}

impl Conn {
    /// Whether the server has not closed this idle connection.
    fn alive(&self) -> bool {
        if self.s.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let ok = matches!(self.s.peek(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
        ok && self.s.set_nonblocking(false).is_ok()
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), ExmdbError> {
        let mut f = Vec::with_capacity(payload.len() + 4);
        proto::write_frame(&mut f, payload);
        self.s.write_all(&f)?;
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<u8>, ExmdbError> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            if let Some((p, n)) = proto::split_frame(&self.buf)? {
                let p = p.to_vec();
                self.buf.drain(..n);
                return Ok(p);
            }
            let n = self.s.read(&mut tmp)?;
            if n == 0 {
                return Err(ExmdbError::Closed);
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    fn call(&mut self, dir: &str, call: &Call) -> Result<Result<Response, (Status, String)>, ExmdbError> {
        self.send(&proto::encode_request(dir, call))?;
        let p = self.recv()?;
        Ok(proto::decode_response(call, &p)?)
    }
}

/// One connection holding content and hierarchy tables (MS-OXCTABL) and message and
/// attachment instances (MS-OXCMSG; at most [`proto::MAX_INSTANCES`]) of any mailboxes of one
/// exmdbd ([`ExmdbClient::tables`]). A table id is valid on this connection for the mailbox it
/// was loaded from; at most [`proto::MAX_TABLES`] are open at once. A request the server cannot
/// decode makes it close the connection, and with it every table on it (later calls fail with
/// [`ExmdbError::Closed`] or an I/O error); error statuses leave the connection and its tables.
pub struct ExmdbTables {
    conn: Link,
}

/// A loaded table: its id on the connection and its row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableInfo {
    pub id: u32,
    pub rows: u32,
}

impl ExmdbTables {
    /// Runs any call on this connection.
    pub fn call(&mut self, dir: &str, call: &Call) -> Result<Response, ExmdbError> {
        self.conn.call(dir, call)?.map_err(|(s, m)| ExmdbError::Call(s, m))
    }

    fn table(&mut self, dir: &str, call: &Call) -> Result<TableInfo, ExmdbError> {
        match self.call(dir, call)? {
            Response::Table { id, rows } => Ok(TableInfo { id, rows }),
            r => Err(unexpected(r)),
        }
    }

    /// A content table of `folder`'s normal or FAI messages, restricted and sorted
    /// ([`Call::LoadContentTable`]).
    pub fn load_content_table(
        &mut self,
        dir: &str,
        folder: u64,
        associated: bool,
        restriction: Option<&gromox_mapi::restriction::Restriction>,
        sort: &[proto::SortKey],
    ) -> Result<TableInfo, ExmdbError> {
        self.load_categorized_table(dir, folder, associated, restriction, sort, 0, 0)
    }

    /// A categorized content table (MS-OXCTABL §2.2.2.13 RopSortTable with CategorizedCount
    /// and ExpandedCount): the first `categories` sort keys group the rows under category
    /// header rows, the first `expanded` levels start expanded ([`Call::LoadContentTable`]).
    #[allow(clippy::too_many_arguments)]
    pub fn load_categorized_table(
        &mut self,
        dir: &str,
        folder: u64,
        associated: bool,
        restriction: Option<&gromox_mapi::restriction::Restriction>,
        sort: &[proto::SortKey],
        categories: u32,
        expanded: u32,
    ) -> Result<TableInfo, ExmdbError> {
        let call = Call::LoadContentTable {
            folder,
            associated,
            restriction: restriction.cloned(),
            sort: sort.to_vec(),
            categories,
            expanded,
        };
        self.table(dir, &call)
    }

    /// Shows a category's members; how many rows appeared ([`Call::ExpandRow`], MS-OXCTABL
    /// §2.2.2.17). `category` is the header row's PR_INST_ID.
    pub fn expand_row(&mut self, dir: &str, table: u32, category: u64) -> Result<u64, ExmdbError> {
        match self.call(dir, &Call::ExpandRow { table, category })? {
            Response::Count(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    /// Hides a category's members; how many rows went ([`Call::CollapseRow`], MS-OXCTABL
    /// §2.2.2.18).
    pub fn collapse_row(&mut self, dir: &str, table: u32, category: u64) -> Result<u64, ExmdbError> {
        match self.call(dir, &Call::CollapseRow { table, category })? {
            Response::Count(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    /// The expanded/collapsed state and the cursor row as an opaque blob
    /// ([`Call::GetCollapseState`], MS-OXCTABL §2.2.2.19).
    pub fn collapse_state(&mut self, dir: &str, table: u32) -> Result<Vec<u8>, ExmdbError> {
        match self.call(dir, &Call::GetCollapseState { table })? {
            Response::Bytes(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// Restores a state from [`ExmdbTables::collapse_state`]; a bookmark on the saved row
    /// ([`Call::SetCollapseState`], MS-OXCTABL §2.2.2.20; free it with
    /// [`ExmdbTables::free_bookmark`]).
    pub fn set_collapse_state(&mut self, dir: &str, table: u32, state: &[u8]) -> Result<u32, ExmdbError> {
        let call = Call::SetCollapseState {
            table,
            state: state.to_vec(),
        };
        match self.call(dir, &call)? {
            Response::Count(b) => u32::try_from(b).map_err(|_| unexpected(Response::Count(b))),
            r => Err(unexpected(r)),
        }
    }

    /// A hierarchy table of `folder`'s subfolders ([`Call::LoadHierarchyTable`]).
    pub fn load_hierarchy_table(
        &mut self,
        dir: &str,
        folder: u64,
        recursive: bool,
        restriction: Option<&gromox_mapi::restriction::Restriction>,
        sort: &[proto::SortKey],
    ) -> Result<TableInfo, ExmdbError> {
        let call = Call::LoadHierarchyTable {
            folder,
            recursive,
            restriction: restriction.cloned(),
            sort: sort.to_vec(),
        };
        self.table(dir, &call)
    }

    /// Up to `count` rows from the cursor, forward or backward ([`Call::QueryTable`]).
    pub fn query(
        &mut self,
        dir: &str,
        table: u32,
        columns: &[gromox_mapi::props::PropTag],
        count: u32,
        forward: bool,
        no_advance: bool,
    ) -> Result<Vec<Vec<Option<gromox_mapi::props::PropVal>>>, ExmdbError> {
        let call = Call::QueryTable {
            table,
            columns: columns.to_vec(),
            count,
            forward,
            no_advance,
        };
        match self.call(dir, &call)? {
            Response::Rows(r) => Ok(r),
            r => Err(unexpected(r)),
        }
    }

    /// The table brought up to date with the store's changes since it was loaded or last
    /// asked, as TableModified events with `columns` for added and modified rows
    /// ([`Call::TableNotifications`], MS-OXCNOTIF §2.2.1.4.1.2).
    pub fn notifications(
        &mut self,
        dir: &str,
        table: u32,
        columns: &[gromox_mapi::props::PropTag],
    ) -> Result<Vec<proto::TableEvent>, ExmdbError> {
        let call = Call::TableNotifications {
            table,
            columns: columns.to_vec(),
        };
        match self.call(dir, &call)? {
            Response::TableEvents(e) => Ok(e),
            r => Err(unexpected(r)),
        }
    }

    /// The index of the row with these PR_INST_ID and PR_INSTANCE_NUM (a hierarchy table's
    /// by folder id), cursor unchanged ([`Call::LocateRow`]).
    pub fn locate(&mut self, dir: &str, table: u32, inst_id: u64, inst_num: u32) -> Result<Option<u32>, ExmdbError> {
        match self.call(
            dir,
            &Call::LocateRow {
                table,
                inst_id,
                inst_num,
            },
        )? {
            Response::Found(i) => Ok(i),
            r => Err(unexpected(r)),
        }
    }

    /// The `columns` of the row with these PR_INST_ID and PR_INSTANCE_NUM, cursor unchanged
    /// ([`Call::ReadTableRow`]).
    pub fn read_row(
        &mut self,
        dir: &str,
        table: u32,
        columns: &[gromox_mapi::props::PropTag],
        inst_id: u64,
        inst_num: u32,
    ) -> Result<Vec<Option<gromox_mapi::props::PropVal>>, ExmdbError> {
        let call = Call::ReadTableRow {
            table,
            columns: columns.to_vec(),
            inst_id,
            inst_num,
        };
        match self.call(dir, &call)? {
            Response::Rows(mut r) if r.len() == 1 => Ok(r.remove(0)),
            r => Err(unexpected(r)),
        }
    }

    /// Moves the cursor; the rows actually moved ([`Call::SeekTable`]).
    pub fn seek(&mut self, dir: &str, table: u32, origin: proto::Origin, offset: i64) -> Result<i64, ExmdbError> {
        match self.call(dir, &Call::SeekTable { table, origin, offset })? {
            Response::Seek { moved, .. } => Ok(moved),
            r => Err(unexpected(r)),
        }
    }

    /// The cursor to `numerator/denominator` of the table ([`Call::SeekFraction`]).
    pub fn seek_fraction(&mut self, dir: &str, table: u32, numerator: u32, denominator: u32) -> Result<(), ExmdbError> {
        let call = Call::SeekFraction {
            table,
            numerator,
            denominator,
        };
        self.call(dir, &call).map(|_| ())
    }

    /// A bookmark at the cursor ([`Call::CreateBookmark`]).
    pub fn create_bookmark(&mut self, dir: &str, table: u32) -> Result<u32, ExmdbError> {
        match self.call(dir, &Call::CreateBookmark { table })? {
            Response::Count(b) => u32::try_from(b).map_err(|_| unexpected(Response::Count(b))),
            r => Err(unexpected(r)),
        }
    }

    /// To a bookmark plus `offset`: `(rows moved, bookmarked row gone)`
    /// ([`Call::SeekBookmark`]).
    pub fn seek_bookmark(
        &mut self,
        dir: &str,
        table: u32,
        bookmark: u32,
        offset: i64,
    ) -> Result<(i64, bool), ExmdbError> {
        let call = Call::SeekBookmark {
            table,
            bookmark,
            offset,
        };
        match self.call(dir, &call)? {
            Response::Seek { moved, row_gone } => Ok((moved, row_gone)),
            r => Err(unexpected(r)),
        }
    }

    /// Frees a bookmark ([`Call::FreeBookmark`]).
    pub fn free_bookmark(&mut self, dir: &str, table: u32, bookmark: u32) -> Result<(), ExmdbError> {
        self.call(dir, &Call::FreeBookmark { table, bookmark }).map(|_| ())
    }

    /// The first row from the cursor that satisfies `restriction`, the cursor moved to it
    /// ([`Call::FindRow`]).
    pub fn find_row(
        &mut self,
        dir: &str,
        table: u32,
        restriction: &gromox_mapi::restriction::Restriction,
        forward: bool,
    ) -> Result<Option<u32>, ExmdbError> {
        let call = Call::FindRow {
            table,
            restriction: restriction.clone(),
            forward,
        };
        match self.call(dir, &call)? {
            Response::Found(f) => Ok(f),
            r => Err(unexpected(r)),
        }
    }

    /// `(cursor, row count)` ([`Call::QueryPosition`]).
    pub fn position(&mut self, dir: &str, table: u32) -> Result<(u32, u32), ExmdbError> {
        match self.call(dir, &Call::QueryPosition { table })? {
            Response::Position { position, rows } => Ok((position, rows)),
            r => Err(unexpected(r)),
        }
    }

    /// Runs the table's query again; the new row count ([`Call::ReloadTable`]).
    pub fn reload(&mut self, dir: &str, table: u32) -> Result<u32, ExmdbError> {
        Ok(self.table(dir, &Call::ReloadTable { table })?.rows)
    }

    /// Frees a table ([`Call::UnloadTable`]).
    pub fn unload(&mut self, dir: &str, table: u32) -> Result<(), ExmdbError> {
        self.call(dir, &Call::UnloadTable { table }).map(|_| ())
    }

    fn instance(&mut self, dir: &str, call: &Call) -> Result<u32, ExmdbError> {
        match self.call(dir, call)? {
            Response::Count(n) => u32::try_from(n).map_err(|_| unexpected(Response::Count(n))),
            r => Err(unexpected(r)),
        }
    }

    fn prop_lists(&mut self, dir: &str, call: &Call) -> Result<Vec<Vec<TaggedVal>>, ExmdbError> {
        match self.call(dir, call)? {
            Response::PropLists(l) => Ok(l),
            r => Err(unexpected(r)),
        }
    }

    /// An editable copy of message `mid` of `folder`, or a new (normal or FAI) message of
    /// `folder` (`mid` `None`); the instance id on this connection
    /// ([`Call::LoadMessageInstance`], MS-OXCMSG §2.2.3.1 RopOpenMessage, §2.2.3.2
    /// RopCreateMessage). Instances live until unloaded or the connection closes, at most
    /// [`proto::MAX_INSTANCES`] of them.
    pub fn load_message_instance(
        &mut self,
        dir: &str,
        folder: u64,
        mid: Option<u64>,
        associated: bool,
    ) -> Result<u32, ExmdbError> {
        let call = Call::LoadMessageInstance {
            folder,
            mid,
            associated,
        };
        self.instance(dir, &call)
    }

    /// The embedded message of an attachment instance as a message instance, or a new one
    /// (`create`) ([`Call::LoadEmbeddedInstance`], MS-OXCMSG §2.2.3.16).
    pub fn load_embedded_instance(&mut self, dir: &str, attachment: u32, create: bool) -> Result<u32, ExmdbError> {
        self.instance(dir, &Call::LoadEmbeddedInstance { attachment, create })
    }

    /// A new attachment of a message instance ([`Call::CreateAttachmentInstance`], MS-OXCMSG
    /// §2.2.3.13).
    pub fn create_attachment_instance(&mut self, dir: &str, instance: u32) -> Result<u32, ExmdbError> {
        self.instance(dir, &Call::CreateAttachmentInstance { instance })
    }

    /// Attachment `index` of a message instance ([`Call::LoadAttachmentInstance`], MS-OXCMSG
    /// §2.2.3.12).
    pub fn load_attachment_instance(&mut self, dir: &str, instance: u32, index: u32) -> Result<u32, ExmdbError> {
        self.instance(dir, &Call::LoadAttachmentInstance { instance, index })
    }

    /// Removes attachment `index` from a message instance ([`Call::DeleteInstanceAttachment`],
    /// MS-OXCMSG §2.2.3.14).
    pub fn delete_instance_attachment(&mut self, dir: &str, instance: u32, index: u32) -> Result<(), ExmdbError> {
        self.call(dir, &Call::DeleteInstanceAttachment { instance, index })
            .map(|_| ())
    }

    /// All properties of a message or attachment instance ([`Call::GetInstanceProps`]).
    pub fn instance_props(&mut self, dir: &str, instance: u32) -> Result<Vec<TaggedVal>, ExmdbError> {
        match self.call(dir, &Call::GetInstanceProps { instance })? {
            Response::Props(p) => Ok(p),
            r => Err(unexpected(r)),
        }
    }

    /// Sets properties of an instance ([`Call::SetInstanceProps`]).
    pub fn set_instance_props(&mut self, dir: &str, instance: u32, props: &[TaggedVal]) -> Result<(), ExmdbError> {
        let call = Call::SetInstanceProps {
            instance,
            props: props.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// Removes properties of an instance ([`Call::RemoveInstanceProps`]).
    pub fn remove_instance_props(&mut self, dir: &str, instance: u32, tags: &[PropTag]) -> Result<(), ExmdbError> {
        let call = Call::RemoveInstanceProps {
            instance,
            tags: tags.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// The recipient rows of a message instance ([`Call::GetInstanceRcpts`]).
    pub fn instance_rcpts(&mut self, dir: &str, instance: u32) -> Result<Vec<Vec<TaggedVal>>, ExmdbError> {
        self.prop_lists(dir, &Call::GetInstanceRcpts { instance })
    }

    /// Replaces the recipient rows of a message instance ([`Call::SetInstanceRcpts`]).
    pub fn set_instance_rcpts(&mut self, dir: &str, instance: u32, rcpts: &[Vec<TaggedVal>]) -> Result<(), ExmdbError> {
        let call = Call::SetInstanceRcpts {
            instance,
            rcpts: rcpts.to_vec(),
        };
        self.call(dir, &call).map(|_| ())
    }

    /// The properties of a message instance's attachments ([`Call::GetInstanceAttachments`]).
    pub fn instance_attachments(&mut self, dir: &str, instance: u32) -> Result<Vec<Vec<TaggedVal>>, ExmdbError> {
        self.prop_lists(dir, &Call::GetInstanceAttachments { instance })
    }

    /// Saves an instance one level up: a message into the store (its id), an attachment into
    /// its message instance (its index), an embedded message into its attachment instance
    /// ([`Call::FlushInstance`]).
    pub fn flush_instance(&mut self, dir: &str, instance: u32) -> Result<u64, ExmdbError> {
        match self.call(dir, &Call::FlushInstance { instance })? {
            Response::Count(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    /// Drops an instance, unflushed changes lost ([`Call::UnloadInstance`]).
    pub fn unload_instance(&mut self, dir: &str, instance: u32) -> Result<(), ExmdbError> {
        self.call(dir, &Call::UnloadInstance { instance }).map(|_| ())
    }

    /// The whole message of a message instance ([`Call::ReadMessageInstance`]).
    pub fn read_message_instance(&mut self, dir: &str, instance: u32) -> Result<proto::MessageContent, ExmdbError> {
        match self.call(dir, &Call::ReadMessageInstance { instance })? {
            Response::Message(m) => Ok(m),
            r => Err(unexpected(r)),
        }
    }

    /// An attachment instance with its embedded message ([`Call::ReadAttachmentInstance`]).
    pub fn read_attachment_instance(
        &mut self,
        dir: &str,
        instance: u32,
    ) -> Result<proto::AttachmentContent, ExmdbError> {
        match self.call(dir, &Call::ReadAttachmentInstance { instance })? {
            Response::Attachment(a) => Ok(a),
            r => Err(unexpected(r)),
        }
    }

    /// Replaces a message instance's whole content ([`Call::WriteMessageInstance`]).
    pub fn write_message_instance(
        &mut self,
        dir: &str,
        instance: u32,
        content: &proto::MessageContent,
    ) -> Result<(), ExmdbError> {
        let call = Call::WriteMessageInstance {
            instance,
            content: content.clone(),
        };
        self.call(dir, &call).map(|_| ())
    }
}

/// The configuration keys of an exmdb client (also read from `exmdb_provider.cfg`, where
/// exmdbd finds its own `exmdb_listen`).
pub fn config_keys() -> Vec<gromox_base::KeyDef> {
    use gromox_base::{KeyDef, Kind};
    vec![
        KeyDef::new(
            "exmdb_listen",
            "[::1]:5000",
            Kind::Str,
            "address of this host's exmdbd; mailboxes homed on another server (users.homeserver → servers.hostname) are reached on that host at the same port",
        ),
        KeyDef::new(
            "rpc_proxy_connection_num",
            "10",
            Kind::Int { min: 1, max: 4096 },
            "idle exmdb connections kept per exmdbd; busier moments open more for one call each",
        ),
    ]
}

/// A router from [`config_keys`] and the `hostname` key (without a home lookup yet).
pub fn router_from_config(cfg: &gromox_base::Config) -> Result<ExmdbRouter, String> {
    let addr = gromox_base::config::parse_listen(cfg.str("exmdb_listen"))
        .map_err(|e| cfg.error("exmdb_listen", e).to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| cfg.error("exmdb_listen", "empty").to_string())?;
    let opts = ExmdbOptions {
        pool_size: cfg.usize("rpc_proxy_connection_num").max(1),
        ..ExmdbOptions::default()
    };
    Ok(ExmdbRouter::new(addr, &cfg.hostname(), opts))
}

/// Finds the home server of a mailbox directory (`None`: this host), e.g. through the user
/// directory (`gromox_directory::Directory::home_of_maildir`).
pub type HomeLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How long [`ExmdbRouter::for_maildir`] remembers a mailbox's home server.
const HOME_TTL: Duration = Duration::from_secs(60);

/// Routing of exmdb calls by home server (DESIGN.md §5): a mailbox whose directory entry names
/// no home server, or this host, goes to the local exmdbd (`exmdb_listen`); one homed on
/// `servers.hostname` = H goes to H on the same port. One connection pool per server.
pub struct ExmdbRouter {
    local: SocketAddr,
    me: String,
    opts: ExmdbOptions,
    clients: Mutex<std::collections::HashMap<String, std::sync::Arc<ExmdbClient>>>,
    local_client: std::sync::Arc<ExmdbClient>,
    lookup: Option<HomeLookup>,
    homes: Mutex<std::collections::HashMap<String, (Option<String>, std::time::Instant)>>,
}

impl ExmdbRouter {
    /// `local`: this host's exmdbd; `me`: this host's name (a home server of that name is local).
    pub fn new(local: SocketAddr, me: &str, opts: ExmdbOptions) -> ExmdbRouter {
        ExmdbRouter {
            local,
            me: me.to_ascii_lowercase(),
            local_client: std::sync::Arc::new(ExmdbClient::new(local, opts.clone())),
            opts,
            clients: Mutex::default(),
            lookup: None,
            homes: Mutex::default(),
        }
    }

    /// This host's exmdbd.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Mailboxes of this host run in this process on `local` instead of over `exmdb_listen`
    /// (the in-process path when the store is local); other homes still go over the network.
    pub fn with_local_store(mut self, local: Arc<dyn LocalExmdb>) -> Self {
        self.local_client = Arc::new(ExmdbClient::in_process(local));
        self
    }

    /// Route [`ExmdbRouter::for_maildir`] with `lookup` (results kept for a minute).
    pub fn with_home_lookup(mut self, lookup: HomeLookup) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// The client for the mailbox directory `maildir`: its home server per the lookup (this
    /// host without one).
    pub fn for_maildir(&self, maildir: &str) -> Result<std::sync::Arc<ExmdbClient>, ExmdbError> {
        let Some(lookup) = &self.lookup else {
            return Ok(self.local_client.clone());
        };
        let cached = {
            let h = self.homes.lock().unwrap_or_else(|p| p.into_inner());
            h.get(maildir)
                .filter(|(_, t)| t.elapsed() < HOME_TTL)
                .map(|(home, _)| home.clone())
        };
        let home = match cached {
            Some(h) => h,
            None => {
                let h = lookup(maildir);
                let mut m = self.homes.lock().unwrap_or_else(|p| p.into_inner());
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(maildir.to_string(), (h.clone(), std::time::Instant::now()));
                h
            }
        };
        self.client(home.as_deref().unwrap_or(""))
    }

    /// The client for mailboxes homed on `home` (`""`: this host).
    pub fn client(&self, home: &str) -> Result<std::sync::Arc<ExmdbClient>, ExmdbError> {
        let home = home.trim().to_ascii_lowercase();
        if home.is_empty() || home == self.me || home == "localhost" {
            return Ok(self.local_client.clone());
        }
        if let Some(c) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get(&home) {
            return Ok(c.clone());
        }
        // Name resolution without the lock: other mailboxes' calls do not wait for DNS.
        use std::net::ToSocketAddrs;
        let addr = (home.as_str(), self.local.port())
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, format!("home server {home}: no address")))?;
        let mut m = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let c = m
            .entry(home)
            .or_insert_with(|| std::sync::Arc::new(ExmdbClient::new(addr, self.opts.clone())));
        Ok(c.clone())
    }
}

/// A notification listener: a thread holding one listen connection (`Call::Subscribe`) to
/// exmdbd for one mailbox, calling `on_event` for every event (object events and, from
/// protocol v7, [`proto::nf::SEARCH_COMPLETE`] when a search folder's population finished). It reconnects and re-subscribes
/// by itself after the connection drops (e.g. a server restart); keep-alives missing for
/// [`ListenerOptions::dead_after`] count as a dropped connection. Stopped on drop.
pub struct ExmdbListener {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    subscribed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Listener settings.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub connect_timeout: Duration,
    /// No frame (event or keep-alive) for this long: reconnect.
    pub dead_after: Duration,
    /// Pause between reconnection attempts.
    pub retry: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            connect_timeout: Duration::from_secs(5),
            dead_after: Duration::from_secs(70),
            retry: Duration::from_millis(500),
        }
    }
}

impl ExmdbListener {
    /// Subscribes to `dir`'s events of the kinds in `filter` (0: all).
    pub fn start(
        addr: SocketAddr,
        dir: String,
        filter: u32,
        opts: ListenerOptions,
        mut on_event: impl FnMut(proto::Notification) + Send + 'static,
    ) -> std::io::Result<ExmdbListener> {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let subscribed = Arc::new(AtomicU64::new(0));
        let (st, sub) = (stop.clone(), subscribed.clone());
        let thread = std::thread::Builder::new()
            .name("exmdb-listener".into())
            .spawn(move || {
                let copts = ExmdbOptions {
                    pool_size: 0,
                    connect_timeout: opts.connect_timeout,
                    io_timeout: Duration::from_millis(200),
                };
                let client = ExmdbClient::new(addr, copts);
                while !st.load(Ordering::Relaxed) {
                    let _ = (|| -> Result<(), ExmdbError> {
                        let mut c = client.connect()?;
                        let call = Call::Subscribe { filter };
                        c.call(&dir, &call)?.map_err(|(s, m)| ExmdbError::Call(s, m))?;
                        // Short reads from now on, so a stop request is seen promptly.
                        c.s.set_read_timeout(Some(Duration::from_millis(200)))?;
                        sub.fetch_add(1, Ordering::Relaxed);
                        let mut last = std::time::Instant::now();
                        loop {
                            if st.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            match c.recv() {
                                Ok(p) => {
                                    last = std::time::Instant::now();
                                    let n = proto::Notification::decode(&p)?;
                                    if n.kind != proto::nf::KEEPALIVE {
                                        on_event(n);
                                    }
                                }
                                Err(ExmdbError::Io(e))
                                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                                {
                                    if last.elapsed() > opts.dead_after {
                                        return Err(ExmdbError::Closed);
                                    }
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    })();
                    if !st.load(Ordering::Relaxed) {
                        std::thread::sleep(opts.retry);
                    }
                }
            })?;
        Ok(ExmdbListener {
            stop,
            thread: Some(thread),
            subscribed,
        })
    }

    /// How many times the subscription has been (re-)established.
    pub fn subscriptions(&self) -> u64 {
        self.subscribed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ExmdbListener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unexpected(r: Response) -> ExmdbError {
    ExmdbError::Protocol(proto::ProtoError::Invalid(match r {
        Response::Done => "unexpected empty response",
        _ => "unexpected response",
    }))
}
