//! The exmdb RPC protocol of gromox-rs (sans-I/O): frames, the version handshake, the typed
//! [`Call`]s and their [`Response`]s, and a codec that never trusts a length field.
//!
//! This is gromox-rs's own wire format (not Gromox's `exmdb_rpc` byte layout); the call set
//! follows Gromox's exmdb call list (see README.md for the table). Property values are carried
//! through gromox-mapi's property-value codec ([`gromox_mapi::sqlcodec`]).
//!
//! Wire format (all integers little-endian):
//! - frame: `u32 len` + `len` bytes of payload, `len <= MAX_FRAME`;
//! - handshake (first exchange): client payload `b"GXEXMDB" u16 version`, server payload
//!   `u8 status u16 version`;
//! - request payload: `u8 call-id`, `u16 dir-len`, dir bytes (UTF-8), call body;
//! - response payload: `u8 status`, body (for [`Status::Ok`] the response of the call,
//!   otherwise a `u16`-length UTF-8 message). A response that would not fit in a frame is
//!   replaced by [`Status::TooBig`] ([`encode_response_limited`]).

use gromox_mapi::guid::Guid;
pub use gromox_mapi::idset::GlobSet;
use gromox_mapi::named::{PropName, PropNameKind, MAX_NAME_LEN};
use gromox_mapi::props::{PropTag, PropVal, TaggedVal};
use gromox_mapi::restriction::{self, Restriction};
use gromox_mapi::rule::{self as mapi_rule, Action};
use gromox_mapi::sqlcodec::{self, SqlValue};
pub use gromox_mapi::syncstate::SyncState;

/// Protocol version spoken by this crate (5: table, permission, rule, folder-property and
/// attachment calls, WriteMessage onto an existing message, the TooBig status; 6: the ICS
/// calls (63–71), categorized content tables — categories and expanded levels in
/// LoadContentTable, ExpandRow, CollapseRow, GetCollapseState, SetCollapseState (72–75); 7:
/// the search-folder calls (76–78) and the search-complete notification, the message and
/// attachment instance calls (79–93, 107), the store probes and small calls (94–106)).
pub const VERSION: u16 = 7;
/// Magic of the client's handshake frame.
pub const MAGIC: &[u8; 7] = b"GXEXMDB";
/// Hard cap on a frame's payload (a delivered message with its MIME must fit).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// Most elements in any list (properties, ids, folders).
const MAX_ITEMS: usize = 1 << 20;
/// Deepest nesting of embedded messages in a [`MessageContent`] (the top-level message is
/// depth 0); deeper input is an error.
pub const MAX_MESSAGE_DEPTH: usize = 16;
/// Most elements preallocated for one list of a message (the rest grows as actually decoded),
/// so nested lying counts cannot multiply into a huge allocation.
const PREALLOC: usize = 256;

/// A decoding error. Every malformed input maps to one of these, never to a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("truncated input")]
    Truncated,
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("bad handshake")]
    BadHandshake,
    #[error("unsupported protocol version {0}")]
    Version(u16),
    #[error("unknown call id {0}")]
    UnknownCall(u8),
    #[error("unknown status {0}")]
    UnknownStatus(u8),
    #[error("invalid data: {0}")]
    Invalid(&'static str),
    #[error("trailing bytes after the body")]
    Trailing,
}

type R<T> = Result<T, ProtoError>;

/// Splits one complete frame off `buf`: `Ok(None)` when more input is needed, otherwise the
/// payload and the number of bytes consumed. An oversized length is an error at once.
pub fn split_frame(buf: &[u8]) -> R<Option<(&[u8], usize)>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(ProtoError::TooLarge(len));
    }
    if buf.len() - 4 < len {
        return Ok(None);
    }
    Ok(Some((&buf[4..4 + len], 4 + len)))
}

/// Appends `payload` as one frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The client's handshake payload.
pub fn handshake_request() -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend_from_slice(&VERSION.to_le_bytes());
    v
}

/// Checks a client handshake payload; returns the client's version.
pub fn parse_handshake_request(p: &[u8]) -> R<u16> {
    if p.len() != MAGIC.len() + 2 || &p[..MAGIC.len()] != MAGIC {
        return Err(ProtoError::BadHandshake);
    }
    let v = u16::from_le_bytes([p[7], p[8]]);
    if v != VERSION {
        return Err(ProtoError::Version(v));
    }
    Ok(v)
}

/// The server's handshake payload.
pub fn handshake_response(status: Status) -> Vec<u8> {
    let mut v = vec![status as u8];
    v.extend_from_slice(&VERSION.to_le_bytes());
    v
}

/// Checks a server handshake payload.
pub fn parse_handshake_response(p: &[u8]) -> R<Status> {
    let mut r = Reader::new(p);
    let s = Status::from_u8(r.u8()?)?;
    let v = r.u16()?;
    r.end()?;
    if s == Status::Ok && v != VERSION {
        return Err(ProtoError::Version(v));
    }
    Ok(s)
}

/// Result status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    /// The request could not be decoded or had invalid arguments.
    BadRequest = 1,
    /// The object (folder, message, mailbox) does not exist.
    NotFound = 2,
    /// The mailbox directory is not under the state directory.
    BadMailbox = 3,
    /// The mailbox is homed on another server.
    MisroutedMailbox = 4,
    /// The client address is not allowed.
    AccessDenied = 5,
    /// The mailbox is frozen (maintenance mode).
    Frozen = 6,
    /// Over quota.
    QuotaExceeded = 7,
    /// The call exists in the protocol but this server does not implement it.
    NotSupported = 8,
    /// A store error (database, I/O).
    StoreError = 9,
    /// A folder of that name exists.
    NameConflict = 10,
    /// The response would exceed the frame limit ([`MAX_FRAME`]); nothing was framed. The
    /// call may have had effects (a write that succeeded): only its answer is lost.
    TooBig = 11,
}

impl Status {
    pub fn from_u8(v: u8) -> R<Status> {
        use Status::*;
        R::Ok(match v {
            0 => Status::Ok,
            1 => BadRequest,
            2 => NotFound,
            3 => BadMailbox,
            4 => MisroutedMailbox,
            5 => AccessDenied,
            6 => Frozen,
            7 => QuotaExceeded,
            8 => NotSupported,
            9 => StoreError,
            10 => NameConflict,
            11 => TooBig,
            x => return Err(ProtoError::UnknownStatus(x)),
        })
    }
}

/// A folder as listed by [`Call::ListFolders`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub id: u64,
    /// 0 for the root.
    pub parent: u64,
    pub name: String,
    pub container_class: Option<String>,
}

/// One sort key (MS-OXCDATA §2.13.1 SortOrder): the property and the direction.
/// Wire form: `u32 tag`, `u8 order` (0 TABLE_SORT_ASCEND, 1 TABLE_SORT_DESCEND; the category
/// orders of §2.13.1 are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub tag: PropTag,
    pub descending: bool,
}

/// Where a seek starts (MS-OXCTABL §2.2.2.1.1 Origin: 0 BOOKMARK_BEGINNING, 1
/// BOOKMARK_CURRENT, 2 BOOKMARK_END).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Beginning,
    Current,
    End,
}

/// A row of a folder's permission table (MS-OXCPERM §2.2.4): PidTagMemberId (0: the default
/// member, -1: anonymous, else the member's row id), PidTagMemberName, PidTagMemberRights.
/// Wire form: `u64 member_id`, `u32`-length name, `u32 rights`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRow {
    pub member_id: i64,
    pub name: String,
    pub rights: u32,
}

/// PidTagMemberId of the default member (MS-OXCPERM §2.2.5).
pub const MEMBER_ID_DEFAULT: i64 = 0;
/// PidTagMemberId of the anonymous member (MS-OXCPERM §2.2.5: 0xFFFFFFFFFFFFFFFF).
pub const MEMBER_ID_ANONYMOUS: i64 = -1;

/// One change of [`Call::UpdatePermissions`] (MS-OXCPERM §2.2.2 RopModifyPermissions
/// PermissionsDataFlags). Wire form: `u8 flag` (1 ROW_ADD, 2 ROW_MODIFY, 4 ROW_REMOVE), then
/// the name and rights, the member id and rights, or the member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionChange {
    /// A new member by name (an address, `default` or `anonymous`); an existing member of that
    /// name gets the rights.
    Add { name: String, rights: u32 },
    /// New rights for a member by PidTagMemberId.
    Modify { member_id: i64, rights: u32 },
    /// Remove a member by PidTagMemberId (the default and anonymous members fall back to the
    /// store's defaults).
    Remove { member_id: i64 },
}

/// A server-side rule (MS-OXORULE §2.2.1.3, one row of the rules table): PidTagRuleId,
/// PidTagRuleName, PidTagRuleProvider, PidTagRuleSequence, PidTagRuleState, PidTagRuleLevel,
/// PidTagRuleUserFlags, PidTagRuleProviderData, PidTagRuleCondition (a restriction,
/// MS-OXCDATA §2.12) and PidTagRuleActions (MS-OXORULE §2.2.5). The store's type too
/// (`exmdbd::rules::Rule`).
///
/// Wire form: `u64 id`, name, provider (`u32`-length UTF-8), `u32` sequence, state, level and
/// user flags, `u32`-length provider data, `u32`-length condition and actions in their
/// extended-rule encodings (32-bit counts: MS-OXORULE §2.2.4, §2.2.5), decoded by
/// gromox-mapi's bounded decoders.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `rule_id` (0 for a rule not stored yet).
    pub id: u64,
    pub name: String,
    /// PidTagRuleProvider, e.g. `RuleOrganizer`.
    pub provider: String,
    /// Evaluation order, lowest first.
    pub sequence: u32,
    /// PidTagRuleState bits (`gromox_mapi::rule::ST_*`).
    pub state: u32,
    pub level: u32,
    pub user_flags: u32,
    pub provider_data: Vec<u8>,
    pub condition: Restriction,
    pub actions: Vec<Action>,
}

impl Rule {
    /// An enabled Outlook rule (`RuleOrganizer`, sequence 1, level 0) not stored yet.
    pub fn new(name: &str, condition: Restriction, actions: Vec<Action>) -> Rule {
        Rule {
            id: 0,
            name: name.into(),
            provider: "RuleOrganizer".into(),
            sequence: 1,
            state: mapi_rule::ST_ENABLED,
            level: 0,
            user_flags: 0,
            provider_data: vec![],
            condition,
            actions,
        }
    }
}

/// One change of [`Call::UpdateRules`] (MS-OXORULE §2.2.2 RopModifyRules RuleDataFlags).
/// Wire form: `u8 flag` (1 ROW_ADD, 2 ROW_MODIFY, 4 ROW_REMOVE), then the rule or its id.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleChange {
    /// A new rule (its `id` is ignored).
    Add(Rule),
    /// Replace the rule with this `id`.
    Modify(Rule),
    /// Remove the rule with this id.
    Remove(u64),
}

