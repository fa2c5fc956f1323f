//! `purenoise plot RUN_OR_SWEEP…`: PNG figures comparing runs, or a sweep's groups side by side —
//! training loss and test top-1 per epoch (from `metrics.jsonl`), per-class recall in
//! training-frequency order, shaded by many/medium/few-shot classes, and final accuracy on all,
//! many-, medium- and few-shot classes (from `metrics.json`).
//!
//! Runs are grouped as `purenoise table` groups them ([`table::group`]: every setting but the
//! seed), and each group is one series: the mean over its runs, with ± one sample standard
//! deviation as a band or error bars where it has several. `--each-run` draws every run alone.
//! Series are labelled by the settings that differ between them; the settings they share are the
//! subtitle. Epochs are numbered from 0, as training prints them and the flags name them: epoch
//! k's values are drawn at k, and so is a change that holds from epoch k on. Vertical lines mark where each run's schedule changes (from its
//! `config.json`): the end of the learning-rate warm-up, each learning-rate drop
//! (`--milestones`) and the deferral epoch of DRS/OPeN. The legend sits right of the data.
//!
//! Every figure is first built as data ([`Figures`]: series, bands, markers, bars, shading,
//! legend) and then drawn, so what a figure shows is tested on that data.
//!
//! Text is drawn with DejaVu Sans embedded in the binary, so plotting needs no system fonts.
//!
//! Metrics of a diverged run can hold anything: a NaN loss (written as `null`), 1e300, a
//! negative value. The y axis of a line chart spans the bulk of the values; a value far outside
//! it is drawn clipped at the axis edge with a triangle, a non-finite loss as a cross on the top
//! edge, and the legend says so. See [`line_view`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::atomic::{self, WriteError};
use crate::data::sampler::SamplerKind;
use crate::data::stats::Shot;
use crate::report::table::{self, Stat};
use crate::train::files::METRICS_FILE;
use crate::train::metrics::{frequency_order, EvalReport};
use crate::train::run_config::RunConfig;

/// Size of the data part of the two line charts, in pixels; the legend is added on the right.
pub const LINE_CHART: (u32, u32) = (960, 600);
/// Height of the bar charts; the per-class chart's width grows with the classes, see
/// [`bar_chart_size`].
pub const BAR_CHART_HEIGHT: u32 = 640;

pub const LOSS_PNG: &str = "loss.png";
pub const TOP1_PNG: &str = "test_top1.png";
pub const PER_CLASS_PNG: &str = "per_class_recall.png";
pub const SHOTS_PNG: &str = "shot_accuracy.png";
/// Every file `plot` may write (`train::files::RUN_FILES` knows them as a run's own).
pub const FIGURES: [&str; 4] = [LOSS_PNG, TOP1_PNG, PER_CLASS_PNG, SHOTS_PNG];

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
    /// Run folders (each with config.json and metrics.jsonl; metrics.json for the bars), or
    /// folders whose immediate subfolders are run folders (a sweep's root).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder for the PNG files [default: the first folder named].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// One series per run, instead of one per group of runs that differ only in the seed.
    #[arg(long)]
    pub each_run: bool,
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
    config: RunConfig,
    epochs: Vec<Epoch>,
    /// The final evaluation, once the run has recorded all its epochs.
    report: Option<EvalReport>,
}

fn read_run(dir: &Path) -> Result<Run, PlotError> {
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let config = RunConfig::read(dir).map_err(|e| PlotError::Input(e.to_string()))?;

    let jsonl = dir.join(METRICS_FILE);
    let text = crate::input::read_text(&jsonl, crate::input::MAX_METRICS_BYTES, "a metrics file")
        .map_err(|source| PlotError::Io {
        what: "read",
        path: jsonl.clone(),
        source,
    })?;
    let mut epochs = Vec::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: Epoch = match serde_json::from_str(line) {
            Ok(e) => e,
            // A run being written (or killed mid-append) can end in a torn line.
            Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => break,
            Err(e) => {
                return Err(PlotError::Format {
                    at: format!("{}:{}", jsonl.display(), i + 1),
                    msg: format!("not an epoch record ({e})"),
                })
            }
        };
        epochs.push(e);
    }
    let Some(last) = epochs.last() else {
        return Err(PlotError::Format {
            at: jsonl.display().to_string(),
            msg: "no epochs recorded yet".into(),
        });
    };
    // A metrics.json written before a resume that added epochs is not this run's end.
    let finished = last.epoch as usize + 1 >= config.args.epochs;

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
        let accuracies = (r.per_class_recall.iter().enumerate())
            .map(|(k, v)| {
                (
                    format!("the recall of class {k} ({})", r.class_names[k]),
                    *v,
                )
            })
            .chain([
                ("top-1".to_string(), Some(r.top1)),
                ("many-shot accuracy".to_string(), r.many),
                ("medium-shot accuracy".to_string(), r.medium),
                ("few-shot accuracy".to_string(), r.few),
            ]);
        for (what, v) in accuracies {
            if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
                return Err(PlotError::Format {
                    at: json.display().to_string(),
                    msg: format!(
                        "{what} is {}, but an accuracy lies between 0 and 1",
                        short(v)
                    ),
                });
            }
        }
    }
    Ok(Run {
        name,
        config,
        epochs,
        report: report.filter(|_| finished),
    })
}

