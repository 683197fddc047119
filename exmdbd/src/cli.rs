//! Command-line front ends of `gromox-mkprivate`, `gromox-mkpublic` and `gromox-mbck`
//! (the binaries in `tools/` call these).

use crate::error::Error;
use crate::paths;
use crate::store::{Store, StoreOptions};
use gromox_base::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn state_dir(m: &getopts::Matches, prog: &str) -> Result<PathBuf, String> {
    if let Some(s) = m.opt_str("state") {
        return Ok(PathBuf::from(s));
    }
    let main = m
        .opt_str("c")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GROMOX_CONFIG").map(PathBuf::from));
    let cfg = Config::load(prog, main.as_deref(), &[], &[]).map_err(|e| e.to_string())?;
    Ok(cfg.path("state_path"))
}

fn opts_common(o: &mut getopts::Options) {
    o.optopt(
        "c",
        "config",
        "configuration file (default: $GROMOX_CONFIG, /etc/gromox/gromox.cfg)",
        "FILE",
    );
    o.optopt("", "state", "state directory (overrides state_path)", "DIR");
    o.optflag("h", "help", "print this help");
}

fn usage(prog: &str, args: &str, o: &getopts::Options) -> String {
    o.usage(&format!("Usage: {prog} [options] {args}"))
}

fn fail(prog: &str, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{prog}: {msg}");
    ExitCode::FAILURE
}

/// `gromox-mkprivate [-c FILE] [--state DIR] [-l LANG] [-f] [-U] USER`: creates (or with
/// `-U` upgrades) the private store of USER under `<state>/user/<domain>/<local>/`.
pub fn mkprivate_main(args: Vec<String>) -> ExitCode {
    let prog = "gromox-mkprivate";
    let mut o = getopts::Options::new();
    opts_common(&mut o);
    o.optopt(
        "l",
        "lang",
        "language of the default folder names (en de fr es it nl pt ja zh)",
        "LANG",
    );
    o.optflag("f", "force", "recreate an existing store (its content is lost)");
    o.optflag("U", "upgrade", "upgrade the schema of an existing store");
    let m = match o.parse(args.iter().skip(1)) {
        Ok(m) => m,
        Err(e) => return fail(prog, e),
    };
    if m.opt_present("h") || m.free.len() != 1 {
        println!("{}", usage(prog, "USER", &o));
        return if m.opt_present("h") {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let state = match state_dir(&m, prog) {
        Ok(s) => s,
        Err(e) => return fail(prog, e),
    };
    let user = &m.free[0];
    let dir = match paths::user_maildir(&state, user) {
        Ok(d) => d,
        Err(e) => return fail(prog, e),
    };
    run_create(prog, &dir, m.opt_present("U"), || {
        Store::create_private(
            &dir,
            user,
            &m.opt_str("l").unwrap_or_else(|| "en".into()),
            m.opt_present("f"),
            &StoreOptions::default(),
        )
    })
}

/// `gromox-mkpublic [-c FILE] [--state DIR] [-f] [-U] DOMAIN`: creates the public store of
/// DOMAIN under `<state>/domain/<domain>/`.
pub fn mkpublic_main(args: Vec<String>) -> ExitCode {
    let prog = "gromox-mkpublic";
    let mut o = getopts::Options::new();
    opts_common(&mut o);
    o.optflag("f", "force", "recreate an existing store (its content is lost)");
    o.optflag("U", "upgrade", "upgrade the schema of an existing store");
    let m = match o.parse(args.iter().skip(1)) {
        Ok(m) => m,
        Err(e) => return fail(prog, e),
    };
    if m.opt_present("h") || m.free.len() != 1 {
        println!("{}", usage(prog, "DOMAIN", &o));
        return if m.opt_present("h") {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let state = match state_dir(&m, prog) {
        Ok(s) => s,
        Err(e) => return fail(prog, e),
    };
    let domain = &m.free[0];
    let dir = match paths::domain_dir(&state, domain) {
        Ok(d) => d,
        Err(e) => return fail(prog, e),
    };
    run_create(prog, &dir, m.opt_present("U"), || {
        Store::create_public(&dir, domain, m.opt_present("f"), &StoreOptions::default())
    })
}

fn run_create(prog: &str, dir: &Path, upgrade: bool, create: impl FnOnce() -> Result<Store, Error>) -> ExitCode {
    if upgrade {
        return match Store::upgrade(dir, &StoreOptions::default()) {
            Ok(steps) => {
                for s in &steps {
                    println!("{}: {s}", dir.display());
                }
                println!(
                    "{}: {} (schema generation {})",
                    dir.display(),
                    if steps.is_empty() { "up to date" } else { "upgraded" },
                    crate::schema::SCHEMA_VERSION
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(prog, e),
        };
    }
    match create() {
        Ok(_) => {
            println!("created {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(prog, e),
    }
}

/// `gromox-mbck [-p] STORE`: checks a store (a mailbox directory, or a user name / domain
/// resolved under the state directory); `-p` removes orphaned content files and fixes size
/// counters. Exit status 0 when sound, 1 when damaged, 2 on usage errors.
pub fn mbck_main(args: Vec<String>) -> ExitCode {
    let prog = "gromox-mbck";
    let mut o = getopts::Options::new();
    opts_common(&mut o);
    o.optflag("p", "purge", "remove orphaned content files, fix counters");
    let m = match o.parse(args.iter().skip(1)) {
        Ok(m) => m,
        Err(e) => return fail(prog, e),
    };
    if m.opt_present("h") || m.free.len() != 1 {
        println!("{}", usage(prog, "STORE", &o));
        return if m.opt_present("h") {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let arg = &m.free[0];
    let dir = if Path::new(arg).join("exmdb").is_dir() {
        PathBuf::from(arg)
    } else {
        let state = match state_dir(&m, prog) {
            Ok(s) => s,
            Err(e) => return fail(prog, e),
        };
        let r = if arg.contains('@') {
            paths::user_maildir(&state, arg)
        } else {
            paths::domain_dir(&state, arg)
        };
        match r {
            Ok(d) => d,
            Err(e) => return fail(prog, e),
        }
    };
    match crate::mbck::check(&dir, m.opt_present("p")) {
        Ok(rep) => {
            for e in &rep.errors {
                println!("error: {e}");
            }
            for w in &rep.warnings {
                println!("warning: {w}");
            }
            for f in &rep.fixed {
                println!("fixed: {f}");
            }
            if rep.ok() {
                println!("{}: ok", dir.display());
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(prog, e),
    }
}