/// A call: what the client asks of one mailbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Liveness check (Gromox `ping_store`).
    Ping,
    /// `get_store_all_proptags` + `get_store_properties`: every store property.
    GetStoreProps,
    /// `set_store_properties`.
    SetStoreProps(Vec<TaggedVal>),
    /// `remove_store_properties`.
    RemoveStoreProps(Vec<PropTag>),
    /// Every folder of the store (`query_folder_messages`-like listing of the hierarchy).
    ListFolders,
    /// `create_folder`: parent, name, container class.
    CreateFolder {
        parent: u64,
        name: String,
        class: Option<String>,
    },
    /// `get_folder_properties`.
    GetFolderProps(u64),
    /// `get_message_properties`: all properties of a message.
    GetMessageProps(u64),
    /// `deliver_message`: message properties plus the original MIME; folder `None` = by the
    /// receive folder table.
    DeliverMessage {
        folder: Option<u64>,
        props: Vec<TaggedVal>,
        mime: Option<Vec<u8>>,
    },
    /// `set_message_read_state`.
    SetReadState { mid: u64, read: bool },
    /// `delete_messages` (soft or hard).
    DeleteMessages { mids: Vec<u64>, hard: bool },
    /// `movecopy_messages` (move).
    MoveMessages { mids: Vec<u64>, to: u64 },
    /// `empty_folder` (soft or hard).
    EmptyFolder { folder: u64, hard: bool },
    /// `purge_softdelete`: remove soft-deleted objects for good.
    PurgeSoftdel,
    /// `purge_datafiles`: remove unreferenced content files.
    PurgeDatafiles,
    /// `recalc_store_size`.
    RecalcSizes,
    /// `vacuum`.
    Vacuum,
    /// `unload_store`.
    Unload,
    /// Maintenance mode on (further calls other than Thaw/Ping answer [`Status::Frozen`]).
    Freeze,
    /// Maintenance mode off.
    Thaw,
    /// Turn this connection into a listen connection for the mailbox: after the `Done`
    /// response, the server only sends [`Notification`] frames (and keep-alives). `filter` is
    /// a bit set of [`Notification::kind`] bits (`1 << kind`); 0 means everything.
    Subscribe { filter: u32 },
    /// `(highest change number, count)` of a folder's live normal messages
    /// ([`Response::FolderState`]): the index's cheap change probe.
    FolderState { folder: u64 },
    /// Summaries of up to `limit` live normal messages with ids above `after_mid` and a change
    /// number (or read-state change number) of at least `min_cn` (0: all), ascending
    /// ([`Response::Messages`]). `min_cn` lets the index fetch only what changed.
    ListMessages {
        folder: u64,
        after_mid: u64,
        limit: u32,
        min_cn: u64,
    },
    /// The RFC 5322 rendition of a message ([`Response::Bytes`]).
    MessageRfc822 { mid: u64 },
    /// Store a MIME message (kept byte-identical) with IMAP flags ([`Response::Delivered`]).
    AppendRfc822 {
        folder: u64,
        mime: Vec<u8>,
        flags: ImapFlags,
        /// Unix seconds; `None`: now.
        delivery_time: Option<i64>,
    },
    /// Change IMAP flags of a message (`None`: unchanged).
    SetMessageFlags {
        mid: u64,
        read: Option<bool>,
        flagged: Option<bool>,
        answered: Option<bool>,
        forwarded: Option<bool>,
        keywords: Option<Vec<String>>,
    },
    /// Copy messages ([`Response::Ids`]: the new ids in order, 0 where a message is gone).
    CopyMessages { mids: Vec<u64>, to: u64 },
    /// Delete a folder with its contents and subfolders.
    DeleteFolder { folder: u64, hard: bool },
    /// Move and/or rename a folder.
    MoveFolder { folder: u64, parent: u64, name: String },
    /// `purge_softdelete` with an age: only messages soft-deleted more than `age_secs` ago
    /// ([`Response::Count`]).
    PurgeSoftdelOlder { age_secs: u64 },
    /// Set a member's rights on a folder (MS-OXCPERM PR_MEMBER_RIGHTS; `default` and
    /// `anonymous` are the special members).
    SetPermission { folder: u64, user: String, rights: u32 },
    /// Remove a member from a folder's permission list.
    RemovePermission { folder: u64, user: String },
    /// The store-level rights of `user` ([`Response::Count`]): the user's own permission row
    /// on IPM_SUBTREE (no `default` fallback), with the Gromox store-owner bit (0x2000) added
    /// when that row holds it or the folder-owner bit — what impersonation (`actor!mailbox`)
    /// and delegate logons check.
    MailboxRights { user: String },
    /// Gromox `deliver_message` as the delivery agent uses it: the server converts `mime`
    /// (MS-OXCMAIL), picks the receive folder, runs the inbox rules (MS-OXORULE §3.2.5.1)
    /// with the out-of-office state of the mailbox at `now` (Unix seconds), stores the message
    /// keeping the original MIME, and reports what the rules asked of the delivery agent
    /// ([`Response::MailDelivered`]). `from` is the envelope sender, `rcpt` the recipient.
    DeliverMail {
        from: String,
        rcpt: String,
        mime: Vec<u8>,
        now: i64,
    },
    /// Whether the mailbox can take `size` more bytes under its receive quota: `Done`, or
    /// [`Status::QuotaExceeded`] (Gromox `check_mailbox_permission`/quota probe at RCPT time).
    CheckQuota { size: u64 },
    /// Whether an automatic reply to `peer` is due at `now` with `window` seconds of silence;
    /// when it is, `now` is recorded ([`Response::Count`]: 1 due, 0 not; Gromox `autoreply_ts`).
    AutoreplyDue { peer: String, now: i64, window: i64 },
    /// Gromox `get_named_propids` (MS-OXCPRPT §3.2.5.8 RopGetPropertyIdsFromNames): the
    /// property ids of `names` in order ([`Response::PropIds`]); 0 where a name is unknown and
    /// `create` is false.
    GetNamedPropIds { create: bool, names: Vec<PropName> },
    /// Gromox `get_named_propnames` (MS-OXCPRPT §3.2.5.7 RopGetNamesFromPropertyIds): the
    /// names of `ids` in order ([`Response::PropNames`]; `None` where an id is not mapped).
    GetNamedPropNames { ids: Vec<u16> },
    /// Gromox `read_message`: a whole message — properties, recipients, attachments with
    /// their embedded messages (MS-OXCMSG §2.2.1, §2.2.2) — ([`Response::Message`]).
    ReadMessage { mid: u64 },
    /// Gromox `write_message`: stores `content` with the folder and quota checks of a save
    /// (MS-OXCMSG §3.2.5.3 RopSaveChangesMessage). With `mid` `None` it is a new normal or
    /// associated (FAI) message in `folder`; with `Some(mid)` it replaces that live message of
    /// `folder` as a message-instance flush does (properties, recipients and attachments
    /// replaced, a new change number, sizes and quota updated; `associated` must match).
    /// [`Response::Id`] is the message id. Wire form: `u64 folder`, `u8 associated`, `u64 mid`
    /// (0: new), the message.
    WriteMessage {
        folder: u64,
        associated: bool,
        mid: Option<u64>,
        content: MessageContent,
    },
    /// Gromox `set_message_properties` (MS-OXCPRPT §3.2.5.3 RopSetProperties on a message).
    SetMessageProps { mid: u64, props: Vec<TaggedVal> },
    /// Gromox `remove_message_properties` (MS-OXCPRPT §3.2.5.5 RopDeleteProperties on a
    /// message).
    RemoveMessageProps { mid: u64, tags: Vec<PropTag> },
    /// Gromox `load_content_table` (MS-OXCFOLD §2.2.1.14 RopGetContentsTable, then
    /// MS-OXCTABL §2.2.2.4 RopRestrict and §2.2.2.3 RopSortTable in one call): the live normal
    /// or FAI messages of `folder` that satisfy `restriction`, in `sort` order
    /// ([`Response::Table`]). Tables belong to the connection that loaded them (at most
    /// [`MAX_TABLES`] at once, holding at most [`MAX_TABLE_ROWS`] rows together, each
    /// restriction at most [`MAX_TABLE_RESTRICTION`] bytes) and are dropped with it. Wire form: `u64 folder`, `u8
    /// associated`, the optional restriction (`u8 0`, or `u8 1` + `u32`-length MS-OXCDATA §2.12
    /// restriction with 32-bit counts), `u32 count` sort keys, `u32 categories`, `u32 expanded`.
    ///
    /// A categorized view (MS-OXCTABL §2.2.2.13 RopSortTable CategorizedCount and ExpandedCount,
    /// since version 6): the first `categories` sort keys group the rows, each group headed by a
    /// category row (PR_ROW_TYPE TBL_EXPANDED_CATEGORY or TBL_COLLAPSED_CATEGORY, PR_DEPTH,
    /// PR_INST_ID = the category id that [`Call::ExpandRow`] and [`Call::CollapseRow`] name,
    /// PR_CONTENT_COUNT, PR_CONTENT_UNREAD and the category columns); the first `expanded`
    /// levels start expanded. `categories <= sort.len()` and `expanded <= categories` (§2.2.2.13.1),
    /// else a decoding error; 0 and 0: a flat table.
    LoadContentTable {
        folder: u64,
        associated: bool,
        restriction: Option<Restriction>,
        sort: Vec<SortKey>,
        categories: u32,
        expanded: u32,
    },
    /// Gromox `load_hierarchy_table` (MS-OXCFOLD §2.2.1.13 RopGetHierarchyTable): the
    /// subfolders of `folder`, one level or the whole subtree (`recursive`, depth-first with
    /// PidTagDepth), restricted and sorted over folder properties ([`Response::Table`]).
    LoadHierarchyTable {
        folder: u64,
        recursive: bool,
        restriction: Option<Restriction>,
        sort: Vec<SortKey>,
    },
    /// Gromox `query_table` (MS-OXCTABL §2.2.2.5 RopQueryRows): up to `count` rows from the
    /// cursor, forward or backward (nearest first), one value per column of `columns`
    /// ([`Response::Rows`]); the cursor moves past them unless `no_advance`. The server answers
    /// fewer rows than asked when more would not fit in a frame (MS-OXCTABL §3.2.5.5), and
    /// [`Status::TooBig`] with the cursor unchanged when a single row does not.
    QueryTable {
        table: u32,
        columns: Vec<PropTag>,
        count: u32,
        forward: bool,
        no_advance: bool,
    },
    /// MS-OXCTABL §2.2.2.7 RopSeekRow: move the cursor `offset` rows from `origin`, clamped
    /// ([`Response::Seek`]: the rows actually moved).
    SeekTable { table: u32, origin: Origin, offset: i64 },
    /// MS-OXCTABL §2.2.2.9 RopSeekRowFractional: the cursor to `numerator/denominator` of the
    /// table.
    SeekFraction {
        table: u32,
        numerator: u32,
        denominator: u32,
    },
    /// MS-OXCTABL §2.2.2.11 RopCreateBookmark: a bookmark at the cursor ([`Response::Count`]);
    /// at most [`MAX_BOOKMARKS`] per table.
    CreateBookmark { table: u32 },
    /// MS-OXCTABL §2.2.2.8 RopSeekRowBookmark: to the bookmarked row plus `offset`
    /// ([`Response::Seek`]; `row_gone` when the row is no longer in the table and the next row
    /// stands in). An unknown bookmark is [`Status::NotFound`].
    SeekBookmark { table: u32, bookmark: u32, offset: i64 },
    /// MS-OXCTABL §2.2.2.15 RopFreeBookmark (an unknown bookmark is [`Status::NotFound`]).
    FreeBookmark { table: u32, bookmark: u32 },
    /// Gromox `match_table` (MS-OXCTABL §2.2.2.14 RopFindRow): the first row from the cursor
    /// (backward: before it) that satisfies `restriction`; the cursor moves to it
    /// ([`Response::Found`]: its index, `None` with the cursor unchanged).
    FindRow {
        table: u32,
        restriction: Restriction,
        forward: bool,
    },
    /// MS-OXCTABL §2.2.2.6 RopQueryPosition ([`Response::Position`]).
    QueryPosition { table: u32 },
    /// Gromox `reload_content_table`: run the table's query again (the cursor stays on its row
    /// when it is still there) ([`Response::Table`]).
    ReloadTable { table: u32 },
    /// Gromox `unload_table` (MS-OXCROPS RopRelease of a table): free it (unknown:
    /// [`Status::NotFound`]).
    UnloadTable { table: u32 },
    /// Gromox `get_folder_perm_list` / the permissions table of MS-OXCPERM §2.2.1
    /// RopGetPermissionsTable: every member of a folder, the default and anonymous members
    /// first (with the store defaults when the folder has no row for them)
    /// ([`Response::Permissions`]).
    GetPermissions { folder: u64 },
    /// Gromox `update_folder_permission` (MS-OXCPERM §2.2.2 RopModifyPermissions): the changes
    /// in one transaction; `replace` (ModifyFlags ReplaceRows) first removes every member.
    UpdatePermissions {
        folder: u64,
        replace: bool,
        changes: Vec<PermissionChange>,
    },
    /// The rules table of a folder (MS-OXORULE §2.2.1 RopGetRulesTable; Gromox
    /// `load_rule_table` + `query_table`) in evaluation order ([`Response::Rules`]).
    GetRules { folder: u64 },
    /// Gromox `update_folder_rule` (MS-OXORULE §2.2.2 RopModifyRules): the changes in one
    /// transaction; `replace` (ModifyRulesFlag 0x01) first removes every rule of the folder.
    UpdateRules {
        folder: u64,
        replace: bool,
        changes: Vec<RuleChange>,
    },
    /// Gromox `set_folder_properties` (MS-OXCPRPT §3.2.5.3 RopSetProperties on a folder);
    /// a new PR_DISPLAY_NAME is checked like a rename (name conflicts refused), store-maintained
    /// tags are skipped.
    SetFolderProps { folder: u64, props: Vec<TaggedVal> },
    /// Gromox `remove_folder_properties` (MS-OXCPRPT §3.2.5.5 RopDeleteProperties on a
    /// folder); PR_DISPLAY_NAME and store-maintained tags are kept.
    RemoveFolderProps { folder: u64, tags: Vec<PropTag> },
    /// Gromox `movecopy_folder` as a copy (MS-OXCFOLD §2.2.1.7 RopCopyFolder, recursive): the
    /// folder with its messages and subfolders under `parent` as `name` ([`Response::Id`]: the
    /// new folder). Copying a folder into its own subtree is [`Status::BadRequest`].
    CopyFolder { folder: u64, parent: u64, name: String },
    /// Gromox `get_folder_by_name`: the live subfolder of `parent` named `name`
    /// (case-insensitive) ([`Response::Id`], 0 when there is none).
    GetFolderByName { parent: u64, name: String },
    /// One attachment of a live message by its index (attachment number, in the order
    /// ReadMessage lists them): its properties and embedded message, without the rest of the
    /// message (MS-OXCMSG §2.2.3.12 RopOpenAttachment + property reads) ([`Response::Attachment`]).
    ReadAttachment { mid: u64, index: u32 },
    /// Contents synchronisation download (MS-OXCFXICS §3.2.5.3, RopSynchronizationConfigure with
    /// SynchronizationType Contents, §2.2.3.2.1.1; Gromox `get_content_sync`): from the client's
    /// `state` (MetaTagIdsetGiven, MetaTagCnsetSeen, -SeenFAI, -Read, §2.2.1.1), the ids of the
    /// new and changed messages of `folder`, the deletions and read-state changes, and the state
    /// after the client applied them ([`Response::ContentSync`]). Only ids: the message headers
    /// come in batches with [`Call::SyncMessageHeaders`], contents with [`Call::ReadMessage`], so
    /// no frame grows with the messages. [`ContentSyncOptions`] carries the SynchronizationFlags
    /// Normal, FAI and ReadState (§2.2.3.2.1.1.1) and the reader in a public store.
    /// Wire form: `u64 folder`, the state, `u8 flags` (1 normal, 2 FAI, 4 read state), the
    /// optional user.
    SyncContents {
        folder: u64,
        state: SyncState,
        opts: ContentSyncOptions,
    },
    /// The messageChangeHeader data (the messageChangeHeader element of MS-OXCFXICS §2.2.4.3: PidTagSourceKey, PidTagChangeKey,
    /// PidTagPredecessorChangeList, PidTagLastModificationTime, PidTagAssociated, read state,
    /// size) of a batch of the ids [`Call::SyncContents`] listed ([`Response::MessageHeaders`]).
    /// At most [`MAX_SYNC_HEADERS`] ids are looked at per call, and no more than fit in a frame:
    /// the response says how many of `mids` it covered, the client asks again for the rest.
    /// Messages gone since the sync was computed are left out.
    SyncMessageHeaders { user: Option<String>, mids: Vec<u64> },
    /// Hierarchy synchronisation download (MS-OXCFXICS §3.2.5.3, SynchronizationType Hierarchy;
    /// Gromox `get_hierarchy_sync`) of the subtree below `folder`: new and changed folders,
    /// parents first, with their properties, the deleted folder ids and the new state
    /// ([`Response::HierarchySync`]).
    SyncHierarchy { folder: u64, state: SyncState },
    /// RopSynchronizationImportMessageChange (MS-OXCFXICS §2.2.3.2.4.2, server side §3.2.5.9.4.2)
    /// with the whole message, as [`Call::WriteMessage`] carries it: creates the message of
    /// `source_key` in `folder` or replaces it, after conflict detection by predecessor change
    /// lists (§3.1.5.6). With the importing client's `state`, the new id and change number are
    /// recorded in it ([`Response::Imported`]). Wire form: `u64 folder`, the optional state,
    /// `u32`-length source key, optional change key and PCL (`u8 0`, or `u8 1` + `u32`-length
    /// bytes), `u8 associated`, the message.
    ImportMessageChange {
        folder: u64,
        state: Option<SyncState>,
        source_key: Vec<u8>,
        change_key: Option<Vec<u8>>,
        pcl: Option<Vec<u8>>,
        associated: bool,
        content: MessageContent,
    },
    /// RopSynchronizationImportDeletes (MS-OXCFXICS §2.2.3.2.4.5): messages of `folder`, or with
    /// `hierarchy` folders anywhere in the store, by source key, soft or `hard`; unknown keys are
    /// skipped ([`Response::ImportCount`]: how many were deleted, and the updated state).
    ImportDeletes {
        folder: u64,
        hierarchy: bool,
        hard: bool,
        source_keys: Vec<Vec<u8>>,
        state: Option<SyncState>,
    },
    /// RopSynchronizationImportReadStateChanges (MS-OXCFXICS §2.2.3.2.4.6): `(source key, read)`
    /// pairs of messages of `folder`; `user` is the reader in a public store; FAI messages are
    /// ignored (§3.2.5.9.4.6) ([`Response::ImportCount`]: how many messages were found).
    ImportReadStates {
        folder: u64,
        user: Option<String>,
        changes: Vec<(Vec<u8>, bool)>,
        state: Option<SyncState>,
    },
    /// RopSynchronizationImportMessageMove (MS-OXCFXICS §2.2.3.2.4.4): the message
    /// `source_message` of the folder `source_folder` (source keys) moved into `folder` as
    /// `destination_message`; `pcl` is the client's predecessor change list of the message,
    /// `change_key` the move's change ([`Response::Imported`] with [`ImportOutcome::Moved`]).
    ImportMessageMove {
        folder: u64,
        source_folder: Vec<u8>,
        source_message: Vec<u8>,
        pcl: Vec<u8>,
        destination_message: Vec<u8>,
        change_key: Option<Vec<u8>>,
        state: Option<SyncState>,
    },
    /// RopSynchronizationImportHierarchyChange (MS-OXCFXICS §2.2.3.2.4.3) below `root` (the
    /// synchronised folder): creates, renames, moves or updates the folder of `source_key`
    /// (parent by `parent_source_key`, empty for `root` itself) with conflict detection
    /// ([`Response::Imported`]).
    ImportFolderChange {
        root: u64,
        parent_source_key: Vec<u8>,
        source_key: Vec<u8>,
        change_key: Option<Vec<u8>>,
        pcl: Option<Vec<u8>>,
        name: String,
        props: Vec<TaggedVal>,
        state: Option<SyncState>,
    },
    /// RopGetLocalReplicaIds (MS-OXCFXICS §2.2.3.2.4.7): reserves `count` ids (1 to
    /// [`MAX_RESERVE_IDS`]) the client may use in the source keys of objects it creates
    /// ([`Response::IdRange`]).
    ReserveIds { count: u32 },
    /// RopExpandRow (MS-OXCTABL §2.2.2.17): shows the members of the category `category`
    /// (its PR_INST_ID) of a categorized table ([`Response::Count`]: how many rows appeared, 0
    /// when it already was expanded; the rows themselves come from [`Call::QueryTable`]).
    ExpandRow { table: u32, category: u64 },
    /// RopCollapseRow (MS-OXCTABL §2.2.2.18): hides the members of a category
    /// ([`Response::Count`]: how many rows went).
    CollapseRow { table: u32, category: u64 },
    /// RopGetCollapseState (MS-OXCTABL §2.2.2.19): an opaque blob with the table's
    /// expanded/collapsed categories and the row at the cursor (seek there first)
    /// ([`Response::Bytes`]).
    GetCollapseState { table: u32 },
    /// RopSetCollapseState (MS-OXCTABL §2.2.2.20): restores a state from
    /// [`Call::GetCollapseState`] (at most [`MAX_COLLAPSE_STATE`] bytes) ([`Response::Count`]:
    /// a bookmark on the saved row, to be freed with [`Call::FreeBookmark`]).
    SetCollapseState { table: u32, state: Vec<u8> },
    /// RopCreateFolder with FolderType FOLDER_SEARCH (MS-OXCFOLD §2.2.1.2): a search folder
    /// named `name` under `parent` (a live generic folder of a private store)
    /// ([`Response::Id`]).
    CreateSearchFolder { parent: u64, name: String },
    /// RopSetSearchCriteria (MS-OXCFOLD §2.2.1.4, MS-OXOSRCH §3.1.4.1): a search folder's
    /// restriction and scope folders (`None`: keep the previous one; the first call needs both;
    /// a restriction of at most [`MAX_TABLE_RESTRICTION`] bytes, at most [`MAX_SEARCH_SCOPE`]
    /// folders) and the SearchFlags of §2.2.1.4.1. The population runs in the background; a
    /// listen connection gets [`nf::SEARCH_COMPLETE`] when it is done.
    SetSearchCriteria {
        folder: u64,
        restriction: Option<Restriction>,
        scope: Option<Vec<u64>>,
        flags: u32,
    },
    /// RopGetSearchCriteria (MS-OXCFOLD §2.2.1.5): restriction, scope folders and state
    /// flags (§2.2.1.5.2) ([`Response::SearchCriteria`]).
    GetSearchCriteria { folder: u64 },
    /// Gromox `load_message_instance` (MS-OXCMSG §2.2.3.1 RopOpenMessage, §2.2.3.2
    /// RopCreateMessage): an editable in-memory copy of message `mid` of `folder`, or a new
    /// (normal or FAI) message of `folder` when `mid` is `None` ([`Response::Count`]: the
    /// instance id, valid on this connection for this mailbox).
    LoadMessageInstance {
        folder: u64,
        mid: Option<u64>,
        associated: bool,
    },
    /// Gromox `load_embedded_instance` (MS-OXCMSG §2.2.3.16 RopOpenEmbeddedMessage): the
    /// embedded message of attachment instance `attachment` as a nested message instance, or
    /// a new one replacing it (`create`) ([`Response::Count`]: the instance id).
    LoadEmbeddedInstance { attachment: u32, create: bool },
    /// Gromox `get_instance_all_proptags` + `get_instance_properties`: all properties of a
    /// message or attachment instance ([`Response::Props`]).
    GetInstanceProps { instance: u32 },
    /// Gromox `set_instance_properties` (MS-OXCPRPT §2.2.5 RopSetProperties on a message or
    /// attachment): in memory until [`Call::FlushInstance`].
    SetInstanceProps { instance: u32, props: Vec<TaggedVal> },
    /// Gromox `remove_instance_properties` (MS-OXCPRPT §2.2.7 RopDeleteProperties).
    RemoveInstanceProps { instance: u32, tags: Vec<PropTag> },
    /// Gromox `get_instance_rcpts` (MS-OXCMSG §2.2.3.17 RopOpenRecipientTable) of a message
    /// instance ([`Response::PropLists`]).
    GetInstanceRcpts { instance: u32 },
    /// Gromox `empty_message_instance_rcpts` + `update_instance_rcpts` (MS-OXCMSG §2.2.3.5
    /// RopModifyRecipients): the message instance's recipient rows replaced by `rcpts`.
    SetInstanceRcpts { instance: u32, rcpts: Vec<Vec<TaggedVal>> },
    /// Gromox `get_message_instance_attachments_num` / `query_message_instance_attachment_table`
    /// (MS-OXCMSG §2.2.3.17 RopGetAttachmentTable): the properties of the message instance's
    /// attachments in index order ([`Response::PropLists`]).
    GetInstanceAttachments { instance: u32 },
    /// Gromox `create_attachment_instance` (MS-OXCMSG §2.2.3.13 RopCreateAttachment): a new
    /// attachment of message instance `instance`, added to it when flushed
    /// ([`Response::Count`]: the attachment instance id).
    CreateAttachmentInstance { instance: u32 },
    /// Gromox `load_attachment_instance` (MS-OXCMSG §2.2.3.12 RopOpenAttachment): attachment
    /// `index` of message instance `instance` ([`Response::Count`]: the instance id).
    LoadAttachmentInstance { instance: u32, index: u32 },
    /// Gromox `delete_message_instance_attachment` (MS-OXCMSG §2.2.3.14 RopDeleteAttachment):
    /// the attachment leaves the message instance (later ones move down one index).
    DeleteInstanceAttachment { instance: u32, index: u32 },
    /// Gromox `flush_instance` (MS-OXCMSG §2.2.3.3 RopSaveChangesMessage, §2.2.3.15
    /// RopSaveChangesAttachment): a top-level message instance is written to the store in one
    /// transaction, an attachment instance into its message instance, an embedded message
    /// instance into its attachment instance ([`Response::Count`]: the message id, the
    /// attachment index, 0 for an embedded message).
    FlushInstance { instance: u32 },
    /// Gromox `unload_instance` (RopRelease): the instance is dropped, unflushed changes lost.
    UnloadInstance { instance: u32 },
    /// Gromox `read_message_instance`: the whole message instance ([`Response::Message`]).
    ReadMessageInstance { instance: u32 },
    /// Gromox `write_message_instance`: the message instance's whole content replaced.
    WriteMessageInstance { instance: u32, content: MessageContent },
    /// Gromox `is_msg_present`: whether `mid` is a live message of `folder`
    /// ([`Response::Count`] 0/1).
    IsMsgPresent { folder: u64, mid: u64 },
    /// Gromox `is_msg_deleted`: whether message `mid` is soft-deleted ([`Response::Count`]
    /// 0/1; [`Status::NotFound`] when it does not exist).
    IsMsgDeleted { mid: u64 },
    /// Gromox `is_folder_present`: whether `folder` exists and is live ([`Response::Count`]).
    IsFolderPresent { folder: u64 },
    /// Gromox `is_folder_deleted`: whether `folder` is soft-deleted ([`Response::Count`];
    /// [`Status::NotFound`] when it does not exist).
    IsFolderDeleted { folder: u64 },
    /// Gromox `get_folder_perm`: the MS-OXCPERM §2.2.7 rights `user` has on `folder` (their
    /// own member row, else the default member's) ([`Response::Count`]).
    GetFolderPerm { folder: u64, user: String },
    /// Gromox `allocate_cn`: a new change number ([`Response::Count`]).
    AllocateCn,
    /// Gromox `sum_hierarchy`: how many live subfolders `folder` has, all levels when
    /// `recursive` ([`Response::Count`]).
    SumHierarchy { folder: u64, recursive: bool },
    /// Gromox `sum_content`: how many normal or FAI messages `folder` holds, live or
    /// soft-deleted ones ([`Response::Count`]).
    SumContent {
        folder: u64,
        associated: bool,
        deleted: bool,
    },
    /// Gromox `get_all_named_propids`: every named property of the store with its id
    /// ([`Response::NamedProps`]).
    GetAllNamedPropIds,
    /// Gromox `get_folder_by_class` (MS-OXCSTOR §2.2.1.3 RopGetReceiveFolder): the receive
    /// folder of a message class (longest matching prefix) ([`Response::Id`]).
    GetFolderByClass { class: String },
    /// Gromox `check_folder_cycle`: whether `dest` is `folder` or below it, so that moving or
    /// copying `folder` into `dest` would make a cycle ([`Response::Count`] 0/1).
    CheckFolderCycle { folder: u64, dest: u64 },
    /// Gromox `movecopy_message` (MS-OXCFOLD §2.2.1.6 RopMoveCopyMessages for one message):
    /// message `mid` moved or copied into `to` ([`Response::Id`]: its new id).
    MovecopyMessage { mid: u64, to: u64, copy: bool },
    /// Gromox `get_message_rcpts`: the recipient rows of a message ([`Response::PropLists`]).
    GetMessageRcpts { mid: u64 },
    /// Gromox `read_attachment_instance`: the attachment instance's properties and embedded
    /// message ([`Response::Attachment`]).
    ReadAttachmentInstance { instance: u32 },
    /// MS-OXCNOTIF §2.2.1.4.1.2 TableModified for a table of this connection: the store's
    /// changes since the table was loaded or last asked are applied to it now (rows added,
    /// modified, removed at their sort positions; the cursor and bookmarks stay on their rows)
    /// and answered as [`Response::TableEvents`], added and modified rows with `columns`.
    /// Between two calls a table shows the rows as of the last one (or its load/reload).
    /// Categorized views name category headers by category id (their PR_INST_ID), instance 0;
    /// a header whose counts changed is TABLE_ROW_MODIFIED. Hierarchy tables name rows by
    /// folder id (message 0); a folder whose counts, properties, depth or subfolders changed
    /// is TABLE_ROW_MODIFIED.
    TableNotifications { table: u32, columns: Vec<PropTag> },
    /// Gromox `locate_table`: the index of the row with PR_INST_ID `inst_id` and
    /// PR_INSTANCE_NUM `inst_num` (a hierarchy table's rows by folder id), cursor unchanged
    /// ([`Response::Found`]; `None`: no visible row has them).
    LocateRow { table: u32, inst_id: u64, inst_num: u32 },
    /// Gromox `read_table_row`: the `columns` of that row, cursor unchanged ([`Response::Rows`]
    /// with the one row; NotFound when no visible row has them).
    ReadTableRow {
        table: u32,
        columns: Vec<PropTag>,
        inst_id: u64,
        inst_num: u32,
    },
}

/// Most scope folders of one [`Call::SetSearchCriteria`].
pub const MAX_SEARCH_SCOPE: usize = 4096;
/// Most message and attachment instances one connection holds.
pub const MAX_INSTANCES: usize = 256;
/// Most bytes (by the store's message size accounting) the instances of one connection hold
/// together.
pub const MAX_INSTANCE_BYTES: u64 = 64 * 1024 * 1024;

/// Most message ids [`Call::SyncMessageHeaders`] looks at in one call.
pub const MAX_SYNC_HEADERS: usize = 4096;
/// Largest collapse state [`Call::SetCollapseState`] takes.
pub const MAX_COLLAPSE_STATE: usize = 1 << 20;
/// Most ids one [`Call::ReserveIds`] reserves (the store's 48-bit id space is shared by every
/// client, so one call cannot take a large part of it).
pub const MAX_RESERVE_IDS: usize = 1 << 20;

/// What became of an imported change ([`Response::Imported`]). Wire form: `u8 kind` (0
/// created, 1 updated, 2 ignored, 3 conflict, 4 moved), `u64 id`, for a move `u8 server_newer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new object, with this id.
    Created(u64),
    /// The client's version replaced the server's.
    Updated(u64),
    /// The server already has this version or a newer one (MS-OXCFXICS §3.1.5.6: the client's
    /// PCL is included in the server's); nothing changed.
    Ignored(u64),
    /// Concurrent changes (neither PCL includes the other), or the server deleted or moved the
    /// object: nothing changed (the ROP's SyncConflict warning).
    Conflict(u64),
    /// A moved message with its new id; `server_newer` when the server had changes the
    /// client's PCL lacked (the client downloads the message again; §3.2.5.9.4.4).
    Moved { mid: u64, server_newer: bool },
}

/// A contents synchronisation ([`Call::SyncContents`]). Wire form: `u32 count` ids, four
/// `u32`-length GLOBSETs (MS-OXCFXICS §2.2.2.6) and the state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentSync {
    /// New and changed messages, oldest change first.
    pub changed: Vec<u64>,
    /// Those of `changed` the client did not have before (new rather than changed).
    pub new: GlobSet,
    /// Ids the client has that are no longer live in the folder (MetaTagIdsetDeleted, §2.2.1.3.1).
    pub deleted: GlobSet,
    /// Messages the client has that became read (MetaTagIdsetRead, §2.2.1.3.4).
    pub read: GlobSet,
    /// Messages the client has that became unread (MetaTagIdsetUnread, §2.2.1.3.5).
    pub unread: GlobSet,
    /// The state after the client received all of it (§2.2.1.1).
    pub state: SyncState,
}