/// The runs `dirs` name, each once, in order; a note for each folder left out.
fn read_runs(dirs: &[PathBuf], notes: &mut Vec<String>) -> Result<Vec<Run>, PlotError> {
    let mut seen = std::collections::HashSet::new();
    let mut runs = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(PlotError::Input(format!(
                "run folder {} does not exist",
                dir.display()
            )));
        }
        let found = table::run_folders(dir, notes)
            .map_err(|e| PlotError::Input(format!("{}: {e}", dir.display())))?;
        for run in found {
            if seen.insert(std::fs::canonicalize(&run).unwrap_or_else(|_| run.clone())) {
                runs.push(read_run(&run)?);
            }
        }
    }
    if runs.is_empty() {
        return Err(PlotError::Input(format!(
            "nothing to plot in {}: its runs are still starting (no config.json yet)",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(runs)
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

/// What schedule change a vertical marker shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    /// The last epoch of the learning-rate warm-up has ended.
    WarmupEnd,
    /// The learning rate is multiplied by `--lr-decay` (a `--milestones` epoch).
    LrDrop,
    /// DRS/OPeN switch from ERM to re-sampling (`--defer-epoch`).
    Deferral,
}

/// A vertical line on the per-epoch charts.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub kind: MarkerKind,
    /// Where the line is drawn: the first epoch the change holds for (epochs numbered from 0,
    /// as training prints them and the flags name them).
    pub at: u32,
    pub label: String,
    /// The series (indices) whose runs have this change here.
    pub series: Vec<usize>,
}

/// How a legend entry is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum Swatch {
    /// A series' line; `band` when it has a ± std band.
    Line {
        color: usize,
        band: bool,
    },
    /// A series' bar; `whiskers` when it has error bars.
    Bar {
        color: usize,
        whiskers: bool,
    },
    Marker(MarkerKind),
    /// The shading of many/medium/few-shot classes.
    Shade(Shot),
    /// A triangle: values beyond the axis.
    Clipped,
    /// A cross: non-finite values.
    NonFinite,
    /// Text only.
    Note,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

/// A chart of one value per epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct LineFigure {
    pub title: String,
    /// The settings every series shares.
    pub subtitle: String,
    pub y_desc: String,
    /// y labels as whole percentages.
    pub percent: bool,
    /// The x axis spans epochs 0 to this (the last epoch any run recorded).
    pub x_max: u32,
    /// Each series' mean, as drawn.
    pub view: LineView,
    /// Per series, (epoch, mean − std, mean + std) where it has several finite values, clamped
    /// to the y axis.
    pub bands: Vec<Vec<(u32, f64, f64)>>,
    pub markers: Vec<Marker>,
    pub legend: Vec<LegendEntry>,
}

/// One bar: a mean in percent, with the sample std over the group's runs when there are several.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub std: Option<f64>,
    pub n: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BarSeries {
    pub label: String,
    pub color: usize,
    /// One per slot; `None` where nothing was measured (no test image of the class).
    pub bars: Vec<Option<Bar>>,
}

/// Consecutive slots of one shot group, shaded alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Shade {
    pub shot: Shot,
    pub slots: Range<usize>,
}

/// Bars by slot (a class, or a group of classes), a bar per series in each slot.
#[derive(Clone, Debug, PartialEq)]
pub struct BarFigure {
    pub title: String,
    pub subtitle: String,
    pub y_desc: String,
    /// The label under each slot.
    pub slots: Vec<String>,
    pub shading: Vec<Shade>,
    pub series: Vec<BarSeries>,
    pub legend: Vec<LegendEntry>,
}

/// Every figure `plot` draws, as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub out: PathBuf,
    pub loss: LineFigure,
    /// `None` when no run has a test top-1 yet.
    pub top1: Option<LineFigure>,
    /// `None` when no finished run has a final evaluation (`metrics.json`).
    pub per_class: Option<BarFigure>,
    pub shots: Option<BarFigure>,
    /// Lines for stderr: what was left out, and why.
    pub notes: Vec<String>,
}

/// A series: a group of runs (or one run with `--each-run`).
struct Group<'a> {
    label: String,
    runs: Vec<&'a Run>,
}

/// The paper's names of the methods.
fn method_name(kind: SamplerKind) -> &'static str {
    match kind {
        SamplerKind::Erm => "ERM",
        SamplerKind::Rs => "RS",
        SamplerKind::Drs => "DRS",
        SamplerKind::Open => "OPeN",
    }
}

/// A group label: its settings that differ between the groups (`method=open bn=auxbn`).
fn group_label(keys: &[String], values: &[String], runs: &[&Run]) -> String {
    let mut label = (keys.iter().zip(values))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if label.is_empty() {
        label = match runs {
            [one] => one.name.clone(),
            _ => "all runs".into(),
        };
    }
    if runs.len() > 1 {
        label += &format!(" (n={})", runs.len());
    }
    label
}

