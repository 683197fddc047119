//! `gromox-ical2mt`: see `gromox_mt::cli::eml2mt_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::eml2mt_main(std::env::args().collect(), gromox_mt::cli::Mode::Ical)
}
