//! `gromox-oxm2mt`: Outlook .msg files to the mail-transfer stream; see
//! `gromox_mt::cli::eml2mt_main`.

fn main() -> std::process::ExitCode {
    gromox_mt::cli::eml2mt_main(std::env::args().collect(), gromox_mt::cli::Mode::Msg)
}
