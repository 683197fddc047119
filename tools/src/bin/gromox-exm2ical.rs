//! `gromox-exm2ical`: `gromox-export --ical`; see `gromox_mt::cli::export_main_as`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::export_main_as(std::env::args().collect(), Some("ical"))
}
