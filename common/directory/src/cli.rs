//! `gromox-admin` and `gromox-dbop`: the command-line tools over whichever backend is
//! configured. Both take the common `-c FILE` / `-o key=value` options; the logic is here so
//! the binaries in `tools/` stay thin and the tests can run the commands in-process.
//!
//! Exit status: 0 success, 1 the operation failed (not found, exists, invalid name, ...),
//! 2 usage or configuration error.

use std::io::{BufRead, Write};
use std::sync::Arc;

use gromox_base::{Config, Daemon, Spec};
use serde_json::{json, Value};

use crate::directory::{Directory, DomainSpec, UserSpec};
use crate::error::DirError;
use crate::model::*;
use crate::schema;

/// The spec of `gromox-admin`.
pub fn admin_spec() -> Spec {
    Spec {
        prog: "admin",
        about: "gromox-admin: manage domains, users, aliases, mailing lists and servers in the user directory",
        files: crate::keys::CONFIG_FILES,
        keys: crate::keys::config_keys(),
    }
}

/// The spec of `gromox-dbop`.
pub fn dbop_spec() -> Spec {
    Spec {
        prog: "dbop",
        about: "gromox-dbop: -C creates the user directory schema, -U upgrades it step by step",
        files: crate::keys::CONFIG_FILES,
        keys: crate::keys::config_keys(),
    }
}

const ADMIN_USAGE: &str = "\
Usage: gromox-admin [-c FILE] [-o KEY=VALUE]... [--json] COMMAND ...
  domain add DOMAIN [--title T] [--max-user N]
  domain list | domain show DOMAIN | domain del DOMAIN
  domain set DOMAIN [--status normal|suspended|deleted|N] [--title T] [--max-user N] [--homeserver ID]
  user add ADDR [--password-stdin] [USER OPTIONS]
  user list [DOMAIN] [--type user|room|equipment|contact|list]
  user show ADDR | user del ADDR
  user set ADDR [USER OPTIONS]
  user passwd ADDR [--password-stdin]      (otherwise prompts on the terminal)
  alias add ALIAS ADDR | alias del ALIAS
  altname add ADDR NAME | altname del NAME
  mlist add LIST [--type normal|group|domain] [--privilege P] | mlist del LIST
  mlist list | mlist show LIST
  mlist member add LIST ADDR | mlist member del LIST ADDR
  mlist privilege LIST all|internal|domain|specified|outgoing [--specified A,B,...]
  server add HOSTNAME [EXTNAME] | server list
  auth-test USER                           (password read from standard input)
USER OPTIONS: --display-name N --lang L --timezone TZ --privileges imap,smtp,...|N
  --status normal|suspended|deleted|shared|N --homeserver ID --type user|room|equipment|contact|shared
  --externid ID (LDAP login; empty to clear)
";

/// Split the command line: (arguments for the common parser, own flags, command words).
fn split_args(args: &[String], own_flags: &[&str]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut base = Vec::new();
    let mut flags = Vec::new();
    let mut cmd = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if own_flags.contains(&a.as_str()) {
            flags.push(a.clone());
        } else if !cmd.is_empty() {
            cmd.push(a.clone());
        } else if matches!(a.as_str(), "-c" | "-o" | "--config" | "--option") {
            base.push(a.clone());
            if let Some(v) = it.next() {
                base.push(v.clone());
            }
        } else if a.starts_with('-') {
            base.push(a.clone());
        } else {
            cmd.push(a.clone());
        }
    }
    (base, flags, cmd)
}

/// Options of a sub-command: `--key value` pairs, `--flag`s and positional words.
struct Opts {
    pos: Vec<String>,
    kv: Vec<(String, String)>,
    flags: Vec<String>,
}

const VALUE_OPTS: &[&str] = &[
    "--title",
    "--max-user",
    "--status",
    "--homeserver",
    "--display-name",
    "--lang",
    "--timezone",
    "--privileges",
    "--type",
    "--externid",
    "--privilege",
    "--specified",
];

