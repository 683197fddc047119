//! `gromox-pff2mt`: PST/OST files (MS-PST) to the mail-transfer stream; see
//! `gromox_mt::cli::pff2mt_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::pff2mt_main(std::env::args().collect())
}