/// What a contents synchronisation covers (Gromox's SYNC_NORMAL, SYNC_ASSOCIATED and the read
/// state flags; MS-OXCFXICS §2.2.3.2.1.1.1 SynchronizationFlags Normal/FAI, ReadState).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSyncOptions {
    /// Normal messages.
    pub normal: bool,
    /// Folder associated information (FAI) messages.
    pub fai: bool,
    /// Read-state changes of messages the client has.
    pub read_state: bool,
    /// Public stores: whose read state (read state is per user there). Ignored in private stores.
    pub user: Option<String>,
}

impl Default for ContentSyncOptions {
    fn default() -> Self {
        ContentSyncOptions {
            normal: true,
            fai: true,
            read_state: true,
            user: None,
        }
    }
}

/// One message's change header ([`Call::SyncMessageHeaders`]; MS-OXCFXICS §2.2.4.3
/// messageChangeHeader). Wire form: `u64 mid`, `u32`-length source key, `u64` change number,
/// `u32`-length change key and PCL, `u8 flags` (1 associated, 2 read), `u64` last modification
/// time (FILETIME), `u64` size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageHeader {
    pub mid: u64,
    /// PidTagSourceKey.
    pub source_key: Vec<u8>,
    pub change_number: u64,
    /// PidTagChangeKey.
    pub change_key: Vec<u8>,
    /// PidTagPredecessorChangeList.
    pub pcl: Vec<u8>,
    /// PidTagAssociated (FAI).
    pub associated: bool,
    pub read: bool,
    /// PidTagLastModificationTime (FILETIME, 0 when absent).
    pub last_modified: u64,
    /// PidTagMessageSize.
    pub size: u64,
}

/// A folder of a hierarchy synchronisation (the folderChange element of MS-OXCFXICS §2.2.4.3). Wire form:
/// `u64 folder`, `u64 parent`, `u32`-length source key and parent source key, `u64` change
/// number, `u32`-length change key and PCL, the properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FolderSync {
    pub folder: u64,
    pub parent: u64,
    /// PidTagSourceKey.
    pub source_key: Vec<u8>,
    /// PidTagParentSourceKey: empty for a folder directly below the synchronised folder.
    pub parent_source_key: Vec<u8>,
    pub change_number: u64,
    pub change_key: Vec<u8>,
    pub pcl: Vec<u8>,
    /// Every folder property, the four above included.
    pub props: Vec<TaggedVal>,
}

/// A hierarchy synchronisation ([`Call::SyncHierarchy`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HierarchySync {
    /// New and changed folders, parents before their children.
    pub changed: Vec<FolderSync>,
    /// Folder ids the client has that are no longer live in the subtree.
    pub deleted: GlobSet,
    pub state: SyncState,
}

/// Most tables one connection may hold open ([`Call::LoadContentTable`]).
pub const MAX_TABLES: usize = 64;
/// Most bookmarks one table may hold ([`Call::CreateBookmark`]).
pub const MAX_BOOKMARKS: usize = 1024;
/// Most values (rows × columns) one [`Call::QueryTable`] answers; the row count is clamped.
/// Rows that would not fit in a frame are not returned either (fewer rows, as MS-OXCTABL
/// §3.2.5.5 allows; the cursor moves past the rows returned).
pub const MAX_QUERY_CELLS: usize = 1 << 20;
/// Most rows all tables of one connection may hold together when a table is loaded (8 bytes
/// each: 32 MiB).
pub const MAX_TABLE_ROWS: usize = 1 << 22;
/// Largest restriction a table keeps, in its wire form (a table holds its restriction for
/// reloads).
pub const MAX_TABLE_RESTRICTION: usize = 256 * 1024;

/// A whole message as [`Call::ReadMessage`] and [`Call::WriteMessage`] carry it (Gromox
/// `MESSAGE_CONTENT`, MS-OXCMSG §2.2): properties, recipient rows and attachments.
///
/// Wire form: properties, `u32 count` recipient property lists, `u32 count` attachments, each
/// its properties and `u8 0` or `u8 1` + the embedded message (at most [`MAX_MESSAGE_DEPTH`]
/// levels deep).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageContent {
    pub props: Vec<TaggedVal>,
    pub recipients: Vec<Vec<TaggedVal>>,
    pub attachments: Vec<AttachmentContent>,
}

impl MessageContent {
    /// The value of a property.
    pub fn get(&self, tag: PropTag) -> Option<&PropVal> {
        self.props.iter().find(|p| p.tag == tag).map(|p| &p.val)
    }
    /// Sets (replaces) a property.
    pub fn set(&mut self, tag: PropTag, val: PropVal) {
        let tv = TaggedVal::new(tag, val);
        match self.props.iter_mut().find(|p| p.tag.id() == tv.tag.id()) {
            Some(p) => *p = tv,
            None => self.props.push(tv),
        }
    }
    /// Removes a property.
    pub fn remove(&mut self, tag: PropTag) {
        self.props.retain(|p| p.tag != tag);
    }
}

/// An attachment of a [`MessageContent`] (Gromox `ATTACHMENT_CONTENT`, MS-OXCMSG §2.2.2):
/// properties and, for embedded-message attachments (`ATTACH_EMBEDDED_MSG`), the message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttachmentContent {
    pub props: Vec<TaggedVal>,
    pub embedded: Option<Box<MessageContent>>,
}

/// What [`Call::DeliverMail`] did and what it leaves to the delivery agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailDelivery {
    /// The folder the message went into (0: deleted by a rule, not stored).
    pub folder: u64,
    /// The new message's id (0: not stored).
    pub message: u64,
    /// SMTP addresses the rules forward or delegate the message to (the agent spools them).
    pub forward_to: Vec<String>,
    /// Replies the rules ask for (reply with template, MS-OXORULE 2.2.5.1.2.3): the template
    /// message rendered as MIME without envelope headers (Subject, Content-Type, body); the
    /// agent addresses and sends it to the sender.
    pub replies: Vec<Vec<u8>>,
    /// Names of the rules that matched (for the log).
    pub matched: Vec<String>,
    /// Actions not carried out, and follow-up steps that failed (for the log).
    pub skipped: Vec<String>,
}

/// IMAP flags of a message in MAPI terms (see exmdbd's `imapview`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImapFlags {
    pub read: bool,
    pub flagged: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub draft: bool,
    pub keywords: Vec<String>,
}

/// One message of [`Call::ListMessages`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSummary {
    pub mid: u64,
    pub change_number: u64,
    pub flags: ImapFlags,
    /// Unix seconds.
    pub delivery_time: i64,
}

/// Notification kinds (Gromox `NF_*` events).
pub mod nf {
    pub const KEEPALIVE: u8 = 0;
    pub const NEW_MAIL: u8 = 1;
    pub const OBJECT_CREATED: u8 = 2;
    pub const OBJECT_MODIFIED: u8 = 3;
    pub const OBJECT_DELETED: u8 = 4;
    pub const OBJECT_MOVED: u8 = 5;
    pub const OBJECT_COPIED: u8 = 6;
    /// A search folder's population finished (MS-OXCNOTIF §2.2.1.1.6 fnevSearchComplete;
    /// `is_folder` set, `folder` the search folder; version 7).
    pub const SEARCH_COMPLETE: u8 = 7;
}

/// A pushed event on a listen connection: `u8 kind`, `u8 is-folder`, `u64 folder`,
/// `u64 message` (0 for folder events), `u64 other` (new parent / new message id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    pub kind: u8,
    pub is_folder: bool,
    pub folder: u64,
    pub message: u64,
    pub other: u64,
}

impl Notification {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = vec![self.kind, self.is_folder as u8];
        put_u64(&mut w, self.folder);
        put_u64(&mut w, self.message);
        put_u64(&mut w, self.other);
        w
    }
    pub fn decode(p: &[u8]) -> R<Notification> {
        let mut r = Reader::new(p);
        let n = Notification {
            kind: r.u8()?,
            is_folder: r.bool()?,
            folder: r.u64()?,
            message: r.u64()?,
            other: r.u64()?,
        };
        r.end()?;
        Ok(n)
    }
}

/// The response of a successful call.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// No data (most writes).
    Done,
    Props(Vec<TaggedVal>),
    Folders(Vec<FolderEntry>),
    /// A new object's id (CreateFolder).
    Id(u64),
    /// DeliverMessage: folder and message id.
    Delivered {
        folder: u64,
        message: u64,
    },
    /// A count (EmptyFolder, PurgeSoftdel, PurgeDatafiles).
    Count(u64),
    /// FolderState.
    FolderState {
        max_cn: u64,
        count: u64,
    },
    /// ListMessages.
    Messages(Vec<MessageSummary>),
    /// MessageRfc822.
    Bytes(Vec<u8>),
    /// CopyMessages, MoveMessages: new ids in order (0: not copied/moved).
    Ids(Vec<u64>),
    /// DeliverMail.
    MailDelivered(MailDelivery),
    /// GetNamedPropIds: ids in order (0: unknown).
    PropIds(Vec<u16>),
    /// GetNamedPropNames: names in order (`None`: id not mapped).
    PropNames(Vec<Option<PropName>>),
    /// ReadMessage.
    Message(MessageContent),
    /// LoadContentTable, LoadHierarchyTable, ReloadTable: the table id and its row count.
    Table {
        id: u32,
        rows: u32,
    },
    /// QueryTable: one value per requested column (`None`: the row lacks it). Wire form:
    /// `u32 count` rows, each `u32 count` values, each `u8 0` or `u8 1` + one property as in a
    /// property list.
    Rows(Vec<Vec<Option<PropVal>>>),
    /// SeekTable, SeekBookmark: rows moved (signed) and whether the bookmarked row is gone.
    Seek {
        moved: i64,
        row_gone: bool,
    },
    /// QueryPosition: the cursor (Numerator) and the row count (Denominator).
    Position {
        position: u32,
        rows: u32,
    },
    /// FindRow: the index of the row found.
    Found(Option<u32>),
    /// GetPermissions.
    Permissions(Vec<PermissionRow>),
    /// GetRules.
    Rules(Vec<Rule>),
    /// ReadAttachment.
    Attachment(AttachmentContent),
    /// SyncContents.
    ContentSync(ContentSync),
    /// SyncMessageHeaders: how many of the requested ids were looked at (ask again for the
    /// rest), and the headers of those still live.
    MessageHeaders {
        done: u32,
        headers: Vec<MessageHeader>,
    },
    /// SyncHierarchy.
    HierarchySync(HierarchySync),
    /// ImportMessageChange, ImportMessageMove, ImportFolderChange: the outcome and the
    /// importing client's updated state (when it passed one).
    Imported {
        outcome: ImportOutcome,
        state: Option<SyncState>,
    },
    /// ImportDeletes, ImportReadStates: how many objects were affected, and the updated state.
    ImportCount {
        count: u64,
        state: Option<SyncState>,
    },
    /// ReserveIds: the first and last reserved global counter.
    IdRange {
        first: u64,
        last: u64,
    },
    /// GetSearchCriteria: `u8 0`/`u8 1` + restriction, the scope folder ids, `u32` state flags.
    SearchCriteria {
        restriction: Option<Restriction>,
        scope: Vec<u64>,
        status: u32,
    },
    /// GetInstanceRcpts, GetInstanceAttachments, GetMessageRcpts: `u32 count` property lists.
    PropLists(Vec<Vec<TaggedVal>>),
    /// GetAllNamedPropIds: `u32 count`, each `u16 id` + property name.
    NamedProps(Vec<(u16, PropName)>),
    /// TableNotifications: `u32 count` events.
    TableEvents(Vec<TableEvent>),
}

/// A row of a table by what it shows (MS-OXCNOTIF TableModified Row/InsertAfter ids):
/// the message's folder, the message (0 for a category header or a folder row) and the
/// multi-value instance number. Wire form `u64 folder, u64 message, u32 instance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRowRef {
    pub folder: u64,
    pub message: u64,
    pub instance: u32,
}

/// One TableModified notification (MS-OXCNOTIF §2.2.1.4.1.2). Wire form: `u16 event`,
/// the row, `u8 0`/`u8 1` + the prior row, `u32 position`, `u32 count` values as in a
/// QueryTable row.
#[derive(Debug, Clone, PartialEq)]
pub struct TableEvent {
    /// TableEventType: 1 TABLE_CHANGED, 3 TABLE_ROW_ADDED, 4 TABLE_ROW_DELETED, 5
    /// TABLE_ROW_MODIFIED.
    pub event: u16,
    /// The row (zero for TABLE_CHANGED).
    pub row: TableRowRef,
    /// The row before it after the change (`None`: it is the first row); added and modified
    /// rows only.
    pub prior: Option<TableRowRef>,
    /// Its index after the change; added and modified rows only.
    pub position: u32,
    /// The requested columns of an added or modified row (empty for the others).
    pub values: Vec<Option<PropVal>>,
}

/// Most events one [`Call::TableNotifications`] answers; more changes than that are answered
/// as one TABLE_CHANGED (the table is current either way).
pub const MAX_TABLE_EVENTS: usize = 256;

impl Call {
    /// The call's wire id.
    pub fn id(&self) -> u8 {
        use Call::*;
        match self {
            Ping => 0,
            GetStoreProps => 1,
            SetStoreProps(_) => 2,
            RemoveStoreProps(_) => 3,
            ListFolders => 4,
            CreateFolder { .. } => 5,
            GetFolderProps(_) => 6,
            GetMessageProps(_) => 7,
            DeliverMessage { .. } => 8,
            SetReadState { .. } => 9,
            DeleteMessages { .. } => 10,
            MoveMessages { .. } => 11,
            EmptyFolder { .. } => 12,
            PurgeSoftdel => 13,
            PurgeDatafiles => 14,
            RecalcSizes => 15,
            Vacuum => 16,
            Unload => 17,
            Freeze => 18,
            Thaw => 19,
            Subscribe { .. } => 20,
            FolderState { .. } => 21,
            ListMessages { .. } => 22,
            MessageRfc822 { .. } => 23,
            AppendRfc822 { .. } => 24,
            SetMessageFlags { .. } => 25,
            CopyMessages { .. } => 26,
            DeleteFolder { .. } => 27,
            MoveFolder { .. } => 28,
            PurgeSoftdelOlder { .. } => 29,
            SetPermission { .. } => 30,
            RemovePermission { .. } => 31,
            MailboxRights { .. } => 32,
            DeliverMail { .. } => 33,
            CheckQuota { .. } => 34,
            AutoreplyDue { .. } => 35,
            GetNamedPropIds { .. } => 36,
            GetNamedPropNames { .. } => 37,
            ReadMessage { .. } => 38,
            WriteMessage { .. } => 39,
            SetMessageProps { .. } => 40,
            RemoveMessageProps { .. } => 41,
            LoadContentTable { .. } => 42,
            LoadHierarchyTable { .. } => 43,
            QueryTable { .. } => 44,
            SeekTable { .. } => 45,
            SeekFraction { .. } => 46,
            CreateBookmark { .. } => 47,
            SeekBookmark { .. } => 48,
            FreeBookmark { .. } => 49,
            FindRow { .. } => 50,
            QueryPosition { .. } => 51,
            ReloadTable { .. } => 52,
            UnloadTable { .. } => 53,
            GetPermissions { .. } => 54,
            UpdatePermissions { .. } => 55,
            GetRules { .. } => 56,
            UpdateRules { .. } => 57,
            SetFolderProps { .. } => 58,
            RemoveFolderProps { .. } => 59,
            CopyFolder { .. } => 60,
            GetFolderByName { .. } => 61,
            ReadAttachment { .. } => 62,
            SyncContents { .. } => 63,
            SyncMessageHeaders { .. } => 64,
            SyncHierarchy { .. } => 65,
            ImportMessageChange { .. } => 66,
            ImportDeletes { .. } => 67,
            ImportReadStates { .. } => 68,
            ImportMessageMove { .. } => 69,
            ImportFolderChange { .. } => 70,
            ReserveIds { .. } => 71,
            ExpandRow { .. } => 72,
            CollapseRow { .. } => 73,
            GetCollapseState { .. } => 74,
            SetCollapseState { .. } => 75,
            CreateSearchFolder { .. } => 76,
            SetSearchCriteria { .. } => 77,
            GetSearchCriteria { .. } => 78,
            LoadMessageInstance { .. } => 79,
            LoadEmbeddedInstance { .. } => 80,
            GetInstanceProps { .. } => 81,
            SetInstanceProps { .. } => 82,
            RemoveInstanceProps { .. } => 83,
            GetInstanceRcpts { .. } => 84,
            SetInstanceRcpts { .. } => 85,
            GetInstanceAttachments { .. } => 86,
            CreateAttachmentInstance { .. } => 87,
            LoadAttachmentInstance { .. } => 88,
            DeleteInstanceAttachment { .. } => 89,
            FlushInstance { .. } => 90,
            UnloadInstance { .. } => 91,
            ReadMessageInstance { .. } => 92,
            WriteMessageInstance { .. } => 93,
            IsMsgPresent { .. } => 94,
            IsMsgDeleted { .. } => 95,
            IsFolderPresent { .. } => 96,
            IsFolderDeleted { .. } => 97,
            GetFolderPerm { .. } => 98,
            AllocateCn => 99,
            SumHierarchy { .. } => 100,
            SumContent { .. } => 101,
            GetAllNamedPropIds => 102,
            GetFolderByClass { .. } => 103,
            CheckFolderCycle { .. } => 104,
            MovecopyMessage { .. } => 105,
            GetMessageRcpts { .. } => 106,
            ReadAttachmentInstance { .. } => 107,
            TableNotifications { .. } => 108,
            LocateRow { .. } => 109,
            ReadTableRow { .. } => 110,
        }
    }

    /// The call's name (logs, metrics).
    pub fn name(&self) -> &'static str {
        const NAMES: [&str; 111] = [
            "Ping",
            "GetStoreProps",
            "SetStoreProps",
            "RemoveStoreProps",
            "ListFolders",
            "CreateFolder",
            "GetFolderProps",
            "GetMessageProps",
            "DeliverMessage",
            "SetReadState",
            "DeleteMessages",
            "MoveMessages",
            "EmptyFolder",
            "PurgeSoftdel",
            "PurgeDatafiles",
            "RecalcSizes",
            "Vacuum",
            "Unload",
            "Freeze",
            "Thaw",
            "Subscribe",
            "FolderState",
            "ListMessages",
            "MessageRfc822",
            "AppendRfc822",
            "SetMessageFlags",
            "CopyMessages",
            "DeleteFolder",
            "MoveFolder",
            "PurgeSoftdelOlder",
            "SetPermission",
            "RemovePermission",
            "MailboxRights",
            "DeliverMail",
            "CheckQuota",
            "AutoreplyDue",
            "GetNamedPropIds",
            "GetNamedPropNames",
            "ReadMessage",
            "WriteMessage",
            "SetMessageProps",
            "RemoveMessageProps",
            "LoadContentTable",
            "LoadHierarchyTable",
            "QueryTable",
            "SeekTable",
            "SeekFraction",
            "CreateBookmark",
            "SeekBookmark",
            "FreeBookmark",
            "FindRow",
            "QueryPosition",
            "ReloadTable",
            "UnloadTable",
            "GetPermissions",
            "UpdatePermissions",
            "GetRules",
            "UpdateRules",
            "SetFolderProps",
            "RemoveFolderProps",
            "CopyFolder",
            "GetFolderByName",
            "ReadAttachment",
            "SyncContents",
            "SyncMessageHeaders",
            "SyncHierarchy",
            "ImportMessageChange",
            "ImportDeletes",
            "ImportReadStates",
            "ImportMessageMove",
            "ImportFolderChange",
            "ReserveIds",
            "ExpandRow",
            "CollapseRow",
            "GetCollapseState",
            "SetCollapseState",
            "CreateSearchFolder",
            "SetSearchCriteria",
            "GetSearchCriteria",
            "LoadMessageInstance",
            "LoadEmbeddedInstance",
            "GetInstanceProps",
            "SetInstanceProps",
            "RemoveInstanceProps",
            "GetInstanceRcpts",
            "SetInstanceRcpts",
            "GetInstanceAttachments",
            "CreateAttachmentInstance",
            "LoadAttachmentInstance",
            "DeleteInstanceAttachment",
            "FlushInstance",
            "UnloadInstance",
            "ReadMessageInstance",
            "WriteMessageInstance",
            "IsMsgPresent",
            "IsMsgDeleted",
            "IsFolderPresent",
            "IsFolderDeleted",
            "GetFolderPerm",
            "AllocateCn",
            "SumHierarchy",
            "SumContent",
            "GetAllNamedPropIds",
            "GetFolderByClass",
            "CheckFolderCycle",
            "MovecopyMessage",
            "GetMessageRcpts",
            "ReadAttachmentInstance",
            "TableNotifications",
            "LocateRow",
            "ReadTableRow",
        ];
        NAMES.get(usize::from(self.id())).copied().unwrap_or("other")
    }

    /// The response shape this call expects (used by the client to decode).
    fn response_kind(&self) -> u8 {
        use Call::*;
        match self {
            GetStoreProps | GetFolderProps(_) | GetMessageProps(_) | GetInstanceProps { .. } => 1,
            ListFolders => 2,
            CreateFolder { .. }
            | WriteMessage { .. }
            | CopyFolder { .. }
            | GetFolderByName { .. }
            | CreateSearchFolder { .. }
            | GetFolderByClass { .. }
            | MovecopyMessage { .. } => 3,
            DeliverMessage { .. } | AppendRfc822 { .. } => 4,
            EmptyFolder { .. }
            | PurgeSoftdel
            | PurgeSoftdelOlder { .. }
            | PurgeDatafiles
            | MailboxRights { .. }
            | AutoreplyDue { .. }
            | CreateBookmark { .. }
            | ExpandRow { .. }
            | CollapseRow { .. }
            | SetCollapseState { .. }
            | LoadMessageInstance { .. }
            | LoadEmbeddedInstance { .. }
            | CreateAttachmentInstance { .. }
            | LoadAttachmentInstance { .. }
            | FlushInstance { .. }
            | IsMsgPresent { .. }
            | IsMsgDeleted { .. }
            | IsFolderPresent { .. }
            | IsFolderDeleted { .. }
            | GetFolderPerm { .. }
            | AllocateCn
            | SumHierarchy { .. }
            | SumContent { .. }
            | CheckFolderCycle { .. } => 5,
            FolderState { .. } => 6,
            ListMessages { .. } => 7,
            MessageRfc822 { .. } | GetCollapseState { .. } => 8,
            CopyMessages { .. } | MoveMessages { .. } => 9,
            DeliverMail { .. } => 10,
            GetNamedPropIds { .. } => 11,
            GetNamedPropNames { .. } => 12,
            ReadMessage { .. } | ReadMessageInstance { .. } => 13,
            LoadContentTable { .. } | LoadHierarchyTable { .. } | ReloadTable { .. } => 14,
            QueryTable { .. } => 15,
            SeekTable { .. } | SeekBookmark { .. } => 16,
            QueryPosition { .. } => 17,
            FindRow { .. } => 18,
            GetPermissions { .. } => 19,
            GetRules { .. } => 20,
            ReadAttachment { .. } | ReadAttachmentInstance { .. } => 21,
            SyncContents { .. } => 22,
            SyncMessageHeaders { .. } => 23,
            SyncHierarchy { .. } => 24,
            ImportMessageChange { .. } | ImportMessageMove { .. } | ImportFolderChange { .. } => 25,
            ImportDeletes { .. } | ImportReadStates { .. } => 26,
            ReserveIds { .. } => 27,
            GetSearchCriteria { .. } => 28,
            GetInstanceRcpts { .. } | GetInstanceAttachments { .. } | GetMessageRcpts { .. } => 29,
            GetAllNamedPropIds => 30,
            TableNotifications { .. } => 31,
            LocateRow { .. } => 18,
            ReadTableRow { .. } => 15,
            _ => 0,
        }
    }
}

