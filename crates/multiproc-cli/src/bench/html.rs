//! The bench report: one self-contained HTML file (no script, no external file), its plots
//! as inline SVG drawn with plotters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use super::measure::SIZES;
use super::{Row, Summary};

/// One line of a plot.
struct Series {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A line chart as SVG: log axes where asked, categorical x when `labels` are given.
fn chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    labels: Option<&[&str]>,
    log_x: bool,
    series: &[Series],
) -> String {
    let pts = || series.iter().flat_map(|s| s.points.iter().copied());
    let (mut x0, mut x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let (mut y0, mut y1) = pts().fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(y), b.max(y)));
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 1.0, 10.0);
    }
    y0 = (y0 / 2.0).max(1e-9);
    y1 *= 2.0;
    if labels.is_some() {
        (x0, x1) = (-0.5, x1 + 0.5);
    } else if log_x {
        (x0, x1) = (x0 / 2.0, x1 * 2.0);
    } else {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(&root);
        b.caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70);
        let fmt_x = |x: &f64| match labels {
            Some(l) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    l.get(i as usize)
                        .map_or(String::new(), |s| (*s).to_string())
                } else {
                    String::new()
                }
            }
            None if log_x => human_bytes(*x),
            // Workers: whole numbers only.
            None if (x - x.round()).abs() < 1e-6 => format!("{}", x.round()),
            None => String::new(),
        };
        let fmt_y = |y: &f64| human(*y);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut c = $chart;
                c.configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .x_label_formatter(&fmt_x)
                    .y_label_formatter(&fmt_y)
                    .x_labels(labels.map_or(10, |l| l.len() * 2 + 1))
                    .draw()?;
                for s in series {
                    let color = s.color;
                    c.draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))?
                        .label(s.name.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                    c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                }
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::UpperLeft)
                    .draw()?;
            }};
        }
        if log_x {
            draw!(b.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?);
        } else {
            draw!(b.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?);
        }
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => format!("<p>plot not drawn: {}</p>", escape(&e.to_string())),
    }
}