/// The groups (series) and the subtitle: the headline settings all series share.
fn groups(runs: &[Run], each_run: bool) -> (Vec<Group<'_>>, String) {
    let settings: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|r| {
            let mut s = table::group_settings(&r.config);
            if each_run {
                s.insert("seed".into(), r.config.args.seed.to_string());
            }
            s
        })
        .collect();
    let grouping = table::group(&settings.iter().collect::<Vec<_>>());
    let groups = (grouping.groups.iter())
        .map(|(values, members)| {
            let runs: Vec<&Run> = members.iter().map(|&i| &runs[i]).collect();
            Group {
                label: group_label(&grouping.varying, values, &runs),
                runs,
            }
        })
        .collect();
    let subtitle = (grouping.common.iter())
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    (groups, subtitle)
}

/// The schedule changes of a run's settings: (kind, epochs before it, label).
fn schedule_changes(config: &RunConfig) -> Vec<(MarkerKind, u32, String)> {
    let a = &config.args;
    let mut out = Vec::new();
    if a.warmup_epochs > 0 {
        out.push((
            MarkerKind::WarmupEnd,
            a.warmup_epochs as u32,
            format!("full lr from epoch {}", a.warmup_epochs),
        ));
    }
    for &m in &a.milestones {
        out.push((
            MarkerKind::LrDrop,
            m as u32,
            format!("lr ×{} from epoch {m}", a.lr_decay),
        ));
    }
    let sampler = &a.data.sampler;
    if matches!(sampler.sampler, SamplerKind::Drs | SamplerKind::Open) {
        out.push((
            MarkerKind::Deferral,
            sampler.defer_epoch as u32,
            format!(
                "{} re-sampling from epoch {}",
                method_name(sampler.sampler),
                sampler.defer_epoch
            ),
        ));
    }
    out
}

/// The markers inside the x axis (a change from epoch 0, or past the last epoch, changes nothing drawn), each once
/// with the series it belongs to. A marker of only some series names them, unless its label
/// already does (a deferral names its method, and only that method's series have it).
fn markers(groups: &[Group], x_max: u32) -> Vec<Marker> {
    let mut found: BTreeMap<(MarkerKind, u32, String), Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        // A group's runs share every setting but the seed, so its first run speaks for all.
        for (kind, at, label) in schedule_changes(&g.runs[0].config) {
            if at > 0 && at <= x_max {
                found.entry((kind, at, label)).or_default().push(i);
            }
        }
    }
    found
        .into_iter()
        .map(|((kind, at, mut label), series)| {
            let named_by_method = kind == MarkerKind::Deferral && {
                let method = |g: &Group| g.runs[0].config.args.data.sampler.sampler;
                let m = method(&groups[series[0]]);
                let with_method = (0..groups.len()).filter(|&j| method(&groups[j]) == m);
                with_method.eq(series.iter().copied())
            };
            if series.len() < groups.len() && !named_by_method {
                let names: Vec<&str> = series.iter().map(|&i| groups[i].label.as_str()).collect();
                label += &format!(" ({})", names.join("; "));
            }
            Marker {
                kind,
                at,
                label,
                series,
            }
        })
        .collect()
}

/// A series' mean per epoch (`None`: some run's value was not finite) and its sample std.
fn epoch_stats(
    runs: &[&Run],
    value: impl Fn(&Epoch) -> Option<Option<f64>>,
) -> Vec<(u32, Option<Stat>)> {
    let mut by_epoch: BTreeMap<u32, Vec<Option<f64>>> = BTreeMap::new();
    for r in runs {
        for e in &r.epochs {
            if let Some(v) = value(e) {
                by_epoch.entry(e.epoch).or_default().push(v);
            }
        }
    }
    by_epoch
        .into_iter()
        .map(|(epoch, values)| {
            let finite: Option<Vec<f64>> =
                values.iter().map(|v| v.filter(|x| !x.is_nan())).collect();
            (epoch, finite.map(Stat::of_values))
        })
        .collect()
}

