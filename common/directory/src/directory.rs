//! The directory service: cached lookups for the daemons and the write operations of
//! `gromox-admin`, the same SQL on either backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gromox_base::names::{self, NameError};
use gromox_base::Config;

use crate::cache::TtlCache;
use crate::db::{dup, Conn, Db, Kind, MysqlSettings, Val};
use crate::error::{DirError, Result};
use crate::hash;
use crate::model::*;
use crate::schema;

/// Longest accepted login name, alias or altname.
pub const MAX_NAME: usize = names::MAX_ADDRESS;

/// Check a user address for use as a directory key and a mailbox path: everything
/// [`names::split_address`] refuses, plus `..` anywhere, `@` or white space in the local part.
/// Quote characters are allowed (they are bound as SQL parameters and harmless in paths).
pub fn check_address(addr: &str) -> Result<(String, String)> {
    if addr.contains('\0') {
        return Err(NameError::BadChar("address", "NUL").into());
    }
    let (local, domain) = names::split_address(addr)?;
    if local.contains("..") {
        return Err(NameError::BadChar("user name", "\"..\"").into());
    }
    if local.contains('@') {
        return Err(NameError::BadChar("user name", "second @").into());
    }
    Ok((local.to_string(), domain.to_lowercase()))
}

/// Check a domain name (see [`names::check_domain`]).
pub fn check_domain(domain: &str) -> Result<String> {
    names::check_domain(domain)?;
    Ok(domain.to_lowercase())
}

/// Check a login name that is not necessarily an address (altnames): length, no control
/// characters, no slash, no white space.
pub fn check_login_name(name: &str) -> Result<()> {
    names::check_component("login name", name, 256)?;
    if name.contains("..") {
        return Err(NameError::BadChar("login name", "\"..\"").into());
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NameError::BadChar("login name", "white space").into());
    }
    Ok(())
}

/// Changes to a user (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    /// New plain password (hashed as `$6$`).
    pub password: Option<String>,
    /// PR_DISPLAY_NAME.
    pub display_name: Option<String>,
    /// `users.lang`.
    pub lang: Option<String>,
    /// `users.timezone`.
    pub timezone: Option<String>,
    /// `users.privilege_bits`.
    pub privileges: Option<u32>,
    /// `users.address_status` (user part).
    pub status: Option<u8>,
    /// `users.homeserver`.
    pub homeserver: Option<u32>,
    /// PR_DISPLAY_TYPE_EX.
    pub display_type: Option<u32>,
    /// `users.externid` (empty: clear).
    pub externid: Option<Vec<u8>>,
}

/// Changes to a domain.
#[derive(Debug, Clone, Default)]
pub struct DomainSpec {
    /// `domains.domain_status`.
    pub status: Option<u8>,
    /// `domains.title`.
    pub title: Option<String>,
    /// `domains.max_user`.
    pub max_user: Option<u32>,
    /// `domains.homeserver`.
    pub homeserver: Option<u32>,
}

/// Hooks that create mailbox stores; set by the tools from the store library
/// (`exmdbd::...mkprivate`/`mkpublic`), so this crate does not depend on exmdbd.
#[derive(Clone, Copy)]
pub struct StoreHooks {
    /// Create the private store of a new user: (state_path, user).
    pub create_private_store: fn(&Path, &User) -> std::result::Result<(), String>,
    /// Create the public store of a new domain: (state_path, domain).
    pub create_public_store: fn(&Path, &Domain) -> std::result::Result<(), String>,
}

static STORE_HOOKS: std::sync::OnceLock<StoreHooks> = std::sync::OnceLock::new();

/// Install the store creation hooks (once per process; later calls are ignored).
pub fn set_store_hooks(h: StoreHooks) {
    let _ = STORE_HOOKS.set(h);
}

/// The installed store hooks, if any.
pub fn store_hooks() -> Option<StoreHooks> {
    STORE_HOOKS.get().copied()
}

/// The user directory.
pub struct Directory {
    db: Db,
    state_path: PathBuf,
    delimiter: String,
    users: TtlCache<Option<Arc<User>>>,
    lists: TtlCache<Option<Arc<MList>>>,
    forwards: TtlCache<Option<Forward>>,
}

const USER_COLS: &str = "SELECT u.`id`, u.`username`, u.`domain_id`, d.`domainname`, d.`domain_status`, \
    u.`address_status`, u.`privilege_bits`, u.`homeserver`, \
    (SELECT s.`hostname` FROM `servers` s WHERE s.`id` = u.`homeserver`), u.`maildir`, u.`lang`, u.`timezone`, \
    u.`externid`, \
    (SELECT p.`propval_str` FROM `user_properties` p WHERE p.`user_id` = u.`id` AND p.`proptag` = 805371935 AND p.`order_id` = 1), \
    (SELECT p.`propval_str` FROM `user_properties` p WHERE p.`user_id` = u.`id` AND p.`proptag` = 956628995 AND p.`order_id` = 1), \
    u.`password` FROM `users` u JOIN `domains` d ON d.`id` = u.`domain_id`";