/// 1234567 → "1.23 M".
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3} G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3} M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.3} k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn human_bytes(v: f64) -> String {
    if v >= 1048576.0 {
        format!("{:.0} MiB", v / 1048576.0)
    } else if v >= 1024.0 {
        format!("{:.0} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plots' series from the medians: `ours` and `python` by key.
fn plots(
    ours: &BTreeMap<String, f64>,
    py: &BTreeMap<String, f64>,
    max_workers: usize,
) -> Vec<String> {
    let series = |name: &str, i: usize, pts: Vec<(f64, f64)>| Series {
        name: name.into(),
        color: COLORS[i % COLORS.len()],
        points: pts,
    };
    let by_size = |m: &BTreeMap<String, f64>, what: &str| -> Vec<(f64, f64)> {
        SIZES
            .iter()
            .filter_map(|&s| {
                m.get(&format!("{what}.items_s@{s}"))
                    .map(|v| (s as f64, v * s as f64))
            })
            .collect()
    };
    let mut thr = vec![
        series("multiproc Queue", 0, by_size(ours, "queue")),
        series("multiproc Pipe", 1, by_size(ours, "pipe")),
        series("CPython Queue", 2, by_size(py, "queue")),
        series("CPython Pipe", 3, by_size(py, "pipe")),
    ];
    // The limit for items another process reads: a copy from DRAM (cold), else a hot one.
    if let Some(g) = ours
        .get("memcpy.cold_gib_s")
        .or_else(|| ours.get("memcpy.gib_s"))
    {
        let bps = g * 1073741824.0;
        thr.push(series(
            "memcpy, cold source (the limit)",
            4,
            SIZES.iter().map(|&s| (s as f64, bps)).collect(),
        ));
    }
    let by_workers = |m: &BTreeMap<String, f64>, what: &str| -> Vec<(f64, f64)> {
        (1..=max_workers)
            .filter_map(|w| {
                m.get(&format!("pool.{what}.tasks_s@{w}"))
                    .map(|v| (w as f64, *v))
            })
            .collect()
    };
    let pools = vec![
        series("multiproc ThreadPool", 0, by_workers(ours, "thread")),
        series("multiproc Pool", 1, by_workers(ours, "process")),
        series("CPython ThreadPool", 2, by_workers(py, "thread")),
        series("CPython Pool", 3, by_workers(py, "process")),
        series("rayon (the limit)", 4, by_workers(ours, "rayon")),
    ];
    let pcts = ["p50", "p99", "max"];
    let lat = |m: &BTreeMap<String, f64>, what: &str| -> Vec<(f64, f64)> {
        pcts.iter()
            .enumerate()
            .filter_map(|(i, p)| m.get(&format!("rtt.{what}.{p}_us")).map(|v| (i as f64, *v)))
            .collect()
    };
    let rtt = vec![
        series("multiproc Queue", 0, lat(ours, "queue")),
        series("multiproc Pipe", 1, lat(ours, "pipe")),
        series("CPython Queue", 2, lat(py, "queue")),
        series("CPython Pipe", 3, lat(py, "pipe")),
        series("socketpair (the limit)", 4, lat(ours, "socketpair")),
        // Both processes on one CPU: no idle vCPU to wake (see `measure::latency`).
        series("multiproc Pipe, one CPU", 5, lat(ours, "pipe_1cpu")),
        series("CPython Pipe, one CPU", 6, lat(py, "pipe_1cpu")),
        series("socketpair, one CPU", 7, lat(ours, "socketpair_1cpu")),
    ];
    let methods = ["fork", "forkserver", "spawn"];
    let st = |m: &BTreeMap<String, f64>| -> Vec<(f64, f64)> {
        methods
            .iter()
            .enumerate()
            .filter_map(|(i, k)| m.get(&format!("start.{k}_ms")).map(|v| (i as f64, *v)))
            .collect()
    };
    let mut starts = vec![
        series("multiproc", 0, st(ours)),
        series("CPython", 2, st(py)),
    ];
    if let Some(v) = ours.get("start.raw_fork_ms") {
        starts.push(series(
            "fork + waitpid (the limit)",
            4,
            (0..methods.len()).map(|i| (i as f64, *v)).collect(),
        ));
    }
    vec![
        chart(
            "Throughput against message size (one producer, one consumer process)",
            "message size",
            "bytes/s",
            None,
            true,
            &thr,
        ),
        chart(
            "Pool throughput against workers (CPU-bound tasks)",
            "workers",
            "tasks/s",
            None,
            false,
            &pools,
        ),
        chart(
            "Round-trip latency to an echoing process",
            "percentile",
            "µs",
            Some(&pcts),
            false,
            &rtt,
        ),
        chart(
            "Start + join of a process, per start method",
            "start method",
            "ms",
            Some(&methods),
            false,
            &starts,
        ),
    ]
}

/// The whole report.
pub fn report(s: &Summary) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>multiproc bench</title><style>\
         body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:1.5em 0}}</style></head><body>\n\
         <h1>multiproc bench</h1>\n<p>{}</p>\n",
        escape(&s.machine)
    );
    h.push_str("<table><tr><th>measure</th><th>multiproc (median, spread)</th><th>CPython</th><th>ratio</th><th>raw limit</th></tr>\n");
    for r in &s.rows {
        let Row {
            label,
            ours,
            python,
            ratio,
            raw,
        } = r;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(label),
            escape(ours),
            escape(python),
            escape(ratio),
            escape(raw)
        );
    }
    h.push_str("</table>\n");
    for svg in plots(&s.ours, &s.python, s.max_workers) {
        let _ = writeln!(h, "<figure class=\"plot\">{svg}</figure>");
    }
    h.push_str("</body></html>\n");
    h
}
