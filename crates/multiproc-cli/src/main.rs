//! `multiproc`: the command-line face of the multiproc library.
//!
//! `multiproc tour` runs the experiments of the seed tutorials live and reports what each one
//! demonstrates, with timings from this machine.

use clap::{Parser, Subcommand};

mod tour;

#[derive(Parser, Debug)]
#[command(
    name = "multiproc",
    version,
    about = "Python's threading/multiprocessing toolkit for Rust: demos and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the seed tutorials' experiments and report what each demonstrates.
    Tour {
        /// Only the sections whose names contain this (e.g. `threads`).
        #[arg(long)]
        section: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Tour { section } => tour::run(section.as_deref()),
    }
}
