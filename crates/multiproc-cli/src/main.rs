//! `multiproc`: the command-line face of the multiproc library.
//!
//! `multiproc tour` runs the experiments of the tutorials the library comes from, live, and
//! reports what each one demonstrates, with timings from this machine.

use clap::{Parser, Subcommand};

mod bench;
mod manager;
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
    /// Measure multiproc beside CPython (when python3 is there) and the machine's raw
    /// limits, interleaved, and write an HTML report with plots.
    Bench {
        /// Under a minute (the full run takes a few minutes).
        #[arg(long)]
        quick: bool,
        /// Seconds: checks that the report is produced, not the figures.
        #[arg(long, hide = true)]
        smoke: bool,
        /// Where the report goes.
        #[arg(long, default_value = "multiproc-bench.html")]
        out: std::path::PathBuf,
        /// Skip CPython's side.
        #[arg(long)]
        no_python: bool,
    },
    /// Run remote pool tasks (of this program's build) from a Redis namespace until
    /// SIGTERM or `Remote::stop_workers`.
    Worker {
        // (The help as an attribute: rustdoc would read its brackets as links.)
        #[arg(
            long,
            help = "The server: redis://[user[:password]@]host:port[/db], rediss:// for TLS."
        )]
        redis: String,
        /// The namespace whose tasks to run.
        #[arg(long)]
        namespace: String,
        /// Tasks run at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Tasks a slot claims at once (more saves round trips on tiny tasks; a lost
        /// worker loses its claimed tasks too).
        #[arg(long, default_value_t = 1)]
        prefetch: usize,
        /// The heartbeat lease in milliseconds: a worker lost this long (plus about a
        /// second) has its tasks taken back.
        #[arg(long, default_value_t = 5000)]
        lease_ms: u64,
    },
    /// Manager servers for other programs.
    Manager {
        #[command(subcommand)]
        command: ManagerCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ManagerCommand {
    /// Serve shared dicts, lists, queues and locks until a client calls shutdown.
    Serve {
        /// Where to listen: host:port for TCP, @name for an abstract Unix name, or a path.
        #[arg(long)]
        address: multiproc::connection::Address,
        /// A file holding the authkey (mode 600: a key others can read is refused).
        #[arg(long)]
        authkey_file: std::path::PathBuf,
        /// Refuse clients' `shutdown` (stop the server by killing it).
        #[arg(long)]
        refuse_shutdown: bool,
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
        Command::Bench {
            quick,
            smoke,
            out,
            no_python,
        } => {
            let mode = if smoke {
                bench::Mode::Smoke
            } else if quick {
                bench::Mode::Quick
            } else {
                bench::Mode::Full
            };
            let opts = bench::Options {
                mode,
                out,
                python: !no_python,
            };
            if let Err(e) = bench::run(&opts) {
                eprintln!("cannot write the report {}: {e}", opts.out.display());
                std::process::exit(1);
            }
        }
        Command::Worker {
            redis,
            namespace,
            concurrency,
            prefetch,
            lease_ms,
        } => {
            let worker = multiproc::remote::Remote::builder(&redis, &namespace)
                .lease(std::time::Duration::from_millis(lease_ms))
                .connect()
                .and_then(|r| {
                    multiproc::remote::Worker::new(&r)
                        .concurrency(concurrency)
                        .prefetch(prefetch)
                        .stop_on_sigterm()?
                        .run()
                });
            if let Err(e) = worker {
                eprintln!("multiproc worker: {e}");
                std::process::exit(1);
            }
        }
        Command::Manager {
            command:
                ManagerCommand::Serve {
                    address,
                    authkey_file,
                    refuse_shutdown,
                },
        } => {
            if let Err(e) = manager::serve(address, &authkey_file, !refuse_shutdown) {
                eprintln!("multiproc manager serve: {e}");
                std::process::exit(2);
            }
        }
    }
}
