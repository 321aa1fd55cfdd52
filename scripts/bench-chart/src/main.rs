//! `bench-chart`: an SVG bar chart of the hot-path benchmark medians (criterion's
//! `<dir>/<group>/<bench>/new/estimates.json`), for `scripts/bench-report.sh --chart`.
//!
//! Usage: `bench-chart --criterion DIR --out FILE [--title T] [--subtitle S] [--since EPOCH]`.
//! Results written before `--since` (seconds since the epoch) are left out as stale.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plotters::prelude::*;

/// One bar: label, criterion `group/bench`, and the divisor (16 for per-token fan-out values).
struct Bar {
    label: &'static str,
    id: &'static str,
    per: f64,
    color: RGBColor,
}

const OURS: RGBColor = RGBColor(0x1f, 0x6f, 0xb4);
const FLOOR: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
const PEER: RGBColor = RGBColor(0xe0, 0x7b, 0x26);
const FAN: RGBColor = RGBColor(0x4c, 0xa0, 0x5a);

const GROUPS: &[(&str, &[Bar])] = &[
    (
        "mint one token",
        &[
            Bar { label: "provider floor", id: "mint/floor", per: 1.0, color: FLOOR },
            Bar { label: "jwe-mint", id: "mint/ours", per: 1.0, color: OURS },
            Bar { label: "josekit", id: "mint/josekit", per: 1.0, color: PEER },
        ],
    ),
    (
        "open one token",
        &[
            Bar { label: "provider floor", id: "open/floor", per: 1.0, color: FLOOR },
            Bar { label: "jwe-mint", id: "open/ours", per: 1.0, color: OURS },
            Bar { label: "josekit", id: "open/josekit", per: 1.0, color: PEER },
        ],
    ),
    (
        "fan-out of 16, per token",
        &[
            Bar { label: "16 × mint", id: "fanout16/mint_x16", per: 16.0, color: OURS },
            Bar { label: "mint_all, 1 thread", id: "fanout16/pool1", per: 16.0, color: FAN },
            Bar { label: "mint_all, 2 threads", id: "fanout16/pool2", per: 16.0, color: FAN },
        ],
    ),
];

struct Args {
    criterion: PathBuf,
    out: PathBuf,
    title: String,
    subtitle: String,
    since: SystemTime,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut criterion, mut out, mut title, mut subtitle, mut since) =
        (None, None, "jwe-mint hot path".to_owned(), String::new(), UNIX_EPOCH);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--criterion" => criterion = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--title" => title = value()?,
            "--subtitle" => subtitle = value()?,
            "--since" => {
                let secs: u64 = value()?.parse().map_err(|_| "--since takes seconds since the epoch")?;
                since = UNIX_EPOCH + Duration::from_secs(secs);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        criterion: criterion.ok_or("--criterion DIR is required")?,
        out: out.ok_or("--out FILE is required")?,
        title,
        subtitle,
        since,
    })
}

/// The median in µs, or None when the benchmark has no result from this run.
fn median_us(root: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let file = root.join(id).join("new").join("estimates.json");
    if std::fs::metadata(&file).and_then(|m| m.modified()).ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
    Some(json["median"]["point_estimate"].as_f64()? / 1000.0)
}

fn draw(args: &Args) -> Result<usize, Box<dyn std::error::Error>> {
    // Rows top to bottom: a heading per group, then its bars; value None = not measured.
    let mut rows: Vec<(String, Option<(f64, RGBColor)>)> = Vec::new();
    for (heading, bars) in GROUPS {
        rows.push((format!("{heading}:"), None));
        for bar in *bars {
            let v = median_us(&args.criterion, bar.id, args.since).map(|v| (v / bar.per, bar.color));
            rows.push((bar.label.to_owned(), v));
        }
    }
    let measured = rows.iter().filter(|r| r.1.is_some()).count();
    let max = rows.iter().filter_map(|r| r.1.map(|v| v.0)).fold(1.0f64, f64::max) * 1.18;
    let n = rows.len();

    let height = 90 + 26 * n as u32;
    let root = SVGBackend::new(&args.out, (760, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&args.title, ("sans-serif", 20))?;
    let (top, body) = root.split_vertically(22);
    top.draw_text(&args.subtitle, &("sans-serif", 13).into_font().color(&BLACK.mix(0.7)), (10, 2))?;

    let mut chart = ChartBuilder::on(&body)
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(170)
        .build_cartesian_2d(0.0..max, 0.0..n as f64)?;
    let label_of = |y: &f64| {
        let i = n as f64 - y - 0.5;
        let i = i.round();
        if (i - (n as f64 - y - 0.5)).abs() < 0.01 && i >= 0.0 && (i as usize) < n {
            rows[i as usize].0.clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(2 * n + 1)
        .y_label_formatter(&label_of)
        .x_desc("median µs (shorter is faster)")
        .draw()?;
    for (i, (_, value)) in rows.iter().enumerate() {
        let Some((v, color)) = *value else { continue };
        let y = (n - 1 - i) as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.18), (v, y + 0.82)], color.filled())))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{v:.1}"),
            (v + max * 0.01, y + 0.7),
            ("sans-serif", 13).into_font(),
        )))?;
    }
    root.present()?;
    Ok(measured)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-chart: {e}");
            return ExitCode::from(2);
        }
    };
    match draw(&args) {
        Ok(0) => {
            eprintln!("bench-chart: no fresh results under {}", args.criterion.display());
            ExitCode::FAILURE
        }
        Ok(n) => {
            eprintln!("bench-chart: wrote {} ({n} bars)", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-chart: {e}");
            ExitCode::FAILURE
        }
    }
}
