//! The tour as a person sees it: under a pseudo-terminal 80 columns wide (no line wider,
//! colour and a spinner drawn), piped (no escape sequences, whole lines), with `NO_COLOR`,
//! and as `--json`. Each run has a watchdog.

use std::io::Read;
use std::process::{Command, Stdio};

mod common;
use common::watchdog;

const BIN: &str = env!("CARGO_BIN_EXE_multiproc");

/// Runs the tour with `args` on a new pseudo-terminal `cols` wide; everything it wrote.
fn under_pty(args: &[&str], cols: u16, env: &[(&str, &str)]) -> String {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 40,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&slave, size).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("tour")
        .args(args)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    cmd.env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // the parent's copies of the terminal's slave side
    let mut master = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break, // EIO: the slave side is closed, the tour has ended
        }
    }
    assert!(child.wait().unwrap().success());
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes escape sequences (colour, cursor and line control).
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Terminal columns a line takes (East Asian wide characters count two).
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide { 2 } else { 1 }
        })
        .sum()
}

fn has_colour(s: &str) -> bool {
    // An SGR sequence: ESC [ digits m.
    s.match_indices("\x1b[").any(|(i, _)| {
        let rest = &s[i + 2..];
        let digits = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .count();
        digits > 0 && rest[digits..].starts_with('m')
    })
}

#[test]
fn at_80_columns_no_line_is_wider_and_colour_and_tables_are_in_place() {
    for section in ["threads", "memory", "remote"] {
        let raw = watchdog(300, move || under_pty(&["--section", section], 80, &[]));
        let text = strip_escapes(&raw);
        for line in text.split(['\n', '\r']) {
            assert!(
                columns(line) <= 80,
                "a line of {} columns at 80: {line:?}",
                columns(line)
            );
        }
        assert!(has_colour(&raw), "{section}: no colour on a terminal");
        assert!(text.contains("== summary =="), "{section}: no summary");
        if section == "remote" {
            // redis-server is installed (by .ci/run): the section ran, it did not skip.
            assert!(
                text.contains("2 worker processes"),
                "remote section skipped:\n{text}"
            );
            assert!(text.contains("WorkerLost"), "{text}");
        }
        if section == "memory" {
            // A table prints inside its experiment: after its heading, before its result.
            let heading = text.find("▸ Many small objects").expect("heading");
            let table = text.find("pool statistics with").expect("table");
            let result = text.find("measured: pool").expect("result");
            assert!(heading < table && table < result, "table out of place");
        }
    }
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let raw = watchdog(300, || {
        under_pty(&["--section", "memory"], 100, &[("NO_COLOR", "1")])
    });
    assert!(!has_colour(&raw), "colour despite NO_COLOR");
    let raw = watchdog(300, || {
        under_pty(&["--section", "memory", "--no-color"], 100, &[])
    });
    assert!(!has_colour(&raw), "colour despite --no-color");
}

#[test]
fn piped_the_report_has_whole_lines_and_json_parses() {
    let out = watchdog(300, || {
        Command::new(BIN)
            .args(["tour", "--section", "memory", "--json"])
            .output()
            .unwrap()
    });
    assert!(out.status.success());
    let live = String::from_utf8(out.stderr).unwrap();
    assert!(!live.contains('\x1b'), "escape sequences when piped");
    // Whole lines: the long heading is one line.
    assert!(
        live.lines()
            .any(|l| l.starts_with("▸ The same pool in shared memory")
                && l.ends_with("killed with blocks in its cache")),
        "{live}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    for f in findings {
        for key in ["section", "experiment", "tutorial", "measured", "shows"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        assert!(f["seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(f["section"], "memory");
    }
    assert_eq!(findings[0]["tutorial"], "内存池机制");
}

#[test]
fn an_unknown_section_is_an_error_naming_the_sections() {
    let out = Command::new(BIN)
        .args(["tour", "--section", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("threads, processes, ipc, pools, memory, remote"),
        "{err}"
    );
}