fn line_figure(
    title: &str,
    y_desc: &str,
    percent: bool,
    groups: &[Group],
    subtitle: &str,
    x_max: u32,
    stats: Vec<Vec<(u32, Option<Stat>)>>,
) -> LineFigure {
    let inputs: Vec<SeriesInput> = (groups.iter().zip(&stats))
        .map(|(g, st)| {
            let pts = st
                .iter()
                .map(|&(e, s)| (e, s.and_then(|s| s.mean)))
                .collect();
            (g.label.clone(), pts)
        })
        .collect();
    // The axis spans the bands too, not only the means.
    let spread = (stats.iter().flatten()).flat_map(|(_, s)| {
        let s = s.as_ref();
        let (m, d) = (s.and_then(|s| s.mean), s.and_then(|s| s.std));
        [m.zip(d).map(|(m, d)| m - d), m.zip(d).map(|(m, d)| m + d)]
    });
    let means = (inputs.iter()).flat_map(|(_, p)| p.iter().filter_map(|&(_, v)| v));
    let y = if percent {
        0.0..100.0
    } else {
        y_axis(means.chain(spread.flatten()))
    };
    let view = line_view(&inputs, Some(y.clone()));
    let bands: Vec<Vec<(u32, f64, f64)>> = stats
        .iter()
        .map(|st| {
            st.iter()
                .filter_map(|&(e, s)| {
                    let s = s?;
                    let (m, d) = (s.mean?, s.std?);
                    let clamp = |v: f64| v.clamp(y.start, y.end);
                    (m - d).is_finite().then(|| (e, clamp(m - d), clamp(m + d)))
                })
                .collect()
        })
        .collect();
    let markers = markers(groups, x_max);
    let mut legend: Vec<LegendEntry> = (view.series.iter().zip(&bands).enumerate())
        .map(|(i, (s, b))| LegendEntry {
            label: s.name.clone(),
            swatch: Swatch::Line {
                color: i,
                band: !b.is_empty(),
            },
        })
        .collect();
    if bands.iter().any(|b| !b.is_empty()) {
        legend.push(LegendEntry {
            label: "bands: ± 1 std over seeds".into(),
            swatch: Swatch::Note,
        });
    }
    legend.extend(markers.iter().map(|m| LegendEntry {
        label: m.label.clone(),
        swatch: Swatch::Marker(m.kind),
    }));
    // The marks for values off the axis, with the most extreme ones.
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
        legend.push(LegendEntry {
            label: format!("{} off the axis ({range})", plural(clipped.len(), "value")),
            swatch: Swatch::Clipped,
        });
    }
    let non_finite: usize = view.series.iter().map(|s| s.non_finite.len()).sum();
    if non_finite > 0 {
        legend.push(LegendEntry {
            label: format!("{} not finite (NaN or inf)", plural(non_finite, "epoch")),
            swatch: Swatch::NonFinite,
        });
    }
    LineFigure {
        title: title.into(),
        subtitle: subtitle.into(),
        y_desc: y_desc.into(),
        percent,
        x_max,
        view,
        bands,
        markers,
        legend,
    }
}

/// Mean and std in percent of fractions, as a bar; `None` without values.
fn bar_of(fractions: impl IntoIterator<Item = f64>) -> Option<Bar> {
    let s = Stat::of(fractions);
    Some(Bar {
        value: s.mean?,
        std: s.std,
        n: s.n,
    })
}

fn shot_name(shot: Shot) -> &'static str {
    match shot {
        Shot::Many => "many-shot (>100 training images)",
        Shot::Medium => "medium-shot (20-100)",
        Shot::Few => "few-shot (<20)",
    }
}

/// Consecutive runs of equal shots among `slots`, for shading.
fn shading(slots: impl IntoIterator<Item = Option<Shot>>) -> Vec<Shade> {
    let mut out: Vec<Shade> = Vec::new();
    for (i, shot) in slots.into_iter().enumerate() {
        let Some(shot) = shot else { continue };
        match out.last_mut() {
            Some(last) if last.shot == shot && last.slots.end == i => last.slots.end = i + 1,
            _ => out.push(Shade {
                shot,
                slots: i..i + 1,
            }),
        }
    }
    out
}

fn bar_legend(series: &[BarSeries], shading: &[Shade]) -> Vec<LegendEntry> {
    let whiskers = |s: &BarSeries| s.bars.iter().flatten().any(|b| b.std.is_some());
    let mut legend: Vec<LegendEntry> = (series.iter())
        .map(|s| LegendEntry {
            label: s.label.clone(),
            swatch: Swatch::Bar {
                color: s.color,
                whiskers: whiskers(s),
            },
        })
        .collect();
    if series.iter().any(whiskers) {
        legend.push(LegendEntry {
            label: "error bars: ± 1 std over seeds".into(),
            swatch: Swatch::Note,
        });
    }
    let mut shots: Vec<Shot> = Vec::new();
    for s in shading {
        if !shots.contains(&s.shot) {
            shots.push(s.shot);
        }
    }
    legend.extend(shots.into_iter().map(|shot| LegendEntry {
        label: shot_name(shot).into(),
        swatch: Swatch::Shade(shot),
    }));
    legend
}

/// The final evaluations of a group's runs.
fn reports<'a>(g: &Group<'a>) -> Vec<&'a EvalReport> {
    g.runs.iter().filter_map(|r| r.report.as_ref()).collect()
}

