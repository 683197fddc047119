//! `gromox-mbop`: mailbox operations over exmdb RPC (the binary in `tools/` calls
//! [`mbop_main`]). Commands and folder specs are documented in README.md.

use std::process::ExitCode;

use gromox_base::config::Config;
use gromox_exmdb_proto::{Call, FolderEntry, Response};
use gromox_mapi::props::{PropTag, PropType, PropVal, TaggedVal};

use crate::layout::fid;

const USAGE: &str = "Usage: gromox-mbop [-c FILE] (-u USER | -d MAILDIR) COMMAND [ARGS]
Commands:
  ping                         check that exmdbd serves the mailbox
  unload                       close the store in exmdbd
  vacuum                       compact the store database
  purge-softdelete [-r] [-t AGE]  remove soft-deleted messages and folders for good (-t: only
                               messages deleted more than AGE ago, e.g. 30d)
  purge-datafiles              remove content files no message refers to
  recalc-sizes                 recompute the store size
  emptyfld [-M] [-a] [-R] [-t AGE] [--soft] FOLDER...
                               delete the messages of FOLDER (hard unless --soft): -a the
                               associated (FAI) ones too, -M not the normal ones, -R the
                               subfolders' too, -t only those last modified more than AGE ago
  movemsg MID... FOLDER        move messages into FOLDER (prints OLD -> NEW ids)
  delmsg -f FOLDER MID...      delete messages (hard); FOLDER is checked to exist
  freeze | thaw                maintenance mode on / off
  get-props                    print the store properties (TAG TYPE VALUE)
  set-props TAG=VALUE...       set store properties (TAG in hex, e.g. 0x3004001f=text)
  set-perm MEMBER FOLDER RIGHTS  grant MEMBER (a user, `default` or `anonymous`) RIGHTS on
                               FOLDER; RIGHTS: a number or names joined by `,` (readany create
                               editowned deleteowned editany deleteany createsubfolder owner
                               contact visible freebusysimple freebusydetailed storeowner all
                               none); `storeowner` on IPM_SUBTREE lets MEMBER log in as
                               MEMBER!mailbox over IMAP and POP3
  del-perm MEMBER FOLDER       remove MEMBER from FOLDER's permissions
  mbox-rights USER             print USER's store-level rights (hex; 0x2000: store owner)
  get-perms FOLDER             list FOLDER's permission members (MEMBER-ID RIGHTS NAME; the
                               default member is 0, anonymous -1)
  list-folders [FOLDER]        the folder tree below FOLDER (default IPM_SUBTREE) with ids and
                               message counts
  list-rules FOLDER            list FOLDER's server-side rules (id, sequence, state, provider,
                               name, actions) in evaluation order
  set-rule-state FOLDER ID on|off  enable or disable a rule
  del-rule FOLDER ID           delete a rule
  foreach.FILTER[.here] COMMAND [ARGS]  COMMAND on every mailbox of the user directory that
                               FILTER selects (user: users that can log in; mb: every object
                               with a mailbox), .here: only those homed on this host; takes no
                               -u/-d
FOLDER: numeric id, /path/below/IPM_SUBTREE, or one of INBOX SENT DRAFTS DELETED JUNK
  CALENDAR CONTACTS TASKS NOTES JOURNAL OUTBOX IPM_SUBTREE";

