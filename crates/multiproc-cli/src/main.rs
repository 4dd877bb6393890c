//! `multiproc`: the command-line face of the multiproc library.
//!
//! `multiproc tour` runs the experiments of the tutorials the library comes from, live, and
//! reports what each one demonstrates, with timings from this machine.

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
    /// Run the tutorials' experiments live and report what each demonstrates.
    Tour {
        /// Only the sections whose names contain this (threads, processes, ipc, pools,
        /// memory).
        #[arg(long)]
        section: Option<String>,
        /// No colour, even on a terminal (as does the NO_COLOR variable).
        #[arg(long)]
        no_color: bool,
        /// Print the results as JSON on stdout (the live report goes to stderr).
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Tour {
            section,
            no_color,
            json,
        } => {
            let opts = tour::Options { no_color, json };
            if !tour::run(section.as_deref(), opts) {
                eprintln!(
                    "no section matches {:?}; the sections are: {}",
                    section.unwrap_or_default(),
                    tour::section_names().join(", ")
                );
                std::process::exit(2);
            }
        }
    }
}