/// Encodes a request payload (without the frame header).
pub fn encode_request(dir: &str, call: &Call) -> Vec<u8> {
    let mut w = Vec::with_capacity(64);
    w.push(call.id());
    put_str16(&mut w, dir);
    use Call::*;
    match call {
        Ping | GetStoreProps | ListFolders | PurgeSoftdel | PurgeDatafiles | RecalcSizes | Vacuum | Unload | Freeze
        | Thaw | AllocateCn | GetAllNamedPropIds => {}
        SetStoreProps(p) => put_props(&mut w, p),
        RemoveStoreProps(t) => put_tags(&mut w, t),
        CreateFolder { parent, name, class } => {
            put_u64(&mut w, *parent);
            put_str32(&mut w, name);
            put_opt_str(&mut w, class.as_deref());
        }
        GetFolderProps(id) | GetMessageProps(id) => put_u64(&mut w, *id),
        DeliverMessage { folder, props, mime } => {
            put_u64(&mut w, folder.unwrap_or(0));
            put_props(&mut w, props);
            match mime {
                Some(m) => {
                    w.push(1);
                    put_bytes(&mut w, m);
                }
                None => w.push(0),
            }
        }
        SetReadState { mid, read } => {
            put_u64(&mut w, *mid);
            w.push(*read as u8);
        }
        DeleteMessages { mids, hard } => {
            put_ids(&mut w, mids);
            w.push(*hard as u8);
        }
        MoveMessages { mids, to } => {
            put_ids(&mut w, mids);
            put_u64(&mut w, *to);
        }
        EmptyFolder { folder, hard } => {
            put_u64(&mut w, *folder);
            w.push(*hard as u8);
        }
        Subscribe { filter } => put_u32(&mut w, *filter),
        FolderState { folder } => put_u64(&mut w, *folder),
        ListMessages {
            folder,
            after_mid,
            limit,
            min_cn,
        } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *after_mid);
            put_u32(&mut w, *limit);
            put_u64(&mut w, *min_cn);
        }
        MessageRfc822 { mid } => put_u64(&mut w, *mid),
        AppendRfc822 {
            folder,
            mime,
            flags,
            delivery_time,
        } => {
            put_u64(&mut w, *folder);
            put_bytes(&mut w, mime);
            put_flags(&mut w, flags);
            match delivery_time {
                Some(t) => {
                    w.push(1);
                    put_u64(&mut w, *t as u64);
                }
                None => w.push(0),
            }
        }
        SetMessageFlags {
            mid,
            read,
            flagged,
            answered,
            forwarded,
            keywords,
        } => {
            put_u64(&mut w, *mid);
            for b in [read, flagged, answered, forwarded] {
                w.push(match b {
                    None => 2,
                    Some(v) => *v as u8,
                });
            }
            match keywords {
                Some(k) => {
                    w.push(1);
                    put_strs(&mut w, k);
                }
                None => w.push(0),
            }
        }
        CopyMessages { mids, to } => {
            put_ids(&mut w, mids);
            put_u64(&mut w, *to);
        }
        DeleteFolder { folder, hard } => {
            put_u64(&mut w, *folder);
            w.push(*hard as u8);
        }
        MoveFolder { folder, parent, name } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *parent);
            put_str32(&mut w, name);
        }
        PurgeSoftdelOlder { age_secs } => put_u64(&mut w, *age_secs),
        SetPermission { folder, user, rights } => {
            put_u64(&mut w, *folder);
            put_str32(&mut w, user);
            put_u32(&mut w, *rights);
        }
        RemovePermission { folder, user } => {
            put_u64(&mut w, *folder);
            put_str32(&mut w, user);
        }
        MailboxRights { user } => put_str32(&mut w, user),
        DeliverMail { from, rcpt, mime, now } => {
            put_str32(&mut w, from);
            put_str32(&mut w, rcpt);
            put_bytes(&mut w, mime);
            put_u64(&mut w, *now as u64);
        }
        CheckQuota { size } => put_u64(&mut w, *size),
        AutoreplyDue { peer, now, window } => {
            put_str32(&mut w, peer);
            put_u64(&mut w, *now as u64);
            put_u64(&mut w, *window as u64);
        }
        GetNamedPropIds { create, names } => {
            w.push(*create as u8);
            put_u32(&mut w, names.len() as u32);
            for n in names {
                put_propname(&mut w, n);
            }
        }
        GetNamedPropNames { ids } => {
            put_u32(&mut w, ids.len() as u32);
            for i in ids {
                w.extend_from_slice(&i.to_le_bytes());
            }
        }
        ReadMessage { mid } => put_u64(&mut w, *mid),
        WriteMessage {
            folder,
            associated,
            mid,
            content,
        } => {
            put_u64(&mut w, *folder);
            w.push(*associated as u8);
            put_u64(&mut w, mid.unwrap_or(0));
            put_message(&mut w, content);
        }
        SetMessageProps { mid, props } => {
            put_u64(&mut w, *mid);
            put_props(&mut w, props);
        }
        RemoveMessageProps { mid, tags } => {
            put_u64(&mut w, *mid);
            put_tags(&mut w, tags);
        }
        LoadContentTable {
            folder,
            associated,
            restriction,
            sort,
            categories,
            expanded,
        } => {
            put_u64(&mut w, *folder);
            w.push(*associated as u8);
            put_opt_restriction(&mut w, restriction.as_ref());
            put_sort(&mut w, sort);
            put_u32(&mut w, *categories);
            put_u32(&mut w, *expanded);
        }
        LoadHierarchyTable {
            folder,
            recursive,
            restriction,
            sort,
        } => {
            put_u64(&mut w, *folder);
            w.push(*recursive as u8);
            put_opt_restriction(&mut w, restriction.as_ref());
            put_sort(&mut w, sort);
        }
        QueryTable {
            table,
            columns,
            count,
            forward,
            no_advance,
        } => {
            put_u32(&mut w, *table);
            put_tags(&mut w, columns);
            put_u32(&mut w, *count);
            w.push(*forward as u8);
            w.push(*no_advance as u8);
        }
        SeekTable { table, origin, offset } => {
            put_u32(&mut w, *table);
            w.push(match origin {
                Origin::Beginning => 0,
                Origin::Current => 1,
                Origin::End => 2,
            });
            put_u64(&mut w, *offset as u64);
        }
        SeekFraction {
            table,
            numerator,
            denominator,
        } => {
            put_u32(&mut w, *table);
            put_u32(&mut w, *numerator);
            put_u32(&mut w, *denominator);
        }
        CreateBookmark { table } | QueryPosition { table } | ReloadTable { table } | UnloadTable { table } => {
            put_u32(&mut w, *table)
        }
        SeekBookmark {
            table,
            bookmark,
            offset,
        } => {
            put_u32(&mut w, *table);
            put_u32(&mut w, *bookmark);
            put_u64(&mut w, *offset as u64);
        }
        FreeBookmark { table, bookmark } => {
            put_u32(&mut w, *table);
            put_u32(&mut w, *bookmark);
        }
        FindRow {
            table,
            restriction,
            forward,
        } => {
            put_u32(&mut w, *table);
            put_bytes(&mut w, &restriction::encode(restriction, true));
            w.push(*forward as u8);
        }
        GetPermissions { folder } | GetRules { folder } => put_u64(&mut w, *folder),
        UpdatePermissions {
            folder,
            replace,
            changes,
        } => {
            put_u64(&mut w, *folder);
            w.push(*replace as u8);
            put_u32(&mut w, changes.len() as u32);
            for c in changes {
                match c {
                    PermissionChange::Add { name, rights } => {
                        w.push(1);
                        put_str32(&mut w, name);
                        put_u32(&mut w, *rights);
                    }
                    PermissionChange::Modify { member_id, rights } => {
                        w.push(2);
                        put_u64(&mut w, *member_id as u64);
                        put_u32(&mut w, *rights);
                    }
                    PermissionChange::Remove { member_id } => {
                        w.push(4);
                        put_u64(&mut w, *member_id as u64);
                    }
                }
            }
        }
        UpdateRules {
            folder,
            replace,
            changes,
        } => {
            put_u64(&mut w, *folder);
            w.push(*replace as u8);
            put_u32(&mut w, changes.len() as u32);
            for c in changes {
                match c {
                    RuleChange::Add(r) => {
                        w.push(1);
                        put_rule(&mut w, r);
                    }
                    RuleChange::Modify(r) => {
                        w.push(2);
                        put_rule(&mut w, r);
                    }
                    RuleChange::Remove(id) => {
                        w.push(4);
                        put_u64(&mut w, *id);
                    }
                }
            }
        }
        SetFolderProps { folder, props } => {
            put_u64(&mut w, *folder);
            put_props(&mut w, props);
        }
        RemoveFolderProps { folder, tags } => {
            put_u64(&mut w, *folder);
            put_tags(&mut w, tags);
        }
        CopyFolder { folder, parent, name } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *parent);
            put_str32(&mut w, name);
        }
        GetFolderByName { parent, name } => {
            put_u64(&mut w, *parent);
            put_str32(&mut w, name);
        }
        ReadAttachment { mid, index } => {
            put_u64(&mut w, *mid);
            put_u32(&mut w, *index);
        }
        SyncContents { folder, state, opts } => {
            put_u64(&mut w, *folder);
            put_state(&mut w, state);
            w.push(opts.normal as u8 | (opts.fai as u8) << 1 | (opts.read_state as u8) << 2);
            put_opt_str(&mut w, opts.user.as_deref());
        }
        SyncMessageHeaders { user, mids } => {
            put_opt_str(&mut w, user.as_deref());
            put_ids(&mut w, mids);
        }
        SyncHierarchy { folder, state } => {
            put_u64(&mut w, *folder);
            put_state(&mut w, state);
        }
        ImportMessageChange {
            folder,
            state,
            source_key,
            change_key,
            pcl,
            associated,
            content,
        } => {
            put_u64(&mut w, *folder);
            put_opt_state(&mut w, state.as_ref());
            put_bytes(&mut w, source_key);
            put_opt_bytes(&mut w, change_key.as_deref());
            put_opt_bytes(&mut w, pcl.as_deref());
            w.push(*associated as u8);
            put_message(&mut w, content);
        }
        ImportDeletes {
            folder,
            hierarchy,
            hard,
            source_keys,
            state,
        } => {
            put_u64(&mut w, *folder);
            w.push(*hierarchy as u8);
            w.push(*hard as u8);
            put_u32(&mut w, source_keys.len() as u32);
            for k in source_keys {
                put_bytes(&mut w, k);
            }
            put_opt_state(&mut w, state.as_ref());
        }
        ImportReadStates {
            folder,
            user,
            changes,
            state,
        } => {
            put_u64(&mut w, *folder);
            put_opt_str(&mut w, user.as_deref());
            put_u32(&mut w, changes.len() as u32);
            for (k, read) in changes {
                put_bytes(&mut w, k);
                w.push(*read as u8);
            }
            put_opt_state(&mut w, state.as_ref());
        }
        ImportMessageMove {
            folder,
            source_folder,
            source_message,
            pcl,
            destination_message,
            change_key,
            state,
        } => {
            put_u64(&mut w, *folder);
            put_bytes(&mut w, source_folder);
            put_bytes(&mut w, source_message);
            put_bytes(&mut w, pcl);
            put_bytes(&mut w, destination_message);
            put_opt_bytes(&mut w, change_key.as_deref());
            put_opt_state(&mut w, state.as_ref());
        }
        ImportFolderChange {
            root,
            parent_source_key,
            source_key,
            change_key,
            pcl,
            name,
            props,
            state,
        } => {
            put_u64(&mut w, *root);
            put_bytes(&mut w, parent_source_key);
            put_bytes(&mut w, source_key);
            put_opt_bytes(&mut w, change_key.as_deref());
            put_opt_bytes(&mut w, pcl.as_deref());
            put_str32(&mut w, name);
            put_props(&mut w, props);
            put_opt_state(&mut w, state.as_ref());
        }
        ReserveIds { count } => put_u32(&mut w, *count),
        ExpandRow { table, category } | CollapseRow { table, category } => {
            put_u32(&mut w, *table);
            put_u64(&mut w, *category);
        }
        GetCollapseState { table } => put_u32(&mut w, *table),
        SetCollapseState { table, state } => {
            put_u32(&mut w, *table);
            put_bytes(&mut w, state);
        }
        CreateSearchFolder { parent, name } => {
            put_u64(&mut w, *parent);
            put_str32(&mut w, name);
        }
        SetSearchCriteria {
            folder,
            restriction,
            scope,
            flags,
        } => {
            put_u64(&mut w, *folder);
            put_opt_restriction(&mut w, restriction.as_ref());
            match scope {
                Some(s) => {
                    w.push(1);
                    put_ids(&mut w, s);
                }
                None => w.push(0),
            }
            put_u32(&mut w, *flags);
        }
        GetSearchCriteria { folder } | IsFolderPresent { folder } | IsFolderDeleted { folder } => {
            put_u64(&mut w, *folder)
        }
        LoadMessageInstance {
            folder,
            mid,
            associated,
        } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, mid.unwrap_or(0));
            w.push(*associated as u8);
        }
        LoadEmbeddedInstance { attachment, create } => {
            put_u32(&mut w, *attachment);
            w.push(*create as u8);
        }
        GetInstanceProps { instance }
        | GetInstanceRcpts { instance }
        | GetInstanceAttachments { instance }
        | CreateAttachmentInstance { instance }
        | FlushInstance { instance }
        | UnloadInstance { instance }
        | ReadMessageInstance { instance }
        | ReadAttachmentInstance { instance } => put_u32(&mut w, *instance),
        TableNotifications { table, columns } => {
            put_u32(&mut w, *table);
            put_tags(&mut w, columns);
        }
        LocateRow {
            table,
            inst_id,
            inst_num,
        } => {
            put_u32(&mut w, *table);
            put_u64(&mut w, *inst_id);
            put_u32(&mut w, *inst_num);
        }
        ReadTableRow {
            table,
            columns,
            inst_id,
            inst_num,
        } => {
            put_u32(&mut w, *table);
            put_tags(&mut w, columns);
            put_u64(&mut w, *inst_id);
            put_u32(&mut w, *inst_num);
        }
        SetInstanceProps { instance, props } => {
            put_u32(&mut w, *instance);
            put_props(&mut w, props);
        }
        RemoveInstanceProps { instance, tags } => {
            put_u32(&mut w, *instance);
            put_tags(&mut w, tags);
        }
        SetInstanceRcpts { instance, rcpts } => {
            put_u32(&mut w, *instance);
            put_prop_lists(&mut w, rcpts);
        }
        LoadAttachmentInstance { instance, index } | DeleteInstanceAttachment { instance, index } => {
            put_u32(&mut w, *instance);
            put_u32(&mut w, *index);
        }
        WriteMessageInstance { instance, content } => {
            put_u32(&mut w, *instance);
            put_message(&mut w, content);
        }
        IsMsgPresent { folder, mid } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *mid);
        }
        IsMsgDeleted { mid } | GetMessageRcpts { mid } => put_u64(&mut w, *mid),
        GetFolderPerm { folder, user } => {
            put_u64(&mut w, *folder);
            put_str32(&mut w, user);
        }
        SumHierarchy { folder, recursive } => {
            put_u64(&mut w, *folder);
            w.push(*recursive as u8);
        }
        SumContent {
            folder,
            associated,
            deleted,
        } => {
            put_u64(&mut w, *folder);
            w.push(*associated as u8);
            w.push(*deleted as u8);
        }
        GetFolderByClass { class } => put_str32(&mut w, class),
        CheckFolderCycle { folder, dest } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *dest);
        }
        MovecopyMessage { mid, to, copy } => {
            put_u64(&mut w, *mid);
            put_u64(&mut w, *to);
            w.push(*copy as u8);
        }
    }
    w
}

/// Property lists (recipient rows, attachment properties): `u32 count`, each a property list.
fn put_prop_lists(w: &mut Vec<u8>, lists: &[Vec<TaggedVal>]) {
    put_u32(w, lists.len() as u32);
    for l in lists {
        put_props(w, l);
    }
}

/// An ICS state (MS-OXCFXICS §2.2.1.1) as its property blobs: `u32 count`, each `u32 tag`
/// (MetaTagIdsetGiven, MetaTagCnsetSeen, MetaTagCnsetSeenFAI, MetaTagCnsetRead) and the
/// `u32`-length serialized REPLGUID-based IDSET (§2.2.2.4.2).
fn put_state(w: &mut Vec<u8>, s: &SyncState) {
    let props = s.to_properties();
    put_u32(w, props.len() as u32);
    for (tag, blob) in props {
        put_u32(w, tag.0);
        put_bytes(w, &blob);
    }
}

fn put_opt_state(w: &mut Vec<u8>, s: Option<&SyncState>) {
    match s {
        Some(s) => {
            w.push(1);
            put_state(w, s);
        }
        None => w.push(0),
    }
}

fn put_opt_bytes(w: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            w.push(1);
            put_bytes(w, b);
        }
        None => w.push(0),
    }
}

/// A GLOBSET (MS-OXCFXICS §2.2.2.6) as `u32`-length bytes.
fn put_globset(w: &mut Vec<u8>, g: &GlobSet) {
    put_bytes(w, &g.to_bytes());
}

fn put_outcome(w: &mut Vec<u8>, o: &ImportOutcome) {
    match *o {
        ImportOutcome::Created(id) => {
            w.push(0);
            put_u64(w, id);
        }
        ImportOutcome::Updated(id) => {
            w.push(1);
            put_u64(w, id);
        }
        ImportOutcome::Ignored(id) => {
            w.push(2);
            put_u64(w, id);
        }
        ImportOutcome::Conflict(id) => {
            w.push(3);
            put_u64(w, id);
        }
        ImportOutcome::Moved { mid, server_newer } => {
            w.push(4);
            put_u64(w, mid);
            w.push(server_newer as u8);
        }
    }
}

/// A [`MessageHeader`] (see its wire form).
fn put_header(w: &mut Vec<u8>, h: &MessageHeader) {
    put_u64(w, h.mid);
    put_bytes(w, &h.source_key);
    put_u64(w, h.change_number);
    put_bytes(w, &h.change_key);
    put_bytes(w, &h.pcl);
    w.push(h.associated as u8 | (h.read as u8) << 1);
    put_u64(w, h.last_modified);
    put_u64(w, h.size);
}

/// The size of a [`MessageHeader`] in its wire form.
pub fn header_wire_size(h: &MessageHeader) -> usize {
    8 + 4 + h.source_key.len() + 8 + 4 + h.change_key.len() + 4 + h.pcl.len() + 1 + 8 + 8
}

/// A [`FolderSync`] (see its wire form).
fn put_folder_sync(w: &mut Vec<u8>, f: &FolderSync) {
    put_u64(w, f.folder);
    put_u64(w, f.parent);
    put_bytes(w, &f.source_key);
    put_bytes(w, &f.parent_source_key);
    put_u64(w, f.change_number);
    put_bytes(w, &f.change_key);
    put_bytes(w, &f.pcl);
    put_props(w, &f.props);
}

fn put_opt_restriction(w: &mut Vec<u8>, r: Option<&Restriction>) {
    match r {
        Some(r) => {
            w.push(1);
            put_bytes(w, &restriction::encode(r, true));
        }
        None => w.push(0),
    }
}

fn put_sort(w: &mut Vec<u8>, sort: &[SortKey]) {
    put_u32(w, sort.len() as u32);
    for k in sort {
        put_u32(w, k.tag.0);
        w.push(k.descending as u8);
    }
}

/// A [`Rule`] (see its wire form).
fn put_rule(w: &mut Vec<u8>, r: &Rule) {
    put_u64(w, r.id);
    put_str32(w, &r.name);
    put_str32(w, &r.provider);
    for v in [r.sequence, r.state, r.level, r.user_flags] {
        put_u32(w, v);
    }
    put_bytes(w, &r.provider_data);
    put_bytes(w, &restriction::encode(&r.condition, true));
    put_bytes(w, &mapi_rule::encode_actions(&r.actions, true));
}

