//! `purenoise plot RUN [RUN…]`: PNG figures comparing runs — training loss and test top-1 per
//! epoch (from each run's `metrics.jsonl`), and per-class recall bars side by side (from each
//! run's `metrics.json`), classes in training-frequency order, so the rare classes are on the
//! right.
//!
//! Text is drawn with DejaVu Sans embedded in the binary, so plotting needs no system fonts.
//!
//! Metrics of a diverged run can hold anything: a NaN loss (written as `null`), 1e300, a
//! negative value. The y axis of a line chart spans the bulk of the values; a value far outside
//! it is drawn clipped at the axis edge with a triangle, a non-finite loss as a cross on the top
//! edge, and the legend says so. See [`line_view`].

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::atomic::{self, WriteError};
use crate::train::metrics::{frequency_order, EvalReport};

/// Size of the two line charts, in pixels.
pub const LINE_CHART: (u32, u32) = (960, 600);
/// Height of the per-class chart; its width grows with the classes, see [`bar_chart_size`].
pub const BAR_CHART_HEIGHT: u32 = 640;

pub const LOSS_PNG: &str = "loss.png";
pub const TOP1_PNG: &str = "test_top1.png";
pub const PER_CLASS_PNG: &str = "per_class_recall.png";

const FONT: &str = "sans-serif";

/// tab10, the colour cycle people know from matplotlib.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

#[derive(clap::Args, Clone, Debug)]
pub struct PlotArgs {
    /// Run folders, each with metrics.jsonl (and metrics.json for the per-class bars).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder for the PNG files [default: the first run's folder].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A metrics file's content is wrong; `at` is the file, with `:line` where it applies.
    #[error("{at}: {msg}")]
    Format { at: String, msg: String },
    /// Runs that cannot be drawn together.
    #[error("plot: {0}")]
    Input(String),
    #[error("cannot draw {}: {msg}", path.display())]
    Draw { path: PathBuf, msg: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// One line of `metrics.jsonl`; other fields are ignored. A NaN loss is written as `null`.
#[derive(serde::Deserialize)]
struct Epoch {
    epoch: u32,
    loss: Option<f64>,
    test_top1: Option<f64>,
}

struct Run {
    name: String,
    epochs: Vec<Epoch>,
    report: Option<EvalReport>,
}

fn read_run(dir: &Path) -> Result<Run, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::Input(format!(
            "run folder {} does not exist",
            dir.display()
        )));
    }
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());

    let jsonl = dir.join("metrics.jsonl");
    let text = crate::input::read_text(&jsonl, crate::input::MAX_METRICS_BYTES, "a metrics file")
        .map_err(|source| PlotError::Io {
        what: "read",
        path: jsonl.clone(),
        source,
    })?;
    let mut epochs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: Epoch = serde_json::from_str(line).map_err(|e| PlotError::Format {
            at: format!("{}:{}", jsonl.display(), i + 1),
            msg: format!("not an epoch record ({e})"),
        })?;
        epochs.push(e);
    }
    if epochs.is_empty() {
        return Err(PlotError::Format {
            at: jsonl.display().to_string(),
            msg: "no epochs recorded yet".into(),
        });
    }

    let json = dir.join("metrics.json");
    let report = match crate::input::read_text(
        &json,
        crate::input::MAX_METRICS_BYTES,
        "an evaluation report",
    ) {
        Ok(t) => Some(
            serde_json::from_str::<EvalReport>(&t).map_err(|e| PlotError::Format {
                at: json.display().to_string(),
                msg: format!("not an evaluation report ({e})"),
            })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(PlotError::Io {
                what: "read",
                path: json.clone(),
                source,
            })
        }
    };
    if let Some(r) = &report {
        let n = r.class_names.len();
        if n == 0 || r.per_class_recall.len() != n || r.train_counts.len() != n {
            return Err(PlotError::Format {
                at: json.display().to_string(),
                msg: format!(
                    "{n} class names, {} recalls and {} training counts: the lists must have \
                     one entry per class",
                    r.per_class_recall.len(),
                    r.train_counts.len()
                ),
            });
        }
        // A recall is a fraction: anything else is a damaged or hand-edited report.
        if let Some((k, v)) = r
            .per_class_recall
            .iter()
            .enumerate()
            .find_map(|(k, v)| v.filter(|v| !(0.0..=1.0).contains(v)).map(|v| (k, v)))
        {
            return Err(PlotError::Format {
                at: json.display().to_string(),
                msg: format!(
                    "the recall of class {k} ({}) is {}, but a recall lies between 0 and 1",
                    r.class_names[k],
                    short(v)
                ),
            });
        }
    }
    Ok(Run {
        name,
        epochs,
        report,
    })
}

