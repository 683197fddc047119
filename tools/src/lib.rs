//! gromox-rs command-line tools (DESIGN.md §3): `gromox-admin`, `gromox-dbop`,
//! `gromox-mkprivate`, `gromox-mkpublic`, `gromox-mbck`, `gromox-dscli` and, as they arrive, the
//! import/export tools. Each binary in `src/bin/` is a thin wrapper around the library crate
//! that does the work (the directory, the store, httpd), so the tools operate through the same
//! code as the daemons. The suite launcher `gromox` lives in `tools/launcher`.
//!
//! This library holds the glue between those crates that none of them may own, because the
//! directory must not depend on the store or the store on the directory.

use std::path::{Path, PathBuf};

use gromox_directory::model::{Domain, User};
use gromox_directory::StoreHooks;

/// The store-creation hooks of the user directory: `gromox-admin user add` creates the user's
/// private store (`gromox-mkprivate`), `domain add` the domain's public store
/// (`gromox-mkpublic`). An existing store is left alone.
pub fn store_hooks() -> StoreHooks {
    StoreHooks {
        create_private_store,
        create_public_store,
    }
}

/// Install [`store_hooks`] for this process.
pub fn install_store_hooks() {
    gromox_directory::set_store_hooks(store_hooks());
}

fn exists(dir: &Path) -> bool {
    dir.join("exmdb/exchange.sqlite3").exists()
}

fn create_private_store(state: &Path, user: &User) -> Result<(), String> {
    let maildir = if user.maildir.is_empty() {
        gromox_base::names::user_maildir(state, &user.username).map_err(|e| e.to_string())?
    } else {
        PathBuf::from(&user.maildir)
    };
    if exists(&maildir) {
        return Ok(());
    }
    let lang = if user.lang.is_empty() { "en" } else { user.lang.as_str() };
    exmdbd::Store::create_private(&maildir, &user.username, lang, false, &exmdbd::StoreOptions::default())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", maildir.display()))
}

fn create_public_store(state: &Path, domain: &Domain) -> Result<(), String> {
    let dir = if domain.homedir.is_empty() {
        gromox_base::names::domain_dir(state, &domain.name).map_err(|e| e.to_string())?
    } else {
        PathBuf::from(&domain.homedir)
    };
    if exists(&dir) {
        return Ok(());
    }
    exmdbd::Store::create_public(&dir, &domain.name, false, &exmdbd::StoreOptions::default())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", dir.display()))
}