/// Per-class recall (mean over each group's evaluated runs), classes by training images, most
/// first, shaded by shot group; and accuracy on all, many-, medium- and few-shot classes.
fn bar_figures(groups: &[Group], subtitle: &str, base: &EvalReport) -> (BarFigure, BarFigure) {
    let order = frequency_order(&base.train_counts);
    // A series keeps its line's colour; groups without a final evaluation have no bars.
    let labelled: Vec<(usize, &Group)> = (groups.iter().enumerate())
        .filter(|(_, g)| !reports(g).is_empty())
        .collect();
    let per_class_series = (labelled.iter().copied())
        .map(|(i, g)| BarSeries {
            label: g.label.clone(),
            color: i,
            bars: (order.iter())
                .map(|&k| bar_of(reports(g).iter().filter_map(|r| r.per_class_recall[k])))
                .collect(),
        })
        .collect::<Vec<_>>();
    let slots: Vec<String> = order
        .iter()
        .map(|&k| format!("{} ({})", base.class_names[k], base.train_counts[k]))
        .collect();
    let shade = shading(order.iter().map(|&k| Some(Shot::of(base.train_counts[k]))));
    let per_class = BarFigure {
        title: "per-class test recall (classes by training images, most first)".into(),
        subtitle: subtitle.into(),
        y_desc: "recall (%)".into(),
        legend: bar_legend(&per_class_series, &shade),
        slots,
        shading: shade,
        series: per_class_series,
    };

    let classes_of = |shot: Shot| {
        let n = base
            .train_counts
            .iter()
            .filter(|&&c| Shot::of(c) == shot)
            .count();
        plural(n, "class")
    };
    let shots = [Shot::Many, Shot::Medium, Shot::Few];
    let mut slots = vec![format!("all ({})", plural(base.class_names.len(), "class"))];
    slots.extend(shots.iter().map(|&s| {
        let name = match s {
            Shot::Many => "many",
            Shot::Medium => "medium",
            Shot::Few => "few",
        };
        format!("{name} ({})", classes_of(s))
    }));
    let shot_series = (labelled.iter().copied())
        .map(|(i, g)| {
            let rs = reports(g);
            let mut bars = vec![bar_of(rs.iter().map(|r| r.top1))];
            bars.push(bar_of(rs.iter().filter_map(|r| r.many)));
            bars.push(bar_of(rs.iter().filter_map(|r| r.medium)));
            bars.push(bar_of(rs.iter().filter_map(|r| r.few)));
            BarSeries {
                label: g.label.clone(),
                color: i,
                bars,
            }
        })
        .collect::<Vec<_>>();
    // A shot group without classes has nothing to shade (nor a legend entry).
    let present = |s: Shot| base.train_counts.iter().any(|&c| Shot::of(c) == s);
    let shade = shading(
        std::iter::once(None).chain(shots.iter().map(|&s| Some(s).filter(|&s| present(s)))),
    );
    let shot_fig = BarFigure {
        title: "final test accuracy by class frequency".into(),
        subtitle: subtitle.into(),
        y_desc: "accuracy (%)".into(),
        legend: bar_legend(&shot_series, &shade),
        slots,
        shading: shade,
        series: shot_series,
    };
    (per_class, shot_fig)
}