fn parse_opts(words: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        pos: Vec::new(),
        kv: Vec::new(),
        flags: Vec::new(),
    };
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if let Some((k, v)) = w.split_once('=').filter(|(k, _)| k.starts_with("--")) {
            if !VALUE_OPTS.contains(&k) {
                return Err(format!("unknown option {k}"));
            }
            o.kv.push((k.to_string(), v.to_string()));
        } else if VALUE_OPTS.contains(&w.as_str()) {
            let v = it.next().ok_or_else(|| format!("{w} needs a value"))?;
            o.kv.push((w.clone(), v.clone()));
        } else if w == "--password-stdin" {
            o.flags.push(w.clone());
        } else if w.starts_with("--") {
            return Err(format!("unknown option {w}"));
        } else {
            o.pos.push(w.clone());
        }
    }
    Ok(o)
}

impl Opts {
    fn get(&self, k: &str) -> Option<&str> {
        self.kv.iter().rev().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
    fn arg(&self, i: usize, what: &str) -> Result<&str, String> {
        self.pos
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing {what}"))
    }
}

fn parse_num<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{what}: \"{v}\" is not a valid number"))
}

fn parse_privileges(v: &str) -> Result<u32, String> {
    if let Ok(n) = v.parse::<u32>() {
        return Ok(n);
    }
    if let Some(h) = v.strip_prefix("0x") {
        return u32::from_str_radix(h, 16).map_err(|_| format!("bad privilege value {v}"));
    }
    let mut bits = 0;
    for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if w == "none" {
            continue;
        }
        let b = PRIV_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(w))
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown privilege \"{w}\" (known: imap, pop3, smtp, chgpasswd, pubaddr, chat, video, files, archive, web, eas, dav)"))?;
        bits |= b;
    }
    Ok(bits)
}

fn privilege_names(bits: u32) -> String {
    let mut v: Vec<&str> = Vec::new();
    for (n, b) in PRIV_NAMES {
        if *n != "pop3" && bits & b != 0 {
            v.push(if *n == "imap" { "imap/pop3" } else { n });
        }
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

fn parse_user_status(v: &str) -> Result<u8, String> {
    Ok(match v {
        "normal" => AF_USER_NORMAL,
        "suspended" => AF_USER_SUSPENDED,
        "deleted" => AF_USER_DELETED,
        "shared" => AF_USER_SHAREDMBOX,
        n => parse_num("status", n)?,
    })
}

fn user_status_name(s: u8) -> String {
    match s & AF_USER_MASK {
        AF_USER_NORMAL => "normal".into(),
        AF_USER_SUSPENDED => "suspended".into(),
        AF_USER_DELETED => "deleted".into(),
        AF_USER_SHAREDMBOX => "shared".into(),
        n => n.to_string(),
    }
}

fn domain_status_name(s: u8) -> String {
    match s {
        DOMAIN_NORMAL => "normal".into(),
        DOMAIN_SUSPENDED => "suspended".into(),
        DOMAIN_DELETED => "deleted".into(),
        n => n.to_string(),
    }
}

fn parse_type(v: &str) -> Result<u32, String> {
    Ok(match v {
        "user" | "shared" => DT_MAILUSER,
        "room" => DT_ROOM,
        "equipment" => DT_EQUIPMENT,
        "contact" => DT_REMOTE_MAILUSER,
        "list" => DT_DISTLIST,
        n => parse_num("type", n)?,
    })
}

fn list_priv(v: &str) -> Result<u8, String> {
    MLIST_PRIV_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, p)| *p)
        .or_else(|| v.parse().ok())
        .ok_or_else(|| format!("unknown list privilege \"{v}\" (all, internal, domain, specified, outgoing)"))
}

fn list_priv_name(p: u8) -> String {
    MLIST_PRIV_NAMES
        .iter()
        .find(|(_, x)| *x == p)
        .map_or_else(|| p.to_string(), |(n, _)| n.to_string())
}

fn list_type_name(t: u8) -> &'static str {
    match t {
        MLIST_TYPE_NORMAL => "normal",
        MLIST_TYPE_GROUP => "group",
        MLIST_TYPE_DOMAIN => "domain",
        MLIST_TYPE_CLASS => "class",
        _ => "?",
    }
}