/// Parses the RIGHTS argument of `set-perm`: a decimal or `0x` number, or right names
/// joined by `,` or `+` (MS-OXCPERM PR_MEMBER_RIGHTS bits).
pub fn parse_rights(spec: &str) -> Result<u32, String> {
    use gromox_mapi::tags::frights as f;
    if let Some(h) = spec.strip_prefix("0x") {
        return u32::from_str_radix(h, 16).map_err(|_| format!("{spec:?}: bad hex number"));
    }
    if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        return spec.parse().map_err(|_| format!("{spec:?}: number too large"));
    }
    let mut r = 0;
    for name in spec.split([',', '+']).filter(|n| !n.is_empty()) {
        r |= match name.to_ascii_lowercase().as_str() {
            "readany" => f::READ_ANY,
            "create" => f::CREATE,
            "editowned" => f::EDIT_OWNED,
            "deleteowned" => f::DELETE_OWNED,
            "editany" => f::EDIT_ANY,
            "deleteany" => f::DELETE_ANY,
            "createsubfolder" => f::CREATE_SUBFOLDER,
            "owner" => f::OWNER,
            "contact" => f::CONTACT,
            "visible" => f::VISIBLE,
            "freebusysimple" => f::FREEBUSY_SIMPLE,
            "freebusydetailed" => f::FREEBUSY_DETAILED,
            "storeowner" => f::GROMOX_STORE_OWNER,
            "all" => f::ALL,
            "none" => 0,
            other => return Err(format!("{other:?}: unknown right")),
        };
    }
    Ok(r)
}

/// Resolves a symbolic folder name to Gromox's fixed private folder id.
pub fn symbolic_folder(name: &str) -> Option<u64> {
    Some(match name.to_ascii_uppercase().as_str() {
        "INBOX" => fid::INBOX,
        "SENT" => fid::SENT_ITEMS,
        "DRAFTS" => fid::DRAFT,
        "DELETED" => fid::DELETED_ITEMS,
        "JUNK" => fid::JUNK,
        "CALENDAR" => fid::CALENDAR,
        "CONTACTS" => fid::CONTACTS,
        "TASKS" => fid::TASKS,
        "NOTES" => fid::NOTES,
        "JOURNAL" => fid::JOURNAL,
        "OUTBOX" => fid::OUTBOX,
        "IPM_SUBTREE" => fid::IPMSUBTREE,
        _ => return None,
    })
}

/// Resolves a folder spec against the store's folder list.
pub fn resolve_folder(spec: &str, folders: &[FolderEntry]) -> Result<u64, String> {
    if let Some(f) = symbolic_folder(spec) {
        return Ok(f);
    }
    let num = if let Some(h) = spec.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        spec.parse::<u64>().ok()
    };
    if let Some(n) = num {
        return if folders.iter().any(|f| f.id == n) {
            Ok(n)
        } else {
            Err(format!("no folder with id {n}"))
        };
    }
    let Some(path) = spec.strip_prefix('/') else {
        return Err(format!("{spec:?}: not a folder id, /path or symbolic name"));
    };
    let mut cur = fid::IPMSUBTREE;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur = folders
            .iter()
            .find(|f| f.parent == cur && f.name.eq_ignore_ascii_case(part))
            .map(|f| f.id)
            .ok_or_else(|| format!("{spec:?}: no folder {part:?}"))?;
    }
    Ok(cur)
}

fn show(v: &PropVal) -> String {
    match v {
        PropVal::Unicode(s) | PropVal::String8(s) => s.clone(),
        PropVal::Binary(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        other => match other.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{other:?}"),
        },
    }
}

fn parse_prop(s: &str) -> Result<TaggedVal, String> {
    let (t, v) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected TAG=VALUE"))?;
    let t = t.trim_start_matches("0x");
    let tag = PropTag(u32::from_str_radix(t, 16).map_err(|_| format!("{t:?}: bad tag"))?);
    let bad = || format!("{v:?}: not a value of the tag's type");
    let val = match tag.ptype() {
        Some(PropType::Unicode) => PropVal::Unicode(v.into()),
        Some(PropType::String8) => PropVal::String8(v.into()),
        Some(PropType::I4) => PropVal::I4(v.parse().map_err(|_| bad())?),
        Some(PropType::I8) => PropVal::I8(v.parse().map_err(|_| bad())?),
        Some(PropType::I2) => PropVal::I2(v.parse().map_err(|_| bad())?),
        Some(PropType::Boolean) => PropVal::Boolean(matches!(v, "1" | "true" | "yes")),
        _ => return Err(format!("{t}: property type not settable from the command line")),
    };
    Ok(TaggedVal::new(tag, val))
}