fn user_from_row(r: &[Val]) -> User {
    User {
        id: r[0].int(),
        username: r[1].text(),
        domain_id: r[2].int(),
        domain: r[3].text(),
        domain_status: r[4].int() as u8,
        address_status: r[5].int() as u8,
        privilege_bits: r[6].int() as u32,
        homeserver: r[7].int() as u32,
        homeserver_host: r[8].opt_text(),
        maildir: r[9].text(),
        lang: r[10].text(),
        timezone: r[11].text(),
        externid: r[12].opt_blob().filter(|b| !b.is_empty()),
        display_name: r[13].text(),
        display_type: r[14].text().trim().parse().unwrap_or(DT_MAILUSER),
        password: Secret(r[15].text()),
    }
}

fn domain_from_row(r: &[Val]) -> Domain {
    Domain {
        id: r[0].int(),
        name: r[1].text(),
        status: r[2].int() as u8,
        homeserver: r[3].int() as u32,
        homedir: r[4].text(),
        max_user: r[5].int() as u32,
        title: r[6].text(),
        users: r[7].int() as u64,
    }
}

const DOMAIN_COLS: &str =
    "SELECT d.`id`, d.`domainname`, d.`domain_status`, d.`homeserver`, d.`homedir`, d.`max_user`, d.`title`, \
    (SELECT COUNT(*) FROM `users` u WHERE u.`domain_id` = d.`id`) FROM `domains` d";

impl Directory {
    /// Open the configured backend and check that the schema is current.
    pub fn open(cfg: &Config) -> Result<Directory> {
        let d = Self::open_unchecked(cfg)?;
        schema::check(&mut d.db.conn()?)?;
        Ok(d)
    }

    /// Open the configured backend without checking the schema (`gromox-dbop`).
    pub fn open_unchecked(cfg: &Config) -> Result<Directory> {
        let state = cfg.path("state_path");
        let db = match cfg.str("directory_backend").to_ascii_lowercase().as_str() {
            "mysql" => Db::open_mysql(&mysql_settings(cfg))?,
            _ => {
                let p = cfg.path("directory_sqlite_path");
                let p = if p.as_os_str().is_empty() {
                    state.join("directory.sqlite3")
                } else {
                    p
                };
                Db::open_sqlite(&p, cfg.int("connection_num").clamp(1, 64) as u32)?
            }
        };
        Ok(Self::with_db(
            db,
            state,
            cfg.str("recipient_delimiter"),
            cfg.duration("mysql_object_cache_lifetime"),
        ))
    }

