//! `gromox-dbop`: create (-C) or upgrade (-U) the user directory schema (see
//! `gromox_directory::cli`).

fn main() -> std::process::ExitCode {
    gromox_directory::cli::dbop_main()
}