fn user_spec(o: &Opts) -> Result<UserSpec, String> {
    let mut s = UserSpec {
        display_name: o.get("--display-name").map(str::to_string),
        lang: o.get("--lang").map(str::to_string),
        timezone: o.get("--timezone").map(str::to_string),
        privileges: o.get("--privileges").map(parse_privileges).transpose()?,
        status: o.get("--status").map(parse_user_status).transpose()?,
        homeserver: o.get("--homeserver").map(|v| parse_num("homeserver", v)).transpose()?,
        display_type: o.get("--type").map(parse_type).transpose()?,
        externid: o.get("--externid").map(|v| v.as_bytes().to_vec()),
        password: None,
    };
    if o.get("--type") == Some("shared") {
        s.status = Some(AF_USER_SHAREDMBOX);
    }
    Ok(s)
}

fn user_json(d: &Directory, u: &User) -> Result<Value, DirError> {
    Ok(json!({
        "id": u.id,
        "username": u.username,
        "domain": u.domain,
        "display_name": u.display_name,
        "type": u.kind(),
        "display_type": u.display_type,
        "status": user_status_name(u.address_status),
        "address_status": u.address_status,
        "privilege_bits": u.privilege_bits,
        "privileges": privilege_names(u.privilege_bits),
        "homeserver": u.homeserver,
        "homeserver_host": u.homeserver_host,
        "maildir": u.maildir,
        "lang": u.lang,
        "timezone": u.timezone,
        "ldap": u.externid.is_some(),
        "aliases": d.aliases_of(&u.username)?,
        "altnames": d.altnames_of(u.id)?,
    }))
}

fn domain_json(dm: &Domain) -> Value {
    json!({
        "id": dm.id, "domain": dm.name, "status": domain_status_name(dm.status), "title": dm.title,
        "max_user": dm.max_user, "users": dm.users, "homeserver": dm.homeserver, "homedir": dm.homedir,
    })
}

fn mlist_json(l: &MList) -> Value {
    json!({
        "id": l.id, "listname": l.listname, "type": list_type_name(l.list_type),
        "privilege": list_priv_name(l.privilege), "members": l.members, "specified": l.specified,
    })
}

/// Format rows as an aligned table with a header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn kv_block(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<w$}  {v}\n")).collect()
}

/// Where the admin commands read a password from.
pub trait PasswordSource {
    /// Read the password: `from_stdin` for `--password-stdin` (one line), otherwise prompt on
    /// the terminal without echo.
    fn password(&mut self, from_stdin: bool, prompt: &str) -> Result<String, String>;
}

/// Standard input and the terminal.
pub struct StdPasswords<R: BufRead> {
    /// Standard input.
    pub stdin: R,
}

fn read_line(r: &mut dyn BufRead) -> Result<String, String> {
    let mut s = String::new();
    r.read_line(&mut s)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        return Err("empty password".into());
    }
    Ok(s)
}

impl<R: BufRead> PasswordSource for StdPasswords<R> {
    fn password(&mut self, from_stdin: bool, prompt: &str) -> Result<String, String> {
        if from_stdin {
            return read_line(&mut self.stdin);
        }
        prompt_tty(prompt)
    }
}

/// Prompt on /dev/tty with echo off (twice, must match).
fn prompt_tty(prompt: &str) -> Result<String, String> {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| "no terminal to prompt on; use --password-stdin".to_string())?;
    let fd = tty.as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on a valid, open terminal descriptor with a zeroed termios.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err("cannot read terminal settings; use --password-stdin".into());
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    let ask = |p: &str| -> Result<String, String> {
        let mut w = &tty;
        let _ = write!(w, "{p}");
        let _ = w.flush();
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        let r = read_line(&mut std::io::BufReader::new(&tty));
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
        r
    };
    let a = ask(prompt)?;
    let b = ask("Retype password: ")?;
    if a != b {
        return Err("passwords do not match".into());
    }
    Ok(a)
}

enum Fail {
    Usage(String),
    Op(String),
}

impl From<DirError> for Fail {
    fn from(e: DirError) -> Self {
        Fail::Op(e.to_string())
    }
}
impl From<String> for Fail {
    fn from(e: String) -> Self {
        Fail::Usage(e)
    }
}

