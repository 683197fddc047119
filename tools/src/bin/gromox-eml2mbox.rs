//! `gromox-eml2mbox`: see `gromox_mt::cli::eml2mbox_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::eml2mbox_main(std::env::args().collect())
}
