//! The `nic-conformance` binary: parse, call the library, exit with its code.

use clap::Parser;

fn main() {
    let cli = nic_conformance::cli::Cli::parse();
    std::process::exit(nic_conformance::cli::main_impl(cli));
}