/// Entry point of `gromox-mbop`.
pub fn mbop_main(args: Vec<String>) -> ExitCode {
    match mbop_run(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gromox-mbop: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Names of a rule's PidTagRuleState bits (MS-OXORULE §2.2.1.3.1.3).
fn rule_state(state: u32) -> String {
    use gromox_mapi::rule::{ST_ENABLED, ST_ERROR, ST_EXIT_LEVEL, ST_KEEP_OOF_HIST, ST_ONLY_WHEN_OOF};
    let names = [
        (ST_ENABLED, "enabled"),
        (ST_ERROR, "error"),
        (ST_ONLY_WHEN_OOF, "only-when-oof"),
        (ST_KEEP_OOF_HIST, "keep-oof-history"),
        (ST_EXIT_LEVEL, "exit-level"),
    ];
    let mut v: Vec<&str> = names.iter().filter(|(b, _)| state & b != 0).map(|(_, n)| *n).collect();
    if state & ST_ENABLED == 0 {
        v.insert(0, "disabled");
    }
    v.join(",")
}

/// Names of a rule's action types (MS-OXORULE §2.2.5.1 ActionType).
fn action_names(actions: &[gromox_mapi::rule::Action]) -> String {
    use gromox_mapi::rule as r;
    actions
        .iter()
        .map(|a| match a.kind {
            r::OP_MOVE => "move".to_string(),
            r::OP_COPY => "copy".into(),
            r::OP_REPLY => "reply".into(),
            r::OP_OOF_REPLY => "oof-reply".into(),
            r::OP_DEFER_ACTION => "defer".into(),
            r::OP_BOUNCE => "bounce".into(),
            r::OP_FORWARD => "forward".into(),
            r::OP_DELEGATE => "delegate".into(),
            r::OP_TAG => "tag".into(),
            r::OP_DELETE => "delete".into(),
            r::OP_MARK_AS_READ => "mark-as-read".into(),
            k => format!("0x{k:02x}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs one `gromox-mbop` command line (`args[0]` is the program name), writing its output to
/// `out`.
pub fn mbop_run(args: &[String], out: &mut dyn std::io::Write) -> Result<(), String> {
    let w = |out: &mut dyn std::io::Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    run(args, out, &w)
}

type Emit<'a> = &'a dyn Fn(&mut dyn std::io::Write, String) -> Result<(), String>;

fn run(args: &[String], out: &mut dyn std::io::Write, emit: Emit<'_>) -> Result<(), String> {
    let mut o = getopts::Options::new();
    o.optopt("c", "config", "configuration file (default: $GROMOX_CONFIG)", "FILE");
    o.optopt("u", "user", "mailbox of this user", "USER");
    o.optopt("d", "dir", "mailbox directory", "MAILDIR");
    o.optflag("h", "help", "print this help");
    o.parsing_style(getopts::ParsingStyle::StopAtFirstFree);
    let m = o.parse(args.iter().skip(1)).map_err(|e| e.to_string())?;
    if m.opt_present("h") || m.free.is_empty() {
        emit(out, USAGE.to_string())?;
        return if m.opt_present("h") {
            Ok(())
        } else {
            Err("no command".into())
        };
    }
    let main = m
        .opt_str("c")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("GROMOX_CONFIG").map(Into::into));
    let cfg = Config::load(
        "gromox-mbop",
        main.as_deref(),
        &gromox_directory::routing::config_files(),
        &gromox_directory::routing::config_keys(),
    )
    .map_err(|e| e.to_string())?;
    let (router, _) = gromox_directory::routing::router(&cfg)?;
    let cmd = m.free[0].as_str();
    let rest = &m.free[1..];
    if let Some(filter) = cmd.strip_prefix("foreach.") {
        if m.opt_present("u") || m.opt_present("d") {
            return Err(format!("{cmd}: takes no -u/-d (it visits the directory's mailboxes)"));
        }
        return foreach(&cfg, &router, filter, rest, out, emit);
    }
    let dir = match (m.opt_str("u"), m.opt_str("d")) {
        (_, Some(d)) => d,
        (Some(u), None) => user_dir(&cfg, &u)?,
        (None, None) => return Err("-u USER or -d MAILDIR is required".into()),
    };
    mailbox_command(&router, &dir, cmd, rest, out, emit)
}

/// `foreach.FILTER[.here] COMMAND [ARGS]`: COMMAND on every mailbox of the user directory that
/// FILTER selects — `user` (users that can log in), `mb` (every object with a mailbox: users,
/// shared mailboxes, rooms, equipment) — and with `.here` only those homed on this host. One
/// line `USER: error` per failure on stderr-like output; the others still run; the exit status
/// says whether any failed.
fn foreach(
    cfg: &Config,
    router: &gromox_clients::exmdb::ExmdbRouter,
    filter: &str,
    rest: &[String],
    out: &mut dyn std::io::Write,
    emit: Emit<'_>,
) -> Result<(), String> {
    let (kind, here) = match filter.strip_suffix(".here") {
        Some(k) => (k, true),
        None => (filter, false),
    };
    if !matches!(kind, "user" | "mb") {
        return Err(format!(
            "foreach.{filter}: unknown filter (foreach.user, foreach.mb, with .here)"
        ));
    }
    let (Some(cmd), args) = (rest.first(), rest.get(1..).unwrap_or(&[])) else {
        return Err(format!("foreach.{filter} COMMAND [ARGS]"));
    };
    if cmd.starts_with("foreach.") {
        return Err("foreach cannot be nested".into());
    }
    let d = gromox_directory::Directory::open(cfg).map_err(|e| format!("foreach needs the user directory: {e}"))?;
    let me = cfg.hostname();
    let users = d.users(None, None).map_err(|e| e.to_string())?;
    let mut failed = 0usize;
    let mut done = 0usize;
    for u in users {
        let selected = match kind {
            "user" => u.can_login() && u.kind() == "user",
            _ => u.kind() != "contact" && u.kind() != "list",
        };
        let home_here = u.homeserver == 0
            || u.homeserver_host
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&me));
        if !selected || (here && !home_here) {
            continue;
        }
        // The directory's mailbox directory, else where `-u` would look.
        let maildir = if u.maildir.is_empty() {
            match crate::paths::user_maildir(&cfg.path("state_path"), &u.username) {
                Ok(p) => p.to_string_lossy().into_owned(),
                Err(_) => continue,
            }
        } else {
            u.maildir.clone()
        };
        emit(out, format!("{}:", u.username))?;
        done += 1;
        if let Err(e) = mailbox_command(router, &maildir, cmd, args, out, emit) {
            failed += 1;
            emit(out, format!("{}: {e}", u.username))?;
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(format!("foreach.{filter} {cmd}: {n} of {done} mailboxes failed")),
    }
}

/// One mailbox command on the mailbox directory `dir`, through its home server (DESIGN.md §5).
fn mailbox_command(
    router: &gromox_clients::exmdb::ExmdbRouter,
    dir: &str,
    cmd: &str,
    rest: &[String],
    out: &mut dyn std::io::Write,
    emit: Emit<'_>,
) -> Result<(), String> {
    let c = router.for_maildir(dir).map_err(|e| e.to_string())?;
    let dir = dir.to_string();
    let call = |call: Call| c.call(&dir, &call).map_err(|e| e.to_string());
    let folders = || match call(Call::ListFolders)? {
        Response::Folders(f) => Ok::<_, String>(f),
        r => Err(format!("unexpected response {r:?}")),
    };
    match cmd {
        "ping" => call(Call::Ping).map(|_| ()),
        "unload" => call(Call::Unload).map(|_| ()),
        "vacuum" => call(Call::Vacuum).map(|_| ()),
        "purge-datafiles" => emit(out, count(&call(Call::PurgeDatafiles)?)),
        "recalc-sizes" => call(Call::RecalcSizes).map(|_| ()),
        "freeze" => call(Call::Freeze).map(|_| ()),
        "thaw" => call(Call::Thaw).map(|_| ()),
        "purge-softdelete" => {
            // `-t AGE` (Gromox durations: 30d, 1d12h, "2 weeks" …): only what was deleted
            // longer ago; `-r` (recursive) is implied, the whole store is purged.
            let mut age = None;
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "-r" => {}
                    "-t" => {
                        let v = it.next().ok_or("purge-softdelete: -t needs an age, e.g. -t 30d")?;
                        let d = gromox_base::duration::parse_duration(v)
                            .map_err(|e| format!("purge-softdelete: -t {v:?}: {e}"))?;
                        age = Some(d.as_secs());
                    }
                    a => return Err(format!("purge-softdelete: unsupported argument {a:?}")),
                }
            }
            let r = match age {
                Some(age_secs) => call(Call::PurgeSoftdelOlder { age_secs }),
                None => call(Call::PurgeSoftdel),
            }?;
            emit(out, count(&r))
        }
        "emptyfld" => {
            let o = EmptyOptions::parse(rest)?;
            let fl = folders()?;
            for spec in &o.folders {
                let f = resolve_folder(spec, &fl)?;
                let n = if o.is_plain() {
                    // Server-side in one call (MS-OXCFOLD §3.2.5.9 without WantDeleteAssociated).
                    count(&call(Call::EmptyFolder {
                        folder: f,
                        hard: !o.soft,
                    })?)
                } else {
                    format!("{} removed", empty_selected(&c, &dir, f, &fl, &o)?)
                };
                emit(out, format!("{spec}: {n}"))?;
            }
            Ok(())
        }
        "movemsg" => {
            let Some((spec, mids)) = rest.split_last().filter(|(_, m)| !m.is_empty()) else {
                return Err("movemsg MID... FOLDER".into());
            };
            let to = resolve_folder(spec, &folders()?)?;
            let mids = mids
                .iter()
                .map(|s| s.parse::<u64>().map_err(|_| format!("{s:?}: not a message id")))
                .collect::<Result<Vec<_>, _>>()?;
            match call(Call::MoveMessages { mids: mids.clone(), to })? {
                Response::Ids(new) => {
                    let mut missing = 0;
                    for (old, new) in mids.iter().zip(new) {
                        if new == 0 {
                            missing += 1;
                            emit(out, format!("{old}: not moved (no such message)"))?;
                        } else {
                            emit(out, format!("{old} -> {new}"))?;
                        }
                    }
                    match missing {
                        0 => Ok(()),
                        n => Err(format!("movemsg: {n} message(s) not moved")),
                    }
                }
                r => Err(format!("unexpected response {r:?}")),
            }
        }
        "delmsg" => {
            let (Some(flag), Some(spec)) = (rest.first(), rest.get(1)) else {
                return Err("delmsg -f FOLDER MID...".into());
            };
            if flag != "-f" {
                return Err("delmsg -f FOLDER MID...".into());
            }
            resolve_folder(spec, &folders()?)?;
            let mids = rest[2..]
                .iter()
                .map(|s| s.parse::<u64>().map_err(|_| format!("{s:?}: not a message id")))
                .collect::<Result<Vec<_>, _>>()?;
            call(Call::DeleteMessages { mids, hard: true }).map(|_| ())
        }
        "get-props" => match call(Call::GetStoreProps)? {
            Response::Props(p) => {
                for t in p {
                    emit(out, format!("0x{:08x} {:?} {}", t.tag.0, t.val.ptype(), show(&t.val)))?;
                }
                Ok(())
            }
            r => Err(format!("unexpected response {r:?}")),
        },
        "set-props" => {
            let p = rest.iter().map(|s| parse_prop(s)).collect::<Result<Vec<_>, _>>()?;
            if p.is_empty() {
                return Err("set-props TAG=VALUE...".into());
            }
            call(Call::SetStoreProps(p)).map(|_| ())
        }
        "set-perm" => {
            let [member, spec, rights] = rest else {
                return Err("set-perm MEMBER FOLDER RIGHTS".into());
            };
            let rights = parse_rights(rights)?;
            let folder = resolve_folder(spec, &folders()?)?;
            call(Call::SetPermission {
                folder,
                user: member.clone(),
                rights,
            })
            .map(|_| ())
        }
        "del-perm" => {
            let [member, spec] = rest else {
                return Err("del-perm MEMBER FOLDER".into());
            };
            let folder = resolve_folder(spec, &folders()?)?;
            call(Call::RemovePermission {
                folder,
                user: member.clone(),
            })
            .map(|_| ())
        }
        "mbox-rights" => {
            let [user] = rest else {
                return Err("mbox-rights USER".into());
            };
            match call(Call::MailboxRights { user: user.clone() })? {
                Response::Count(r) => emit(out, format!("0x{r:04x}")),
                r => Err(format!("unexpected response {r:?}")),
            }
        }
        "get-perms" => {
            let [spec] = rest else {
                return Err("get-perms FOLDER".into());
            };
            let folder = resolve_folder(spec, &folders()?)?;
            for p in c.get_permissions(&dir, folder).map_err(|e| e.to_string())? {
                emit(out, format!("{} 0x{:08x} {}", p.member_id, p.rights, p.name))?;
            }
            Ok(())
        }
        "list-folders" => {
            let folder = match rest {
                [] => fid::IPMSUBTREE,
                [spec] => resolve_folder(spec, &folders()?)?,
                _ => return Err("list-folders [FOLDER]".into()),
            };
            list_folders(&c, &dir, folder, out, emit)
        }
        "list-rules" => {
            let [spec] = rest else {
                return Err("list-rules FOLDER".into());
            };
            let folder = resolve_folder(spec, &folders()?)?;
            for r in c.get_rules(&dir, folder).map_err(|e| e.to_string())? {
                emit(
                    out,
                    format!(
                        "{} seq={} state={} provider={} name={:?} actions={}",
                        r.id,
                        r.sequence,
                        rule_state(r.state),
                        r.provider,
                        r.name,
                        action_names(&r.actions)
                    ),
                )?;
            }
            Ok(())
        }
        "set-rule-state" | "del-rule" => {
            let usage = if cmd == "del-rule" {
                "del-rule FOLDER ID"
            } else {
                "set-rule-state FOLDER ID on|off"
            };
            let (spec, id, on) = match (cmd, rest) {
                ("del-rule", [spec, id]) => (spec, id, None),
                ("set-rule-state", [spec, id, s]) => (
                    spec,
                    id,
                    Some(match s.as_str() {
                        "on" | "enable" | "enabled" => true,
                        "off" | "disable" | "disabled" => false,
                        _ => return Err(usage.into()),
                    }),
                ),
                _ => return Err(usage.into()),
            };
            let id: u64 = id.parse().map_err(|_| format!("{id:?}: not a rule id"))?;
            let folder = resolve_folder(spec, &folders()?)?;
            let change = match on {
                None => gromox_exmdb_proto::RuleChange::Remove(id),
                Some(on) => {
                    let mut r = c
                        .get_rules(&dir, folder)
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .find(|r| r.id == id)
                        .ok_or_else(|| format!("{spec}: no rule {id}"))?;
                    r.state = if on {
                        r.state | gromox_mapi::rule::ST_ENABLED
                    } else {
                        r.state & !gromox_mapi::rule::ST_ENABLED
                    };
                    gromox_exmdb_proto::RuleChange::Modify(r)
                }
            };
            c.update_rules(&dir, folder, false, &[change])
                .map_err(|e| e.to_string())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

/// Options of `emptyfld [-M] [-a] [-R] [-t AGE] [--soft] FOLDER...` (Gromox's letters; short
/// options may be combined, e.g. `-Rt 1week`).
#[derive(Debug, Default, PartialEq)]
struct EmptyOptions {
    /// `--soft`: soft delete.
    soft: bool,
    /// Normal messages (`-M` exempts them).
    normal: bool,
    /// `-a`: associated (FAI) messages too.
    associated: bool,
    /// `-R`: the subfolders' messages too.
    recursive: bool,
    /// `-t AGE`: only messages last modified longer ago.
    older_than: Option<std::time::Duration>,
    folders: Vec<String>,
}

impl EmptyOptions {
    fn parse(args: &[String]) -> Result<EmptyOptions, String> {
        const USAGE: &str = "emptyfld [-M] [-a] [-R] [-t AGE] [--soft] FOLDER...";
        let mut o = EmptyOptions {
            normal: true,
            ..Default::default()
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--soft" => o.soft = true,
                long if long.starts_with("--") => {
                    return Err(format!("emptyfld: unsupported option {long:?}\n{USAGE}"))
                }
                short if short.starts_with('-') && short.len() > 1 => {
                    for ch in short[1..].chars() {
                        match ch {
                            'M' => o.normal = false,
                            'a' => o.associated = true,
                            'R' => o.recursive = true,
                            't' => {
                                let v = it
                                    .next()
                                    .ok_or(format!("emptyfld: -t needs an age, e.g. -t 30d\n{USAGE}"))?;
                                o.older_than = Some(
                                    gromox_base::duration::parse_duration(v)
                                        .map_err(|e| format!("emptyfld: -t {v:?}: {e}"))?,
                                );
                            }
                            c => return Err(format!("emptyfld: unknown option -{c}\n{USAGE}")),
                        }
                    }
                }
                f => o.folders.push(f.to_string()),
            }
        }
        if o.folders.is_empty() {
            return Err(USAGE.into());
        }
        if !o.normal && !o.associated {
            return Err("emptyfld: -M without -a selects nothing".into());
        }
        Ok(o)
    }

    /// Whether the server's EmptyFolder does it (normal messages of one folder, no age).
    fn is_plain(&self) -> bool {
        self.normal && !self.associated && !self.recursive && self.older_than.is_none()
    }
}

/// `emptyfld` with selections the EmptyFolder call does not take: the folder (and with `-R`
/// its subfolders) read through content tables restricted to messages last modified before
/// the cutoff, deleted in batches; returns how many were deleted.
fn empty_selected(
    c: &gromox_clients::exmdb::ExmdbClient,
    dir: &str,
    folder: u64,
    all: &[FolderEntry],
    o: &EmptyOptions,
) -> Result<u64, String> {
    use gromox_mapi::restriction::{RelOp, Restriction};
    use gromox_mapi::tags::{PR_LAST_MODIFICATION_TIME, PR_MID};
    const BATCH: u32 = 1000;
    let mut scope = vec![folder];
    if o.recursive {
        let mut i = 0;
        while i < scope.len() {
            let p = scope[i];
            scope.extend(all.iter().filter(|f| f.parent == p && f.id != p).map(|f| f.id));
            i += 1;
        }
    }
    let restriction = o.older_than.map(|age| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let cutoff = gromox_mapi::time::unix_to_filetime(now.saturating_sub(age.as_secs()) as i64);
        Restriction::Property {
            op: RelOp::Lt,
            tag: PR_LAST_MODIFICATION_TIME,
            value: TaggedVal::new(PR_LAST_MODIFICATION_TIME, PropVal::SysTime(cutoff)),
        }
    });
    let mut t = c.tables().map_err(|e| e.to_string())?;
    let mut deleted = 0u64;
    for f in scope {
        for associated in [false, true] {
            if !(if associated { o.associated } else { o.normal }) {
                continue;
            }
            let table = t
                .load_content_table(dir, f, associated, restriction.as_ref(), &[])
                .map_err(|e| e.to_string())?;
            let mut mids = Vec::new();
            loop {
                let rows = t
                    .query(dir, table.id, &[PR_MID], BATCH, true, false)
                    .map_err(|e| e.to_string())?;
                if rows.is_empty() {
                    break;
                }
                mids.extend(rows.iter().filter_map(|r| match r.first() {
                    Some(Some(PropVal::I8(m))) => Some(*m as u64),
                    _ => None,
                }));
            }
            t.unload(dir, table.id).map_err(|e| e.to_string())?;
            for chunk in mids.chunks(BATCH as usize) {
                let call = Call::DeleteMessages {
                    mids: chunk.to_vec(),
                    hard: !o.soft,
                };
                c.call(dir, &call).map_err(|e| e.to_string())?;
                deleted += chunk.len() as u64;
            }
        }
    }
    Ok(deleted)
}

/// `list-folders`: the subtree below `folder` through a hierarchy table (MS-OXCFOLD
/// RopGetHierarchyTable, depth-first with PidTagDepth), one line per folder: indentation by
/// depth, id, message count, name.
fn list_folders(
    c: &gromox_clients::exmdb::ExmdbClient,
    dir: &str,
    folder: u64,
    out: &mut dyn std::io::Write,
    emit: Emit<'_>,
) -> Result<(), String> {
    use crate::table::{PR_CONTENT_COUNT, PR_DEPTH, PR_FOLDER_ID};
    use gromox_mapi::tags::PR_DISPLAY_NAME;
    let e = |e: gromox_clients::exmdb::ExmdbError| e.to_string();
    let mut t = c.tables().map_err(e)?;
    let info = t.load_hierarchy_table(dir, folder, true, None, &[]).map_err(e)?;
    let cols = [PR_DEPTH, PR_FOLDER_ID, PR_CONTENT_COUNT, PR_DISPLAY_NAME];
    loop {
        let rows = t.query(dir, info.id, &cols, 1000, true, false).map_err(e)?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let num = |v: &Option<PropVal>| v.as_ref().and_then(PropVal::as_i64).unwrap_or(0);
            // PidTagDepth: 0 for the folder's own subfolders.
            let depth = num(&r[0]).clamp(0, 64) as usize;
            let name = match &r[3] {
                Some(v) => show(v),
                None => String::new(),
            };
            emit(
                out,
                format!("{}0x{:x} {} {}", "  ".repeat(depth), num(&r[1]), num(&r[2]), name),
            )?;
        }
    }
    t.unload(dir, info.id).map_err(e)
}

fn count(r: &Response) -> String {
    match r {
        Response::Count(n) => format!("{n} removed"),
        _ => String::new(),
    }
}

fn user_dir(cfg: &Config, user: &str) -> Result<String, String> {
    if let Ok(d) = gromox_directory::Directory::open(cfg) {
        if let Ok(Some(md)) = d.maildir(user) {
            if !md.is_empty() {
                return Ok(md);
            }
        }
    }
    crate::paths::user_maildir(&cfg.path("state_path"), user)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_specs() {
        assert_eq!(parse_rights("storeowner"), Ok(0x2000));
        assert_eq!(parse_rights("readany,visible"), Ok(0x401));
        assert_eq!(parse_rights("0x2000"), Ok(0x2000));
        assert_eq!(parse_rights("1025"), Ok(0x401));
        assert_eq!(parse_rights("none"), Ok(0));
        assert!(parse_rights("godmode").is_err());
        assert!(parse_rights("0xzz").is_err());
    }

    #[test]
    fn folder_specs() {
        let fl = vec![
            FolderEntry {
                id: fid::IPMSUBTREE,
                parent: fid::ROOT,
                name: "Top of Information Store".into(),
                container_class: None,
            },
            FolderEntry {
                id: fid::INBOX,
                parent: fid::IPMSUBTREE,
                name: "Inbox".into(),
                container_class: None,
            },
            FolderEntry {
                id: 0x1001,
                parent: fid::INBOX,
                name: "Projects".into(),
                container_class: None,
            },
        ];
        assert_eq!(resolve_folder("inbox", &fl), Ok(fid::INBOX));
        assert_eq!(resolve_folder("/Inbox/projects", &fl), Ok(0x1001));
        assert_eq!(resolve_folder("4097", &fl), Ok(0x1001));
        assert_eq!(resolve_folder("0x1001", &fl), Ok(0x1001));
        assert!(resolve_folder("/Inbox/Nope", &fl).is_err());
        assert!(resolve_folder("999", &fl).is_err());
        assert!(resolve_folder("Inbox2", &fl).is_err());
    }
}