/// Reads the runs and builds every figure as data; nothing is written.
pub fn figures(args: &PlotArgs) -> Result<Figures, PlotError> {
    let first = args
        .runs
        .first()
        .ok_or_else(|| PlotError::Input("name at least one run folder".into()))?;
    let mut notes = Vec::new();
    let runs = read_runs(&args.runs, &mut notes)?;
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
        notes.push(format!(
            "note: run {} has no final evaluation (metrics.json; it comes when the run finishes), \
             so it has no bars",
            r.name
        ));
    }
    let (groups, subtitle) = groups(&runs, args.each_run);
    // Both charts span every epoch recorded, evaluated or not.
    let x_max = runs
        .iter()
        .flat_map(|r| r.epochs.iter().map(|e| e.epoch))
        .max()
        .unwrap_or(0)
        .max(1);
    // Every epoch of the loss chart has a loss, so a missing one was NaN or infinite and is
    // marked; test top-1 is only measured every --eval-every epochs, so a gap there is no news.
    let loss_stats = groups
        .iter()
        .map(|g| epoch_stats(&g.runs, |e| Some(e.loss)))
        .collect();
    let loss = line_figure(
        "training loss",
        "loss",
        false,
        &groups,
        &subtitle,
        x_max,
        loss_stats,
    );
    let top1_stats: Vec<_> = groups
        .iter()
        .map(|g| epoch_stats(&g.runs, |e| e.test_top1.map(|a| Some(100.0 * a))))
        .collect();
    let top1 = if top1_stats.iter().all(|s| s.is_empty()) {
        notes.push(format!(
            "note: no run has a test top-1 yet, so no {TOP1_PNG}"
        ));
        None
    } else {
        Some(line_figure(
            "test top-1",
            "top-1 (%)",
            true,
            &groups,
            &subtitle,
            x_max,
            top1_stats,
        ))
    };
    let (per_class, shots) = match with_report.first() {
        Some(&(_, base)) => {
            let (a, b) = bar_figures(&groups, &subtitle, base);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    Ok(Figures {
        out: args.out.clone().unwrap_or_else(|| first.clone()),
        loss,
        top1,
        per_class,
        shots,
        notes,
    })
}

/// Writes the figures; returns the files written. Notes (runs without bars) go to stderr.
pub fn run(args: &PlotArgs) -> Result<Vec<PathBuf>, PlotError> {
    let figs = figures(args)?;
    for n in &figs.notes {
        eprintln!("{n}");
    }
    let out = &figs.out;
    std::fs::create_dir_all(out).map_err(|source| PlotError::Io {
        what: "create folder",
        path: out.clone(),
        source,
    })?;
    register_font()?;
    let mut written = Vec::new();
    let lines = [(LOSS_PNG, Some(&figs.loss)), (TOP1_PNG, figs.top1.as_ref())];
    for (file, fig) in lines {
        if let Some(fig) = fig {
            let path = out.join(file);
            line_chart(&path, fig)?;
            written.push(path);
        }
    }
    let bars = [
        (PER_CLASS_PNG, figs.per_class.as_ref()),
        (SHOTS_PNG, figs.shots.as_ref()),
    ];
    for (file, fig) in bars {
        if let Some(fig) = fig {
            let path = out.join(file);
            bar_chart(&path, fig)?;
            written.push(path);
        }
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

/// The y axis over the bulk of `values` (those finite and within ±[`HUGE`]): values more than a
/// hundred times the interquartile range (at least the median's magnitude) past the quartiles
/// are outliers, so a run that diverged to 1e30 does not flatten every other curve while a loss
/// falling a hundredfold stays whole; the axis is padded by 5 % and never empty.
fn y_axis(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let mut values: Vec<f64> = (values.into_iter())
        .filter(|v| v.is_finite() && v.abs() <= HUGE)
        .collect();
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
        y_axis(
            series
                .iter()
                .flat_map(|(_, p)| p.iter().filter_map(|&(_, v)| v)),
        )
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

/// The light shading behind each shot group's classes.
fn shade_color(shot: Shot) -> RGBColor {
    match shot {
        Shot::Many => RGBColor(226, 236, 247),
        Shot::Medium => RGBColor(250, 240, 222),
        Shot::Few => RGBColor(248, 226, 226),
    }
}

/// Colour, stroke width, dash and gap (pixels) of a marker's line.
fn marker_style(kind: MarkerKind) -> (RGBColor, u32, i32, i32) {
    match kind {
        MarkerKind::Deferral => (RGBColor(30, 30, 30), 2, 10, 5),
        MarkerKind::LrDrop => (RGBColor(105, 105, 105), 2, 5, 4),
        MarkerKind::WarmupEnd => (RGBColor(165, 165, 165), 2, 2, 4),
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const LEGEND_FONT: u32 = 15;
const LEGEND_ROW: i32 = 24;
/// Room for a legend entry's swatch, left of its text.
const SWATCH: i32 = 36;
const LEGEND_MAX_WIDTH: u32 = 460;

fn text_width(text: &str, size: u32) -> u32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_or(0, |(w, _)| w)
}

/// The legend's width: its longest label, within [`LEGEND_MAX_WIDTH`] (longer ones are cut).
fn legend_width(entries: &[LegendEntry]) -> u32 {
    let widest = (entries.iter())
        .map(|e| text_width(&e.label, LEGEND_FONT))
        .max()
        .unwrap_or(0);
    (widest + SWATCH as u32 + 24).clamp(150, LEGEND_MAX_WIDTH)
}

/// `text` cut with an ellipsis to fit `width` pixels.
fn fit(text: &str, width: u32) -> String {
    if text_width(text, LEGEND_FONT) <= width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "…";
        if text_width(&cut, LEGEND_FONT) <= width {
            return cut;
        }
    }
    "…".into()
}

/// The legend, in its own area right of the chart, entries from `top` down.
fn draw_legend(area: &Area, entries: &[LegendEntry], top: i32) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let room = area.dim_in_pixel().0.saturating_sub(SWATCH as u32 + 12);
    let style = (FONT, LEGEND_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, entry) in entries.iter().enumerate() {
        let (x, y) = (6, top + 10 + i as i32 * LEGEND_ROW);
        match &entry.swatch {
            Swatch::Line { color: c, band } => {
                let c = color(*c);
                if *band {
                    area.draw(&Rectangle::new(
                        [(x, y - 7), (x + 28, y + 7)],
                        c.mix(0.2).filled(),
                    ))
                    .map_err(e)?;
                }
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 28, y)],
                    c.stroke_width(3),
                ))
                .map_err(e)?;
            }
            Swatch::Bar { color: c, whiskers } => {
                area.draw(&Rectangle::new(
                    [(x + 6, y - 7), (x + 22, y + 7)],
                    color(*c).filled(),
                ))
                .map_err(e)?;
                if *whiskers {
                    area.draw(&PathElement::new(
                        vec![(x + 14, y - 10), (x + 14, y + 3)],
                        BLACK,
                    ))
                    .map_err(e)?;
                }
            }
            Swatch::Marker(kind) => {
                let (c, w, dash, gap) = marker_style(*kind);
                area.draw(&DashedPathElement::new(
                    vec![(x, y), (x + 28, y)],
                    dash,
                    gap,
                    c.stroke_width(w),
                ))
                .map_err(e)?;
            }
            Swatch::Shade(shot) => {
                area.draw(&Rectangle::new(
                    [(x + 2, y - 8), (x + 26, y + 8)],
                    shade_color(*shot).filled(),
                ))
                .map_err(e)?;
                area.draw(&Rectangle::new(
                    [(x + 2, y - 8), (x + 26, y + 8)],
                    BLACK.mix(0.4),
                ))
                .map_err(e)?;
            }
            Swatch::Clipped => area
                .draw(&Polygon::new(
                    vec![(x + 14, y - 7), (x + 8, y + 5), (x + 20, y + 5)],
                    BLACK.filled(),
                ))
                .map_err(e)?,
            Swatch::NonFinite => area
                .draw(&Cross::new((x + 14, y), 6, BLACK.stroke_width(2)))
                .map_err(e)?,
            Swatch::Note => {}
        }
        let at = if entry.swatch == Swatch::Note {
            x
        } else {
            x + SWATCH
        };
        area.draw(&Text::new(fit(&entry.label, room), (at, y), style.clone()))
            .map_err(e)?;
    }
    Ok(())
}

