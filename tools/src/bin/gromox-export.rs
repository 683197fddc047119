//! `gromox-export`: see `gromox_mt::cli::export_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::export_main(std::env::args().collect(), false)
}
