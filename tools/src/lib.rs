//! gromox-rs command-line tools (DESIGN.md §3): `gromox-admin`, `gromox-dbop`,
//! `gromox-mkprivate`, `gromox-mkpublic`, `gromox-mbck` and, as they arrive, the import/export
//! tools. Each binary in `src/bin/` is a thin wrapper around the library crate that does the
//! work (the directory, the store), so the tools operate through the same code as the daemons.
//! The suite launcher `gromox` lives in `tools/launcher`.