/// The title and, under it, the subtitle (the settings all series share); returns the area
/// below them.
fn titled<'a>(root: &Area<'a>, title: &str, subtitle: &str) -> Result<Area<'a>, String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (w, _) = root.dim_in_pixel();
    let center = Pos::new(HPos::Center, VPos::Top);
    root.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 10),
        (FONT, 24).into_font().color(&BLACK).pos(center),
    ))
    .map_err(e)?;
    let mut height = 42;
    if !subtitle.is_empty() {
        root.draw(&Text::new(
            subtitle.to_string(),
            (w as i32 / 2, 40),
            (FONT, 15)
                .into_font()
                .color(&RGBColor(80, 80, 80))
                .pos(center),
        ))
        .map_err(e)?;
        height = 62;
    }
    Ok(root.split_vertically(height).1)
}

fn line_chart(path: &Path, fig: &LineFigure) -> Result<(), PlotError> {
    let size = (LINE_CHART.0 + legend_width(&fig.legend), LINE_CHART.1);
    let mut pixels = canvas(size);
    draw_line_chart(&mut pixels, size, fig).map_err(draw_err(path))?;
    write_png(path, size, &pixels)
}

fn draw_line_chart(pixels: &mut [u8], size: (u32, u32), fig: &LineFigure) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let percent_fmt = |y: &f64| format!("{y:.0}");
    let y = fig.view.y.clone();
    let root = BitMapBackend::with_buffer(pixels, size).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let body = titled(&root, &fig.title, &fig.subtitle)?;
    let (data, legend) = body.split_horizontally(LINE_CHART.0);
    let mut chart = ChartBuilder::on(&data)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0..fig.x_max, y.clone())
        .map_err(e)?;
    let mut mesh = chart.configure_mesh();
    if fig.percent {
        mesh.y_label_formatter(&percent_fmt);
    }
    mesh.x_desc("epoch")
        .y_desc(fig.y_desc.as_str())
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(e)?;
    // Bands behind everything; one epoch's band is a bar.
    for (i, band) in fig.bands.iter().enumerate() {
        let c = color(i).mix(0.2).filled();
        if let [(x, lo, hi)] = band[..] {
            chart
                .draw_series([PathElement::new(vec![(x, lo), (x, hi)], c.stroke_width(6))])
                .map_err(e)?;
        } else if band.len() > 1 {
            let outline: Vec<(u32, f64)> = (band.iter().map(|&(x, _, hi)| (x, hi)))
                .chain(band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart.draw_series([Polygon::new(outline, c)]).map_err(e)?;
        }
    }
    for m in &fig.markers {
        let (c, w, dash, gap) = marker_style(m.kind);
        chart
            .draw_series(DashedLineSeries::new(
                [(m.at, y.start), (m.at, y.end)],
                dash,
                gap,
                c.stroke_width(w),
            ))
            .map_err(e)?;
    }
    for (i, s) in fig.view.series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(s.line.iter().copied(), c.stroke_width(2)))
            .map_err(e)?;
        // Markers show which epochs were measured when they are sparse enough to see.
        if s.line.len() <= 60 {
            chart
                .draw_series(s.line.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(e)?;
        }
        let edge = |e: Edge| if e == Edge::Top { y.end } else { y.start };
        chart
            .draw_series(s.clipped.iter().map(|&(x, e, _)| {
                // Pointing out of the chart, towards where the value is.
                let tip = if e == Edge::Top { -7 } else { 7 };
                EmptyElement::at((x, edge(e)))
                    + Polygon::new(vec![(0, tip), (-6, -tip), (6, -tip)], c.filled())
            }))
            .map_err(e)?;
        chart
            .draw_series(
                s.non_finite
                    .iter()
                    .map(|&x| Cross::new((x, y.end), 6, c.stroke_width(2))),
            )
            .map_err(e)?;
    }
    draw_legend(&legend, &fig.legend, 16)?;
    root.present().map_err(e)
}

