//! `gromox-mkprivate`: see `exmdbd::cli::mkprivate_main`.

fn main() -> std::process::ExitCode {
    exmdbd::cli::mkprivate_main(std::env::args().collect())
}
