//! Records and Gromox's numeric constants (privilege bits, status flags, display types, mailing
//! list types and privileges).

/// `users.privilege_bits`: may log in by IMAP and POP3.
pub const PRIV_POP3_IMAP: u32 = 1 << 0;
/// May send by SMTP.
pub const PRIV_SMTP: u32 = 1 << 1;
/// May change the password.
pub const PRIV_CHGPASSWD: u32 = 1 << 2;
/// Listed in the public address book.
pub const PRIV_PUBADDR: u32 = 1 << 3;
/// Chat.
pub const PRIV_CHAT: u32 = 1 << 4;
/// Video.
pub const PRIV_VIDEO: u32 = 1 << 5;
/// Files.
pub const PRIV_FILES: u32 = 1 << 6;
/// Archive.
pub const PRIV_ARCHIVE: u32 = 1 << 7;
/// Web (grommunio-web).
pub const PRIV_WEB: u32 = 1 << 8;
/// Exchange ActiveSync.
pub const PRIV_EAS: u32 = 1 << 9;
/// CalDAV/CardDAV.
pub const PRIV_DAV: u32 = 1 << 10;

/// Names of the privilege bits for the admin tool.
pub const PRIV_NAMES: &[(&str, u32)] = &[
    ("imap", PRIV_POP3_IMAP),
    ("pop3", PRIV_POP3_IMAP),
    ("smtp", PRIV_SMTP),
    ("chgpasswd", PRIV_CHGPASSWD),
    ("pubaddr", PRIV_PUBADDR),
    ("chat", PRIV_CHAT),
    ("video", PRIV_VIDEO),
    ("files", PRIV_FILES),
    ("archive", PRIV_ARCHIVE),
    ("web", PRIV_WEB),
    ("eas", PRIV_EAS),
    ("dav", PRIV_DAV),
];

/// Default privileges of a new user: IMAP/POP3, SMTP, change password, public address book.
pub const PRIV_DEFAULT: u32 = PRIV_POP3_IMAP | PRIV_SMTP | PRIV_CHGPASSWD | PRIV_PUBADDR;

/// `users.address_status` low bits: normal.
pub const AF_USER_NORMAL: u8 = 0x00;
/// Suspended.
pub const AF_USER_SUSPENDED: u8 = 0x01;
/// Deleted.
pub const AF_USER_DELETED: u8 = 0x03;
/// Shared mailbox: receives mail, nobody logs in as it.
pub const AF_USER_SHAREDMBOX: u8 = 0x04;
/// Mask of the user part.
pub const AF_USER_MASK: u8 = 0x07;
/// `domains.domain_status`: normal.
pub const DOMAIN_NORMAL: u8 = 0;
/// Suspended.
pub const DOMAIN_SUSPENDED: u8 = 1;
/// Deleted.
pub const DOMAIN_DELETED: u8 = 3;

/// PR_DISPLAY_NAME (PT_UNICODE), MS-OXPROPS §2.676.
pub const PR_DISPLAY_NAME: u32 = 0x3001_001F;
/// PR_DISPLAY_TYPE_EX (PT_LONG), MS-OXPROPS §2.678.
pub const PR_DISPLAY_TYPE_EX: u32 = 0x3905_0003;
/// PR_TITLE.
pub const PR_TITLE: u32 = 0x3A17_001F;
/// PR_NICKNAME.
pub const PR_NICKNAME: u32 = 0x3A4F_001F;

/// Display types (MS-OXOABK §2.2.3.11, PidTagDisplayTypeEx): mail user.
pub const DT_MAILUSER: u32 = 0;
/// Distribution list.
pub const DT_DISTLIST: u32 = 1;
/// Contact (remote mail user).
pub const DT_REMOTE_MAILUSER: u32 = 6;
/// Room.
pub const DT_ROOM: u32 = 7;
/// Equipment.
pub const DT_EQUIPMENT: u32 = 8;

/// `mlists.list_type`: explicit members (`associations`).
pub const MLIST_TYPE_NORMAL: u8 = 0;
/// Members are the users of a group (`groups.groupname` = list name).
pub const MLIST_TYPE_GROUP: u8 = 1;
/// Members are all users of the domain.
pub const MLIST_TYPE_DOMAIN: u8 = 2;
/// Members come from a class (not expanded by gromox-rs yet).
pub const MLIST_TYPE_CLASS: u8 = 3;