fn put_tags(w: &mut Vec<u8>, t: &[PropTag]) {
    put_u32(w, t.len() as u32);
    for x in t {
        put_u32(w, x.0);
    }
}

/// A property name: `u8 kind` (0 LID, 1 string name), the 16-byte GUID, then `u32 lid` or a
/// `u32`-length UTF-8 name.
fn put_propname(w: &mut Vec<u8>, n: &PropName) {
    match &n.kind {
        PropNameKind::Lid(l) => {
            w.push(0);
            w.extend_from_slice(&n.guid.0);
            put_u32(w, *l);
        }
        PropNameKind::Name(s) => {
            w.push(1);
            w.extend_from_slice(&n.guid.0);
            put_str32(w, s);
        }
    }
}

/// A [`MessageContent`] (see its wire form).
fn put_message(w: &mut Vec<u8>, m: &MessageContent) {
    put_props(w, &m.props);
    put_u32(w, m.recipients.len() as u32);
    for r in &m.recipients {
        put_props(w, r);
    }
    put_u32(w, m.attachments.len() as u32);
    for a in &m.attachments {
        put_props(w, &a.props);
        match &a.embedded {
            Some(e) => {
                w.push(1);
                put_message(w, e);
            }
            None => w.push(0),
        }
    }
}

fn put_strs(w: &mut Vec<u8>, v: &[String]) {
    put_u32(w, v.len() as u32);
    for s in v {
        put_str32(w, s);
    }
}

fn put_flags(w: &mut Vec<u8>, f: &ImapFlags) {
    w.push(
        f.read as u8
            | (f.flagged as u8) << 1
            | (f.answered as u8) << 2
            | (f.forwarded as u8) << 3
            | (f.draft as u8) << 4,
    );
    put_strs(w, &f.keywords);
}

/// Decodes a request payload into the mailbox directory and the call.
pub fn decode_request(p: &[u8]) -> R<(String, Call)> {
    let mut r = Reader::new(p);
    let id = r.u8()?;
    let dir = r.str16()?;
    use Call::*;
    let call = match id {
        0 => Ping,
        1 => GetStoreProps,
        2 => SetStoreProps(r.props()?),
        3 => RemoveStoreProps(r.tags()?),
        4 => ListFolders,
        5 => CreateFolder {
            parent: r.u64()?,
            name: r.str32()?,
            class: r.opt_str()?,
        },
        6 => GetFolderProps(r.u64()?),
        7 => GetMessageProps(r.u64()?),
        8 => {
            let f = r.u64()?;
            let props = r.props()?;
            let mime = match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?.to_vec()),
                _ => return Err(ProtoError::Invalid("option flag")),
            };
            DeliverMessage {
                folder: (f != 0).then_some(f),
                props,
                mime,
            }
        }
        9 => SetReadState {
            mid: r.u64()?,
            read: r.bool()?,
        },
        10 => DeleteMessages {
            mids: r.ids()?,
            hard: r.bool()?,
        },
        11 => MoveMessages {
            mids: r.ids()?,
            to: r.u64()?,
        },
        12 => EmptyFolder {
            folder: r.u64()?,
            hard: r.bool()?,
        },
        13 => PurgeSoftdel,
        14 => PurgeDatafiles,
        15 => RecalcSizes,
        16 => Vacuum,
        17 => Unload,
        18 => Freeze,
        19 => Thaw,
        20 => Subscribe { filter: r.u32()? },
        21 => FolderState { folder: r.u64()? },
        22 => ListMessages {
            folder: r.u64()?,
            after_mid: r.u64()?,
            limit: r.u32()?,
            min_cn: r.u64()?,
        },
        23 => MessageRfc822 { mid: r.u64()? },
        24 => AppendRfc822 {
            folder: r.u64()?,
            mime: r.bytes()?.to_vec(),
            flags: r.flags()?,
            delivery_time: match r.u8()? {
                0 => None,
                1 => Some(r.u64()? as i64),
                _ => return Err(ProtoError::Invalid("option flag")),
            },
        },
        25 => {
            let mid = r.u64()?;
            let mut b = [None; 4];
            for x in b.iter_mut() {
                *x = match r.u8()? {
                    0 => Some(false),
                    1 => Some(true),
                    2 => None,
                    _ => return Err(ProtoError::Invalid("tri-state flag")),
                };
            }
            let keywords = match r.u8()? {
                0 => None,
                1 => Some(r.strs()?),
                _ => return Err(ProtoError::Invalid("option flag")),
            };
            SetMessageFlags {
                mid,
                read: b[0],
                flagged: b[1],
                answered: b[2],
                forwarded: b[3],
                keywords,
            }
        }
        26 => CopyMessages {
            mids: r.ids()?,
            to: r.u64()?,
        },
        27 => DeleteFolder {
            folder: r.u64()?,
            hard: r.bool()?,
        },
        28 => MoveFolder {
            folder: r.u64()?,
            parent: r.u64()?,
            name: r.str32()?,
        },
        29 => PurgeSoftdelOlder { age_secs: r.u64()? },
        30 => SetPermission {
            folder: r.u64()?,
            user: r.str32()?,
            rights: r.u32()?,
        },
        31 => RemovePermission {
            folder: r.u64()?,
            user: r.str32()?,
        },
        32 => MailboxRights { user: r.str32()? },
        33 => DeliverMail {
            from: r.str32()?,
            rcpt: r.str32()?,
            mime: r.bytes()?.to_vec(),
            now: r.u64()? as i64,
        },
        34 => CheckQuota { size: r.u64()? },
        35 => AutoreplyDue {
            peer: r.str32()?,
            now: r.u64()? as i64,
            window: r.u64()? as i64,
        },
        36 => {
            let create = r.bool()?;
            let n = r.count(1 + 16 + 4)?;
            let mut names = Vec::with_capacity(n);
            for _ in 0..n {
                names.push(r.propname()?);
            }
            GetNamedPropIds { create, names }
        }
        37 => {
            let n = r.count(2)?;
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.u16()?);
            }
            GetNamedPropNames { ids }
        }
        38 => ReadMessage { mid: r.u64()? },
        39 => WriteMessage {
            folder: r.u64()?,
            associated: r.bool()?,
            mid: Some(r.u64()?).filter(|&m| m != 0),
            content: r.message(0)?,
        },
        40 => SetMessageProps {
            mid: r.u64()?,
            props: r.props()?,
        },
        41 => RemoveMessageProps {
            mid: r.u64()?,
            tags: r.tags()?,
        },
        42 => {
            let folder = r.u64()?;
            let associated = r.bool()?;
            let restriction = r.opt_restriction()?;
            let sort = r.sort()?;
            let (categories, expanded) = (r.u32()?, r.u32()?);
            // MS-OXCTABL §2.2.2.13.1: CategorizedCount <= SortOrderCount, ExpandedCount <=
            // CategorizedCount.
            if categories as usize > sort.len() || expanded > categories {
                return Err(ProtoError::Invalid("category counts"));
            }
            LoadContentTable {
                folder,
                associated,
                restriction,
                sort,
                categories,
                expanded,
            }
        }
        43 => LoadHierarchyTable {
            folder: r.u64()?,
            recursive: r.bool()?,
            restriction: r.opt_restriction()?,
            sort: r.sort()?,
        },
        44 => QueryTable {
            table: r.u32()?,
            columns: r.tags()?,
            count: r.u32()?,
            forward: r.bool()?,
            no_advance: r.bool()?,
        },
        45 => SeekTable {
            table: r.u32()?,
            origin: match r.u8()? {
                0 => Origin::Beginning,
                1 => Origin::Current,
                2 => Origin::End,
                _ => return Err(ProtoError::Invalid("seek origin")),
            },
            offset: r.u64()? as i64,
        },
        46 => SeekFraction {
            table: r.u32()?,
            numerator: r.u32()?,
            denominator: r.u32()?,
        },
        47 => CreateBookmark { table: r.u32()? },
        48 => SeekBookmark {
            table: r.u32()?,
            bookmark: r.u32()?,
            offset: r.u64()? as i64,
        },
        49 => FreeBookmark {
            table: r.u32()?,
            bookmark: r.u32()?,
        },
        50 => FindRow {
            table: r.u32()?,
            restriction: r.restriction()?,
            forward: r.bool()?,
        },
        51 => QueryPosition { table: r.u32()? },
        52 => ReloadTable { table: r.u32()? },
        53 => UnloadTable { table: r.u32()? },
        54 => GetPermissions { folder: r.u64()? },
        55 => {
            let folder = r.u64()?;
            let replace = r.bool()?;
            let n = r.count(1 + 8)?;
            let mut changes = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                changes.push(match r.u8()? {
                    1 => PermissionChange::Add {
                        name: r.str32()?,
                        rights: r.u32()?,
                    },
                    2 => PermissionChange::Modify {
                        member_id: r.u64()? as i64,
                        rights: r.u32()?,
                    },
                    4 => PermissionChange::Remove {
                        member_id: r.u64()? as i64,
                    },
                    _ => return Err(ProtoError::Invalid("permission change flag")),
                });
            }
            UpdatePermissions {
                folder,
                replace,
                changes,
            }
        }
        56 => GetRules { folder: r.u64()? },
        57 => {
            let folder = r.u64()?;
            let replace = r.bool()?;
            let n = r.count(1 + 8)?;
            let mut changes = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                changes.push(match r.u8()? {
                    1 => RuleChange::Add(r.rule()?),
                    2 => RuleChange::Modify(r.rule()?),
                    4 => RuleChange::Remove(r.u64()?),
                    _ => return Err(ProtoError::Invalid("rule change flag")),
                });
            }
            UpdateRules {
                folder,
                replace,
                changes,
            }
        }
        58 => SetFolderProps {
            folder: r.u64()?,
            props: r.props()?,
        },
        59 => RemoveFolderProps {
            folder: r.u64()?,
            tags: r.tags()?,
        },
        60 => CopyFolder {
            folder: r.u64()?,
            parent: r.u64()?,
            name: r.str32()?,
        },
        61 => GetFolderByName {
            parent: r.u64()?,
            name: r.str32()?,
        },
        62 => ReadAttachment {
            mid: r.u64()?,
            index: r.u32()?,
        },
        63 => {
            let folder = r.u64()?;
            let state = r.state()?;
            let flags = r.u8()?;
            if flags > 7 {
                return Err(ProtoError::Invalid("synchronization flags"));
            }
            SyncContents {
                folder,
                state,
                opts: ContentSyncOptions {
                    normal: flags & 1 != 0,
                    fai: flags & 2 != 0,
                    read_state: flags & 4 != 0,
                    user: r.opt_str()?,
                },
            }
        }
        64 => SyncMessageHeaders {
            user: r.opt_str()?,
            mids: r.ids()?,
        },
        65 => SyncHierarchy {
            folder: r.u64()?,
            state: r.state()?,
        },
        66 => ImportMessageChange {
            folder: r.u64()?,
            state: r.opt_state()?,
            source_key: r.bytes()?.to_vec(),
            change_key: r.opt_bytes()?,
            pcl: r.opt_bytes()?,
            associated: r.bool()?,
            content: r.message(0)?,
        },
        67 => {
            let folder = r.u64()?;
            let hierarchy = r.bool()?;
            let hard = r.bool()?;
            let n = r.count(4)?;
            let mut source_keys = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                source_keys.push(r.bytes()?.to_vec());
            }
            ImportDeletes {
                folder,
                hierarchy,
                hard,
                source_keys,
                state: r.opt_state()?,
            }
        }
        68 => {
            let folder = r.u64()?;
            let user = r.opt_str()?;
            let n = r.count(4 + 1)?;
            let mut changes = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                changes.push((r.bytes()?.to_vec(), r.bool()?));
            }
            ImportReadStates {
                folder,
                user,
                changes,
                state: r.opt_state()?,
            }
        }
        69 => ImportMessageMove {
            folder: r.u64()?,
            source_folder: r.bytes()?.to_vec(),
            source_message: r.bytes()?.to_vec(),
            pcl: r.bytes()?.to_vec(),
            destination_message: r.bytes()?.to_vec(),
            change_key: r.opt_bytes()?,
            state: r.opt_state()?,
        },
        70 => ImportFolderChange {
            root: r.u64()?,
            parent_source_key: r.bytes()?.to_vec(),
            source_key: r.bytes()?.to_vec(),
            change_key: r.opt_bytes()?,
            pcl: r.opt_bytes()?,
            name: r.str32()?,
            props: r.props()?,
            state: r.opt_state()?,
        },
        71 => ReserveIds { count: r.u32()? },
        72 => ExpandRow {
            table: r.u32()?,
            category: r.u64()?,
        },
        73 => CollapseRow {
            table: r.u32()?,
            category: r.u64()?,
        },
        74 => GetCollapseState { table: r.u32()? },
        75 => SetCollapseState {
            table: r.u32()?,
            state: r.bytes()?.to_vec(),
        },
        76 => CreateSearchFolder {
            parent: r.u64()?,
            name: r.str32()?,
        },
        77 => {
            let folder = r.u64()?;
            let restriction = r.opt_restriction()?;
            let scope = match r.u8()? {
                0 => None,
                1 => Some(r.ids()?),
                _ => return Err(ProtoError::Invalid("option flag")),
            };
            SetSearchCriteria {
                folder,
                restriction,
                scope,
                flags: r.u32()?,
            }
        }
        78 => GetSearchCriteria { folder: r.u64()? },
        79 => {
            let folder = r.u64()?;
            let mid = r.u64()?;
            LoadMessageInstance {
                folder,
                mid: (mid != 0).then_some(mid),
                associated: r.bool()?,
            }
        }
        80 => LoadEmbeddedInstance {
            attachment: r.u32()?,
            create: r.bool()?,
        },
        81 => GetInstanceProps { instance: r.u32()? },
        82 => SetInstanceProps {
            instance: r.u32()?,
            props: r.props()?,
        },
        83 => RemoveInstanceProps {
            instance: r.u32()?,
            tags: r.tags()?,
        },
        84 => GetInstanceRcpts { instance: r.u32()? },
        85 => SetInstanceRcpts {
            instance: r.u32()?,
            rcpts: r.prop_lists()?,
        },
        86 => GetInstanceAttachments { instance: r.u32()? },
        87 => CreateAttachmentInstance { instance: r.u32()? },
        88 => LoadAttachmentInstance {
            instance: r.u32()?,
            index: r.u32()?,
        },
        89 => DeleteInstanceAttachment {
            instance: r.u32()?,
            index: r.u32()?,
        },
        90 => FlushInstance { instance: r.u32()? },
        91 => UnloadInstance { instance: r.u32()? },
        92 => ReadMessageInstance { instance: r.u32()? },
        93 => WriteMessageInstance {
            instance: r.u32()?,
            content: r.message(0)?,
        },
        94 => IsMsgPresent {
            folder: r.u64()?,
            mid: r.u64()?,
        },
        95 => IsMsgDeleted { mid: r.u64()? },
        96 => IsFolderPresent { folder: r.u64()? },
        97 => IsFolderDeleted { folder: r.u64()? },
        98 => GetFolderPerm {
            folder: r.u64()?,
            user: r.str32()?,
        },
        99 => AllocateCn,
        100 => SumHierarchy {
            folder: r.u64()?,
            recursive: r.bool()?,
        },
        101 => SumContent {
            folder: r.u64()?,
            associated: r.bool()?,
            deleted: r.bool()?,
        },
        102 => GetAllNamedPropIds,
        103 => GetFolderByClass { class: r.str32()? },
        104 => CheckFolderCycle {
            folder: r.u64()?,
            dest: r.u64()?,
        },
        105 => MovecopyMessage {
            mid: r.u64()?,
            to: r.u64()?,
            copy: r.bool()?,
        },
        106 => GetMessageRcpts { mid: r.u64()? },
        107 => ReadAttachmentInstance { instance: r.u32()? },
        108 => TableNotifications {
            table: r.u32()?,
            columns: r.tags()?,
        },
        109 => LocateRow {
            table: r.u32()?,
            inst_id: r.u64()?,
            inst_num: r.u32()?,
        },
        110 => ReadTableRow {
            table: r.u32()?,
            columns: r.tags()?,
            inst_id: r.u64()?,
            inst_num: r.u32()?,
        },
        x => return Err(ProtoError::UnknownCall(x)),
    };
    r.end()?;
    Ok((dir, call))
}

/// Encodes a successful response payload.
pub fn encode_response(resp: &Response) -> Vec<u8> {
    let mut w = vec![Status::Ok as u8];
    match resp {
        Response::Done => {}
        Response::Props(p) => put_props(&mut w, p),
        Response::Folders(f) => {
            put_u32(&mut w, f.len() as u32);
            for e in f {
                put_u64(&mut w, e.id);
                put_u64(&mut w, e.parent);
                put_str32(&mut w, &e.name);
                put_opt_str(&mut w, e.container_class.as_deref());
            }
        }
        Response::Id(id) | Response::Count(id) => put_u64(&mut w, *id),
        Response::Delivered { folder, message } => {
            put_u64(&mut w, *folder);
            put_u64(&mut w, *message);
        }
        Response::FolderState { max_cn, count } => {
            put_u64(&mut w, *max_cn);
            put_u64(&mut w, *count);
        }
        Response::Messages(v) => {
            put_u32(&mut w, v.len() as u32);
            for m in v {
                put_u64(&mut w, m.mid);
                put_u64(&mut w, m.change_number);
                put_flags(&mut w, &m.flags);
                put_u64(&mut w, m.delivery_time as u64);
            }
        }
        Response::Bytes(b) => put_bytes(&mut w, b),
        Response::Ids(ids) => put_ids(&mut w, ids),
        Response::MailDelivered(d) => {
            put_u64(&mut w, d.folder);
            put_u64(&mut w, d.message);
            put_strs(&mut w, &d.forward_to);
            put_u32(&mut w, d.replies.len() as u32);
            for r in &d.replies {
                put_bytes(&mut w, r);
            }
            put_strs(&mut w, &d.matched);
            put_strs(&mut w, &d.skipped);
        }
        Response::PropIds(ids) => {
            put_u32(&mut w, ids.len() as u32);
            for i in ids {
                w.extend_from_slice(&i.to_le_bytes());
            }
        }
        Response::PropNames(names) => {
            put_u32(&mut w, names.len() as u32);
            for n in names {
                match n {
                    Some(n) => {
                        w.push(1);
                        put_propname(&mut w, n);
                    }
                    None => w.push(0),
                }
            }
        }
        Response::Message(m) => put_message(&mut w, m),
        Response::Table { id, rows } => {
            put_u32(&mut w, *id);
            put_u32(&mut w, *rows);
        }
        Response::Rows(rows) => {
            put_u32(&mut w, rows.len() as u32);
            for row in rows {
                put_row(&mut w, row);
            }
        }
        Response::Seek { moved, row_gone } => {
            put_u64(&mut w, *moved as u64);
            w.push(*row_gone as u8);
        }
        Response::Position { position, rows } => {
            put_u32(&mut w, *position);
            put_u32(&mut w, *rows);
        }
        Response::Found(i) => match i {
            Some(i) => {
                w.push(1);
                put_u32(&mut w, *i);
            }
            None => w.push(0),
        },
        Response::Permissions(rows) => {
            put_u32(&mut w, rows.len() as u32);
            for p in rows {
                put_u64(&mut w, p.member_id as u64);
                put_str32(&mut w, &p.name);
                put_u32(&mut w, p.rights);
            }
        }
        Response::Rules(rules) => {
            put_u32(&mut w, rules.len() as u32);
            for r in rules {
                put_rule(&mut w, r);
            }
        }
        Response::Attachment(a) => {
            put_props(&mut w, &a.props);
            match &a.embedded {
                Some(e) => {
                    w.push(1);
                    put_message(&mut w, e);
                }
                None => w.push(0),
            }
        }
        Response::ContentSync(c) => {
            put_ids(&mut w, &c.changed);
            for g in [&c.new, &c.deleted, &c.read, &c.unread] {
                put_globset(&mut w, g);
            }
            put_state(&mut w, &c.state);
        }
        Response::MessageHeaders { done, headers } => {
            put_u32(&mut w, *done);
            put_u32(&mut w, headers.len() as u32);
            for h in headers {
                put_header(&mut w, h);
            }
        }
        Response::HierarchySync(h) => {
            put_u32(&mut w, h.changed.len() as u32);
            for f in &h.changed {
                put_folder_sync(&mut w, f);
            }
            put_globset(&mut w, &h.deleted);
            put_state(&mut w, &h.state);
        }
        Response::Imported { outcome, state } => {
            put_outcome(&mut w, outcome);
            put_opt_state(&mut w, state.as_ref());
        }
        Response::ImportCount { count, state } => {
            put_u64(&mut w, *count);
            put_opt_state(&mut w, state.as_ref());
        }
        Response::IdRange { first, last } => {
            put_u64(&mut w, *first);
            put_u64(&mut w, *last);
        }
        Response::SearchCriteria {
            restriction,
            scope,
            status,
        } => {
            put_opt_restriction(&mut w, restriction.as_ref());
            put_ids(&mut w, scope);
            put_u32(&mut w, *status);
        }
        Response::PropLists(l) => put_prop_lists(&mut w, l),
        Response::NamedProps(v) => {
            put_u32(&mut w, v.len() as u32);
            for (id, n) in v {
                w.extend_from_slice(&id.to_le_bytes());
                put_propname(&mut w, n);
            }
        }
        Response::TableEvents(v) => {
            put_u32(&mut w, v.len() as u32);
            for e in v {
                w.extend_from_slice(&e.event.to_le_bytes());
                put_row_ref(&mut w, &e.row);
                match &e.prior {
                    Some(p) => {
                        w.push(1);
                        put_row_ref(&mut w, p);
                    }
                    None => w.push(0),
                }
                put_u32(&mut w, e.position);
                put_row(&mut w, &e.values);
            }
        }
    }
    w
}

/// One table row: `u32 count` values, each `u8 0` (absent) or `u8 1` + a property.
fn put_row(w: &mut Vec<u8>, row: &[Option<PropVal>]) {
    put_u32(w, row.len() as u32);
    for v in row {
        match v {
            Some(v) => {
                w.push(1);
                put_prop(w, PropTag(0), v);
            }
            None => w.push(0),
        }
    }
}

