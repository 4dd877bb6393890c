//! `multiproc bench` as a user runs it, in its reduced mode: the report is produced, is one
//! self-contained HTML file with its four plots drawn, and a real headless Chromium renders
//! it without an error. Each run has a watchdog.

use std::process::Command;

mod common;
use common::watchdog;

const BIN: &str = env!("CARGO_BIN_EXE_multiproc");

fn report(args: &'static [&'static str], name: &str) -> (String, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!("{name}-{}.html", std::process::id()));
    let o = out.clone();
    let run = watchdog(300, move || {
        Command::new(BIN)
            .args(["bench", "--smoke", "--out"])
            .arg(&o)
            .args(args)
            .output()
            .unwrap()
    });
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(stdout.contains("report: "), "{stdout}");
    (std::fs::read_to_string(&out).unwrap(), out)
}

/// The report is whole and draws every plot: four inline SVGs, each with its lines.
fn check_well_formed(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(!html.contains("plot not drawn"), "a plot failed");
    assert!(!html.contains("<script"), "the report needs no script");
    assert!(!html.contains("src=\"http"), "the report is self-contained");
    let svgs: Vec<&str> = html.split("<svg").skip(1).collect();
    assert_eq!(svgs.len(), 4, "four plots");
    for s in &svgs {
        let body = &s[..s.find("</svg>").expect("closed svg")];
        assert!(body.contains("<polyline"), "a plot without lines");
    }
    for measure in [
        "Queue throughput, 8 B items",
        "Pipe round trip, p99",
        "start + join, spawn",
    ] {
        assert!(html.contains(measure), "{measure} missing");
    }
}

#[test]
fn the_smoke_report_is_produced_and_well_formed() {
    let (html, out) = report(&["--no-python"], "multiproc-bench-nopy");
    check_well_formed(&html);
    assert!(html.contains("CPython: not run (--no-python)"));
    let _ = std::fs::remove_file(out);
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn headless_chromium_renders_the_report_with_every_plot_and_no_error() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("MULTIPROC_REQUIRE_CHROMIUM").is_none(),
            "CI asks for Chromium and it is missing: apt-get install -y chromium"
        );
        eprintln!("skipped: no chromium here (apt-get install -y chromium)");
        return;
    };
    // With CPython's side when python3 is here: the report then has both.
    let (html, out) = report(&[], "multiproc-bench");
    check_well_formed(&html);
    let url = format!("file://{}", out.display());
    let run = watchdog(120, move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
            ])
            .arg(&url)
            .output()
            .unwrap()
    });
    assert!(run.status.success(), "chromium failed");
    let dom = String::from_utf8_lossy(&run.stdout);
    let log = String::from_utf8_lossy(&run.stderr);
    // The browser parsed every plot into its DOM, and logged no page error.
    assert_eq!(dom.matches("<svg").count(), 4, "plots in the rendered DOM");
    assert!(
        dom.matches("<polyline").count() >= 4,
        "lines in the rendered DOM"
    );
    for bad in ["Uncaught", "SyntaxError", "CONSOLE(", "Failed to load"] {
        assert!(!log.contains(bad), "chromium logged {bad}: {log}");
    }
    let _ = std::fs::remove_file(out);
}
