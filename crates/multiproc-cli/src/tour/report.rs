//! How the tour speaks, live: each experiment's heading as it starts (its English name, with
//! the tutorial's original title beside it), a spinner while it runs, its result as it ends,
//! every table inside the experiment it belongs to, and a summary table at the end.
//!
//! - Lines fit the terminal's width, wrapped at word boundaries (East Asian characters count
//!   two columns); piped, lines are written whole.
//! - Colour and the spinner appear only on a terminal; `NO_COLOR` or `--no-color` turn colour
//!   off.
//! - `--json` writes the results as JSON on stdout, and the live report goes to stderr.

use std::io::Write;
use std::time::{Duration, Instant};

use console::{Style, Term};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// One experiment's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The section it belongs to.
    pub section: String,
    /// What ran, in English.
    pub experiment: String,
    /// The tutorial's title for it (empty when it goes beyond the tutorials).
    pub tutorial: String,
    /// What was measured on this machine.
    pub measured: String,
    /// The fact it demonstrates.
    pub shows: String,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    findings: &'a [Finding],
    seconds: f64,
}

/// How the tour writes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// No colour even on a terminal.
    pub no_color: bool,
    /// Results as JSON on stdout.
    pub json: bool,
}

/// The tour's reporter: sections call [`start`](Tour::start), then
/// [`table`](Tour::table) for any table, then [`done`](Tour::done).
pub struct Tour {
    out: Term,
    /// Columns to fit, `None` when the report is not on a terminal.
    width: Option<usize>,
    json: bool,
    bold: Style,
    dim: Style,
    accent: Style,
    section: String,
    current: Option<(String, String, Instant)>,
    spinner: Option<ProgressBar>,
    findings: Vec<Finding>,
    started: Instant,
}

/// The width used for the summary table when the report is not on a terminal.
const PIPED_TABLE_WIDTH: usize = 120;