fn put_row_ref(w: &mut Vec<u8>, r: &TableRowRef) {
    put_u64(w, r.folder);
    put_u64(w, r.message);
    put_u32(w, r.instance);
}

/// Encodes a successful response like [`encode_response`], unless the payload would exceed
/// `limit` bytes (at most [`MAX_FRAME`]; the peer could not take the frame): then a
/// [`Status::TooBig`] error naming both sizes. The caller logs it.
pub fn encode_response_limited(resp: &Response, limit: usize) -> Result<Vec<u8>, (Vec<u8>, usize)> {
    let p = encode_response(resp);
    let limit = limit.min(MAX_FRAME);
    if p.len() <= limit {
        return Ok(p);
    }
    let n = p.len();
    drop(p);
    Err((
        encode_error(
            Status::TooBig,
            &format!("response of {n} bytes exceeds the frame limit of {limit} bytes"),
        ),
        n,
    ))
}

/// Encodes an error response payload.
pub fn encode_error(status: Status, msg: &str) -> Vec<u8> {
    let mut w = vec![status as u8];
    let m = truncate(msg, 1024);
    put_str16(&mut w, m);
    w
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Decodes a response payload for `call`: the response, or the error status and message.
pub fn decode_response(call: &Call, p: &[u8]) -> R<Result<Response, (Status, String)>> {
    let mut r = Reader::new(p);
    let st = Status::from_u8(r.u8()?)?;
    if st != Status::Ok {
        let m = r.str16()?;
        r.end()?;
        return Ok(Err((st, m)));
    }
    let resp = decode_response_body(call.response_kind(), &mut r)?;
    r.end()?;
    Ok(Ok(resp))
}

fn decode_response_body(kind: u8, r: &mut Reader<'_>) -> R<Response> {
    Ok(match kind {
        0 => Response::Done,
        1 => Response::Props(r.props()?),
        2 => {
            let n = r.count(8 + 8 + 4 + 1)?;
            let mut f = Vec::with_capacity(n);
            for _ in 0..n {
                f.push(FolderEntry {
                    id: r.u64()?,
                    parent: r.u64()?,
                    name: r.str32()?,
                    container_class: r.opt_str()?,
                });
            }
            Response::Folders(f)
        }
        3 => Response::Id(r.u64()?),
        4 => Response::Delivered {
            folder: r.u64()?,
            message: r.u64()?,
        },
        6 => Response::FolderState {
            max_cn: r.u64()?,
            count: r.u64()?,
        },
        7 => {
            let n = r.count(8 + 8 + 1 + 4 + 8)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(MessageSummary {
                    mid: r.u64()?,
                    change_number: r.u64()?,
                    flags: r.flags()?,
                    delivery_time: r.u64()? as i64,
                });
            }
            Response::Messages(v)
        }
        8 => Response::Bytes(r.bytes()?.to_vec()),
        9 => Response::Ids(r.ids()?),
        10 => {
            let folder = r.u64()?;
            let message = r.u64()?;
            let forward_to = r.strs()?;
            let n = r.count(4)?;
            let mut replies = Vec::with_capacity(n);
            for _ in 0..n {
                replies.push(r.bytes()?.to_vec());
            }
            Response::MailDelivered(MailDelivery {
                folder,
                message,
                forward_to,
                replies,
                matched: r.strs()?,
                skipped: r.strs()?,
            })
        }
        11 => {
            let n = r.count(2)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.u16()?);
            }
            Response::PropIds(v)
        }
        12 => {
            let n = r.count(1)?;
            let mut v = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                v.push(match r.u8()? {
                    0 => None,
                    1 => Some(r.propname()?),
                    _ => return Err(ProtoError::Invalid("option flag")),
                });
            }
            Response::PropNames(v)
        }
        13 => Response::Message(r.message(0)?),
        14 => Response::Table {
            id: r.u32()?,
            rows: r.u32()?,
        },
        15 => {
            let n = r.count(4)?;
            let mut rows = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                rows.push(r.row()?);
            }
            Response::Rows(rows)
        }
        16 => Response::Seek {
            moved: r.u64()? as i64,
            row_gone: r.bool()?,
        },
        17 => Response::Position {
            position: r.u32()?,
            rows: r.u32()?,
        },
        18 => Response::Found(match r.u8()? {
            0 => None,
            1 => Some(r.u32()?),
            _ => return Err(ProtoError::Invalid("option flag")),
        }),
        19 => {
            let n = r.count(8 + 4 + 4)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(PermissionRow {
                    member_id: r.u64()? as i64,
                    name: r.str32()?,
                    rights: r.u32()?,
                });
            }
            Response::Permissions(v)
        }
        20 => {
            let n = r.count(8 + 4 * 9)?;
            let mut v = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                v.push(r.rule()?);
            }
            Response::Rules(v)
        }
        21 => {
            let props = r.props()?;
            let embedded = match r.u8()? {
                0 => None,
                1 => Some(Box::new(r.message(1)?)),
                _ => return Err(ProtoError::Invalid("option flag")),
            };
            Response::Attachment(AttachmentContent { props, embedded })
        }
        22 => Response::ContentSync(ContentSync {
            changed: r.ids()?,
            new: r.globset()?,
            deleted: r.globset()?,
            read: r.globset()?,
            unread: r.globset()?,
            state: r.state()?,
        }),
        23 => {
            let done = r.u32()?;
            let n = r.count(45)?;
            let mut headers = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                let mid = r.u64()?;
                let source_key = r.bytes()?.to_vec();
                let change_number = r.u64()?;
                let change_key = r.bytes()?.to_vec();
                let pcl = r.bytes()?.to_vec();
                let flags = r.u8()?;
                if flags > 3 {
                    return Err(ProtoError::Invalid("header flags"));
                }
                headers.push(MessageHeader {
                    mid,
                    source_key,
                    change_number,
                    change_key,
                    pcl,
                    associated: flags & 1 != 0,
                    read: flags & 2 != 0,
                    last_modified: r.u64()?,
                    size: r.u64()?,
                });
            }
            Response::MessageHeaders { done, headers }
        }
        24 => {
            let n = r.count(8 + 8 + 4 + 4 + 8 + 4 + 4 + 4)?;
            let mut changed = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                changed.push(FolderSync {
                    folder: r.u64()?,
                    parent: r.u64()?,
                    source_key: r.bytes()?.to_vec(),
                    parent_source_key: r.bytes()?.to_vec(),
                    change_number: r.u64()?,
                    change_key: r.bytes()?.to_vec(),
                    pcl: r.bytes()?.to_vec(),
                    props: r.props()?,
                });
            }
            Response::HierarchySync(HierarchySync {
                changed,
                deleted: r.globset()?,
                state: r.state()?,
            })
        }
        25 => {
            let kind = r.u8()?;
            let id = r.u64()?;
            let outcome = match kind {
                0 => ImportOutcome::Created(id),
                1 => ImportOutcome::Updated(id),
                2 => ImportOutcome::Ignored(id),
                3 => ImportOutcome::Conflict(id),
                4 => ImportOutcome::Moved {
                    mid: id,
                    server_newer: r.bool()?,
                },
                _ => return Err(ProtoError::Invalid("import outcome")),
            };
            Response::Imported {
                outcome,
                state: r.opt_state()?,
            }
        }
        26 => Response::ImportCount {
            count: r.u64()?,
            state: r.opt_state()?,
        },
        27 => Response::IdRange {
            first: r.u64()?,
            last: r.u64()?,
        },
        28 => Response::SearchCriteria {
            restriction: r.opt_restriction()?,
            scope: r.ids()?,
            status: r.u32()?,
        },
        29 => Response::PropLists(r.prop_lists()?),
        30 => {
            let n = r.count(2 + 1 + 16 + 4)?;
            let mut v = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                v.push((r.u16()?, r.propname()?));
            }
            Response::NamedProps(v)
        }
        31 => {
            let n = r.count(2 + 20 + 1 + 4 + 4)?;
            let mut v = Vec::with_capacity(n.min(PREALLOC));
            for _ in 0..n {
                let event = r.u16()?;
                let row = r.row_ref()?;
                let prior = match r.u8()? {
                    0 => None,
                    1 => Some(r.row_ref()?),
                    _ => return Err(ProtoError::Invalid("option flag")),
                };
                v.push(TableEvent {
                    event,
                    row,
                    prior,
                    position: r.u32()?,
                    values: r.row()?,
                });
            }
            Response::TableEvents(v)
        }
        _ => Response::Count(r.u64()?),
    })
}

/// Fuzz entry: run every decoder over `data` (must never panic).
pub fn fuzz_decode(data: &[u8]) {
    let _ = split_frame(data);
    let _ = parse_handshake_request(data);
    let _ = parse_handshake_response(data);
    if let Ok((_, call)) = decode_request(data) {
        // A decoded request re-encodes to a request that decodes to the same call.
        let again = encode_request("", &call);
        let _ = decode_request(&again);
    }
    let _ = Notification::decode(data);
    for kind in 0..31u8 {
        let mut r = Reader::new(data);
        let _ = decode_response_body(kind, &mut r);
    }
}

// --- primitive writers ---

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_str16(w: &mut Vec<u8>, s: &str) {
    let s = truncate(s, u16::MAX as usize);
    w.extend_from_slice(&(s.len() as u16).to_le_bytes());
    w.extend_from_slice(s.as_bytes());
}
fn put_str32(w: &mut Vec<u8>, s: &str) {
    put_bytes(w, s.as_bytes());
}
fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u32(w, b.len() as u32);
    w.extend_from_slice(b);
}
fn put_opt_str(w: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            w.push(1);
            put_str32(w, s);
        }
        None => w.push(0),
    }
}
fn put_ids(w: &mut Vec<u8>, ids: &[u64]) {
    put_u32(w, ids.len() as u32);
    for i in ids {
        put_u64(w, *i);
    }
}
/// Properties: `u32 count`, then per property `u32 tag`, `u8 kind`, value — the value as
/// gromox-mapi's SQL codec represents it (kind 0 integer i64, 1 real f64, 2 text, 3 blob).
fn put_props(w: &mut Vec<u8>, props: &[TaggedVal]) {
    put_u32(w, props.len() as u32);
    for p in props {
        put_prop(w, p.tag, &p.val);
    }
}

/// One property of a property list.
fn put_prop(w: &mut Vec<u8>, tag: PropTag, val: &PropVal) {
    // The tag carries the value's real type (the codec decodes by it).
    let tag = (tag.0 & 0xffff_0000) | val.ptype() as u32;
    put_u32(w, tag);
    match sqlcodec::encode(val) {
        SqlValue::Integer(i) => {
            w.push(0);
            w.extend_from_slice(&i.to_le_bytes());
        }
        SqlValue::Real(f) => {
            w.push(1);
            w.extend_from_slice(&f.to_le_bytes());
        }
        SqlValue::Text(s) => {
            w.push(2);
            put_str32(w, &s);
        }
        SqlValue::Blob(b) => {
            w.push(3);
            put_bytes(w, &b);
        }
    }
}

/// A bounds-checked cursor.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.b.len() < n {
            return Err(ProtoError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtoError::Invalid("boolean")),
        }
    }
    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> R<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A `u32` element count, checked against the bytes left (each element needs at least
    /// `min` bytes) so a lying count cannot make us allocate.
    fn count(&mut self, min: usize) -> R<usize> {
        let n = self.u32()? as usize;
        if n > MAX_ITEMS || n.saturating_mul(min.max(1)) > self.b.len() {
            return Err(ProtoError::Truncated);
        }
        Ok(n)
    }
    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str16(&mut self) -> R<String> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtoError::Invalid("UTF-8"))
    }
    fn str32(&mut self) -> R<String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtoError::Invalid("UTF-8"))
    }
    fn opt_str(&mut self) -> R<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str32()?)),
            _ => Err(ProtoError::Invalid("option flag")),
        }
    }
    fn strs(&mut self) -> R<Vec<String>> {
        let n = self.count(4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.str32()?);
        }
        Ok(v)
    }
    fn flags(&mut self) -> R<ImapFlags> {
        let b = self.u8()?;
        if b > 0x1f {
            return Err(ProtoError::Invalid("flag bits"));
        }
        Ok(ImapFlags {
            read: b & 1 != 0,
            flagged: b & 2 != 0,
            answered: b & 4 != 0,
            forwarded: b & 8 != 0,
            draft: b & 16 != 0,
            keywords: self.strs()?,
        })
    }
    fn ids(&mut self) -> R<Vec<u64>> {
        let n = self.count(8)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.u64()?);
        }
        Ok(v)
    }
    fn prop_lists(&mut self) -> R<Vec<Vec<TaggedVal>>> {
        let n = self.count(4)?;
        let mut v = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            v.push(self.props()?);
        }
        Ok(v)
    }
    fn props(&mut self) -> R<Vec<TaggedVal>> {
        let n = self.count(4 + 1 + 4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.prop()?);
        }
        Ok(v)
    }
    /// One property of a property list.
    fn prop(&mut self) -> R<TaggedVal> {
        let tag = PropTag(self.u32()?);
        let ty = tag.ptype().ok_or(ProtoError::Invalid("property type"))?;
        let sv = match self.u8()? {
            0 => {
                let x = self.u64()?;
                SqlValue::Integer(x as i64)
            }
            1 => SqlValue::Real(f64::from_bits(self.u64()?)),
            2 => SqlValue::Text(self.str32()?),
            3 => SqlValue::Blob(self.bytes()?.to_vec()),
            _ => return Err(ProtoError::Invalid("value kind")),
        };
        let val: PropVal = sqlcodec::decode(ty, sv).map_err(|_| ProtoError::Invalid("property value"))?;
        Ok(TaggedVal::new(tag, val))
    }
    /// A restriction in its MS-OXCDATA §2.12 form with 32-bit counts, `u32`-length framed;
    /// gromox-mapi's decoder bounds its depth and node count.
    fn restriction(&mut self) -> R<Restriction> {
        let b = self.bytes()?;
        restriction::decode(b, true).map_err(|_| ProtoError::Invalid("restriction"))
    }
    fn opt_restriction(&mut self) -> R<Option<Restriction>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.restriction()?)),
            _ => Err(ProtoError::Invalid("option flag")),
        }
    }
    fn sort(&mut self) -> R<Vec<SortKey>> {
        let n = self.count(4 + 1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = PropTag(self.u32()?);
            let descending = match self.u8()? {
                0 => false,
                1 => true,
                _ => return Err(ProtoError::Invalid("sort order")),
            };
            v.push(SortKey { tag, descending });
        }
        Ok(v)
    }
    /// A [`Rule`] (see its wire form).
    fn rule(&mut self) -> R<Rule> {
        let id = self.u64()?;
        let name = self.str32()?;
        let provider = self.str32()?;
        let (sequence, state, level, user_flags) = (self.u32()?, self.u32()?, self.u32()?, self.u32()?);
        let provider_data = self.bytes()?.to_vec();
        let condition = self.restriction()?;
        let actions =
            mapi_rule::decode_actions(self.bytes()?, true).map_err(|_| ProtoError::Invalid("rule actions"))?;
        Ok(Rule {
            id,
            name,
            provider,
            sequence,
            state,
            level,
            user_flags,
            provider_data,
            condition,
            actions,
        })
    }
    /// A table row (see `put_row`).
    fn row(&mut self) -> R<Vec<Option<PropVal>>> {
        let m = self.count(1)?;
        let mut row = Vec::with_capacity(m.min(PREALLOC));
        for _ in 0..m {
            row.push(match self.u8()? {
                0 => None,
                1 => Some(self.prop()?.val),
                _ => return Err(ProtoError::Invalid("option flag")),
            });
        }
        Ok(row)
    }

    fn row_ref(&mut self) -> R<TableRowRef> {
        Ok(TableRowRef {
            folder: self.u64()?,
            message: self.u64()?,
            instance: self.u32()?,
        })
    }

    fn tags(&mut self) -> R<Vec<PropTag>> {
        let n = self.count(4)?;
        let mut t = Vec::with_capacity(n);
        for _ in 0..n {
            t.push(PropTag(self.u32()?));
        }
        Ok(t)
    }
    /// A property name (see `put_propname`); string names are bounded by MS-OXCDATA's 16-bit
    /// NameSize and may not contain NUL (Gromox's `name_string` form could not hold them).
    fn propname(&mut self) -> R<PropName> {
        let kind = self.u8()?;
        let guid = Guid::from_slice(self.take(16)?).map_err(|_| ProtoError::Invalid("GUID"))?;
        match kind {
            0 => Ok(PropName::lid(guid, self.u32()?)),
            1 => {
                let s = self.str32()?;
                if s.len() > MAX_NAME_LEN || s.contains('\0') {
                    return Err(ProtoError::Invalid("property name"));
                }
                Ok(PropName {
                    guid,
                    kind: PropNameKind::Name(s),
                })
            }
            _ => Err(ProtoError::Invalid("property name kind")),
        }
    }
    /// A [`MessageContent`] at nesting `depth` (0: top level); deeper than
    /// [`MAX_MESSAGE_DEPTH`] is an error, so the recursion is bounded.
    fn message(&mut self, depth: usize) -> R<MessageContent> {
        if depth > MAX_MESSAGE_DEPTH {
            return Err(ProtoError::Invalid("embedded messages nested too deep"));
        }
        let props = self.props()?;
        let n = self.count(4)?;
        let mut recipients = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            recipients.push(self.props()?);
        }
        let n = self.count(4 + 1)?;
        let mut attachments = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            let props = self.props()?;
            let embedded = match self.u8()? {
                0 => None,
                1 => Some(Box::new(self.message(depth + 1)?)),
                _ => return Err(ProtoError::Invalid("option flag")),
            };
            attachments.push(AttachmentContent { props, embedded });
        }
        Ok(MessageContent {
            props,
            recipients,
            attachments,
        })
    }
    /// Optional bytes (`u8 0`, or `u8 1` + `u32`-length bytes).
    fn opt_bytes(&mut self) -> R<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?.to_vec())),
            _ => Err(ProtoError::Invalid("option flag")),
        }
    }
    /// A GLOBSET (MS-OXCFXICS §2.2.2.6), decoded by gromox-mapi's bounded decoder (the set is
    /// never larger than its encoding implies: every command is checked against what is left);
    /// the GLOBSET must fill its length exactly.
    fn globset(&mut self) -> R<GlobSet> {
        let b = self.bytes()?;
        match GlobSet::decode(b) {
            Ok((g, n)) if n == b.len() => Ok(g),
            _ => Err(ProtoError::Invalid("GLOBSET")),
        }
    }
    /// An ICS state (see `put_state`): each property's IDSET is decoded by gromox-mapi's
    /// bounded IDSET decoder; an unknown state tag or a damaged IDSET is an error.
    fn state(&mut self) -> R<SyncState> {
        let n = self.count(4 + 4)?;
        let mut s = SyncState::new();
        for _ in 0..n {
            let tag = PropTag(self.u32()?);
            let blob = self.bytes()?;
            s.set_property(tag, blob)
                .map_err(|_| ProtoError::Invalid("sync state"))?;
        }
        Ok(s)
    }
    fn opt_state(&mut self) -> R<Option<SyncState>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.state()?)),
            _ => Err(ProtoError::Invalid("option flag")),
        }
    }
    fn end(&self) -> R<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::Trailing)
        }
    }
}

