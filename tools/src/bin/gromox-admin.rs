//! `gromox-admin`: manage the user directory (see `gromox_directory::cli`); adding a user or a
//! domain creates its store (see `gromox_tools::store_hooks`).

fn main() -> std::process::ExitCode {
    gromox_tools::install_store_hooks();
    gromox_directory::cli::admin_main()
}