/// Run `gromox-admin` with `args` (without the program name). Returns the exit status.
pub fn admin_run(args: &[String], pw: &mut dyn PasswordSource, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (base, flags, cmd) = split_args(args, &["--json"]);
    let json = flags.iter().any(|f| f == "--json");
    let daemon = match Daemon::from_args(admin_spec(), &base) {
        Ok(Ok((d, _))) => d,
        Ok(Err(text)) => {
            let _ = write!(out, "{text}");
            if base.iter().any(|a| a == "-h" || a == "--help") {
                let _ = write!(out, "\n{ADMIN_USAGE}");
            }
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "gromox-admin: {e}");
            return 2;
        }
    };
    if cmd.is_empty() {
        let _ = write!(err, "{ADMIN_USAGE}");
        return 2;
    }
    let dir = match Directory::open(&daemon.config) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(err, "gromox-admin: {e}");
            return 2;
        }
    };
    match admin_cmd(&daemon, &dir, &cmd, json, pw, out) {
        Ok(()) => 0,
        Err(Fail::Usage(m)) => {
            let _ = writeln!(err, "gromox-admin: {m}\n\n{ADMIN_USAGE}");
            2
        }
        Err(Fail::Op(m)) => {
            let _ = writeln!(err, "gromox-admin: {m}");
            1
        }
    }
}

fn emit(out: &mut dyn Write, json: bool, j: Value, text: String) -> Result<(), Fail> {
    let r = if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&j).unwrap_or_default())
    } else {
        write!(out, "{text}")
    };
    r.map_err(|e| Fail::Op(format!("output: {e}")))
}

