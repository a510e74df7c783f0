//! The `nic-conformance` binary: parse, call the library, exit with its code.

use clap::Parser;

// The mock and the runner allocate per request; mimalloc halves that cost against glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = nic_conformance::cli::Cli::parse();
    std::process::exit(nic_conformance::cli::main_impl(cli));
}
