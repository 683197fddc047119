//! Typed IMAP commands (RFC 3501 §6, RFC 9051 §6 and the extensions in [`crate::caps`]).
//!
//! Values borrow from the framed command buffer where they can (literals, atoms); quoted
//! strings with escapes and decoded mailbox names are owned.

use std::borrow::Cow;

/// One number in a sequence set: a value or `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A message sequence number or UID (non-zero).
    Value(u32),
    /// `*`
    Largest,
}

impl SeqNum {
    /// Resolve against the largest number in use.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Largest => largest,
        }
    }
}

/// A sequence set (RFC 9051 §9 `sequence-set`), or `$` for the saved search result
/// (RFC 5182 SEARCHRES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeqSet {
    /// Ranges `a:b` (a single number is `a:a`); ends may be in either order.
    Ranges(Vec<(SeqNum, SeqNum)>),
    /// `$`
    Saved,
}

impl SeqSet {
    /// The ranges resolved against `largest`, each as an ordered `(low, high)` pair.
    /// `Saved` yields nothing (the session substitutes the saved result).
    pub fn resolved(&self, largest: u32) -> Vec<(u32, u32)> {
        match self {
            SeqSet::Ranges(r) => r
                .iter()
                .map(|&(a, b)| {
                    let (a, b) = (a.resolve(largest), b.resolve(largest));
                    (a.min(b), a.max(b))
                })
                .collect(),
            SeqSet::Saved => Vec::new(),
        }
    }
}

/// A calendar date (RFC 9051 §9 `date`), e.g. `1-Feb-1994`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// A date-time with zone (RFC 9051 §9 `date-time`), e.g. `"17-Jul-1996 02:44:25 -0700"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes.
    pub zone_minutes: i16,
}

/// SEARCH criteria (RFC 9051 §6.4.4, RFC 3501 §6.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(String),
    Before(Date),
    Body(String),
    Cc(String),
    Deleted,
    Draft,
    Flagged,
    From(String),
    Header(String, String),
    Keyword(String),
    Larger(u64),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(String),
    Text(String),
    To(String),
    Uid(SeqSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    /// Message sequence numbers (or `$`).
    Seq(SeqSet),
    /// `MODSEQ n` (RFC 7162 §3.1.5): mod-sequence at least `n`.
    ModSeq(u64),
    /// A parenthesised list or the implicit top-level AND.
    And(Vec<SearchKey>),
}

/// ESEARCH result options (RFC 4731, RFC 9051 §6.4.4 `search-return-opt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    /// `SAVE` (RFC 5182)
    Save,
}

/// A SORT key (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
}

/// One SORT criterion: a key, possibly `REVERSE`d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// Body section specifier (RFC 9051 §6.4.5 `section`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// MIME part path, e.g. `[1, 2]` for `1.2`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of the part.
    pub text: Option<SectionText>,
}

/// The text specifier of a [`Section`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