fn admin_cmd(
    daemon: &Daemon,
    dir: &Directory,
    cmd: &[String],
    json: bool,
    pw: &mut dyn PasswordSource,
    out: &mut dyn Write,
) -> Result<(), Fail> {
    let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (obj, verb) = (words[0], words.get(1).copied().unwrap_or(""));
    let rest_from = |n: usize| parse_opts(&cmd[n.min(cmd.len())..]);
    match (obj, verb) {
        ("domain", "add") => {
            let o = rest_from(2)?;
            let spec = DomainSpec {
                title: o.get("--title").map(str::to_string),
                max_user: o.get("--max-user").map(|v| parse_num("max-user", v)).transpose()?,
                ..Default::default()
            };
            let dm = dir.domain_add(o.arg(0, "DOMAIN")?, &spec)?;
            let note = if crate::directory::store_hooks().is_none() {
                " (public store not created: no store hook installed)"
            } else {
                ""
            };
            emit(
                out,
                json,
                domain_json(&dm),
                format!("domain {} created{note}\n", dm.name),
            )
        }
        ("domain", "list") => {
            let ds = dir.domains()?;
            let rows: Vec<Vec<String>> = ds
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        domain_status_name(d.status),
                        d.users.to_string(),
                        d.max_user.to_string(),
                        d.title.clone(),
                    ]
                })
                .collect();
            emit(
                out,
                json,
                Value::Array(ds.iter().map(domain_json).collect()),
                table(&["DOMAIN", "STATUS", "USERS", "MAX", "TITLE"], &rows),
            )
        }
        ("domain", "show") => {
            let o = rest_from(2)?;
            let d = dir.domain(o.arg(0, "DOMAIN")?)?;
            let text = kv_block(&[
                ("domain", d.name.clone()),
                ("status", domain_status_name(d.status)),
                ("title", d.title.clone()),
                ("users", d.users.to_string()),
                ("max users", d.max_user.to_string()),
                ("homeserver", d.homeserver.to_string()),
                ("public store", d.homedir.clone()),
            ]);
            emit(out, json, domain_json(&d), text)
        }
        ("domain", "set") => {
            let o = rest_from(2)?;
            let status = o
                .get("--status")
                .map(|v| match v {
                    "normal" => Ok(DOMAIN_NORMAL),
                    "suspended" => Ok(DOMAIN_SUSPENDED),
                    "deleted" => Ok(DOMAIN_DELETED),
                    n => parse_num("status", n),
                })
                .transpose()?;
            let spec = DomainSpec {
                status,
                title: o.get("--title").map(str::to_string),
                max_user: o.get("--max-user").map(|v| parse_num("max-user", v)).transpose()?,
                homeserver: o.get("--homeserver").map(|v| parse_num("homeserver", v)).transpose()?,
            };
            let d = dir.domain_set(o.arg(0, "DOMAIN")?, &spec)?;
            emit(out, json, domain_json(&d), format!("domain {} updated\n", d.name))
        }
        ("domain", "del") => {
            let o = rest_from(2)?;
            let name = o.arg(0, "DOMAIN")?;
            dir.domain_del(name)?;
            emit(out, json, json!({"deleted": name}), format!("domain {name} deleted\n"))
        }
        ("user", "add") => {
            let o = rest_from(2)?;
            let addr = o.arg(0, "ADDR")?;
            let mut spec = user_spec(&o)?;
            if o.flag("--password-stdin") {
                spec.password = Some(pw.password(true, "").map_err(Fail::Op)?);
            }
            let u = dir.user_add(addr, &spec)?;
            let note = if crate::directory::store_hooks().is_none() {
                " (mailbox store not created: no store hook installed)"
            } else {
                ""
            };
            emit(
                out,
                json,
                user_json(dir, &u)?,
                format!("user {} created{note}\n", u.username),
            )
        }
        ("user", "list") => {
            let o = rest_from(2)?;
            let t = o.get("--type").map(parse_type).transpose()?;
            let us = dir.users(o.pos.first().map(String::as_str), t)?;
            let rows: Vec<Vec<String>> = us
                .iter()
                .map(|u| {
                    vec![
                        u.username.clone(),
                        u.kind().to_string(),
                        user_status_name(u.address_status),
                        privilege_names(u.privilege_bits),
                        u.display_name.clone(),
                    ]
                })
                .collect();
            let mut j = Vec::new();
            for u in &us {
                j.push(user_json(dir, u)?);
            }
            emit(
                out,
                json,
                Value::Array(j),
                table(&["USER", "TYPE", "STATUS", "PRIVILEGES", "DISPLAY NAME"], &rows),
            )
        }
        ("user", "show") => {
            let o = rest_from(2)?;
            let u = dir.user(o.arg(0, "ADDR")?)?;
            let text = kv_block(&[
                ("user", u.username.clone()),
                ("display name", u.display_name.clone()),
                ("type", u.kind().to_string()),
                ("status", user_status_name(u.address_status)),
                (
                    "privileges",
                    format!("{} (0x{:x})", privilege_names(u.privilege_bits), u.privilege_bits),
                ),
                (
                    "homeserver",
                    format!("{} {}", u.homeserver, u.homeserver_host.clone().unwrap_or_default())
                        .trim()
                        .to_string(),
                ),
                ("maildir", u.maildir.clone()),
                ("language", u.lang.clone()),
                ("timezone", u.timezone.clone()),
                (
                    "ldap",
                    if u.externid.is_some() {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                ),
                ("aliases", dir.aliases_of(&u.username)?.join(", ")),
                ("altnames", dir.altnames_of(u.id)?.join(", ")),
            ]);
            emit(out, json, user_json(dir, &u)?, text)
        }
        ("user", "set") => {
            let o = rest_from(2)?;
            let spec = user_spec(&o)?;
            let u = dir.user_set(o.arg(0, "ADDR")?, &spec)?;
            emit(out, json, user_json(dir, &u)?, format!("user {} updated\n", u.username))
        }
        ("user", "passwd") => {
            let o = rest_from(2)?;
            let addr = o.arg(0, "ADDR")?;
            dir.user(addr)?;
            let p = pw
                .password(o.flag("--password-stdin"), &format!("New password for {addr}: "))
                .map_err(Fail::Op)?;
            let u = dir.user_set(
                addr,
                &UserSpec {
                    password: Some(p),
                    ..Default::default()
                },
            )?;
            emit(
                out,
                json,
                json!({"passwd": u.username}),
                format!("password of {} changed\n", u.username),
            )
        }
        ("user", "del") => {
            let o = rest_from(2)?;
            let addr = o.arg(0, "ADDR")?;
            dir.user_del(addr)?;
            emit(
                out,
                json,
                json!({"deleted": addr}),
                format!("user {addr} deleted (mailbox files are kept)\n"),
            )
        }
        ("alias", "add") => {
            let o = rest_from(2)?;
            let (a, m) = (o.arg(0, "ALIAS")?, o.arg(1, "ADDR")?);
            dir.alias_add(a, m)?;
            emit(
                out,
                json,
                json!({"alias": a, "user": m}),
                format!("alias {a} -> {m} added\n"),
            )
        }
        ("alias", "del") => {
            let o = rest_from(2)?;
            let a = o.arg(0, "ALIAS")?;
            dir.alias_del(a)?;
            emit(out, json, json!({"deleted": a}), format!("alias {a} deleted\n"))
        }
        ("altname", "add") => {
            let o = rest_from(2)?;
            let (u, n) = (o.arg(0, "ADDR")?, o.arg(1, "NAME")?);
            dir.altname_add(u, n)?;
            emit(
                out,
                json,
                json!({"altname": n, "user": u}),
                format!("altname {n} -> {u} added\n"),
            )
        }
        ("altname", "del") => {
            let o = rest_from(2)?;
            let n = o.arg(0, "NAME")?;
            dir.altname_del(n)?;
            emit(out, json, json!({"deleted": n}), format!("altname {n} deleted\n"))
        }
        ("mlist", "add") => {
            let o = rest_from(2)?;
            let t = match o.get("--type").unwrap_or("normal") {
                "normal" => MLIST_TYPE_NORMAL,
                "group" => MLIST_TYPE_GROUP,
                "domain" => MLIST_TYPE_DOMAIN,
                other => {
                    return Err(Fail::Usage(format!(
                        "unknown list type \"{other}\" (normal, group, domain)"
                    )))
                }
            };
            let p = list_priv(o.get("--privilege").unwrap_or("all"))?;
            let l = dir.mlist_add(o.arg(0, "LIST")?, t, p)?;
            emit(
                out,
                json,
                mlist_json(&l),
                format!("mailing list {} created\n", l.listname),
            )
        }
        ("mlist", "del") => {
            let o = rest_from(2)?;
            let l = o.arg(0, "LIST")?;
            dir.mlist_del(l)?;
            emit(out, json, json!({"deleted": l}), format!("mailing list {l} deleted\n"))
        }
        ("mlist", "list") => {
            let ls = dir.mlists()?;
            let rows: Vec<Vec<String>> = ls
                .iter()
                .map(|l| {
                    vec![
                        l.listname.clone(),
                        list_type_name(l.list_type).into(),
                        list_priv_name(l.privilege),
                        l.members.len().to_string(),
                    ]
                })
                .collect();
            emit(
                out,
                json,
                Value::Array(ls.iter().map(mlist_json).collect()),
                table(&["LIST", "TYPE", "PRIVILEGE", "MEMBERS"], &rows),
            )
        }
        ("mlist", "show") => {
            let o = rest_from(2)?;
            let name = o.arg(0, "LIST")?;
            let l = dir
                .mlist(name)?
                .ok_or_else(|| DirError::NotFound(format!("mailing list {name}")))?;
            let text = kv_block(&[
                ("list", l.listname.clone()),
                ("type", list_type_name(l.list_type).into()),
                ("privilege", list_priv_name(l.privilege)),
                ("members", l.members.join(", ")),
                ("specified", l.specified.join(", ")),
            ]);
            emit(out, json, mlist_json(&l), text)
        }
        ("mlist", "member") => {
            let sub = words.get(2).copied().unwrap_or("");
            let o = rest_from(3)?;
            let (l, m) = (o.arg(0, "LIST")?, o.arg(1, "ADDR")?);
            match sub {
                "add" => {
                    dir.mlist_member_add(l, m)?;
                    emit(out, json, json!({"list": l, "added": m}), format!("{m} added to {l}\n"))
                }
                "del" => {
                    dir.mlist_member_del(l, m)?;
                    emit(
                        out,
                        json,
                        json!({"list": l, "removed": m}),
                        format!("{m} removed from {l}\n"),
                    )
                }
                _ => Err(Fail::Usage("mlist member add|del LIST ADDR".into())),
            }
        }
        ("mlist", "privilege") => {
            let o = rest_from(2)?;
            let l = o.arg(0, "LIST")?;
            let p = list_priv(o.arg(1, "PRIVILEGE")?)?;
            let spec: Option<Vec<String>> = o.get("--specified").map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            dir.mlist_privilege(l, p, spec.as_deref())?;
            emit(
                out,
                json,
                json!({"list": l, "privilege": list_priv_name(p)}),
                format!("privilege of {l} set to {}\n", list_priv_name(p)),
            )
        }
        ("server", "add") => {
            let o = rest_from(2)?;
            let s = dir.server_add(o.arg(0, "HOSTNAME")?, o.pos.get(1).map_or("", String::as_str))?;
            emit(
                out,
                json,
                json!({"id": s.id, "hostname": s.hostname, "extname": s.extname}),
                format!("server {} added with id {}\n", s.hostname, s.id),
            )
        }
        ("server", "list") => {
            let ss = dir.servers()?;
            let rows: Vec<Vec<String>> = ss
                .iter()
                .map(|s| vec![s.id.to_string(), s.hostname.clone(), s.extname.clone()])
                .collect();
            emit(
                out,
                json,
                Value::Array(
                    ss.iter()
                        .map(|s| json!({"id": s.id, "hostname": s.hostname, "extname": s.extname}))
                        .collect(),
                ),
                table(&["ID", "HOSTNAME", "EXTNAME"], &rows),
            )
        }
        ("auth-test", _) => {
            let o = rest_from(1)?;
            let user = o.arg(0, "USER")?;
            let p = pw.password(true, "").map_err(Fail::Op)?;
            // A private directory handle so the admin's caches do not interfere.
            let d = Arc::new(Directory::open(&daemon.config)?);
            let auth = crate::auth::Authenticator::new(&daemon.config, d, daemon.log.clone());
            let peer: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
            match auth.authenticate(user, &p, peer, "auth-test") {
                Ok(a) => emit(
                    out,
                    json,
                    json!({"ok": true, "user": a.user.username, "ldap": a.via_ldap, "privilege_bits": a.user.privilege_bits}),
                    format!(
                        "authentication of {} succeeded{}\n",
                        a.user.username,
                        if a.via_ldap { " (LDAP)" } else { "" }
                    ),
                ),
                Err(e) => {
                    if json {
                        let _ = writeln!(out, "{}", json!({"ok": false, "error": e.to_string()}));
                    }
                    Err(Fail::Op(format!("authentication of {user} failed: {e}")))
                }
            }
        }
        _ => Err(Fail::Usage(format!("unknown command \"{}\"", words.join(" ")))),
    }
}

