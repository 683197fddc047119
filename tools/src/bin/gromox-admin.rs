//! `gromox-admin`: manage the user directory (see `gromox_directory::cli`).

fn main() -> std::process::ExitCode {
    gromox_directory::cli::admin_main()
}