#[cfg(test)]
mod names {
    #[test]
    fn every_call_has_its_name() {
        assert_eq!(super::Call::Ping.name(), "Ping");
        assert_eq!(
            super::Call::MoveFolder {
                folder: 0,
                parent: 0,
                name: String::new()
            }
            .name(),
            "MoveFolder"
        );
        assert_eq!(super::Call::FolderState { folder: 0 }.name(), "FolderState");
        assert_eq!(
            super::Call::LoadContentTable {
                folder: 0,
                associated: false,
                restriction: None,
                sort: vec![],
                categories: 0,
                expanded: 0,
            }
            .name(),
            "LoadContentTable"
        );
        assert_eq!(
            super::Call::ReadAttachment { mid: 0, index: 0 }.name(),
            "ReadAttachment"
        );
        assert_eq!(
            super::Call::MailboxRights { user: String::new() }.name(),
            "MailboxRights"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_mapi::props::PropType;

    fn tag(id: u16, t: PropType) -> PropTag {
        PropTag(((id as u32) << 16) | t as u32)
    }

    fn names() -> Vec<PropName> {
        vec![
            PropName::lid(gromox_mapi::named::PSETID_APPOINTMENT, 0x8205),
            PropName::name(gromox_mapi::named::PS_PUBLIC_STRINGS, "Keywords ✓"),
        ]
    }

    /// A message with recipients, an attachment and an embedded message with its own
    /// attachment.
    fn message() -> MessageContent {
        let subj = |s: &str| TaggedVal::new(tag(0x37, PropType::Unicode), PropVal::Unicode(s.into()));
        let inner = MessageContent {
            props: vec![subj("inner")],
            recipients: vec![],
            attachments: vec![AttachmentContent {
                props: vec![TaggedVal::new(
                    tag(0x3701, PropType::Binary),
                    PropVal::Binary(vec![7; 5]),
                )],
                embedded: None,
            }],
        };
        MessageContent {
            props: vec![subj("outer"), TaggedVal::new(tag(0x0e07, PropType::I4), PropVal::I4(1))],
            recipients: vec![
                vec![TaggedVal::new(
                    tag(0x3001, PropType::Unicode),
                    PropVal::Unicode("Bob".into()),
                )],
                vec![],
            ],
            attachments: vec![
                AttachmentContent {
                    props: vec![],
                    embedded: Some(Box::new(inner)),
                },
                AttachmentContent::default(),
            ],
        }
    }

    /// A restriction with nesting, a content test and a sub-object test.
    fn restriction() -> Restriction {
        use gromox_mapi::restriction::{FuzzyLevel, RelOp, SubObject};
        Restriction::And(vec![
            Restriction::Content {
                level: FuzzyLevel::Substring,
                flags: gromox_mapi::restriction::FL_IGNORECASE,
                tag: tag(0x37, PropType::Unicode),
                value: TaggedVal::new(tag(0x37, PropType::Unicode), PropVal::Unicode("report ✓".into())),
            },
            Restriction::Not(Box::new(Restriction::Property {
                op: RelOp::Ge,
                tag: tag(0x0e08, PropType::I4),
                value: TaggedVal::new(tag(0x0e08, PropType::I4), PropVal::I4(4096)),
            })),
            Restriction::SubObject {
                sub: SubObject::Recipients,
                restriction: Box::new(Restriction::Exist(tag(0x39fe, PropType::Unicode))),
            },
        ])
    }

    /// A rule that moves mail with a subject to folder 0x0b.
    fn rule() -> Rule {
        use gromox_mapi::rule::{ActionData, OP_MOVE};
        Rule {
            provider_data: vec![1, 2, 3],
            user_flags: 7,
            ..Rule::new(
                "move it ✓",
                restriction(),
                vec![Action {
                    kind: OP_MOVE,
                    flavor: 0,
                    flags: 0,
                    data: ActionData::MoveCopy {
                        same_store: true,
                        store_eid: vec![],
                        folder_eid: gromox_mapi::rule::server_eid(0x0b),
                    },
                }],
            )
        }
    }

    /// An ICS state with fragmented sets in two replicas.
    fn sync_state() -> SyncState {
        let g = Guid([7; 16]);
        let mut s = SyncState::new();
        s.given.insert_range(g, 0x10001, 0x10040);
        s.given.insert(g, 0x20005);
        s.given.insert(Guid([1; 16]), 9);
        s.seen.insert_range(g, 1, 5000);
        s.seen_fai.insert(g, 77);
        s.read.insert_range(g, 3, 4);
        s
    }

    fn sk(id: u64) -> Vec<u8> {
        gromox_mapi::ids::Xid::from_gc(Guid([7; 16]), id).to_bytes()
    }

    /// The version-6 calls, one of each (with the variants that change the encoding).
    fn v6_calls() -> Vec<Call> {
        vec![
            Call::LoadContentTable {
                folder: 0x0d,
                associated: false,
                restriction: None,
                sort: vec![
                    SortKey {
                        tag: tag(0x0e06, PropType::SysTime),
                        descending: true,
                    },
                    SortKey {
                        tag: tag(0x37, PropType::Unicode),
                        descending: false,
                    },
                ],
                categories: 2,
                expanded: 1,
            },
            Call::SyncContents {
                folder: 0x0d,
                state: sync_state(),
                opts: ContentSyncOptions {
                    normal: true,
                    fai: false,
                    read_state: true,
                    user: None,
                },
            },
            Call::SyncContents {
                folder: 0x0d,
                state: SyncState::new(),
                opts: ContentSyncOptions {
                    normal: false,
                    fai: true,
                    read_state: false,
                    user: Some("bob@example.org".into()),
                },
            },
            Call::SyncMessageHeaders {
                user: None,
                mids: vec![0x10001, 0x10005, 3],
            },
            Call::SyncHierarchy {
                folder: 9,
                state: sync_state(),
            },
            Call::ImportMessageChange {
                folder: 0x0d,
                state: Some(sync_state()),
                source_key: sk(0x10050),
                change_key: Some(sk(77)),
                pcl: Some(vec![22, 1, 2]),
                associated: false,
                content: message(),
            },
            Call::ImportMessageChange {
                folder: 0x0d,
                state: None,
                source_key: sk(5),
                change_key: None,
                pcl: None,
                associated: true,
                content: MessageContent::default(),
            },
            Call::ImportDeletes {
                folder: 0x0d,
                hierarchy: true,
                hard: false,
                source_keys: vec![sk(1), vec![], sk(2)],
                state: Some(SyncState::new()),
            },
            Call::ImportReadStates {
                folder: 0x0d,
                user: Some("bob@example.org".into()),
                changes: vec![(sk(1), true), (sk(2), false)],
                state: None,
            },
            Call::ImportMessageMove {
                folder: 0x0d,
                source_folder: sk(0x0e),
                source_message: sk(0x10001),
                pcl: vec![1, 2, 3],
                destination_message: sk(0x30000),
                change_key: Some(sk(9)),
                state: Some(sync_state()),
            },
            Call::ImportFolderChange {
                root: 9,
                parent_source_key: vec![],
                source_key: sk(0x300),
                change_key: Some(sk(10)),
                pcl: None,
                name: "Projekte ✓".into(),
                props: vec![TaggedVal::new(
                    tag(0x3613, PropType::Unicode),
                    PropVal::Unicode("IPF.Note".into()),
                )],
                state: Some(sync_state()),
            },
            Call::ReserveIds { count: 100 },
            Call::ExpandRow {
                table: 3,
                category: 1 << 63 | 5,
            },
            Call::CollapseRow { table: 3, category: 1 },
            Call::GetCollapseState { table: 3 },
            Call::SetCollapseState {
                table: 3,
                state: b"GXC1\0\0\0\0\0".to_vec(),
            },
        ]
    }

    /// The version-6 responses with a call of each shape.
    fn v6_responses() -> Vec<(Call, Response)> {
        let g = |r: &[(u64, u64)]| GlobSet::from_ranges(r.to_vec());
        let header = MessageHeader {
            mid: 0x10001,
            source_key: sk(0x10001),
            change_number: 17,
            change_key: sk(17),
            pcl: vec![22, 7, 7],
            associated: false,
            read: true,
            last_modified: 133_000_000_000_000_000,
            size: 4096,
        };
        let folder = FolderSync {
            folder: 0x300,
            parent: 9,
            source_key: sk(0x300),
            parent_source_key: vec![],
            change_number: 12,
            change_key: sk(12),
            pcl: vec![22, 1],
            props: vec![TaggedVal::new(
                tag(0x3001, PropType::Unicode),
                PropVal::Unicode("Projekte".into()),
            )],
        };
        let calls = v6_calls();
        let call = |id: u8| calls.iter().find(|c| c.id() == id).cloned().unwrap();
        vec![
            (
                call(63),
                Response::ContentSync(ContentSync {
                    changed: vec![0x10003, 0x10001],
                    new: g(&[(0x10003, 0x10003)]),
                    deleted: g(&[(0x10010, 0x10020), (0x10030, 0x10030)]),
                    read: g(&[(0x10005, 0x10006)]),
                    unread: GlobSet::new(),
                    state: sync_state(),
                }),
            ),
            (call(63), Response::ContentSync(ContentSync::default())),
            (
                call(64),
                Response::MessageHeaders {
                    done: 3,
                    headers: vec![
                        header.clone(),
                        MessageHeader {
                            associated: true,
                            read: false,
                            pcl: vec![],
                            ..header
                        },
                    ],
                },
            ),
            (
                call(65),
                Response::HierarchySync(HierarchySync {
                    changed: vec![
                        folder.clone(),
                        FolderSync {
                            parent: 0x300,
                            ..folder
                        },
                    ],
                    deleted: g(&[(0x301, 0x305)]),
                    state: sync_state(),
                }),
            ),
            (
                call(66),
                Response::Imported {
                    outcome: ImportOutcome::Created(0x10050),
                    state: Some(sync_state()),
                },
            ),
            (
                call(69),
                Response::Imported {
                    outcome: ImportOutcome::Moved {
                        mid: 0x30000,
                        server_newer: true,
                    },
                    state: None,
                },
            ),
            (
                call(70),
                Response::Imported {
                    outcome: ImportOutcome::Conflict(0x300),
                    state: None,
                },
            ),
            (
                call(70),
                Response::Imported {
                    outcome: ImportOutcome::Ignored(0x300),
                    state: Some(SyncState::new()),
                },
            ),
            (
                call(66),
                Response::Imported {
                    outcome: ImportOutcome::Updated(1),
                    state: None,
                },
            ),
            (
                call(67),
                Response::ImportCount {
                    count: 2,
                    state: Some(sync_state()),
                },
            ),
            (call(68), Response::ImportCount { count: 0, state: None }),
            (
                call(71),
                Response::IdRange {
                    first: 0x40000,
                    last: 0x40063,
                },
            ),
            (call(72), Response::Count(5)),
            (call(73), Response::Count(0)),
            (call(74), Response::Bytes(b"GXC1".to_vec())),
            (call(75), Response::Count(1)),
        ]
    }

    /// Version-6 calls and responses round-trip; every strict prefix is an error.
    #[test]
    fn v6_calls_and_responses_round_trip() {
        for c in v6_calls() {
            let p = encode_request("/d", &c);
            assert_eq!(decode_request(&p).unwrap(), ("/d".to_string(), c.clone()));
            for n in 0..p.len() {
                assert!(decode_request(&p[..n]).is_err(), "prefix {n} of {c:?}");
            }
            assert_ne!(c.name(), "other");
        }
        for (c, r) in v6_responses() {
            let p = encode_response(&r);
            assert_eq!(decode_response(&c, &p).unwrap(), Ok(r.clone()));
            for n in 0..p.len() {
                assert!(decode_response(&c, &p[..n]).is_err(), "prefix {n} of {r:?}");
            }
        }
        let h = MessageHeader {
            source_key: vec![1; 22],
            pcl: vec![2; 9],
            ..Default::default()
        };
        let mut w = Vec::new();
        put_header(&mut w, &h);
        assert_eq!(w.len(), header_wire_size(&h));
    }

    /// Every version-7 call.
    fn v7_calls() -> Vec<Call> {
        let rcpt = vec![TaggedVal::new(
            tag(0x3001, PropType::Unicode),
            PropVal::Unicode("Bob".into()),
        )];
        vec![
            Call::CreateSearchFolder {
                parent: 0x0c,
                name: "Unread".into(),
            },
            Call::SetSearchCriteria {
                folder: 0x300,
                restriction: Some(restriction()),
                scope: Some(vec![0x0d, 0x0a]),
                flags: 0x4,
            },
            Call::SetSearchCriteria {
                folder: 0x300,
                restriction: None,
                scope: None,
                flags: 0x1,
            },
            Call::GetSearchCriteria { folder: 0x300 },
            Call::LoadMessageInstance {
                folder: 0x0d,
                mid: Some(0x10001),
                associated: false,
            },
            Call::LoadMessageInstance {
                folder: 0x0d,
                mid: None,
                associated: true,
            },
            Call::LoadEmbeddedInstance {
                attachment: 2,
                create: true,
            },
            Call::GetInstanceProps { instance: 1 },
            Call::SetInstanceProps {
                instance: 1,
                props: rcpt.clone(),
            },
            Call::RemoveInstanceProps {
                instance: 1,
                tags: vec![tag(0x37, PropType::Unicode)],
            },
            Call::GetInstanceRcpts { instance: 1 },
            Call::SetInstanceRcpts {
                instance: 1,
                rcpts: vec![rcpt.clone(), vec![]],
            },
            Call::GetInstanceAttachments { instance: 1 },
            Call::CreateAttachmentInstance { instance: 1 },
            Call::LoadAttachmentInstance { instance: 1, index: 3 },
            Call::DeleteInstanceAttachment { instance: 1, index: 0 },
            Call::FlushInstance { instance: 1 },
            Call::UnloadInstance { instance: 1 },
            Call::ReadMessageInstance { instance: 1 },
            Call::WriteMessageInstance {
                instance: 1,
                content: message(),
            },
            Call::IsMsgPresent {
                folder: 0x0d,
                mid: 0x10001,
            },
            Call::IsMsgDeleted { mid: 0x10001 },
            Call::IsFolderPresent { folder: 0x0d },
            Call::IsFolderDeleted { folder: 0x0d },
            Call::GetFolderPerm {
                folder: 0x0d,
                user: "bob@example.org".into(),
            },
            Call::AllocateCn,
            Call::SumHierarchy {
                folder: 9,
                recursive: true,
            },
            Call::SumContent {
                folder: 0x0d,
                associated: true,
                deleted: false,
            },
            Call::GetAllNamedPropIds,
            Call::GetFolderByClass {
                class: "IPM.Note".into(),
            },
            Call::CheckFolderCycle {
                folder: 0x300,
                dest: 0x301,
            },
            Call::MovecopyMessage {
                mid: 0x10001,
                to: 0x0a,
                copy: true,
            },
            Call::GetMessageRcpts { mid: 0x10001 },
            Call::ReadAttachmentInstance { instance: 2 },
            Call::TableNotifications {
                table: 3,
                columns: vec![PropTag(0x0037_001F), PropTag(0x0E06_0040)],
            },
            Call::LocateRow {
                table: 3,
                inst_id: 0x10001,
                inst_num: 1,
            },
            Call::ReadTableRow {
                table: 3,
                columns: vec![PropTag(0x0037_001F)],
                inst_id: 0x8000_0000_0000_0002,
                inst_num: 0,
            },
        ]
    }

    /// The version-7 responses with a call of each new shape.
    fn v7_responses() -> Vec<(Call, Response)> {
        let calls = v7_calls();
        let call = |id: u8| calls.iter().find(|c| c.id() == id).cloned().unwrap();
        vec![
            (
                call(78),
                Response::SearchCriteria {
                    restriction: Some(restriction()),
                    scope: vec![0x0d, 0x0a],
                    status: 0x1001,
                },
            ),
            (
                call(78),
                Response::SearchCriteria {
                    restriction: None,
                    scope: vec![],
                    status: 0,
                },
            ),
            (call(84), Response::PropLists(message().recipients)),
            (call(86), Response::PropLists(vec![vec![], vec![]])),
            (call(106), Response::PropLists(vec![])),
            (
                call(102),
                Response::NamedProps(vec![(0x8001, names()[0].clone()), (0x8002, names()[1].clone())]),
            ),
            (call(79), Response::Count(1)),
            (call(92), Response::Message(message())),
            (call(107), Response::Attachment(message().attachments[0].clone())),
            (call(105), Response::Id(0x20001)),
            (call(81), Response::Props(message().props)),
            (
                call(108),
                Response::TableEvents(vec![
                    TableEvent {
                        event: 3,
                        row: TableRowRef {
                            folder: 0x0d,
                            message: 0x10002,
                            instance: 0,
                        },
                        prior: Some(TableRowRef {
                            folder: 0x0d,
                            message: 0x10001,
                            instance: 1,
                        }),
                        position: 7,
                        values: vec![Some(PropVal::Unicode("hi".into())), None],
                    },
                    TableEvent {
                        event: 4,
                        row: TableRowRef {
                            folder: 0x0d,
                            message: 0x10003,
                            instance: 0,
                        },
                        prior: None,
                        position: 0,
                        values: vec![],
                    },
                ]),
            ),
        ]
    }

    /// Version-7 calls and responses round-trip; every strict prefix is an error.
    #[test]
    fn v7_calls_and_responses_round_trip() {
        let calls = v7_calls();
        for id in 76..=110u8 {
            assert!(calls.iter().any(|c| c.id() == id), "call {id} has no test case");
        }
        for c in calls {
            let p = encode_request("/d", &c);
            assert_eq!(decode_request(&p).unwrap(), ("/d".to_string(), c.clone()));
            for n in 0..p.len() {
                assert!(decode_request(&p[..n]).is_err(), "prefix {n} of {c:?}");
            }
            assert_ne!(c.name(), "other");
        }
        for (c, r) in v7_responses() {
            let p = encode_response(&r);
            assert_eq!(decode_response(&c, &p).unwrap(), Ok(r.clone()));
            for n in 0..p.len() {
                assert!(decode_response(&c, &p[..n]).is_err(), "prefix {n} of {r:?}");
            }
        }
        // Lying counts of property lists and named properties: errors without allocating.
        for kind in [29u8, 30, 31] {
            let b = u32::MAX.to_le_bytes();
            assert_eq!(
                decode_response_body(kind, &mut Reader::new(&b)),
                Err(ProtoError::Truncated)
            );
        }
        let mut p = vec![85u8, 0, 0];
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
        // A bad scope option flag.
        let mut p = encode_request(
            "",
            &Call::SetSearchCriteria {
                folder: 1,
                restriction: None,
                scope: None,
                flags: 0,
            },
        );
        p[3 + 8 + 1] = 2;
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("option flag")));
    }

