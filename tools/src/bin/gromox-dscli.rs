//! gromox-dscli: send an AutoDiscover (MS-OXDSCLI POX) request and print the answer.
//! Logic in `httpd::dscli`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(httpd::dscli::main(&args));
}
