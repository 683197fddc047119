//! `gromox-kdb2mt`: a Zarafa/Kopano store (MySQL/MariaDB database and attachment directory) to
//! the mail-transfer stream; see `gromox_mt::cli::kdb2mt_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::kdb2mt_main(std::env::args().collect())
}