/// `main()` of `gromox-admin`.
pub fn admin_main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let mut pw = StdPasswords { stdin: stdin.lock() };
    let code = admin_run(&args, &mut pw, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::ExitCode::from(code as u8)
}

/// Run `gromox-dbop` with `args`. Returns the exit status.
pub fn dbop_run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (base, flags, cmd) = split_args(args, &["-C", "-U", "--create", "--upgrade"]);
    let create = flags.iter().any(|f| f == "-C" || f == "--create");
    let upgrade = flags.iter().any(|f| f == "-U" || f == "--upgrade");
    let daemon = match Daemon::from_args(dbop_spec(), &base) {
        Ok(Ok((d, _))) => d,
        Ok(Err(text)) => {
            let _ = write!(
                out,
                "{text}\n  -C, --create   create the schema\n  -U, --upgrade  upgrade the schema\n"
            );
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "gromox-dbop: {e}");
            return 2;
        }
    };
    if create == upgrade || !cmd.is_empty() {
        let _ = writeln!(err, "gromox-dbop: give exactly one of -C (create) or -U (upgrade)");
        return 2;
    }
    let r = (|| -> Result<String, DirError> {
        let dir = Directory::open_unchecked(&daemon.config)?;
        let mut c = dir.db().conn()?;
        if create {
            let v = schema::create(&mut c)?;
            Ok(format!("schema created, version {v}\n"))
        } else {
            let before = schema::version(&mut c)?.unwrap_or(0);
            let v = schema::upgrade(&mut c)?;
            Ok(if v == before {
                format!("schema is current, version {v}\n")
            } else {
                format!("schema upgraded from version {before} to {v}\n")
            })
        }
    })();
    match r {
        Ok(m) => {
            let _ = write!(out, "{m}");
            0
        }
        Err(e) => {
            let _ = writeln!(err, "gromox-dbop: {e}");
            1
        }
    }
}

/// `main()` of `gromox-dbop`.
pub fn dbop_main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = dbop_run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::ExitCode::from(code as u8)
}

/// Open the directory and the authenticator for a daemon from its configuration (the
/// convenience every protocol daemon uses).
pub fn open_auth(cfg: &Config, log: slog::Logger) -> Result<crate::auth::Authenticator, DirError> {
    let d = Arc::new(Directory::open(cfg)?);
    Ok(crate::auth::Authenticator::new(cfg, d, log))
}
