//! `gromox-import`: see `gromox_mt::cli::import_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::import_main(std::env::args().collect())
}
