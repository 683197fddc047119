//! `gromox-mbop`: see `exmdbd::mbop::mbop_main`.

fn main() -> std::process::ExitCode {
    exmdbd::mbop::mbop_main(std::env::args().collect())
}