/// `mlists.list_privilege`: anybody may send to the list.
pub const MLIST_PRIV_ALL: u8 = 0;
/// Only members of the list.
pub const MLIST_PRIV_INTERNAL: u8 = 1;
/// Only senders of the list's domain.
pub const MLIST_PRIV_DOMAIN: u8 = 2;
/// Only senders listed in `specifieds`.
pub const MLIST_PRIV_SPECIFIED: u8 = 3;
/// Outgoing: expanded like `all` (Gromox gives it no sender restriction).
pub const MLIST_PRIV_OUTGOING: u8 = 4;

/// Names of the list privileges.
pub const MLIST_PRIV_NAMES: &[(&str, u8)] = &[
    ("all", MLIST_PRIV_ALL),
    ("internal", MLIST_PRIV_INTERNAL),
    ("domain", MLIST_PRIV_DOMAIN),
    ("specified", MLIST_PRIV_SPECIFIED),
    ("outgoing", MLIST_PRIV_OUTGOING),
];

/// A password hash: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// A user as the daemons see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `users.id`.
    pub id: i64,
    /// Primary address (`users.username`).
    pub username: String,
    /// `users.domain_id`.
    pub domain_id: i64,
    /// The domain's name.
    pub domain: String,
    /// `domains.domain_status`.
    pub domain_status: u8,
    /// `users.address_status`.
    pub address_status: u8,
    /// `users.privilege_bits`.
    pub privilege_bits: u32,
    /// `users.homeserver` (0: this host).
    pub homeserver: u32,
    /// `servers.hostname` of the home server.
    pub homeserver_host: Option<String>,
    /// Mailbox directory.
    pub maildir: String,
    /// `users.lang`.
    pub lang: String,
    /// `users.timezone`.
    pub timezone: String,
    /// `users.externid`: set for users authenticated by LDAP.
    pub externid: Option<Vec<u8>>,
    /// PR_DISPLAY_NAME.
    pub display_name: String,
    /// PR_DISPLAY_TYPE_EX.
    pub display_type: u32,
    /// `users.password` (crypt string).
    pub password: Secret,
}

impl User {
    /// Whether the user may log in (status and domain status normal, not a shared mailbox).
    pub fn can_login(&self) -> bool {
        self.address_status & AF_USER_MASK == AF_USER_NORMAL && self.domain_status == DOMAIN_NORMAL
    }
    /// Whether mail for the user is accepted (normal or shared mailbox, domain normal).
    pub fn can_receive(&self) -> bool {
        let s = self.address_status & AF_USER_MASK;
        (s == AF_USER_NORMAL || s == AF_USER_SHAREDMBOX) && self.domain_status == DOMAIN_NORMAL
    }
    /// Whether all of `bits` are granted.
    pub fn has(&self, bits: u32) -> bool {
        self.privilege_bits & bits == bits
    }
    /// Kind of object by display type: `user`, `room`, `equipment`, `contact`, `list`.
    pub fn kind(&self) -> &'static str {
        match self.display_type {
            DT_ROOM => "room",
            DT_EQUIPMENT => "equipment",
            DT_REMOTE_MAILUSER => "contact",
            DT_DISTLIST => "list",
            _ if self.address_status & AF_USER_MASK == AF_USER_SHAREDMBOX => "shared",
            _ => "user",
        }
    }
}

/// A domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// `domains.id`.
    pub id: i64,
    /// `domains.domainname`.
    pub name: String,
    /// `domains.domain_status`.
    pub status: u8,
    /// `domains.homeserver`.
    pub homeserver: u32,
    /// `domains.homedir` (public store).
    pub homedir: String,
    /// `domains.max_user` (0: no limit).
    pub max_user: u32,
    /// `domains.title`.
    pub title: String,
    /// Users in the domain.
    pub users: u64,
}

/// A mailing list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MList {
    /// `mlists.id`.
    pub id: i64,
    /// List address.
    pub listname: String,
    /// `mlists.list_type`.
    pub list_type: u8,
    /// `mlists.list_privilege`.
    pub privilege: u8,
    /// Member addresses.
    pub members: Vec<String>,
    /// Allowed senders (`specifieds`) for [`MLIST_PRIV_SPECIFIED`].
    pub specified: Vec<String>,
}

/// A forward (`forwards`): `forward_type` 0 keeps a copy (CC), 1 redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// 0 CC, 1 redirect.
    pub forward_type: u8,
    /// Destination address.
    pub destination: String,
}

/// A home server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `servers.id`.
    pub id: u32,
    /// `servers.hostname`.
    pub hostname: String,
    /// `servers.extname`.
    pub extname: String,
}