    /// A directory over an open database.
    pub fn with_db(db: Db, state_path: PathBuf, delimiter: &str, cache_lifetime: Duration) -> Directory {
        Directory {
            db,
            state_path,
            delimiter: delimiter.to_string(),
            users: TtlCache::new(cache_lifetime),
            lists: TtlCache::new(cache_lifetime),
            forwards: TtlCache::new(cache_lifetime),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The state directory.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// SQL round trips so far.
    pub fn round_trips(&self) -> u64 {
        self.db.round_trips()
    }

    /// Drop every cached answer (done after each change made through this object).
    pub fn invalidate(&self) {
        self.users.clear();
        self.lists.clear();
        self.forwards.clear();
    }

    fn conn(&self) -> Result<Conn<'_>> {
        self.db.conn()
    }

    fn plausible(name: &str) -> bool {
        !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(char::is_control)
    }

    /// The address without its extension: `user+ext@dom` → `user@dom` (None if there is none).
    pub fn strip_extension(&self, addr: &str) -> Option<String> {
        if self.delimiter.is_empty() {
            return None;
        }
        let (local, domain) = addr.rsplit_once('@')?;
        let pos = local.find(|c| self.delimiter.contains(c))?;
        if pos == 0 {
            return None;
        }
        Some(format!("{}@{}", &local[..pos], domain))
    }

    fn query_user(&self, c: &mut Conn<'_>, name: &str) -> Result<Option<User>> {
        // One indexed probe per name space (primary address, users.altname, altnames, aliases),
        // first match wins; a UNION keeps every branch on its own unique index.
        let sql = format!(
            "{USER_COLS} WHERE u.`id` = (SELECT x.`id` FROM ( \
               SELECT `id`, 0 AS `pri` FROM `users` WHERE `username` = ? \
               UNION ALL SELECT `id`, 1 FROM `users` WHERE `altname` = ? \
               UNION ALL SELECT `user_id`, 2 FROM `altnames` WHERE `altname` = ? \
               UNION ALL SELECT m.`id`, 3 FROM `aliases` a JOIN `users` m ON m.`username` = a.`mainname` WHERE a.`aliasname` = ? \
             ) x ORDER BY x.`pri` LIMIT 1)"
        );
        let p: Vec<Val> = (0..4).map(|_| Val::from(name)).collect();
        Ok(c.row(&sql, &p)?.map(|r| user_from_row(&r)))
    }

    /// Look a user up by login name, address, alias or altname (case-insensitive), then, if
    /// nothing matched, by the address without its `recipient_delimiter` extension. Uncached.
    pub fn lookup_fresh(&self, name: &str) -> Result<Option<User>> {
        if !Self::plausible(name) {
            return Ok(None);
        }
        let mut c = self.conn()?;
        if let Some(u) = self.query_user(&mut c, name)? {
            return Ok(Some(u));
        }
        match self.strip_extension(name) {
            Some(base) => self.query_user(&mut c, &base),
            None => Ok(None),
        }
    }

    /// [`Directory::lookup_fresh`], cached for `mysql_object_cache_lifetime` (negative answers
    /// too).
    pub fn lookup(&self, name: &str) -> Result<Option<Arc<User>>> {
        let key = name.to_lowercase();
        if let Some(v) = self.users.get(&key) {
            return Ok(v);
        }
        let u = self.lookup_fresh(name)?.map(Arc::new);
        self.users.put(key, u.clone());
        Ok(u)
    }

    /// Mailbox directory of a recipient.
    pub fn maildir(&self, name: &str) -> Result<Option<String>> {
        Ok(self.lookup(name)?.map(|u| u.maildir.clone()))
    }

    /// Home server host name of a recipient (None: unknown user or this host).
    pub fn homeserver(&self, name: &str) -> Result<Option<String>> {
        Ok(self.lookup(name)?.and_then(|u| u.homeserver_host.clone()))
    }

    /// The home server of the mailbox directory `maildir` (DESIGN.md §5): for a private store in
    /// Gromox's layout `<state>/user/<domain>/<local>`, the `servers.hostname` of its user's
    /// `users.homeserver`; `None` when it has none (homed on every host of a single-host
    /// setup), is not such a path, or the user is unknown.
    pub fn home_of_maildir(&self, state: &Path, maildir: &Path) -> Result<Option<String>> {
        let Ok(rel) = maildir.strip_prefix(state.join("user")) else {
            return Ok(None);
        };
        let parts: Vec<_> = rel.iter().filter_map(|c| c.to_str()).collect();
        let [domain, local] = parts.as_slice() else {
            return Ok(None);
        };
        Ok(self
            .lookup(&format!("{local}@{domain}"))?
            .and_then(|u| match u.homeserver {
                0 => None,
                _ => u.homeserver_host.clone().filter(|h| !h.is_empty()),
            }))
    }

    /// A user property as text (`user_properties.propval_str`, order 1).
    pub fn user_property(&self, user_id: i64, proptag: u32) -> Result<Option<String>> {
        let r = self.conn()?.row(
            "SELECT `propval_str` FROM `user_properties` WHERE `user_id` = ? AND `proptag` = ? AND `order_id` = 1",
            &[user_id.into(), proptag.into()],
        )?;
        Ok(r.and_then(|r| r[0].opt_text()))
    }

    /// The mailing list at `addr` (cached), with its members.
    pub fn mlist(&self, addr: &str) -> Result<Option<Arc<MList>>> {
        let key = addr.to_lowercase();
        if let Some(v) = self.lists.get(&key) {
            return Ok(v);
        }
        let v = if Self::plausible(addr) {
            self.mlist_fresh(addr)?.map(Arc::new)
        } else {
            None
        };
        self.lists.put(key, v.clone());
        Ok(v)
    }

    fn mlist_fresh(&self, addr: &str) -> Result<Option<MList>> {
        let mut c = self.conn()?;
        let Some(r) = c.row(
            "SELECT `id`, `listname`, `list_type`, `list_privilege`, `domain_id` FROM `mlists` WHERE `listname` = ?",
            &[addr.into()],
        )?
        else {
            return Ok(None);
        };
        let id = r[0].int();
        let list_type = r[2].int() as u8;
        let members_sql = match list_type {
            MLIST_TYPE_GROUP => {
                "SELECT u.`username` FROM `users` u JOIN `groups` g ON g.`id` = u.`group_id` WHERE g.`groupname` = ? ORDER BY u.`username`"
            }
            MLIST_TYPE_DOMAIN => {
                "SELECT u.`username` FROM `users` u WHERE u.`domain_id` = ? AND u.`username` <> ? ORDER BY u.`username`"
            }
            _ => "SELECT `username` FROM `associations` WHERE `list_id` = ? ORDER BY `username`",
        };
        let params: Vec<Val> = match list_type {
            MLIST_TYPE_GROUP => vec![r[1].text().into()],
            MLIST_TYPE_DOMAIN => vec![r[4].int().into(), r[1].text().into()],
            _ => vec![id.into()],
        };
        let members = c.query(members_sql, &params)?.iter().map(|m| m[0].text()).collect();
        let specified = c
            .query(
                "SELECT `username` FROM `specifieds` WHERE `list_id` = ? ORDER BY `username`",
                &[id.into()],
            )?
            .iter()
            .map(|m| m[0].text())
            .collect();
        Ok(Some(MList {
            id,
            listname: r[1].text(),
            list_type,
            privilege: r[3].int() as u8,
            members,
            specified,
        }))
    }

    /// Whether `sender` may post to `list` under its privilege, as Gromox expands lists:
    /// `all` and `outgoing` anybody; `internal` only members of the list (the sender's
    /// aliases and `+ext` forms count as the member); `domain` only senders of the list's
    /// domain; `specified` only the addresses in `specifieds`.
    pub fn mlist_may_send(&self, list: &MList, sender: &str) -> Result<bool> {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Ok(match list.privilege {
            MLIST_PRIV_ALL | MLIST_PRIV_OUTGOING => true,
            MLIST_PRIV_INTERNAL => {
                if list.members.iter().any(|m| same(m, sender)) {
                    true
                } else {
                    let primary = self.lookup(sender)?.map(|u| u.username.clone());
                    primary.is_some_and(|p| list.members.iter().any(|m| same(m, &p)))
                }
            }
            MLIST_PRIV_DOMAIN => {
                let dom = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
                dom(sender).is_some() && dom(sender) == dom(&list.listname)
            }
            MLIST_PRIV_SPECIFIED => list.specified.iter().any(|s| same(s, sender)),
            _ => false,
        })
    }

    /// The forward of a user (cached).
    pub fn forward(&self, addr: &str) -> Result<Option<Forward>> {
        let key = addr.to_lowercase();
        if let Some(v) = self.forwards.get(&key) {
            return Ok(v);
        }
        let v = if Self::plausible(addr) {
            self.conn()?
                .row(
                    "SELECT `forward_type`, `destination` FROM `forwards` WHERE `username` = ?",
                    &[addr.into()],
                )?
                .map(|r| Forward {
                    forward_type: r[0].int() as u8,
                    destination: r[1].text(),
                })
        } else {
            None
        };
        self.forwards.put(key, v.clone());
        Ok(v)
    }

    /// Users of a domain (all domains if None), optionally only of one display type
    /// (contacts, rooms, equipment, lists), ordered by address.
    pub fn users(&self, domain: Option<&str>, display_type: Option<u32>) -> Result<Vec<User>> {
        let mut sql = format!("{USER_COLS} WHERE 1 = 1");
        let mut p = Vec::new();
        if let Some(d) = domain {
            sql.push_str(" AND d.`domainname` = ?");
            p.push(Val::from(d));
        }
        if let Some(t) = display_type {
            if t == DT_MAILUSER {
                sql.push_str(" AND NOT EXISTS (SELECT 1 FROM `user_properties` q WHERE q.`user_id` = u.`id` AND q.`proptag` = 956628995 AND q.`propval_str` <> '0')");
            } else {
                sql.push_str(" AND EXISTS (SELECT 1 FROM `user_properties` q WHERE q.`user_id` = u.`id` AND q.`proptag` = 956628995 AND q.`propval_str` = ?)");
                p.push(Val::Text(t.to_string()));
            }
        }
        sql.push_str(" ORDER BY u.`username`");
        Ok(self.conn()?.query(&sql, &p)?.iter().map(|r| user_from_row(r)).collect())
    }

    /// A user by primary address exactly (admin tool).
    pub fn user(&self, addr: &str) -> Result<User> {
        if !Self::plausible(addr) {
            return Err(DirError::NotFound(format!("user {addr:?}")));
        }
        let sql = format!("{USER_COLS} WHERE u.`username` = ?");
        self.conn()?
            .row(&sql, &[addr.into()])?
            .map(|r| user_from_row(&r))
            .ok_or_else(|| DirError::NotFound(format!("user {addr}")))
    }

    /// Aliases of a user.
    pub fn aliases_of(&self, addr: &str) -> Result<Vec<String>> {
        Ok(self
            .conn()?
            .query(
                "SELECT `aliasname` FROM `aliases` WHERE `mainname` = ? ORDER BY `aliasname`",
                &[addr.into()],
            )?
            .iter()
            .map(|r| r[0].text())
            .collect())
    }

    /// Altnames of a user.
    pub fn altnames_of(&self, user_id: i64) -> Result<Vec<String>> {
        Ok(self
            .conn()?
            .query(
                "SELECT `altname` FROM `altnames` WHERE `user_id` = ? ORDER BY `altname`",
                &[user_id.into()],
            )?
            .iter()
            .map(|r| r[0].text())
            .collect())
    }

    // ---- domains ----

    /// All domains.
    pub fn domains(&self) -> Result<Vec<Domain>> {
        let sql = format!("{DOMAIN_COLS} ORDER BY d.`domainname`");
        Ok(self
            .conn()?
            .query(&sql, &[])?
            .iter()
            .map(|r| domain_from_row(r))
            .collect())
    }

    /// One domain.
    pub fn domain(&self, name: &str) -> Result<Domain> {
        let sql = format!("{DOMAIN_COLS} WHERE d.`domainname` = ?");
        self.conn()?
            .row(&sql, &[name.into()])?
            .map(|r| domain_from_row(&r))
            .ok_or_else(|| DirError::NotFound(format!("domain {name}")))
    }

    /// Create a domain (and, through the store hook, its public store).
    pub fn domain_add(&self, name: &str, spec: &DomainSpec) -> Result<Domain> {
        let name = check_domain(name)?;
        let homedir = names::domain_dir(&self.state_path, &name)?;
        let mut c = self.conn()?;
        c.exec(
            "INSERT INTO `domains` (`domainname`, `homedir`, `max_user`, `title`, `end_day`, `domain_status`, `homeserver`) \
             VALUES (?, ?, ?, ?, '9999-12-31', ?, ?)",
            &[
                name.as_str().into(),
                homedir.to_string_lossy().as_ref().into(),
                spec.max_user.unwrap_or(0).into(),
                spec.title.clone().unwrap_or_default().into(),
                u32::from(spec.status.unwrap_or(DOMAIN_NORMAL)).into(),
                spec.homeserver.unwrap_or(0).into(),
            ],
        )
        .map_err(|e| dup(e, format!("domain {name}")))?;
        drop(c);
        self.invalidate();
        let d = self.domain(&name)?;
        if let Some(h) = store_hooks() {
            (h.create_public_store)(&self.state_path, &d)
                .map_err(|e| DirError::Invalid(format!("public store: {e}")))?;
        }
        Ok(d)
    }

    /// Change a domain.
    pub fn domain_set(&self, name: &str, spec: &DomainSpec) -> Result<Domain> {
        let d = self.domain(name)?;
        let mut c = self.conn()?;
        if let Some(s) = spec.status {
            if ![DOMAIN_NORMAL, DOMAIN_SUSPENDED, DOMAIN_DELETED].contains(&s) {
                return Err(DirError::Invalid(format!("domain status {s} is not 0, 1 or 3")));
            }
            c.exec(
                "UPDATE `domains` SET `domain_status` = ? WHERE `id` = ?",
                &[u32::from(s).into(), d.id.into()],
            )?;
        }
        if let Some(t) = &spec.title {
            c.exec(
                "UPDATE `domains` SET `title` = ? WHERE `id` = ?",
                &[t.as_str().into(), d.id.into()],
            )?;
        }
        if let Some(m) = spec.max_user {
            c.exec(
                "UPDATE `domains` SET `max_user` = ? WHERE `id` = ?",
                &[m.into(), d.id.into()],
            )?;
        }
        if let Some(h) = spec.homeserver {
            c.exec(
                "UPDATE `domains` SET `homeserver` = ? WHERE `id` = ?",
                &[h.into(), d.id.into()],
            )?;
        }
        drop(c);
        self.invalidate();
        self.domain(name)
    }

    /// Delete a domain; refused while it has users.
    pub fn domain_del(&self, name: &str) -> Result<()> {
        let d = self.domain(name)?;
        if d.users > 0 {
            return Err(DirError::Invalid(format!(
                "domain {name} still has {} user(s); delete them first",
                d.users
            )));
        }
        self.conn()?
            .exec("DELETE FROM `domains` WHERE `id` = ?", &[d.id.into()])?;
        self.invalidate();
        Ok(())
    }

    // ---- users ----

    fn set_prop(c: &mut Conn<'_>, user_id: i64, tag: u32, value: &str) -> Result<()> {
        c.exec(
            "DELETE FROM `user_properties` WHERE `user_id` = ? AND `proptag` = ? AND `order_id` = 1",
            &[user_id.into(), tag.into()],
        )?;
        c.exec(
            "INSERT INTO `user_properties` (`user_id`, `proptag`, `order_id`, `propval_str`) VALUES (?, ?, 1, ?)",
            &[user_id.into(), tag.into(), value.into()],
        )?;
        Ok(())
    }

    fn apply_user(c: &mut Conn<'_>, id: i64, spec: &UserSpec) -> Result<()> {
        if let Some(pw) = &spec.password {
            if pw.is_empty() {
                return Err(DirError::Invalid("empty password".into()));
            }
            let h = hash::hash_password(pw)?;
            c.exec(
                "UPDATE `users` SET `password` = ? WHERE `id` = ?",
                &[h.into(), id.into()],
            )?;
        }
        if let Some(v) = &spec.lang {
            c.exec(
                "UPDATE `users` SET `lang` = ? WHERE `id` = ?",
                &[v.as_str().into(), id.into()],
            )?;
        }
        if let Some(v) = &spec.timezone {
            c.exec(
                "UPDATE `users` SET `timezone` = ? WHERE `id` = ?",
                &[v.as_str().into(), id.into()],
            )?;
        }
        if let Some(v) = spec.privileges {
            c.exec(
                "UPDATE `users` SET `privilege_bits` = ? WHERE `id` = ?",
                &[v.into(), id.into()],
            )?;
        }
        if let Some(v) = spec.status {
            if v & !AF_USER_MASK != 0 || v == 2 {
                return Err(DirError::Invalid(format!(
                    "user status {v} is not 0 (normal), 1 (suspended), 3 (deleted) or 4 (shared mailbox)"
                )));
            }
            c.exec(
                "UPDATE `users` SET `address_status` = ? WHERE `id` = ?",
                &[u32::from(v).into(), id.into()],
            )?;
        }
        if let Some(v) = spec.homeserver {
            c.exec(
                "UPDATE `users` SET `homeserver` = ? WHERE `id` = ?",
                &[v.into(), id.into()],
            )?;
        }
        if let Some(v) = &spec.externid {
            let val = if v.is_empty() { Val::Null } else { Val::Blob(v.clone()) };
            c.exec("UPDATE `users` SET `externid` = ? WHERE `id` = ?", &[val, id.into()])?;
        }
        if let Some(v) = &spec.display_name {
            if v.chars().any(char::is_control) || v.chars().count() > 256 {
                return Err(DirError::Invalid(
                    "display name has control characters or is over 256 characters".into(),
                ));
            }
            Self::set_prop(c, id, PR_DISPLAY_NAME, v)?;
        }
        if let Some(v) = spec.display_type {
            Self::set_prop(c, id, PR_DISPLAY_TYPE_EX, &v.to_string())?;
        }
        Ok(())
    }

    /// Create a user (and, through the store hook, its mailbox).
    pub fn user_add(&self, addr: &str, spec: &UserSpec) -> Result<User> {
        let (local, domain) = check_address(addr)?;
        let addr = format!("{local}@{domain}");
        let d = self.domain(&domain)?;
        if d.status != DOMAIN_NORMAL {
            return Err(DirError::Invalid(format!(
                "domain {domain} is not active (status {})",
                d.status
            )));
        }
        if d.max_user > 0 && d.users >= u64::from(d.max_user) {
            return Err(DirError::Invalid(format!(
                "domain {domain} has reached its limit of {} users",
                d.max_user
            )));
        }
        let maildir = names::user_maildir(&self.state_path, &addr)?;
        let mut c = self.conn()?;
        c.tx(|c| {
            c.exec(
                "INSERT INTO `users` (`username`, `domain_id`, `group_id`, `maildir`, `privilege_bits`, `address_status`) \
                 VALUES (?, ?, 0, ?, ?, 0)",
                &[
                    addr.as_str().into(),
                    d.id.into(),
                    maildir.to_string_lossy().as_ref().into(),
                    PRIV_DEFAULT.into(),
                ],
            )
            .map_err(|e| dup(e, format!("user {addr}")))?;
            let id = c.last_id();
            Self::apply_user(c, id, spec)
        })?;
        drop(c);
        self.invalidate();
        let u = self.user(&addr)?;
        if let Some(h) = store_hooks() {
            (h.create_private_store)(&self.state_path, &u)
                .map_err(|e| DirError::Invalid(format!("private store: {e}")))?;
        }
        Ok(u)
    }

    /// Change a user.
    pub fn user_set(&self, addr: &str, spec: &UserSpec) -> Result<User> {
        let u = self.user(addr)?;
        self.conn()?.tx(|c| Self::apply_user(c, u.id, spec))?;
        self.invalidate();
        self.user(addr)
    }

    /// Delete a user with its aliases, altnames, properties, forwards and list memberships.
    /// The mailbox directory is left on disk.
    pub fn user_del(&self, addr: &str) -> Result<()> {
        let u = self.user(addr)?;
        self.conn()?.tx(|c| {
            let p = [Val::from(u.username.as_str())];
            c.exec("DELETE FROM `aliases` WHERE `mainname` = ?", &p)?;
            c.exec("DELETE FROM `forwards` WHERE `username` = ?", &p)?;
            c.exec("DELETE FROM `associations` WHERE `username` = ?", &p)?;
            c.exec("DELETE FROM `specifieds` WHERE `username` = ?", &p)?;
            let id = [Val::Int(u.id)];
            c.exec("DELETE FROM `altnames` WHERE `user_id` = ?", &id)?;
            c.exec("DELETE FROM `user_properties` WHERE `user_id` = ?", &id)?;
            c.exec("DELETE FROM `mlists` WHERE `listname` = ?", &p)?;
            c.exec("DELETE FROM `users` WHERE `id` = ?", &id)?;
            Ok(())
        })?;
        self.invalidate();
        Ok(())
    }

    // ---- aliases, altnames ----

    fn name_taken(&self, c: &mut Conn<'_>, name: &str) -> Result<bool> {
        let r = c.row(
            "SELECT (SELECT COUNT(*) FROM `users` WHERE `username` = ? OR `altname` = ?) + \
             (SELECT COUNT(*) FROM `aliases` WHERE `aliasname` = ?) + (SELECT COUNT(*) FROM `altnames` WHERE `altname` = ?)",
            &[name.into(), name.into(), name.into(), name.into()],
        )?;
        Ok(r.is_some_and(|r| r[0].int() > 0))
    }

    /// Add an alias address for a user.
    pub fn alias_add(&self, alias: &str, main: &str) -> Result<()> {
        let (l, d) = check_address(alias)?;
        let alias = format!("{l}@{d}");
        let u = self.user(main)?;
        self.domain(&d)?;
        let mut c = self.conn()?;
        if self.name_taken(&mut c, &alias)? {
            return Err(DirError::Exists(format!("address {alias}")));
        }
        c.exec(
            "INSERT INTO `aliases` (`aliasname`, `mainname`) VALUES (?, ?)",
            &[alias.as_str().into(), u.username.as_str().into()],
        )
        .map_err(|e| dup(e, format!("alias {alias}")))?;
        drop(c);
        self.invalidate();
        Ok(())
    }

    /// Remove an alias.
    pub fn alias_del(&self, alias: &str) -> Result<()> {
        let n = self
            .conn()?
            .exec("DELETE FROM `aliases` WHERE `aliasname` = ?", &[alias.into()])?;
        self.invalidate();
        if n == 0 {
            return Err(DirError::NotFound(format!("alias {alias}")));
        }
        Ok(())
    }

    /// Add an alternative login name for a user.
    pub fn altname_add(&self, user: &str, altname: &str) -> Result<()> {
        check_login_name(altname)?;
        let u = self.user(user)?;
        let mut c = self.conn()?;
        if self.name_taken(&mut c, altname)? {
            return Err(DirError::Exists(format!("name {altname}")));
        }
        c.exec(
            "INSERT INTO `altnames` (`user_id`, `altname`) VALUES (?, ?)",
            &[u.id.into(), altname.into()],
        )
        .map_err(|e| dup(e, format!("altname {altname}")))?;
        drop(c);
        self.invalidate();
        Ok(())
    }

    /// Remove an altname.
    pub fn altname_del(&self, altname: &str) -> Result<()> {
        let n = self
            .conn()?
            .exec("DELETE FROM `altnames` WHERE `altname` = ?", &[altname.into()])?;
        self.invalidate();
        if n == 0 {
            return Err(DirError::NotFound(format!("altname {altname}")));
        }
        Ok(())
    }

    // ---- mailing lists ----

    /// Create a mailing list (a `users` row of display type distribution list plus `mlists`).
    pub fn mlist_add(&self, addr: &str, list_type: u8, privilege: u8) -> Result<MList> {
        if list_type > MLIST_TYPE_CLASS {
            return Err(DirError::Invalid(format!("list type {list_type} unknown")));
        }
        if privilege > MLIST_PRIV_OUTGOING {
            return Err(DirError::Invalid(format!("list privilege {privilege} unknown")));
        }
        let u = self.user_add(
            addr,
            &UserSpec {
                privileges: Some(0),
                display_type: Some(DT_DISTLIST),
                ..Default::default()
            },
        )?;
        let r = self.conn()?.exec(
            "INSERT INTO `mlists` (`listname`, `domain_id`, `list_type`, `list_privilege`) VALUES (?, ?, ?, ?)",
            &[
                u.username.as_str().into(),
                u.domain_id.into(),
                u32::from(list_type).into(),
                u32::from(privilege).into(),
            ],
        );
        if let Err(e) = r {
            let _ = self.user_del(&u.username);
            return Err(e);
        }
        self.invalidate();
        self.mlist_fresh(&u.username)?
            .ok_or_else(|| DirError::NotFound(format!("list {addr}")))
    }

    fn mlist_id(&self, addr: &str) -> Result<MList> {
        self.mlist_fresh(addr)?
            .ok_or_else(|| DirError::NotFound(format!("mailing list {addr}")))
    }

    /// Delete a mailing list.
    pub fn mlist_del(&self, addr: &str) -> Result<()> {
        let l = self.mlist_id(addr)?;
        {
            let mut c = self.conn()?;
            c.exec("DELETE FROM `associations` WHERE `list_id` = ?", &[l.id.into()])?;
            c.exec("DELETE FROM `specifieds` WHERE `list_id` = ?", &[l.id.into()])?;
        }
        self.user_del(&l.listname)
    }

    /// Add a member (any address, local or not).
    pub fn mlist_member_add(&self, addr: &str, member: &str) -> Result<()> {
        let l = self.mlist_id(addr)?;
        let (ml, md) = check_address(member)?;
        let member = format!("{ml}@{md}");
        if member.eq_ignore_ascii_case(&l.listname) {
            return Err(DirError::Invalid("a list cannot be its own member".into()));
        }
        self.conn()?
            .exec(
                "INSERT INTO `associations` (`list_id`, `username`) VALUES (?, ?)",
                &[l.id.into(), member.as_str().into()],
            )
            .map_err(|e| dup(e, format!("member {member}")))?;
        self.invalidate();
        Ok(())
    }

    /// Remove a member.
    pub fn mlist_member_del(&self, addr: &str, member: &str) -> Result<()> {
        let l = self.mlist_id(addr)?;
        let n = self.conn()?.exec(
            "DELETE FROM `associations` WHERE `list_id` = ? AND `username` = ?",
            &[l.id.into(), member.into()],
        )?;
        self.invalidate();
        if n == 0 {
            return Err(DirError::NotFound(format!("member {member} of {addr}")));
        }
        Ok(())
    }

    /// Set a list's privilege; `specified` replaces the allowed senders when given.
    pub fn mlist_privilege(&self, addr: &str, privilege: u8, specified: Option<&[String]>) -> Result<()> {
        if privilege > MLIST_PRIV_OUTGOING {
            return Err(DirError::Invalid(format!("list privilege {privilege} unknown")));
        }
        let l = self.mlist_id(addr)?;
        let mut c = self.conn()?;
        c.tx(|c| {
            c.exec(
                "UPDATE `mlists` SET `list_privilege` = ? WHERE `id` = ?",
                &[u32::from(privilege).into(), l.id.into()],
            )?;
            if let Some(s) = specified {
                c.exec("DELETE FROM `specifieds` WHERE `list_id` = ?", &[l.id.into()])?;
                for who in s {
                    check_address(who)?;
                    c.exec(
                        "INSERT INTO `specifieds` (`username`, `list_id`) VALUES (?, ?)",
                        &[who.as_str().into(), l.id.into()],
                    )?;
                }
            }
            Ok(())
        })?;
        drop(c);
        self.invalidate();
        Ok(())
    }

    /// All mailing lists.
    pub fn mlists(&self) -> Result<Vec<MList>> {
        let names: Vec<String> = self
            .conn()?
            .query("SELECT `listname` FROM `mlists` ORDER BY `listname`", &[])?
            .iter()
            .map(|r| r[0].text())
            .collect();
        let mut out = Vec::new();
        for n in names {
            if let Some(l) = self.mlist_fresh(&n)? {
                out.push(l);
            }
        }
        Ok(out)
    }

    // ---- forwards ----

    /// Set (Some) or clear (None) a user's forward.
    pub fn forward_set(&self, addr: &str, fwd: Option<&Forward>) -> Result<()> {
        let u = self.user(addr)?;
        let mut c = self.conn()?;
        c.exec(
            "DELETE FROM `forwards` WHERE `username` = ?",
            &[u.username.as_str().into()],
        )?;
        if let Some(f) = fwd {
            check_address(&f.destination)?;
            c.exec(
                "INSERT INTO `forwards` (`username`, `forward_type`, `destination`) VALUES (?, ?, ?)",
                &[
                    u.username.as_str().into(),
                    u32::from(f.forward_type).into(),
                    f.destination.as_str().into(),
                ],
            )?;
        }
        drop(c);
        self.invalidate();
        Ok(())
    }

    // ---- servers ----

    /// Register a home server; returns its id.
    pub fn server_add(&self, hostname: &str, extname: &str) -> Result<Server> {
        check_domain(hostname)?;
        if !extname.is_empty() {
            check_domain(extname)?;
        }
        let mut c = self.conn()?;
        c.exec(
            "INSERT INTO `servers` (`hostname`, `extname`) VALUES (?, ?)",
            &[hostname.into(), extname.into()],
        )
        .map_err(|e| dup(e, format!("server {hostname}")))?;
        let id = c.last_id() as u32;
        drop(c);
        self.invalidate();
        Ok(Server {
            id,
            hostname: hostname.to_string(),
            extname: extname.to_string(),
        })
    }

    /// All home servers.
    pub fn servers(&self) -> Result<Vec<Server>> {
        Ok(self
            .conn()?
            .query("SELECT `id`, `hostname`, `extname` FROM `servers` ORDER BY `id`", &[])?
            .iter()
            .map(|r| Server {
                id: r[0].int() as u32,
                hostname: r[1].text(),
                extname: r[2].text(),
            })
            .collect())
    }

    /// Backend kind.
    pub fn kind(&self) -> Kind {
        self.db.kind()
    }
}

/// MySQL settings from the configuration.
pub fn mysql_settings(cfg: &Config) -> MysqlSettings {
    MysqlSettings {
        host: cfg.str("mysql_host").to_string(),
        port: cfg.int("mysql_port").clamp(1, 65535) as u16,
        user: cfg.str("mysql_username").to_string(),
        password: cfg.str("mysql_password").to_string(),
        dbname: cfg.str("mysql_dbname").to_string(),
        connections: cfg.int("connection_num").clamp(1, 1000) as u32,
        rdwr_timeout: cfg.duration("mysql_rdwr_timeout"),
        tls: cfg.bool("mysql_tls"),
        tls_ca: cfg.str("mysql_tls_ca").to_string(),
        tls_skip_verify: cfg.bool("mysql_tls_skip_verify"),
    }
}

/// Create the demo domain and user if they do not exist (for the suite launcher). Creates the
/// schema first when the database is empty. Returns whether the user was created.
pub fn ensure_demo(cfg: &Config, domain: &str, user: &str, password: &str) -> Result<bool> {
    let dir = Directory::open_unchecked(cfg)?;
    {
        let mut c = dir.db().conn()?;
        match schema::version(&mut c)? {
            None => {
                schema::create(&mut c)?;
            }
            Some(_) => {
                schema::upgrade(&mut c)?;
            }
        }
    }
    let addr = if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@{domain}")
    };
    match dir.domain(domain) {
        Ok(_) => {}
        Err(DirError::NotFound(_)) => {
            dir.domain_add(domain, &DomainSpec::default())?;
        }
        Err(e) => return Err(e),
    }
    match dir.user(&addr) {
        Ok(_) => Ok(false),
        Err(DirError::NotFound(_)) => {
            dir.user_add(
                &addr,
                &UserSpec {
                    password: Some(password.to_string()),
                    display_name: Some(addr.split('@').next().unwrap_or_default().to_string()),
                    ..Default::default()
                },
            )?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}