/// Width grows with slots × series so that bars stay at least a few pixels wide; the legend
/// is added on the right.
pub fn bar_chart_size(slots: usize, series: usize) -> (u32, u32) {
    let width = 160 + slots * (6 * series + 10);
    (width.max(LINE_CHART.0 as usize) as u32, BAR_CHART_HEIGHT)
}

fn bar_chart(path: &Path, fig: &BarFigure) -> Result<(), PlotError> {
    let chart_size = bar_chart_size(fig.slots.len(), fig.series.len().max(1));
    let size = (chart_size.0 + legend_width(&fig.legend), chart_size.1);
    let mut pixels = canvas(size);
    draw_bar_chart(&mut pixels, size, chart_size.0, fig).map_err(draw_err(path))?;
    write_png(path, size, &pixels)
}

/// A bar lower than this (in %) also gets a thick line at its base, so a zero is seen.
const VISIBLE: f64 = 1.0;

fn draw_bar_chart(
    pixels: &mut [u8],
    size: (u32, u32),
    chart_width: u32,
    fig: &BarFigure,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let n = fig.slots.len();
    // Labels read sideways when they would not fit side by side.
    let font = (FONT, 14).into_font();
    let widest = (fig.slots.iter())
        .map(|l| font.box_size(l).map_or(0, |(w, _)| w))
        .max()
        .unwrap_or(0);
    let sideways = widest as usize > (chart_width as usize - 160) / n.max(1);
    let (label_style, label_area) = if sideways {
        (
            font.transform(FontTransform::Rotate90),
            (widest + 12).min(220),
        )
    } else {
        (font, 30)
    };

    let root = BitMapBackend::with_buffer(pixels, size).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let body = titled(&root, &fig.title, &fig.subtitle)?;
    let (data, legend) = body.split_horizontally(chart_width);
    let mut chart = ChartBuilder::on(&data)
        .margin(16)
        .x_label_area_size(label_area + 4)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n as f64, 0.0..100.0)
        .map_err(e)?;
    // Shading first, so the grid shows over it.
    chart
        .draw_series(fig.shading.iter().map(|s| {
            Rectangle::new(
                [(s.slots.start as f64, 0.0), (s.slots.end as f64, 100.0)],
                shade_color(s.shot).filled(),
            )
        }))
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Slot names are drawn below, one under each slot: mesh labels sit at round numbers.
        .x_labels(0)
        .y_label_style((FONT, 15))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(fig.y_desc.as_str())
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(e)?;
    for (slot, label) in fig.slots.iter().enumerate() {
        // In the root's pixels, as the labels lie outside the chart's area.
        let (x, y) = chart.backend_coord(&(slot as f64 + 0.5, 0.0));
        let at = if sideways { (x + 7, y + 6) } else { (x, y + 6) };
        let style = label_style.clone().color(&BLACK).pos(if sideways {
            Pos::new(HPos::Left, VPos::Top)
        } else {
            Pos::new(HPos::Center, VPos::Top)
        });
        root.draw(&Text::new(label.as_str(), at, style))
            .map_err(e)?;
    }
    let width = 0.8 / fig.series.len().max(1) as f64;
    for (j, s) in fig.series.iter().enumerate() {
        let c = color(s.color);
        let placed = || {
            (s.bars.iter().enumerate())
                .filter_map(move |(slot, b)| b.map(|b| (slot as f64 + 0.1 + j as f64 * width, b)))
        };
        chart
            .draw_series(placed().map(|(x0, b)| {
                Rectangle::new([(x0, 0.0), (x0 + width, b.value.min(100.0))], c.filled())
            }))
            .map_err(e)?;
        chart
            .draw_series(placed().filter(|(_, b)| b.value < VISIBLE).map(|(x0, _)| {
                PathElement::new(vec![(x0, 0.0), (x0 + width, 0.0)], c.stroke_width(5))
            }))
            .map_err(e)?;
        chart
            .draw_series(placed().filter_map(|(x0, b)| {
                let d = b.std?;
                let mid = x0 + width / 2.0;
                let (lo, hi) = ((b.value - d).max(0.0), (b.value + d).min(100.0));
                let cap = width / 4.0;
                Some(PathElement::new(
                    vec![
                        (mid - cap, lo),
                        (mid + cap, lo),
                        (mid, lo),
                        (mid, hi),
                        (mid - cap, hi),
                        (mid + cap, hi),
                    ],
                    BLACK.stroke_width(1),
                ))
            }))
            .map_err(e)?;
    }
    draw_legend(&legend, &fig.legend, 16)?;
    root.present().map_err(e)
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
    // Figures are mostly flat colour: the best compression keeps them small at little cost.
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
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
    let ending = match (n, what.ends_with('s')) {
        (1, _) => "",
        (_, true) => "es",
        _ => "s",
    };
    format!("{n} {what}{ending}")
}
