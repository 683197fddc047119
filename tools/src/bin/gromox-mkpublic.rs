//! `gromox-mkpublic`: see `exmdbd::cli::mkpublic_main`.

fn main() -> std::process::ExitCode {
    exmdbd::cli::mkpublic_main(std::env::args().collect())
}