impl Tour {
    pub fn new(opts: Options) -> Tour {
        let out = if opts.json {
            Term::stderr()
        } else {
            Term::stdout()
        };
        let on_terminal = out.is_term();
        let color = on_terminal
            && !opts.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        let width = if on_terminal {
            out.size_checked()
                .map(|(_, cols)| usize::from(cols).max(20))
        } else {
            None
        };
        Tour {
            out,
            width,
            json: opts.json,
            bold: Style::new().bold(),
            dim: Style::new().dim(),
            accent: Style::new().cyan().bold(),
            section: String::new(),
            current: None,
            spinner: None,
            findings: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Writes `text` wrapped to the width, first line after `first`, the rest after `rest`.
    fn wrapped(&self, text: &str, first: &str, rest: &str) -> Vec<String> {
        match self.width {
            None => vec![format!("{first}{text}")],
            Some(w) => {
                let opts = textwrap::Options::new(w)
                    .initial_indent(first)
                    .subsequent_indent(rest)
                    .break_words(true);
                textwrap::wrap(text, opts)
                    .into_iter()
                    .map(|l| l.into_owned())
                    .collect()
            }
        }
    }

    fn line(&self, s: &str) {
        let _ = self.out.write_line(s);
    }

    /// Prints `lines` around the spinner, if one is drawn.
    fn print(&self, lines: &[String]) {
        let write = || {
            for l in lines {
                self.line(l);
            }
        };
        match &self.spinner {
            Some(s) => s.suspend(write),
            None => write(),
        }
    }

    /// The first line.
    pub fn intro(&mut self, text: &str) {
        let lines = self.wrapped(text, "", "");
        self.print(&lines);
    }

    /// A new section.
    pub fn section(&mut self, name: &str, about: &str) {
        self.section = name.to_string();
        self.line("");
        let mut lines = self.wrapped(&format!("== {name} == {about}"), "", "   ");
        if let Some(first) = lines.first_mut() {
            let head = format!("== {name} ==");
            if let Some(rest) = first.strip_prefix(&head) {
                *first = format!("{}{}", self.accent.apply_to(&head), self.dim.apply_to(rest));
            }
        }
        self.print(&lines);
    }

    /// An experiment starts: its heading now, and a spinner while it runs.
    pub fn start(&mut self, experiment: &str, tutorial: &str) {
        self.finish_spinner();
        let title = if tutorial.is_empty() {
            experiment.to_string()
        } else {
            format!("{experiment} (tutorial: {tutorial})")
        };
        let lines: Vec<String> = self
            .wrapped(&title, "▸ ", "  ")
            .into_iter()
            .map(|l| self.bold.apply_to(l).to_string())
            .collect();
        self.print(&lines);
        self.current = Some((experiment.to_string(), tutorial.to_string(), Instant::now()));
        if self.out.is_term() {
            let s =
                ProgressBar::with_draw_target(None, ProgressDrawTarget::term(self.out.clone(), 10));
            s.set_style(
                ProgressStyle::with_template("  {spinner} running {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            s.enable_steady_tick(Duration::from_millis(100));
            self.spinner = Some(s);
        }
    }

    fn finish_spinner(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }

    /// A table (or any preformatted block) belonging to the running experiment: indented,
    /// and on a terminal cut at its width rather than wrapped (a wrapped table is unreadable).
    pub fn table(&mut self, title: &str, text: &str) {
        let mut lines = self.wrapped(title, "    ", "    ");
        for l in text.lines() {
            let l = format!("      {l}");
            lines.push(match self.width {
                Some(w) => console::truncate_str(&l, w, "…").into_owned(),
                None => l,
            });
        }
        self.print(&lines);
    }

    /// The running experiment ends with what it measured and what that shows.
    pub fn done(&mut self, measured: impl Into<String>, shows: impl Into<String>) {
        self.finish_spinner();
        let (measured, shows) = (measured.into(), shows.into());
        let (experiment, tutorial, t0) = self
            .current
            .take()
            .unwrap_or_else(|| (String::from("?"), String::new(), Instant::now()));
        let took = t0.elapsed();
        let mut lines = self.wrapped(&measured, "    measured: ", "              ");
        lines.extend(self.wrapped(&shows, "    shows:    ", "              "));
        lines.push(
            self.dim
                .apply_to(format!("    ({})", secs(took)))
                .to_string(),
        );
        self.print(&lines);
        self.findings.push(Finding {
            section: self.section.clone(),
            experiment,
            tutorial,
            measured,
            shows,
            seconds: took.as_secs_f64(),
        });
    }

    /// The end: a summary table, the total time, and the JSON when asked.
    pub fn finish(mut self) {
        self.finish_spinner();
        let total = self.started.elapsed();
        self.line("");
        self.line(&self.accent.apply_to("== summary ==").to_string());
        let width = self.width.unwrap_or(PIPED_TABLE_WIDTH);
        for l in summary_table(&self.findings, width) {
            self.line(&l);
        }
        self.line("");
        self.line(&format!(
            "tour finished in {} ({} experiments)",
            secs(total),
            self.findings.len()
        ));
        if self.json {
            let report = JsonReport {
                findings: &self.findings,
                seconds: total.as_secs_f64(),
            };
            let mut stdout = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut stdout, &report);
            let _ = writeln!(stdout);
        }
    }
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The findings as a table of `width` columns at most: time, experiment, measured, shows,
/// each cell wrapped within its column.
fn summary_table(findings: &[Finding], width: usize) -> Vec<String> {
    const TIME: usize = 7;
    const GAP: &str = "  ";
    let text = width.saturating_sub(TIME + 3 * GAP.len()).max(30);
    let cols = [
        TIME,
        text * 34 / 100,
        text * 33 / 100,
        text - text * 34 / 100 - text * 33 / 100,
    ];
    let mut out = Vec::new();
    let row = |cells: [&str; 4], out: &mut Vec<String>| {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .zip(cols)
            .map(|(c, w)| {
                textwrap::wrap(c, textwrap::Options::new(w).break_words(true))
                    .into_iter()
                    .map(|l| l.into_owned())
                    .collect()
            })
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for i in 0..height {
            let mut line = String::new();
            for (j, (cell, w)) in wrapped.iter().zip(cols).enumerate() {
                let s = cell.get(i).map_or("", String::as_str);
                if j > 0 {
                    line.push_str(GAP);
                }
                if j + 1 < cols.len() {
                    line.push_str(&console::pad_str(s, w, console::Alignment::Left, None));
                } else {
                    line.push_str(s);
                }
            }
            out.push(line.trim_end().to_string());
        }
    };
    row(
        ["time", "experiment", "measured", "what it shows"],
        &mut out,
    );
    out.push("-".repeat(width.min(TIME + 3 * GAP.len() + text)));
    for f in findings {
        let t = format!("{:.2} s", f.seconds);
        row([&t, &f.experiment, &f.measured, &f.shows], &mut out);
    }
    out
}
