//! `gromox-mbck`: see `exmdbd::cli::mbck_main`.

fn main() -> std::process::ExitCode {
    exmdbd::cli::mbck_main(std::env::args().collect())
}
