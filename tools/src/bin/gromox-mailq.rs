//! `gromox-mailq`: list lmtpd's spool queue (messages accepted in SMTP mode and not yet
//! delivered): id, size, arrival, sender, pending recipients. Takes the usual `-c FILE`.

use gromox_base::daemon::{Daemon, Spec};

fn main() -> std::process::ExitCode {
    let spec = Spec {
        prog: "gromox-mailq",
        about: "list the lmtpd delivery queue",
        files: &[],
        keys: Vec::new(),
    };
    let (d, _) = Daemon::start(spec);
    let state = d.config.path("state_path");
    match lmtpd::spool::mailq(&state) {
        Ok(entries) => {
            print!("{}", lmtpd::spool::format_mailq(&entries));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gromox-mailq: {}: {e}", state.join("spool/queue").display());
            std::process::ExitCode::FAILURE
        }
    }
}