    /// ICS and categorized-table input from a hostile peer: errors, never panics or large
    /// allocations.
    #[test]
    fn hostile_v6_input_is_refused() {
        // Category counts beyond the sort keys, expanded beyond the categories.
        for (categories, expanded) in [(3, 0), (1, 2), (u32::MAX, 0)] {
            let c = Call::LoadContentTable {
                folder: 1,
                associated: false,
                restriction: None,
                sort: vec![
                    SortKey {
                        tag: tag(0x37, PropType::Unicode),
                        descending: false,
                    };
                    2
                ],
                categories,
                expanded,
            };
            assert_eq!(
                decode_request(&encode_request("", &c)),
                Err(ProtoError::Invalid("category counts"))
            );
        }
        // A state with an unknown tag, a damaged IDSET, a lying count.
        let sync = |state: &[u8]| {
            let mut p = vec![65u8, 0, 0];
            p.extend_from_slice(&9u64.to_le_bytes());
            p.extend_from_slice(state);
            decode_request(&p)
        };
        let mut bad_tag = 1u32.to_le_bytes().to_vec();
        bad_tag.extend_from_slice(&0x3001_001fu32.to_le_bytes());
        put_bytes(&mut bad_tag, &[]);
        assert_eq!(sync(&bad_tag), Err(ProtoError::Invalid("sync state")));
        let mut bad_set = 1u32.to_le_bytes().to_vec();
        bad_set.extend_from_slice(&gromox_mapi::syncstate::META_TAG_CNSET_SEEN.0.to_le_bytes());
        put_bytes(&mut bad_set, &[7; 16 + 3]);
        assert_eq!(sync(&bad_set), Err(ProtoError::Invalid("sync state")));
        assert_eq!(sync(&u32::MAX.to_le_bytes()), Err(ProtoError::Truncated));
        // A huge range is a few bytes and stays ranges: never iterated.
        let mut huge = SyncState::new();
        huge.given.insert_range(Guid([7; 16]), 1, gromox_mapi::ids::GC_MAX);
        let c = Call::SyncHierarchy { folder: 9, state: huge };
        let p = encode_request("", &c);
        assert!(p.len() < 100);
        assert_eq!(decode_request(&p).unwrap().1, c);
        // Synchronization flags beyond the three defined, lying id and key counts.
        let mut p = encode_request(
            "",
            &Call::SyncContents {
                folder: 1,
                state: SyncState::new(),
                opts: ContentSyncOptions {
                    normal: true,
                    fai: true,
                    read_state: true,
                    user: None,
                },
            },
        );
        let n = p.len();
        p[n - 2] = 8;
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("synchronization flags")));
        for (id, body) in [
            (64u8, [&[0u8][..], &u32::MAX.to_le_bytes()].concat()),
            (
                67,
                [&1u64.to_le_bytes()[..], &[0, 0], &(u32::MAX / 4).to_le_bytes()].concat(),
            ),
            (
                68,
                [&1u64.to_le_bytes()[..], &[0], &(u32::MAX / 5).to_le_bytes()].concat(),
            ),
        ] {
            let mut p = vec![id, 0, 0];
            p.extend_from_slice(&body);
            assert_eq!(decode_request(&p), Err(ProtoError::Truncated), "call {id}");
        }
        // A GLOBSET that does not fill its length, or that is garbage; bad outcome kinds and
        // header flags; lying header and folder counts.
        let c = Call::SyncMessageHeaders {
            user: None,
            mids: vec![],
        };
        let sync_call = Call::SyncContents {
            folder: 1,
            state: SyncState::new(),
            opts: ContentSyncOptions {
                normal: true,
                fai: false,
                read_state: false,
                user: None,
            },
        };
        let mut p = vec![0u8];
        put_ids(&mut p, &[]);
        put_bytes(&mut p, &[0, 0]);
        assert_eq!(decode_response(&sync_call, &p), Err(ProtoError::Invalid("GLOBSET")));
        let mut p = vec![0u8];
        put_ids(&mut p, &[]);
        put_bytes(&mut p, &[0x52, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(decode_response(&sync_call, &p), Err(ProtoError::Invalid("GLOBSET")));
        let mut p = encode_response(&Response::MessageHeaders {
            done: 1,
            headers: vec![MessageHeader::default()],
        });
        let at = 1 + 4 + 4 + 8 + 4 + 8 + 4 + 4;
        p[at] = 4;
        assert_eq!(decode_response(&c, &p), Err(ProtoError::Invalid("header flags")));
        let mut p = encode_response(&Response::Imported {
            outcome: ImportOutcome::Created(1),
            state: None,
        });
        p[1] = 5;
        let import = Call::ReserveIds { count: 1 };
        assert!(decode_response(&import, &p).is_err());
        for kind in [23u8, 24] {
            let b = [&0u32.to_le_bytes()[..], &u32::MAX.to_le_bytes()].concat();
            let b = if kind == 24 { b[4..].to_vec() } else { b };
            assert_eq!(
                decode_response_body(kind, &mut Reader::new(&b)),
                Err(ProtoError::Truncated)
            );
        }
    }

    /// `depth` embedded messages inside each other.
    fn nested(depth: usize) -> MessageContent {
        let mut m = MessageContent::default();
        for _ in 0..depth {
            m = MessageContent {
                attachments: vec![AttachmentContent {
                    props: vec![],
                    embedded: Some(Box::new(m)),
                }],
                ..Default::default()
            };
        }
        m
    }

    #[test]
    fn requests_round_trip() {
        let props = vec![
            TaggedVal::new(tag(0x37, PropType::Unicode), PropVal::Unicode("Hello ✓".into())),
            TaggedVal::new(tag(0x0e08, PropType::I4), PropVal::I4(-5)),
            TaggedVal::new(tag(0x1000, PropType::Binary), PropVal::Binary(vec![0, 1, 2])),
            TaggedVal::new(
                tag(0x3007, PropType::SysTime),
                PropVal::SysTime(133_000_000_000_000_000),
            ),
            TaggedVal::new(
                tag(0x6000, PropType::MvUnicode),
                PropVal::MvUnicode(vec!["a".into(), "b".into()]),
            ),
        ];
        let calls = vec![
            Call::Ping,
            Call::SetPermission {
                folder: 9,
                user: "bob@example.org".into(),
                rights: 0x2000 | 0x7fb,
            },
            Call::RemovePermission {
                folder: 9,
                user: "default".into(),
            },
            Call::MailboxRights {
                user: "bob@example.org".into(),
            },
            Call::DeliverMail {
                from: "sender@example.net".into(),
                rcpt: "bob@example.org".into(),
                mime: b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
                now: 1_700_000_000,
            },
            Call::CheckQuota { size: 4096 },
            Call::AutoreplyDue {
                peer: "sender@example.net".into(),
                now: 1_700_000_000,
                window: 86_400,
            },
            Call::SetStoreProps(props.clone()),
            Call::RemoveStoreProps(vec![tag(0x37, PropType::Unicode)]),
            Call::CreateFolder {
                parent: 9,
                name: "Projekte".into(),
                class: Some("IPF.Note".into()),
            },
            Call::DeliverMessage {
                folder: None,
                props: props.clone(),
                mime: Some(b"Subject: x\r\n\r\nbody".to_vec()),
            },
            Call::DeleteMessages {
                mids: vec![1, 2, 3],
                hard: true,
            },
            Call::MoveMessages {
                mids: vec![7],
                to: 0x0d,
            },
            Call::EmptyFolder {
                folder: 0x0d,
                hard: false,
            },
            Call::SetReadState { mid: 5, read: true },
            Call::Thaw,
            Call::Subscribe {
                filter: 1 << nf::NEW_MAIL,
            },
            Call::GetNamedPropIds {
                create: true,
                names: names(),
            },
            Call::GetNamedPropIds {
                create: false,
                names: vec![],
            },
            Call::GetNamedPropNames {
                ids: vec![0x8001, 0x8002, 0xfffe],
            },
            Call::ReadMessage { mid: 0x1_0001 },
            Call::WriteMessage {
                folder: 0x0d,
                associated: false,
                mid: None,
                content: message(),
            },
            Call::WriteMessage {
                folder: 0x0d,
                associated: true,
                mid: Some(0x1_0002),
                content: nested(MAX_MESSAGE_DEPTH),
            },
            Call::SetMessageProps {
                mid: 5,
                props: props.clone(),
            },
            Call::RemoveMessageProps {
                mid: 5,
                tags: vec![tag(0x37, PropType::Unicode), tag(0x1000, PropType::Unicode)],
            },
            Call::LoadContentTable {
                folder: 0x0d,
                associated: false,
                restriction: Some(restriction()),
                sort: vec![
                    SortKey {
                        tag: tag(0x0e06, PropType::SysTime),
                        descending: true,
                    },
                    SortKey {
                        tag: tag(0x37, PropType::Unicode),
                        descending: false,
                    },
                ],
                categories: 0,
                expanded: 0,
            },
            Call::LoadContentTable {
                folder: 0x0d,
                associated: true,
                restriction: None,
                sort: vec![],
                categories: 0,
                expanded: 0,
            },
            Call::LoadHierarchyTable {
                folder: 9,
                recursive: true,
                restriction: Some(Restriction::Exist(tag(0x3001, PropType::Unicode))),
                sort: vec![SortKey {
                    tag: tag(0x3001, PropType::Unicode),
                    descending: false,
                }],
            },
            Call::QueryTable {
                table: 3,
                columns: vec![tag(0x37, PropType::Unicode), tag(0x674a, PropType::I8)],
                count: 50,
                forward: false,
                no_advance: true,
            },
            Call::SeekTable {
                table: 3,
                origin: Origin::End,
                offset: -20,
            },
            Call::SeekTable {
                table: 3,
                origin: Origin::Current,
                offset: i64::MAX,
            },
            Call::SeekFraction {
                table: 3,
                numerator: 1,
                denominator: 2,
            },
            Call::CreateBookmark { table: 3 },
            Call::SeekBookmark {
                table: 3,
                bookmark: 7,
                offset: -1,
            },
            Call::FreeBookmark { table: 3, bookmark: 7 },
            Call::FindRow {
                table: 3,
                restriction: restriction(),
                forward: false,
            },
            Call::QueryPosition { table: 3 },
            Call::ReloadTable { table: 3 },
            Call::UnloadTable { table: u32::MAX },
            Call::GetPermissions { folder: 9 },
            Call::UpdatePermissions {
                folder: 9,
                replace: true,
                changes: vec![
                    PermissionChange::Add {
                        name: "bob@example.org".into(),
                        rights: 0x7fb,
                    },
                    PermissionChange::Modify {
                        member_id: MEMBER_ID_ANONYMOUS,
                        rights: 0,
                    },
                    PermissionChange::Remove { member_id: 12 },
                ],
            },
            Call::GetRules { folder: 0x0d },
            Call::UpdateRules {
                folder: 0x0d,
                replace: false,
                changes: vec![
                    RuleChange::Add(rule()),
                    RuleChange::Modify(Rule { id: 4, ..rule() }),
                    RuleChange::Remove(5),
                ],
            },
            Call::SetFolderProps {
                folder: 9,
                props: props.clone(),
            },
            Call::RemoveFolderProps {
                folder: 9,
                tags: vec![tag(0x3004, PropType::Unicode)],
            },
            Call::CopyFolder {
                folder: 9,
                parent: 10,
                name: "Kopie ✓".into(),
            },
            Call::GetFolderByName {
                parent: 9,
                name: "Projekte".into(),
            },
            Call::ReadAttachment { mid: 5, index: 1 },
        ];
        for c in calls {
            let p = encode_request("/var/lib/gromox/user/x/y", &c);
            let (d, back) = decode_request(&p).unwrap();
            assert_eq!(d, "/var/lib/gromox/user/x/y");
            assert_eq!(back, c);
            // Every strict prefix is an error, never a panic.
            for n in 0..p.len() {
                assert!(decode_request(&p[..n]).is_err(), "prefix {n} of {c:?}");
            }
        }
    }

    #[test]
    fn responses_round_trip() {
        let deliver = Call::DeliverMail {
            from: String::new(),
            rcpt: String::new(),
            mime: Vec::new(),
            now: 0,
        };
        let cases = vec![
            (Call::Ping, Response::Done),
            (
                deliver,
                Response::MailDelivered(MailDelivery {
                    folder: 0x0d,
                    message: 0x1_0001,
                    forward_to: vec!["a@example.net".into(), "b@example.net".into()],
                    replies: vec![b"Subject: Re\r\n\r\nThanks".to_vec()],
                    matched: vec!["move it".into()],
                    skipped: vec!["defer: action type 0x05".into()],
                }),
            ),
            (
                Call::AutoreplyDue {
                    peer: "x@y".into(),
                    now: 1,
                    window: 2,
                },
                Response::Count(1),
            ),
            (
                Call::GetStoreProps,
                Response::Props(vec![TaggedVal::new(tag(0x0e08, PropType::I8), PropVal::I8(1 << 40))]),
            ),
            (
                Call::ListFolders,
                Response::Folders(vec![FolderEntry {
                    id: 1,
                    parent: 0,
                    name: "Root".into(),
                    container_class: None,
                }]),
            ),
            (
                Call::DeliverMessage {
                    folder: None,
                    props: vec![],
                    mime: None,
                },
                Response::Delivered {
                    folder: 13,
                    message: 0x10001,
                },
            ),
            (Call::PurgeSoftdel, Response::Count(4)),
            (
                Call::GetNamedPropIds {
                    create: false,
                    names: names(),
                },
                Response::PropIds(vec![0x8001, 0]),
            ),
            (
                Call::GetNamedPropNames { ids: vec![] },
                Response::PropNames(vec![Some(names()[1].clone()), None, Some(names()[0].clone())]),
            ),
            (Call::ReadMessage { mid: 1 }, Response::Message(message())),
            (
                Call::WriteMessage {
                    folder: 1,
                    associated: false,
                    mid: None,
                    content: MessageContent::default(),
                },
                Response::Id(0x1_0002),
            ),
            (Call::RemoveMessageProps { mid: 1, tags: vec![] }, Response::Done),
            (
                Call::LoadContentTable {
                    folder: 1,
                    associated: false,
                    restriction: None,
                    sort: vec![],
                    categories: 0,
                    expanded: 0,
                },
                Response::Table { id: 1, rows: 250_000 },
            ),
            (Call::ReloadTable { table: 1 }, Response::Table { id: 1, rows: 0 }),
            (
                Call::QueryTable {
                    table: 1,
                    columns: vec![],
                    count: 0,
                    forward: true,
                    no_advance: false,
                },
                Response::Rows(vec![
                    vec![
                        Some(PropVal::Unicode("Hello ✓".into())),
                        None,
                        Some(PropVal::I8(-7)),
                        Some(PropVal::Boolean(true)),
                    ],
                    vec![],
                    vec![None],
                ]),
            ),
            (
                Call::SeekBookmark {
                    table: 1,
                    bookmark: 1,
                    offset: 0,
                },
                Response::Seek {
                    moved: -3,
                    row_gone: true,
                },
            ),
            (
                Call::QueryPosition { table: 1 },
                Response::Position { position: 5, rows: 9 },
            ),
            (
                Call::FindRow {
                    table: 1,
                    restriction: Restriction::And(vec![]),
                    forward: true,
                },
                Response::Found(Some(4)),
            ),
            (
                Call::FindRow {
                    table: 1,
                    restriction: Restriction::And(vec![]),
                    forward: true,
                },
                Response::Found(None),
            ),
            (Call::CreateBookmark { table: 1 }, Response::Count(2)),
            (
                Call::GetPermissions { folder: 1 },
                Response::Permissions(vec![
                    PermissionRow {
                        member_id: MEMBER_ID_DEFAULT,
                        name: "default".into(),
                        rights: 0x400,
                    },
                    PermissionRow {
                        member_id: MEMBER_ID_ANONYMOUS,
                        name: "anonymous".into(),
                        rights: 0,
                    },
                    PermissionRow {
                        member_id: 3,
                        name: "bob@example.org".into(),
                        rights: 0x7fb,
                    },
                ]),
            ),
            (
                Call::GetRules { folder: 1 },
                Response::Rules(vec![rule(), Rule { id: 9, ..rule() }]),
            ),
            (
                Call::ReadAttachment { mid: 1, index: 0 },
                Response::Attachment(message().attachments[0].clone()),
            ),
            (
                Call::ReadAttachment { mid: 1, index: 1 },
                Response::Attachment(AttachmentContent::default()),
            ),
            (
                Call::GetFolderByName {
                    parent: 1,
                    name: String::new(),
                },
                Response::Id(0),
            ),
        ];
        for (c, r) in cases {
            let p = encode_response(&r);
            assert_eq!(decode_response(&c, &p).unwrap(), Ok(r.clone()));
            for n in 0..p.len() {
                assert!(decode_response(&c, &p[..n]).is_err(), "prefix {n} of {r:?}");
            }
        }
        let e = encode_error(Status::MisroutedMailbox, "homed on mx2");
        assert_eq!(
            decode_response(&Call::Ping, &e).unwrap(),
            Err((Status::MisroutedMailbox, "homed on mx2".into()))
        );
    }

    #[test]
    fn frames_and_handshake() {
        let mut out = Vec::new();
        write_frame(&mut out, &handshake_request());
        let (p, used) = split_frame(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(parse_handshake_request(p), Ok(VERSION));
        assert_eq!(split_frame(&out[..5]), Ok(None));
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert_eq!(split_frame(&huge), Err(ProtoError::TooLarge(MAX_FRAME + 1)));
        assert!(
            parse_handshake_request(b"GXEXMDB\x01\x00").is_err(),
            "version 1 (ListMessages without min_cn) is refused"
        );
        assert_eq!(
            parse_handshake_response(&handshake_response(Status::Ok)),
            Ok(Status::Ok)
        );
    }

    #[test]
    fn lying_counts_do_not_allocate() {
        let mut p = vec![10u8, 0, 0];
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
    }

    #[test]
    fn hostile_messages_are_errors() {
        // One level too deep: refused, in requests and responses.
        let deep = nested(MAX_MESSAGE_DEPTH + 1);
        let call = Call::WriteMessage {
            folder: 1,
            associated: false,
            mid: None,
            content: deep.clone(),
        };
        assert_eq!(
            decode_request(&encode_request("", &call)),
            Err(ProtoError::Invalid("embedded messages nested too deep"))
        );
        let read = Call::ReadMessage { mid: 1 };
        assert!(decode_response(&read, &encode_response(&Response::Message(deep))).is_err());
        // Very deep nesting (a stack-overflow attempt) stops at the limit.
        let mut p = vec![39u8, 0, 0];
        p.extend_from_slice(&1u64.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&0u64.to_le_bytes());
        for _ in 0..100_000 {
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        }
        assert!(decode_request(&p).is_err());
        // Lying counts of recipients, attachments and names: errors without allocating.
        for body in [
            [&[0u8; 4][..], &u32::MAX.to_le_bytes()].concat(),
            [&[0u8; 8][..], &(u32::MAX / 2).to_le_bytes()].concat(),
        ] {
            let mut p = vec![39u8, 0, 0];
            p.extend_from_slice(&1u64.to_le_bytes());
            p.push(0);
            p.extend_from_slice(&0u64.to_le_bytes());
            p.extend_from_slice(&body);
            assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
        }
        let mut p = vec![36u8, 0, 0, 1];
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
        // NUL in a string name, an unknown name kind.
        let bad = Call::GetNamedPropIds {
            create: true,
            names: vec![PropName::name(Guid::NIL, "a\0b")],
        };
        assert!(decode_request(&encode_request("", &bad)).is_err());
        let mut p = encode_request(
            "",
            &Call::GetNamedPropIds {
                create: true,
                names: vec![PropName::lid(Guid::NIL, 1)],
            },
        );
        p[8] = 7;
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("property name kind")));
    }

    /// Restrictions, sort orders, rules and rows from a hostile peer: errors, never panics or
    /// big allocations; nesting beyond gromox-mapi's depth limit is refused.
    #[test]
    fn hostile_tables_and_rules_are_errors() {
        let load = |r: Restriction| Call::LoadContentTable {
            folder: 1,
            associated: false,
            restriction: Some(r),
            sort: vec![],
            categories: 0,
            expanded: 0,
        };
        let mut deep = Restriction::Exist(tag(0x37, PropType::Unicode));
        for _ in 0..restriction::MAX_DEPTH + 1 {
            deep = Restriction::Not(Box::new(deep));
        }
        assert_eq!(
            decode_request(&encode_request("", &load(deep))),
            Err(ProtoError::Invalid("restriction"))
        );
        // A restriction blob that lies about its length, garbage inside the blob.
        let mut p = encode_request("", &load(Restriction::Exist(tag(0x37, PropType::Unicode))));
        let at = 3 + 8 + 1 + 1;
        p[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
        let mut p = encode_request("", &load(Restriction::Exist(tag(0x37, PropType::Unicode))));
        p[at + 4] = 0xee;
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("restriction")));
        // Category sort orders (MS-OXCDATA §2.13.1 TABLE_SORT_CATEG_MAX) are refused.
        let mut p = encode_request(
            "",
            &Call::LoadHierarchyTable {
                folder: 1,
                recursive: false,
                restriction: None,
                sort: vec![SortKey {
                    tag: tag(0x37, PropType::Unicode),
                    descending: false,
                }],
            },
        );
        let n = p.len();
        p[n - 1] = 4;
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("sort order")));
        // Lying counts of changes, rows and rules.
        for (id, body) in [
            (55u8, [&1u64.to_le_bytes()[..], &[0], &u32::MAX.to_le_bytes()].concat()),
            (
                57u8,
                [&1u64.to_le_bytes()[..], &[1], &(u32::MAX / 9).to_le_bytes()].concat(),
            ),
        ] {
            let mut p = vec![id, 0, 0];
            p.extend_from_slice(&body);
            assert_eq!(decode_request(&p), Err(ProtoError::Truncated));
        }
        for kind in [15u8, 19, 20] {
            let b = u32::MAX.to_le_bytes();
            assert_eq!(
                decode_response_body(kind, &mut Reader::new(&b)),
                Err(ProtoError::Truncated)
            );
        }
        // Bad rule actions inside an otherwise valid rule.
        let call = Call::UpdateRules {
            folder: 1,
            replace: false,
            changes: vec![RuleChange::Add(rule())],
        };
        let mut p = encode_request("", &call);
        let acts = mapi_rule::encode_actions(&rule().actions, true).len();
        p.truncate(p.len() - acts - 4);
        put_bytes(&mut p, &[0xff, 0xff, 0xff]);
        assert_eq!(decode_request(&p), Err(ProtoError::Invalid("rule actions")));
    }

    /// A response over the frame limit becomes a TooBig error frame, not an unframeable one.
    #[test]
    fn oversized_responses_become_too_big() {
        let r = Response::Bytes(vec![0; 1000]);
        assert_eq!(encode_response_limited(&r, 2000), Ok(encode_response(&r)));
        let (e, n) = encode_response_limited(&r, 100).unwrap_err();
        assert_eq!(n, 1 + 4 + 1000);
        match decode_response(&Call::MessageRfc822 { mid: 1 }, &e).unwrap() {
            Err((Status::TooBig, m)) => assert!(m.contains("1005 bytes") && m.contains("100 bytes"), "{m}"),
            r => panic!("{r:?}"),
        }
        // The limit never exceeds what a frame can carry.
        let (_, n) = encode_response_limited(&Response::Bytes(vec![0; MAX_FRAME]), usize::MAX).unwrap_err();
        assert!(n > MAX_FRAME);
        assert_eq!(Status::from_u8(11), Ok(Status::TooBig));
    }

    /// The version-5 seeds: valid requests and responses of the table, rule and permission
    /// calls (so the fuzzer starts inside the restriction, sort, rule and row decoders).
    /// `cargo test -p gromox-exmdb-proto -- --ignored write_fuzz_seeds` rewrites them.
    fn v5_seeds() -> Vec<(&'static str, Vec<u8>)> {
        let rows = Response::Rows(vec![vec![
            Some(PropVal::Unicode("x".into())),
            None,
            Some(PropVal::I4(3)),
        ]]);
        vec![
            (
                "load_content_table",
                encode_request(
                    "/d",
                    &Call::LoadContentTable {
                        folder: 0x0d,
                        associated: false,
                        restriction: Some(restriction()),
                        sort: vec![SortKey {
                            tag: tag(0x0e06, PropType::SysTime),
                            descending: true,
                        }],
                        categories: 0,
                        expanded: 0,
                    },
                ),
            ),
            (
                "find_row",
                encode_request(
                    "/d",
                    &Call::FindRow {
                        table: 1,
                        restriction: restriction(),
                        forward: true,
                    },
                ),
            ),
            (
                "update_rules",
                encode_request(
                    "/d",
                    &Call::UpdateRules {
                        folder: 0x0d,
                        replace: true,
                        changes: vec![RuleChange::Add(rule()), RuleChange::Remove(2)],
                    },
                ),
            ),
            (
                "update_permissions",
                encode_request(
                    "/d",
                    &Call::UpdatePermissions {
                        folder: 9,
                        replace: false,
                        changes: vec![
                            PermissionChange::Add {
                                name: "bob@example.org".into(),
                                rights: 0x7fb,
                            },
                            PermissionChange::Remove { member_id: -1 },
                        ],
                    },
                ),
            ),
            ("rows", encode_response(&rows)[1..].to_vec()),
            ("rules", encode_response(&Response::Rules(vec![rule()]))[1..].to_vec()),
        ]
    }

    /// The version-6 seeds: every v6 request, and the ICS responses' bodies (so the fuzzer
    /// starts inside the state, GLOBSET, header and folder-change decoders).
    fn v6_seeds() -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = v6_calls()
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("v6_{}_{i}", c.name()), encode_request("/d", c)))
            .collect();
        for (i, (c, r)) in v6_responses().into_iter().enumerate() {
            if c.response_kind() >= 22 {
                v.push((
                    format!("v6_response_{}_{i}", c.name()),
                    encode_response(&r)[1..].to_vec(),
                ));
            }
        }
        v
    }

    /// The version-7 seeds: every v7 request, and the new responses' bodies.
    fn v7_seeds() -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = v7_calls()
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("v7_{}_{i}", c.name()), encode_request("/d", c)))
            .collect();
        for (i, (c, r)) in v7_responses().into_iter().enumerate() {
            if c.response_kind() >= 28 {
                v.push((
                    format!("v7_response_{}_{i}", c.name()),
                    encode_response(&r)[1..].to_vec(),
                ));
            }
        }
        let n = Notification {
            kind: nf::SEARCH_COMPLETE,
            is_folder: true,
            folder: 0x300,
            message: 0,
            other: 0,
        };
        v.push(("v7_notification_search_complete".into(), n.encode()));
        v
    }

    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
        for (name, data) in v5_seeds() {
            std::fs::write(dir.join(name), data).unwrap();
        }
        for (name, data) in v6_seeds().into_iter().chain(v7_seeds()) {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }

    #[test]
    fn fuzz_seeds_run() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            fuzz_decode(&data);
            n += 1;
        }
        assert!(n >= 3);
        // The WriteMessage seed is a valid request (so the fuzzer starts inside the message
        // decoder).
        let seed = std::fs::read(dir.join("write_message")).unwrap();
        let (_, call) = decode_request(&seed).unwrap();
        let Call::WriteMessage { content, .. } = call else {
            panic!("{call:?}")
        };
        assert_eq!(content.recipients.len(), 1);
        assert!(content.attachments[0].embedded.is_some());
        // The version-5, -6 and -7 seeds are current.
        let current = v5_seeds()
            .into_iter()
            .map(|(n, d)| (n.to_string(), d))
            .chain(v6_seeds())
            .chain(v7_seeds());
        for (name, data) in current {
            assert_eq!(
                std::fs::read(dir.join(&name)).ok(),
                Some(data),
                "seed {name}: rewrite with write_fuzz_seeds"
            );
        }
    }
}