fn register_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Input("the embedded font failed to load".into()))
    }
}

/// Writes the figures; returns the files written. Runs without `metrics.json` get no bars (a
/// note on stderr says so).
pub fn run(args: &PlotArgs) -> Result<Vec<PathBuf>, PlotError> {
    let first = args
        .runs
        .first()
        .ok_or_else(|| PlotError::Input("name at least one run folder".into()))?;
    let runs = args
        .runs
        .iter()
        .map(|d| read_run(d))
        .collect::<Result<Vec<_>, _>>()?;
    // Checked before anything is drawn, so a refused comparison leaves no partial figures.
    let with_report: Vec<(&str, &EvalReport)> = runs
        .iter()
        .filter_map(|r| r.report.as_ref().map(|rep| (r.name.as_str(), rep)))
        .collect();
    if let Some(&(first_name, base)) = with_report.first() {
        for &(name, rep) in &with_report[1..] {
            if rep.class_names != base.class_names {
                return Err(PlotError::Input(format!(
                    "runs {first_name} and {name} were evaluated on different classes ({} and \
                     {} classes{}), so their per-class accuracies cannot share a chart",
                    base.class_names.len(),
                    rep.class_names.len(),
                    if base.class_names.len() == rep.class_names.len() {
                        ", other names"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    for r in runs.iter().filter(|r| r.report.is_none()) {
        eprintln!(
            "note: run {} has no metrics.json (evaluate it with `purenoise eval`), so it has no \
             per-class bars",
            r.name
        );
    }
    let out = args.out.clone().unwrap_or_else(|| first.clone());
    std::fs::create_dir_all(&out).map_err(|source| PlotError::Io {
        what: "create folder",
        path: out.clone(),
        source,
    })?;
    register_font()?;

    let mut written = Vec::new();
    // Both charts span every epoch recorded, evaluated or not.
    let max_epoch = runs
        .iter()
        .flat_map(|r| r.epochs.iter().map(|e| e.epoch))
        .max()
        .unwrap_or(0)
        .max(1);
    // Every epoch of the loss chart has a loss, so a missing one was NaN or infinite and is
    // marked; test top-1 is only measured every --eval-every epochs, so a gap there is no news.
    let loss: Vec<SeriesInput> = runs
        .iter()
        .map(|r| {
            let pts = r.epochs.iter().map(|e| (e.epoch, e.loss)).collect();
            (r.name.clone(), pts)
        })
        .collect();
    let path = out.join(LOSS_PNG);
    let view = line_view(&loss, None);
    line_chart(&path, "training loss", "loss", &view, false, max_epoch)?;
    written.push(path);

    let top1: Vec<SeriesInput> = runs
        .iter()
        .map(|r| {
            let pts = r
                .epochs
                .iter()
                .filter_map(|e| e.test_top1.map(|a| (e.epoch, Some(100.0 * a))))
                .collect();
            (r.name.clone(), pts)
        })
        .collect();
    if top1.iter().all(|(_, p)| p.is_empty()) {
        eprintln!("note: no run has a test top-1 yet, so no {TOP1_PNG}");
    } else {
        let path = out.join(TOP1_PNG);
        let view = line_view(&top1, Some(0.0..100.0));
        line_chart(&path, "test top-1", "top-1 (%)", &view, true, max_epoch)?;
        written.push(path);
    }

    if !with_report.is_empty() {
        let path = out.join(PER_CLASS_PNG);
        bar_chart(&path, &with_report)?;
        written.push(path);
    }
    Ok(written)
}

fn draw_err(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |msg| PlotError::Draw {
        path: path.to_path_buf(),
        msg,
    }
}

/// One run's values per epoch; `None` is a value that was not finite.
pub type SeriesInput = (String, Vec<(u32, Option<f64>)>);

/// Where a value outside the y axis is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Top,
    Bottom,
}

/// What a line chart draws of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesView {
    pub name: String,
    /// The line: every value, clamped to the y axis.
    pub line: Vec<(u32, f64)>,
    /// Values outside the y axis: (epoch, edge, the value), drawn as a triangle at the edge.
    pub clipped: Vec<(u32, Edge, f64)>,
    /// Epochs whose value is not finite (NaN, ±inf), drawn as a cross on the top edge.
    pub non_finite: Vec<u32>,
}

/// What a line chart draws: its y axis and each run.
#[derive(Clone, Debug, PartialEq)]
pub struct LineView {
    pub y: Range<f64>,
    pub series: Vec<SeriesView>,
}

/// Values of larger magnitude are never on the axis: they are clipped, and the axis arithmetic
/// (ranges, margins, ticks) stays finite.
const HUGE: f64 = 1e300;

/// The y axis over the bulk of `values` (finite, within ±[`HUGE`]): values more than a hundred
/// times the interquartile range (at least the median's magnitude) past the quartiles are
/// outliers, so a run that diverged to 1e30 does not flatten every other curve while a loss
/// falling a hundredfold stays whole; the axis is padded by 5 % and never empty.
fn y_axis(values: &mut [f64]) -> Range<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0..1.0;
    }
    let (q1, median, q3) = (values[n / 4], values[n / 2], values[(3 * n) / 4]);
    let spread = 100.0 * (q3 - q1).max(median.abs()).max(f64::MIN_POSITIVE);
    let (lo_fence, hi_fence) = (q1 - spread, q3 + spread);
    let kept = values.iter().filter(|&&v| v >= lo_fence && v <= hi_fence);
    let (lo, hi) = kept.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        (0.05 * hi.abs()).max(0.5)
    };
    lo - pad..hi + pad
}

/// The y axis and what is drawn of each series: `fixed` axes (percentages) are kept as given,
/// others follow [`y_axis`]. Everything outside the axis is clamped to its edge and listed.
pub fn line_view(series: &[SeriesInput], fixed: Option<Range<f64>>) -> LineView {
    let y = fixed.unwrap_or_else(|| {
        let mut values: Vec<f64> = series
            .iter()
            .flat_map(|(_, p)| p.iter().filter_map(|&(_, v)| v))
            .filter(|v| v.is_finite() && v.abs() <= HUGE)
            .collect();
        y_axis(&mut values)
    });
    let series = series
        .iter()
        .map(|(name, pts)| {
            let mut view = SeriesView {
                name: name.clone(),
                line: Vec::new(),
                clipped: Vec::new(),
                non_finite: Vec::new(),
            };
            for &(epoch, v) in pts {
                match v {
                    Some(v) if v.is_nan() => view.non_finite.push(epoch),
                    None => view.non_finite.push(epoch),
                    Some(v) => {
                        // ±inf lands on an edge like any other value past it.
                        if v > y.end {
                            view.clipped.push((epoch, Edge::Top, v));
                        } else if v < y.start {
                            view.clipped.push((epoch, Edge::Bottom, v));
                        }
                        view.line.push((epoch, v.clamp(y.start, y.end)));
                    }
                }
            }
            view
        })
        .collect();
    LineView { y, series }
}

fn line_chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    view: &LineView,
    percent: bool,
    max_epoch: u32,
) -> Result<(), PlotError> {
    let err = draw_err(path);
    let percent_fmt = |y: &f64| format!("{y:.0}");
    let y = view.y.clone();

    let mut pixels = canvas(LINE_CHART);
    let root = BitMapBackend::with_buffer(&mut pixels, LINE_CHART).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0..max_epoch, y.clone())
        .map_err(|e| err(e.to_string()))?;
    let mut mesh = chart.configure_mesh();
    if percent {
        mesh.y_label_formatter(&percent_fmt);
    }
    mesh.x_desc("epoch")
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, s) in view.series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(s.line.iter().copied(), c.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        // Markers show which epochs were measured when they are sparse enough to see.
        if s.line.len() <= 60 {
            chart
                .draw_series(s.line.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(|e| err(e.to_string()))?;
        }
        let edge = |e: Edge| if e == Edge::Top { y.end } else { y.start };
        chart
            .draw_series(s.clipped.iter().map(|&(x, e, _)| {
                // Pointing out of the chart, towards where the value is.
                let tip = if e == Edge::Top { -7 } else { 7 };
                EmptyElement::at((x, edge(e)))
                    + Polygon::new(vec![(0, tip), (-6, -tip), (6, -tip)], c.filled())
            }))
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(
                s.non_finite
                    .iter()
                    .map(|&x| Cross::new((x, y.end), 6, c.stroke_width(2))),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    // The legend explains the marks, with the most extreme clipped values.
    let clipped: Vec<f64> = view
        .series
        .iter()
        .flat_map(|s| s.clipped.iter().map(|c| c.2))
        .collect();
    if !clipped.is_empty() {
        let (lo, hi) = clipped
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = if lo == hi {
            short(lo)
        } else {
            format!("{} to {}", short(lo), short(hi))
        };
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), i32>>())
            .map_err(|e| err(e.to_string()))?
            .label(format!(
                "{} off the axis ({range})",
                plural(clipped.len(), "value")
            ))
            .legend(|(x, y)| {
                Polygon::new(
                    vec![(x + 10, y - 7), (x + 4, y + 5), (x + 16, y + 5)],
                    BLACK.filled(),
                )
            });
    }
    let non_finite: usize = view.series.iter().map(|s| s.non_finite.len()).sum();
    if non_finite > 0 {
        chart
            .draw_series(std::iter::empty::<Circle<(u32, f64), i32>>())
            .map_err(|e| err(e.to_string()))?
            .label(format!(
                "{} not finite (NaN or inf)",
                plural(non_finite, "epoch")
            ))
            .legend(|(x, y)| Cross::new((x + 10, y), 6, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop((chart, root));
    write_png(path, LINE_CHART, &pixels)
}

/// An RGB image of `size`, to draw into before anything is written.
fn canvas(size: (u32, u32)) -> Vec<u8> {
    vec![0; size.0 as usize * size.1 as usize * 3]
}

/// Encodes RGB `pixels` as PNG in memory and writes the file atomically, so a failed or
/// interrupted plot never leaves a half-written figure.
fn write_png(path: &Path, size: (u32, u32), pixels: &[u8]) -> Result<(), PlotError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(pixels))
        .map_err(|e| draw_err(path)(format!("PNG encoding failed: {e}")))?;
    Ok(atomic::write(path, &bytes)?)
}

/// A value for the legend: plain when moderate, else in scientific notation.
fn short(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Width grows with classes × runs so that bars stay at least a few pixels wide.
pub fn bar_chart_size(classes: usize, runs: usize) -> (u32, u32) {
    let width = 160 + classes * (6 * runs + 10);
    (width.max(LINE_CHART.0 as usize) as u32, BAR_CHART_HEIGHT)
}

fn bar_chart(path: &Path, runs: &[(&str, &EvalReport)]) -> Result<(), PlotError> {
    let err = draw_err(path);
    let base = runs[0].1;
    let order = frequency_order(&base.train_counts);
    let n = order.len();
    let size = bar_chart_size(n, runs.len());
    let labels: Vec<String> = order
        .iter()
        .map(|&k| format!("{} ({})", base.class_names[k], base.train_counts[k]))
        .collect();
    // Labels read sideways when they would not fit side by side.
    let font = (FONT, 14).into_font();
    let widest = labels
        .iter()
        .map(|l| font.box_size(l).map_or(0, |(w, _)| w))
        .max()
        .unwrap_or(0);
    let sideways = widest as usize > (size.0 as usize - 160) / n.max(1);
    let (label_style, label_area) = if sideways {
        (
            font.transform(FontTransform::Rotate90),
            (widest + 12).min(220),
        )
    } else {
        (font, 30)
    };

    let mut pixels = canvas(size);
    let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "per-class test recall (classes by training images, most first)",
            (FONT, 24),
        )
        .margin(16)
        .x_label_area_size(label_area + 4)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n as f64, 0.0..100.0)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Class names are drawn below, one under each class: mesh labels sit at round numbers.
        .x_labels(0)
        .y_label_style((FONT, 15))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("recall (%)")
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (slot, label) in labels.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(slot as f64 + 0.5, 0.0));
        let at = if sideways { (x + 7, y + 6) } else { (x, y + 6) };
        let style = label_style.clone().color(&BLACK).pos(if sideways {
            Pos::new(HPos::Left, VPos::Top)
        } else {
            Pos::new(HPos::Center, VPos::Top)
        });
        root.draw(&Text::new(label.as_str(), at, style))
            .map_err(|e| err(e.to_string()))?;
    }
    let width = 0.8 / runs.len() as f64;
    for (j, (name, rep)) in runs.iter().enumerate() {
        let c = color(j);
        let bars = order.iter().enumerate().filter_map(|(slot, &k)| {
            let recall = rep.per_class_recall[k]?;
            let x0 = slot as f64 + 0.1 + j as f64 * width;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + width, 100.0 * recall)],
                c.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|e| err(e.to_string()))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop((chart, root));
    write_png(path, size, &pixels)
}
