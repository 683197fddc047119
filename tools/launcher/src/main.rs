//! `gromox`: the suite launcher (DESIGN.md §6). `gromox up` creates a state and configuration
//! directory, starts every daemon of the suite on loopback ports, restarts one that dies, and
//! stops them all on Ctrl-C or SIGTERM. See [`gromox_launcher`] for the details.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    gromox_launcher::main(&args)
}
