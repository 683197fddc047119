//! The exmdb client routing every program uses (DESIGN.md §5): `exmdb_listen` and
//! `rpc_proxy_connection_num` from the configuration, and each mailbox's home server from the
//! user directory (`Directory::home_of_maildir`, the rule exmdbd applies to refuse misrouted
//! calls). Without a directory every mailbox is served by the local exmdbd.

use gromox_base::Config;
use gromox_clients::exmdb::{router_from_config, ExmdbRouter};

use crate::Directory;

/// Keys [`router`] reads (the exmdb client's and the user directory's).
pub fn config_keys() -> Vec<gromox_base::KeyDef> {
    let mut defs = gromox_clients::exmdb::config_keys();
    defs.extend(crate::config_keys());
    defs
}

/// Files [`router`]'s keys are also read from.
pub fn config_files() -> Vec<&'static str> {
    let mut files = vec!["exmdb_provider.cfg"];
    files.extend_from_slice(crate::CONFIG_FILES);
    files
}

/// The router for `cfg`; `Err` for a bad `exmdb_listen`. The second value says why routing by
/// home server is off (the directory could not be opened), if it is.
pub fn router(cfg: &Config) -> Result<(ExmdbRouter, Option<String>), String> {
    let r = router_from_config(cfg)?;
    Ok(match Directory::open(cfg) {
        Ok(d) => {
            let state = cfg.path("state_path");
            let r = r.with_home_lookup(Box::new(move |md| {
                d.home_of_maildir(&state, std::path::Path::new(md)).ok().flatten()
            }));
            (r, None)
        }
        Err(e) => (r, Some(e.to_string())),
    })
}