/// A FETCH data item (RFC 9051 §6.4.5, RFC 3516 BINARY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` without section: non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Uid,
    /// `MODSEQ` (RFC 7162 §3.1.4)
    ModSeq,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]`.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
}

/// How STORE changes flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// STATUS data items (RFC 9051 §6.3.11, RFC 8438 SIZE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    /// RFC 7162 §3.1.2.1
    HighestModSeq,
    /// RFC 9208 §4.2.2: reclaimable storage in KiB
    DeletedStorage,
}

impl StatusItem {
    /// The item's wire name.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::DeletedStorage => "DELETED-STORAGE",
        }
    }
}

/// LIST-EXTENDED selection options (RFC 5258 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    /// RFC 6154 SPECIAL-USE
    pub special_use: bool,
}

/// LIST-EXTENDED return options (RFC 5258 §3.2, RFC 5819 STATUS, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    pub status: Vec<StatusItem>,
}

/// What a QRESYNC client knows about a mailbox (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    pub uidvalidity: u32,
    pub modseq: u64,
    /// UIDs the client knows; `None` means all.
    pub known_uids: Option<SeqSet>,
}

/// One message of an APPEND (RFC 9051 §6.3.12, RFC 3502 MULTIAPPEND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage<'a> {
    pub flags: Vec<String>,
    pub date: Option<DateTime>,
    pub data: &'a [u8],
    /// Sent as `~{n}` (RFC 3516).
    pub binary: bool,
}

/// A parsed command: tag plus body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub tag: &'a str,
    pub body: CommandBody<'a>,
}

/// Every command of RFC 3501 and RFC 9051 with the extensions this server advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody<'a> {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 9051 §6.2.2; `initial` is the SASL-IR (RFC 4959) response, `=` meaning empty.
    Authenticate {
        mechanism: String,
        initial: Option<&'a [u8]>,
    },
    Login {
        user: Cow<'a, [u8]>,
        password: Cow<'a, [u8]>,
    },
    /// RFC 5161
    Enable(Vec<String>),
    /// `condstore`: the `(CONDSTORE)` parameter (RFC 7162 §3.1.8); `qresync`: the
    /// `(QRESYNC (...))` parameter (RFC 7162 §3.2.5).
    Select {
        mailbox: String,
        condstore: bool,
        qresync: Option<QresyncParams>,
    },
    Examine {
        mailbox: String,
        condstore: bool,
        qresync: Option<QresyncParams>,
    },
    Create {
        mailbox: String,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    /// LIST with RFC 5258 extensions.
    List {
        reference: String,
        patterns: Vec<String>,
        select: ListSelect,
        ret: ListReturn,
        /// Sent as `XLIST`: answer with `* XLIST` lines and the `\Inbox` attribute.
        xlist: bool,
    },
    /// RFC 3501 §6.3.9
    Lsub {
        reference: String,
        pattern: String,
    },
    /// RFC 2342
    Namespace,
    /// RFC 4978
    Compress {
        mechanism: String,
    },
    /// RFC 9208 §4.2
    GetQuota {
        root: String,
    },
    /// RFC 9208 §4.3
    GetQuotaRoot {
        mailbox: String,
    },
    /// RFC 9208 §4.1 (refused: QUOTASET is not advertised)
    SetQuota {
        root: String,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: String,
        messages: Vec<AppendMessage<'a>>,
    },
    /// RFC 2177
    Idle,
    Check,
    Close,
    /// RFC 3691
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (RFC 4315 §2.1).
    Expunge {
        uids: Option<SeqSet>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        /// `RETURN (...)` (ESEARCH); `Some(vec![])` means `RETURN ()` = ALL.
        ret: Option<Vec<SearchReturn>>,
        key: SearchKey,
    },
    /// RFC 5256 §4 (only ORDEREDSUBJECT is implemented)
    Thread {
        uid: bool,
        algorithm: String,
        charset: String,
        key: SearchKey,
    },
    /// RFC 5256
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: String,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        items: Vec<FetchAtt>,
        /// `(CHANGEDSINCE n)` (RFC 7162 §3.1.4.1)
        changed_since: Option<u64>,
        /// `VANISHED` modifier (RFC 7162 §3.2.6)
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SeqSet,
        /// `(UNCHANGEDSINCE n)` (RFC 7162 §3.1.3)
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: Vec<String>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
    },
    /// RFC 6851
    Move {
        uid: bool,
        set: SeqSet,
        mailbox: String,
    },
    /// RFC 2971; `None` for `ID NIL`.
    Id(Option<Vec<(String, Option<String>)>>),
}

impl CommandBody<'_> {
    /// The command name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Select { .. } => "SELECT",
            CommandBody::Examine { .. } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete { .. } => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe { .. } => "SUBSCRIBE",
            CommandBody::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandBody::List { .. } => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Compress { .. } => "COMPRESS",
            CommandBody::GetQuota { .. } => "GETQUOTA",
            CommandBody::GetQuotaRoot { .. } => "GETQUOTAROOT",
            CommandBody::SetQuota { .. } => "SETQUOTA",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Idle => "IDLE",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge { .. } => "EXPUNGE",
            CommandBody::Search { .. } => "SEARCH",
            CommandBody::Fetch { .. } => "FETCH",
            CommandBody::Sort { .. } => "SORT",
            CommandBody::Thread { .. } => "THREAD",
            CommandBody::Store { .. } => "STORE",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { .. } => "MOVE",
            CommandBody::Id(_) => "ID",
        }
    }
}
