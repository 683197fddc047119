//! Command-line programs. Each `*_main` takes the full argument vector and returns the exit
//! status: 0 all converted, 1 some objects failed (one line each on stderr), 2 usage/setup.

use crate::export;
use crate::import::{Importer, Options};
use crate::produce::{mbox_split, tnef_message, Producer};
use crate::Error;
use exmdbd::{Store, StoreOptions};
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Source formats of `gromox-eml2mt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Mail,
    Mbox,
    Ical,
    Vcard,
    Tnef,
    /// Outlook .msg files (MS-OXMSG).
    Msg,
}

fn prog(args: &[String], def: &str) -> String {
    args.first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|s| s.to_str())
        .unwrap_or(def)
        .to_string()
}

/// Parses the arguments after the program name; a usage error is reported on stderr and
/// becomes exit status 2.
fn parse_args(o: &getopts::Options, args: &[String], me: &str) -> Result<getopts::Matches, ExitCode> {
    o.parse(&args[1.min(args.len())..]).map_err(|e| {
        eprintln!("{me}: {e}");
        ExitCode::from(2)
    })
}

fn read_input(path: &str) -> Result<Vec<u8>, Error> {
    if path == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|err| Error::Io { path: path.into(), err })?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|err| Error::Io { path: path.into(), err })
}

/// `gromox-eml2mt` (and `-mbox2mt`, `-ical2mt`, `-vcf2mt`, `-tnef2mt` with `default`):
/// converts the files named on the command line and writes the stream to stdout.
pub fn eml2mt_main(args: Vec<String>, default: Mode) -> ExitCode {
    let me = prog(&args, "gromox-eml2mt");
    let mut o = getopts::Options::new();
    o.optflag("", "mail", "inputs are RFC 5322 messages (.eml)");
    o.optflag("", "mbox", "inputs are mbox files");
    o.optflag("", "ical", "inputs are iCalendar files");
    o.optflag("", "vcard", "inputs are vCard files");
    o.optflag("", "tnef", "inputs are TNEF (winmail.dat) files");
    o.optflag("", "msg", "inputs are Outlook .msg files");
    o.optflag("v", "", "verbose");
    o.optflag("h", "help", "this help");
    let m = match parse_args(&o, &args, &me) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.opt_present("h") || m.free.is_empty() {
        eprint!(
            "{}",
            o.usage(&format!(
                "Usage: {me} [--mail|--mbox|--ical|--vcard|--tnef|--msg] FILE... > stream"
            ))
        );
        return ExitCode::from(if m.opt_present("h") { 0 } else { 2 });
    }
    let mode = if m.opt_present("mbox") {
        Mode::Mbox
    } else if m.opt_present("ical") {
        Mode::Ical
    } else if m.opt_present("vcard") {
        Mode::Vcard
    } else if m.opt_present("tnef") {
        Mode::Tnef
    } else if m.opt_present("msg") {
        Mode::Msg
    } else if m.opt_present("mail") {
        Mode::Mail
    } else {
        default
    };
    if std::io::stdout().is_terminal() {
        eprintln!("{me}: refusing to write a binary stream to a terminal; pipe it into gromox-import");
        return ExitCode::from(2);
    }
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut errs = std::io::stderr();
    match produce_files(out, &m.free, mode, &mut errs) {
        Ok((n, failed)) => {
            if m.opt_present("v") {
                eprintln!("{me}: {n} objects written, {failed} failed");
            }
            ExitCode::from(u8::from(failed > 0))
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Converts `files` in `mode` into a stream on `out`; per-object failures go to `errs`.
/// Returns (objects written, objects failed).
pub fn produce_files<W: Write>(
    out: W,
    files: &[String],
    mode: Mode,
    errs: &mut dyn Write,
) -> Result<(u64, u64), Error> {
    let mut p = Producer::new(out)?;
    let mut n = 0u64;
    let mut failed = 0u64;
    for f in files {
        match mode {
            Mode::Mbox => {
                let file = match std::fs::File::open(f) {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = writeln!(errs, "{f}: {e}");
                        failed += 1;
                        continue;
                    }
                };
                let mut i = 0u64;
                let mut werr = None;
                let r = mbox_split(BufReader::with_capacity(1 << 16, file), |msg| {
                    i += 1;
                    match p.eml(msg, &format!("{f}:message {i}")) {
                        Ok(()) => {
                            n += 1;
                            true
                        }
                        Err(e) => {
                            werr = Some(e);
                            false
                        }
                    }
                });
                if let Some(e) = werr {
                    return Err(e.into());
                }
                if let Err(e) = r {
                    let _ = writeln!(errs, "{f}: after message {i}: {e}");
                    failed += 1;
                }
            }
            _ => {
                let data = match read_input(f) {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = writeln!(errs, "{e}");
                        failed += 1;
                        continue;
                    }
                };
                match mode {
                    Mode::Mail => {
                        p.eml(&data, f)?;
                        n += 1;
                    }
                    Mode::Ical | Mode::Vcard => {
                        let Ok(text) = String::from_utf8(data) else {
                            let _ = writeln!(errs, "{f}: not UTF-8 text, skipped");
                            failed += 1;
                            continue;
                        };
                        let k = if mode == Mode::Ical {
                            p.ical(&text, f)?
                        } else {
                            p.vcard(&text, f)?
                        };
                        if k == 0 {
                            let _ = writeln!(errs, "{f}: no convertible objects");
                            failed += 1;
                        }
                        n += k as u64;
                    }
                    Mode::Msg => match crate::oxm::msg_to_mapi(&data) {
                        Ok(msg) => {
                            p.message(&msg, 0, f, None)?;
                            n += 1;
                        }
                        Err(e) => {
                            let _ = writeln!(errs, "{f}: {e}");
                            failed += 1;
                        }
                    },
                    Mode::Tnef => {
                        let (msg, err) = tnef_message(&data);
                        if let Some(e) = err {
                            let _ = writeln!(errs, "{f}: partly decoded: {e}");
                        }
                        p.message(&msg, 0, f, None)?;
                        n += 1;
                    }
                    Mode::Mbox => {}
                }
            }
        }
    }
    p.finish()?;
    Ok((n, failed))
}

/// The exmdb client for the mailbox `dir`: `exmdb_listen` and the user directory from the
/// configuration (`-c`), routed to the mailbox's home server.
fn rpc_client(
    me: &str,
    m: &getopts::Matches,
    dir: &Path,
) -> Result<(std::sync::Arc<gromox_clients::exmdb::ExmdbClient>, String), String> {
    let cfg = gromox_base::config::Config::load(
        me,
        m.opt_str("c").as_deref().map(Path::new),
        &gromox_directory::routing::config_files(),
        &gromox_directory::routing::config_keys(),
    )
    .map_err(|e| format!("config: {e}"))?;
    let (router, _) = gromox_directory::routing::router(&cfg)?;
    let dir = dir.to_str().ok_or("the mailbox path is not UTF-8")?;
    let client = router.for_maildir(dir).map_err(|e| e.to_string())?;
    Ok((client, dir.to_string()))
}

/// The mailbox `dir` behind exmdbd as an import target.
fn rpc_target(me: &str, m: &getopts::Matches, dir: &Path) -> Result<crate::target::RpcTarget, String> {
    let (client, dir) = rpc_client(me, m, dir)?;
    crate::target::RpcTarget::new(client, &dir).map_err(|e| e.to_string())
}

/// Resolves `-u user@domain` / `-u @domain` to the store directory.
fn store_dir(me: &str, m: &getopts::Matches) -> Result<PathBuf, String> {
    if let Some(d) = m.opt_str("maildir") {
        return Ok(PathBuf::from(d));
    }
    let Some(u) = m.opt_str("u") else {
        return Err("need -u user@domain (or @domain for the public store)".into());
    };
    let cfg = gromox_base::config::Config::load(me, m.opt_str("c").as_deref().map(Path::new), &[], &[])
        .map_err(|e| format!("config: {e}"))?;
    let state = PathBuf::from(cfg.get("state_path").unwrap_or("/var/lib/gromox"));
    if let Some(dom) = u.strip_prefix('@') {
        gromox_base::names::domain_dir(&state, dom).map_err(|e| format!("{u}: {e}"))
    } else {
        gromox_base::names::user_maildir(&state, &u).map_err(|e| format!("{u}: {e}"))
    }
}

fn store_opts(o: &mut getopts::Options) {
    o.optopt("u", "", "user@domain, or @domain for the public store", "ADDR");
    o.optopt("c", "", "configuration file", "FILE");
    o.optopt("", "maildir", "store directory (instead of -u)", "DIR");
    o.optflag("h", "help", "this help");
}

/// `gromox-import` / `gromox-mt2exm`: reads a stream on stdin into a store.
pub fn import_main(args: Vec<String>) -> ExitCode {
    let me = prog(&args, "gromox-import");
    let mut o = getopts::Options::new();
    store_opts(&mut o);
    o.optopt("B", "", "base folder (under the top of the information store)", "NAME");
    o.optflag("D", "", "delivery mode: file messages like delivered mail");
    o.optflag("p", "", "print properties of each message");
    o.optflag("t", "", "print the folder tree");
    o.optflag("v", "", "verbose");
    o.optflag(
        "",
        "rpc",
        "write through exmdbd over the exmdb RPC (exmdb_listen; the mailbox's home server) instead of opening the store here",
    );
    let m = match parse_args(&o, &args, &me) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.opt_present("h") {
        eprint!(
            "{}",
            o.usage(&format!("Usage: {me} -u user@domain [-B folder] [-D] [--rpc] < stream"))
        );
        return ExitCode::SUCCESS;
    }
    let dir = match store_dir(&me, &m) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{me}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut store;
    let mut remote;
    let target: &mut dyn crate::target::Target = if m.opt_present("rpc") {
        remote = match rpc_target(&me, &m, &dir) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{me}: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        &mut remote
    } else {
        store = match Store::open(&dir, &StoreOptions::default()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{me}: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        &mut store
    };
    let opts = Options {
        base: m.opt_str("B"),
        deliver: m.opt_present("D"),
        print_props: m.opt_present("p"),
        tree: m.opt_present("t"),
        verbose: m.opt_present("v"),
        progress: true,
    };
    let start = Instant::now();
    let stdout = std::io::stdout();
    let mut imp = match Importer::new(target, opts, Box::new(stdout.lock())) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{me}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut errs = std::io::stderr();
    let stdin = std::io::stdin();
    let r = imp.run(BufReader::with_capacity(1 << 16, stdin.lock()), &mut errs);
    match r {
        Ok(s) => {
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            eprintln!(
                "{me}: {} messages imported ({:.1} MB, {:.0} msg/s), {} failed, {} folders created, {} spliced{}",
                s.messages,
                s.bytes as f64 / 1e6,
                s.messages as f64 / secs,
                s.failed,
                s.folders_created,
                s.folders_spliced,
                if s.stream_error.is_some() {
                    ", stream incomplete"
                } else {
                    ""
                }
            );
            ExitCode::from(u8::from(s.failed > 0 || s.stream_error.is_some()))
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `gromox-export` (`--mail DIR` EML per message, `--mt` stream to stdout, `--vcard` contacts
/// as vCard to stdout) and
/// `gromox-exm2eml` (same as `--mail`).
pub fn export_main(args: Vec<String>, mail_default: bool) -> ExitCode {
    export_main_as(args, if mail_default { Some("mail") } else { None })
}

/// `gromox-export` with a default format (`"mail"`, `"mt"`, `"vcard"`, `"ical"`, `"tnef"`) for
/// the `gromox-exm2*` programs: the format's option is implied, and for `mail`/`tnef` the first
/// free argument is the output directory.
pub fn export_main_as(mut args: Vec<String>, default: Option<&str>) -> ExitCode {
    let me = prog(&args, "gromox-export");
    match default {
        Some(f @ ("mt" | "vcard" | "ical")) if !args.iter().any(|a| a == &format!("--{f}")) => {
            args.insert(1.min(args.len()), format!("--{f}"))
        }
        _ => {}
    }
    let mail_default = default == Some("mail");
    let tnef_default = default == Some("tnef");
    let mut o = getopts::Options::new();
    store_opts(&mut o);
    o.optopt("", "mail", "write one .eml per message below DIR", "DIR");
    o.optflag("", "mt", "write the stream to stdout");
    o.optflag(
        "",
        "vcard",
        "write every contact and distribution list as a vCard to stdout",
    );
    o.optopt(
        "",
        "vcard-version",
        "vCard version for --vcard: 2.1, 3.0 (default) or 4.0",
        "V",
    );
    o.optflag(
        "",
        "ical",
        "write every appointment and task as one iCalendar to stdout",
    );
    o.optopt(
        "",
        "tnef",
        "write one TNEF (winmail.dat) file per message below DIR",
        "DIR",
    );
    o.optflag(
        "",
        "rpc",
        "read through exmdbd over the exmdb RPC (exmdb_listen; the mailbox's home server) instead of opening the store here",
    );
    let m = match parse_args(&o, &args, &me) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let outdir = m
        .opt_str("mail")
        .or_else(|| if mail_default { m.free.first().cloned() } else { None });
    let tnefdir = m
        .opt_str("tnef")
        .or_else(|| if tnef_default { m.free.first().cloned() } else { None });
    if m.opt_present("h")
        || (outdir.is_none()
            && tnefdir.is_none()
            && !m.opt_present("mt")
            && !m.opt_present("vcard")
            && !m.opt_present("ical"))
    {
        eprint!(
            "{}",
            o.usage(&format!(
                "Usage: {me} -u user@domain [--rpc] (--mail DIR | --mt > stream | --vcard > contacts.vcf | --ical > calendar.ics | --tnef DIR)"
            ))
        );
        return ExitCode::from(if m.opt_present("h") { 0 } else { 2 });
    }
    let dir = match store_dir(&me, &m) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{me}: {e}");
            return ExitCode::from(2);
        }
    };
    let local;
    let remote;
    let (store, private): (&dyn export::Source, bool) = if m.opt_present("rpc") {
        let src = match rpc_client(&me, &m, &dir) {
            Ok((client, d)) => export::RpcSource::new(client, &d),
            Err(e) => {
                eprintln!("{me}: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        let private = match src.is_private() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{me}: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        remote = src;
        (&remote, private)
    } else {
        local = match Store::open(&dir, &StoreOptions::default()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{me}: {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        (&local, local.is_private())
    };
    if let Some(note) = store.src_limits() {
        eprintln!("{me}: note: {note}");
    }
    let root = if private {
        exmdbd::layout::fid::IPMSUBTREE
    } else {
        exmdbd::layout::fid::PUB_IPMSUBTREE
    };
    let mut errs = std::io::stderr();
    let r = match outdir {
        _ if m.opt_present("ical") => export::export_ical(
            store,
            root,
            std::io::BufWriter::new(std::io::stdout().lock()),
            &mut errs,
        ),
        _ if tnefdir.is_some() => match &tnefdir {
            Some(d) => export::export_tnef(store, root, Path::new(d), &mut errs),
            None => Ok(0),
        },
        _ if m.opt_present("vcard") => {
            use gromox_convert::vcard_export::VcardVersion;
            let version = match m.opt_str("vcard-version").as_deref() {
                None | Some("3.0") | Some("3") => VcardVersion::V30,
                Some("2.1") => VcardVersion::V21,
                Some("4.0") | Some("4") => VcardVersion::V40,
                Some(v) => {
                    eprintln!("{me}: --vcard-version {v:?}: use 2.1, 3.0 or 4.0");
                    return ExitCode::from(2);
                }
            };
            export::export_vcard(
                store,
                root,
                version,
                std::io::BufWriter::new(std::io::stdout().lock()),
                &mut errs,
            )
        }
        Some(d) => export::export_eml(store, root, Path::new(&d), &mut errs),
        None => {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            export::export_mt(store, root, out, &mut errs).map(|x| x.1)
        }
    };
    match r {
        Ok(n) => {
            eprintln!("{me}: {n} messages exported");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `gromox-eml2mbox`: EML files → an mbox on stdout.
pub fn eml2mbox_main(args: Vec<String>) -> ExitCode {
    let me = prog(&args, "gromox-eml2mbox");
    if args.len() < 2 || args[1] == "-h" || args[1] == "--help" {
        eprintln!("Usage: {me} FILE.eml... > out.mbox");
        return ExitCode::from(2);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    for f in &args[1..] {
        match read_input(f) {
            Ok(d) => {
                if let Err(e) = export::mbox_append(&mut out, &d) {
                    eprintln!("{me}: writing: {e}");
                    return ExitCode::from(2);
                }
            }
            Err(e) => {
                eprintln!("{me}: {e}");
                failed = true;
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("{me}: writing: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(u8::from(failed))
}

/// `gromox-pff2mt`: PST/OST files (MS-PST) → stream on stdout. `-s` splices the PST's top
/// folders into the store's folders of the same name instead of one `Import of …` folder.
/// Exit 0 all read, 1 some objects (or whole files) could not be read, 2 usage/stream error.
pub fn pff2mt_main(args: Vec<String>) -> ExitCode {
    let me = prog(&args, "gromox-pff2mt");
    let mut o = getopts::Options::new();
    o.optflag(
        "s",
        "",
        "splice: map the PST's top folders onto the store's (Inbox → Inbox …)",
    );
    o.optflag("v", "", "verbose");
    o.optflag("h", "help", "this help");
    let m = match parse_args(&o, &args, &me) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.opt_present("h") || m.free.is_empty() {
        eprint!("{}", o.usage(&format!("Usage: {me} [-s] FILE.pst... > stream")));
        return ExitCode::from(if m.opt_present("h") { 0 } else { 2 });
    }
    if std::io::stdout().is_terminal() {
        eprintln!("{me}: refusing to write a binary stream to a terminal; pipe it into gromox-import");
        return ExitCode::from(2);
    }
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut errs = std::io::stderr();
    match pst_files(out, &m.free, m.opt_present("s"), &mut errs) {
        Ok(s) => {
            if m.opt_present("v") {
                eprintln!(
                    "{me}: {} folders, {} messages, {} associated messages, {} failed",
                    s.folders, s.messages, s.associated, s.failed
                );
            }
            ExitCode::from(u8::from(s.failed > 0))
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Converts PST files into one stream on `out`; a file that cannot be opened counts as one
/// failed object (reported on `errs`) and the others still convert.
pub fn pst_files<W: Write>(
    out: W,
    files: &[String],
    splice: bool,
    errs: &mut dyn Write,
) -> Result<crate::pst::PstStats, Error> {
    let mut p = Producer::new(out)?;
    let mut total = crate::pst::PstStats::default();
    for f in files {
        match crate::pst::pst_to_stream(Path::new(f), &mut p, splice, errs) {
            Ok(s) => {
                total.folders += s.folders;
                total.messages += s.messages;
                total.associated += s.associated;
                total.failed += s.failed;
            }
            Err(crate::pst::PstError::Stream(e)) => return Err(e.into()),
            Err(e) => {
                let _ = writeln!(errs, "{e}");
                total.failed += 1;
            }
        }
    }
    p.finish()?;
    Ok(total)
}

/// `gromox-kdb2mt`: one store of a Zarafa/Kopano database → stream on stdout. The store is
/// chosen with `--mbox-guid GUID` (hex of `stores.guid`) or `--mbox-mro USER` (`stores.user_name`);
/// `-l` lists the stores. The SQL password comes from the `SQLPASS` environment variable.
/// Exit 0 all read, 1 some objects could not be read, 2 usage/connection/stream error.
pub fn kdb2mt_main(args: Vec<String>) -> ExitCode {
    use crate::kdb::{KdbOptions, MysqlSource, SqlParams};
    let me = prog(&args, "gromox-kdb2mt");
    let mut o = getopts::Options::new();
    o.optopt("", "sql-host", "database host (default localhost)", "HOST");
    o.optopt("", "sql-port", "database port (default 3306)", "PORT");
    o.optopt(
        "",
        "sql-user",
        "database user (default root); password from $SQLPASS",
        "USER",
    );
    o.optopt("", "sql-db", "database name (default kopano)", "NAME");
    o.optopt(
        "",
        "src-attach",
        "Kopano's attachment directory (attachment_path)",
        "DIR",
    );
    o.optopt("", "mbox-guid", "the store with this GUID (32 hex digits)", "GUID");
    o.optopt("", "mbox-mro", "the store of this user (stores.user_name)", "USER");
    o.optflag("l", "", "list the stores and exit");
    o.optflag(
        "s",
        "",
        "splice: map the store's top folders onto the target's (Inbox → Inbox …)",
    );
    o.optflag("p", "", "print every object's properties (stderr)");
    o.optflag("t", "", "print the folder tree (stderr)");
    o.optflag("v", "", "verbose");
    o.optflag("h", "help", "this help");
    let m = match parse_args(&o, &args, &me) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let usage = format!(
        "Usage: {me} [--sql-host H] [--sql-port P] [--sql-user U] [--sql-db DB] [--src-attach DIR] \
         (--mbox-guid GUID | --mbox-mro USER) [-s] [-p] [-t] [-v] > stream\n       {me} [--sql-…] -l"
    );
    if m.opt_present("h") {
        eprint!("{}", o.usage(&usage));
        return ExitCode::SUCCESS;
    }
    let port = match m.opt_str("sql-port").map(|p| p.parse::<u16>()) {
        None => 3306,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("{me}: --sql-port: not a port number");
            return ExitCode::from(2);
        }
    };
    let params = SqlParams {
        host: m.opt_str("sql-host").unwrap_or_else(|| "localhost".into()),
        port,
        user: m.opt_str("sql-user").unwrap_or_else(|| "root".into()),
        pass: std::env::var("SQLPASS").ok().filter(|p| !p.is_empty()),
        db: m.opt_str("sql-db").unwrap_or_else(|| "kopano".into()),
    };
    let mut src = match MysqlSource::connect(&params, m.opt_str("src-attach").map(PathBuf::from)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{me}: {e}");
            return ExitCode::from(2);
        }
    };
    use crate::kdb::Source;
    let stores = match src.stores() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{me}: {params:?}: stores: {e}");
            return ExitCode::from(2);
        }
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    if m.opt_present("l") {
        println!("{:<32}  {:>8}  {:>6}  {:<4}  user", "GUID", "object", "userid", "type");
        for s in &stores {
            let kind = match s.kind {
                0 => "priv",
                1 => "pub",
                2 => "arch",
                _ => "?",
            };
            println!(
                "{:<32}  {:>8}  {:>6}  {:<4}  {}",
                hex(&s.guid),
                s.hierarchy_id,
                s.user_id,
                kind,
                s.user_name
            );
        }
        return ExitCode::SUCCESS;
    }
    let chosen = match (m.opt_str("mbox-guid"), m.opt_str("mbox-mro")) {
        (Some(g), None) => {
            let g = g.replace(['-', '{', '}'], "").to_ascii_lowercase();
            stores.iter().find(|s| hex(&s.guid) == g)
        }
        (None, Some(u)) => stores.iter().find(|s| s.user_name.eq_ignore_ascii_case(&u)),
        _ => {
            eprint!(
                "{}",
                o.usage(&format!("{me}: need one of --mbox-guid, --mbox-mro (or -l)\n{usage}"))
            );
            return ExitCode::from(2);
        }
    };
    let Some(store) = chosen.cloned() else {
        eprintln!("{me}: no such store in {params:?} (see -l)");
        return ExitCode::from(2);
    };
    if std::io::stdout().is_terminal() {
        eprintln!("{me}: refusing to write a binary stream to a terminal; pipe it into gromox-import");
        return ExitCode::from(2);
    }
    let opts = KdbOptions {
        splice: m.opt_present("s"),
        tree: m.opt_present("t"),
        print_props: m.opt_present("p"),
    };
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut errs = std::io::stderr();
    let r = Producer::new(out).map_err(Error::from).and_then(|mut p| {
        let st = crate::kdb::kdb_to_stream(&mut src, &store, &mut p, &opts, &mut errs).map_err(|e| match e {
            crate::kdb::KdbError::Stream(s) => Error::Stream(s),
            crate::kdb::KdbError::Source(s) => Error::Usage(s),
        })?;
        p.finish()?;
        Ok(st)
    });
    match r {
        Ok(s) => {
            if m.opt_present("v") {
                eprintln!(
                    "{me}: {} folders, {} messages, {} associated messages, {} failed",
                    s.folders, s.messages, s.associated, s.failed
                );
            }
            ExitCode::from(u8::from(s.failed > 0))
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            ExitCode::from(2)
        }
    }
}
