//! `purenoise plot`: figures of fabricated run folders (config.json written through
//! `RunConfig`, metrics files written directly; no training) — checked on the figures' data
//! (markers at the schedule's epochs, shortened labels, shot shading, zero bars, group means and
//! deviations) and, decoded, on their pixels — and bad run folders.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use purenoise::data::stats::Shot;
use purenoise::report::plot::{
    bar_chart_size, figures, line_view, run, Bar, Edge, Figures, MarkerKind, PlotArgs, SeriesInput,
    Shade, Swatch, LINE_CHART, LOSS_PNG, PER_CLASS_PNG, SHOTS_PNG, TOP1_PNG,
};
use purenoise::train::args::TrainArgs;
use purenoise::train::files::LOCK_FILE;
use purenoise::train::metrics::evaluate;
use purenoise::train::run_config::RunConfig;

const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
const TRAIN: [usize; 10] = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];
/// tab10's first two colours: the first and second series.
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("purenoise-plot-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn write_config(dir: &Path, flags: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    let args = Cli::parse_from(std::iter::once("train").chain(flags.iter().copied())).args;
    fs::write(dir.join("config.json"), RunConfig::new(args).to_json()).unwrap();
}

/// `metrics.jsonl` with one line per (loss, test top-1) given; `None` is written as `null`.
fn write_metrics(dir: &Path, records: &[(Option<f64>, Option<f64>)]) {
    let show = |v: Option<f64>| v.map_or("null".to_string(), |v| v.to_string());
    let lines: String = (records.iter().enumerate())
        .map(|(e, &(loss, top1))| {
            format!(
                "{{\"epoch\": {e}, \"loss\": {}, \"lr\": 0.1, \"train_acc\": 0.3, \
                 \"test_top1\": {}, \"images_per_s\": 800.0, \"seconds\": 12.5}}\n",
                show(loss),
                show(top1)
            )
        })
        .collect();
    fs::write(dir.join("metrics.jsonl"), lines).unwrap();
}

/// `metrics.json`: class k has 20 test samples and `right[k]` of them right, `train[k]` training
/// images.
fn write_report(dir: &Path, train: &[usize; 10], right: &[usize; 10]) {
    let (mut pred, mut labels) = (Vec::new(), Vec::new());
    for k in 0..10u32 {
        for i in 0..20 {
            labels.push(k);
            pred.push(if i < right[k as usize] {
                k
            } else {
                (k + 1) % 10
            });
        }
    }
    let names: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
    evaluate(&pred, &labels, train, &names)
        .unwrap()
        .write(dir)
        .unwrap();
}

/// A run folder of `epochs` epochs trained with `flags`: a falling loss, test top-1 every epoch
/// but each third, and, if `recall_of` is given, an evaluation in which class k has 20 test
/// samples and `recall_of(k)` of them right.
fn make_run(
    dir: &Path,
    flags: &[&str],
    epochs: usize,
    scale: f64,
    recall_of: Option<fn(usize) -> usize>,
) {
    let n = epochs.to_string();
    let mut all = vec!["--epochs", &n];
    all.extend(flags);
    write_config(dir, &all);
    let records: Vec<_> = (0..epochs)
        .map(|e| {
            let top1 = (e % 3 != 2).then_some(0.1 + 0.05 * e as f64 * scale);
            (Some(scale * 2.3 / (1.0 + e as f64)), top1)
        })
        .collect();
    write_metrics(dir, &records);
    if let Some(right) = recall_of {
        write_report(dir, &TRAIN, &std::array::from_fn(right));
    }
}

fn plot_args(runs: &[&Path], out: Option<PathBuf>, each_run: bool) -> PlotArgs {
    PlotArgs {
        runs: runs.iter().map(|p| p.to_path_buf()).collect(),
        out,
        each_run,
    }
}

fn figs(runs: &[&Path]) -> Figures {
    figures(&plot_args(runs, None, false)).unwrap()
}

/// Decodes a PNG into (width, height, RGB pixels).
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, px)
}

fn count(px: &[[u8; 3]], c: [u8; 3]) -> usize {
    px.iter().filter(|&&p| p == c).count()
}

/// Dark pixels: axes, ticks and text.
fn dark(px: &[[u8; 3]]) -> usize {
    px.iter().filter(|p| p.iter().all(|&v| v < 80)).count()
}

#[test]
fn two_runs_give_four_figures() {
    let root = tmpdir("two");
    let (erm, open) = (root.join("erm"), root.join("open"));
    make_run(&erm, &["--method", "erm"], 12, 1.0, Some(|k| 20 - 2 * k));
    make_run(&open, &["--method", "open"], 9, 0.8, Some(|k| 18 - k));
    let out = root.join("figures");
    let files = run(&plot_args(&[&erm, &open], Some(out.clone()), false)).unwrap();
    let names = [LOSS_PNG, TOP1_PNG, PER_CLASS_PNG, SHOTS_PNG];
    assert_eq!(files, names.map(|f| out.join(f)));
    for (file, height) in [
        (LOSS_PNG, LINE_CHART.1),
        (TOP1_PNG, LINE_CHART.1),
        (PER_CLASS_PNG, bar_chart_size(10, 2).1),
        (SHOTS_PNG, bar_chart_size(4, 2).1),
    ] {
        let (w, h, px) = decode(&out.join(file));
        // The legend is right of the data: the image is wider than the chart.
        assert!(w > LINE_CHART.0 && h == height, "{file}: {w}×{h}");
        let white = count(&px, [255, 255, 255]);
        assert!(white < px.len() * 98 / 100, "{file} is blank");
        // The shot chart is mostly shaded.
        assert!(white > px.len() / 5, "{file} has no background");
        // Both runs are drawn, in their colours, and there is text and axes.
        assert!(count(&px, BLUE) > 200, "{file}: first run missing");
        assert!(count(&px, ORANGE) > 200, "{file}: second run missing");
        assert!(dark(&px) > 2000, "{file}: no axes or text");
        // Nothing of the runs' colours lies right of the data but the legend's small swatches.
        let (w, chart_w) = (w as usize, LINE_CHART.0 as usize);
        let right = (px.iter().enumerate()).filter(|&(i, &p)| i % w >= chart_w && p == BLUE);
        assert!(right.count() < 500, "{file}: data drawn under the legend");
    }
    // Bars: ERM's first class is at 100 %, so its bar is taller than any of OPeN's (90 %).
    let (w, _, px) = decode(&out.join(PER_CLASS_PNG));
    let w = w as usize;
    let top_row = |c: [u8; 3]| {
        (0..px.len())
            .find(|&i| i % w < LINE_CHART.0 as usize && px[i] == c)
            .unwrap()
            / w
    };
    assert!(top_row(BLUE) < top_row(ORANGE));

    // Default output folder: the first run's.
    let files = run(&plot_args(&[&erm], None, false)).unwrap();
    assert_eq!(files, names.map(|f| erm.join(f)));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn run_without_evaluation_gets_lines_but_no_bars() {
    let root = tmpdir("noeval");
    let (a, b) = (root.join("a"), root.join("b"));
    make_run(&a, &["--method", "drs"], 5, 1.0, None);
    make_run(&b, &["--method", "open"], 5, 1.0, Some(|k| k));
    let files = run(&plot_args(&[&a, &b], None, false)).unwrap();
    assert_eq!(
        files,
        [LOSS_PNG, TOP1_PNG, PER_CLASS_PNG, SHOTS_PNG].map(|f| a.join(f))
    );
    // Only run b has bars: they keep its line's colour, the second.
    let (_, _, px) = decode(&files[2]);
    assert!(count(&px, ORANGE) > 200);
    assert_eq!(count(&px, BLUE), 0);
    let f = figs(&[&a, &b]);
    let bars = f.per_class.unwrap();
    assert_eq!(bars.series.len(), 1);
    assert_eq!(
        (bars.series[0].label.as_str(), bars.series[0].color),
        ("method=open", 1)
    );
    assert!(
        f.notes[0].contains("run a has no final evaluation"),
        "{:?}",
        f.notes
    );

    // No evaluation anywhere: no bar chart at all.
    let files = run(&plot_args(&[&a], Some(root.join("only-a")), false)).unwrap();
    assert_eq!(files.len(), 2);
    assert!(!root.join("only-a").join(PER_CLASS_PNG).exists());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn markers_sit_at_the_schedules_epochs() {
    let root = tmpdir("markers");
    let schedule = [
        "--warmup-epochs",
        "2",
        "--milestones",
        "6,8",
        "--lr-decay",
        "0.1",
        "--defer-epoch",
        "5",
    ];
    let (erm, open) = (root.join("erm"), root.join("open"));
    make_run(
        &erm,
        &[&["--method", "erm"], &schedule[..]].concat(),
        10,
        1.0,
        None,
    );
    make_run(
        &open,
        &[&["--method", "open"], &schedule[..]].concat(),
        10,
        1.0,
        None,
    );
    let f = figs(&[&erm, &open]);
    // Epochs are numbered from 0, as training prints them: the first record is drawn at 0, the
    // last at 9.
    assert_eq!(f.loss.x_max, 9);
    assert_eq!(f.loss.view.series[0].line[0].0, 0);
    let marks: Vec<(MarkerKind, u32, &str, &[usize])> = (f.loss.markers.iter())
        .map(|m| (m.kind, m.at, m.label.as_str(), &m.series[..]))
        .collect();
    assert_eq!(
        marks,
        [
            (
                MarkerKind::WarmupEnd,
                2,
                "full lr from epoch 2",
                &[0, 1][..]
            ),
            (MarkerKind::LrDrop, 6, "lr ×0.1 from epoch 6", &[0, 1]),
            (MarkerKind::LrDrop, 8, "lr ×0.1 from epoch 8", &[0, 1]),
            // Only OPeN defers; its name says so.
            (
                MarkerKind::Deferral,
                5,
                "OPeN re-sampling from epoch 5",
                &[1]
            ),
        ]
    );
    // The same markers on the top-1 chart, and each in the legend, after the series.
    assert_eq!(f.top1.as_ref().unwrap().markers, f.loss.markers);
    let legend: Vec<(&str, &Swatch)> = (f.loss.legend.iter())
        .map(|e| (e.label.as_str(), &e.swatch))
        .collect();
    assert_eq!(
        legend[0],
        (
            "method=erm",
            &Swatch::Line {
                color: 0,
                band: false
            }
        )
    );
    assert_eq!(
        legend[1],
        (
            "method=open",
            &Swatch::Line {
                color: 1,
                band: false
            }
        )
    );
    assert_eq!(
        legend[5],
        (
            "OPeN re-sampling from epoch 5",
            &Swatch::Marker(MarkerKind::Deferral)
        )
    );

    // Different milestones: each drop names the series it belongs to. A run of 7 epochs spans
    // the axis to epoch 6 only, so later changes are not drawn; --defer-epoch 0 changes
    // nothing drawn.
    let (a, b) = (root.join("a"), root.join("b"));
    make_run(
        &a,
        &["--method", "drs", "--milestones", "3", "--defer-epoch", "0"],
        7,
        1.0,
        None,
    );
    make_run(
        &b,
        &[
            "--method",
            "drs",
            "--milestones",
            "4,9",
            "--defer-epoch",
            "0",
        ],
        7,
        1.0,
        None,
    );
    let f = figs(&[&a, &b]);
    let marks: Vec<(u32, &str)> = (f.loss.markers.iter())
        .map(|m| (m.at, m.label.as_str()))
        .collect();
    assert_eq!(
        marks,
        [
            (5, "full lr from epoch 5"),
            (3, "lr ×0.01 from epoch 3 (milestones=3)"),
            (4, "lr ×0.01 from epoch 4 (milestones=4,9)"),
        ]
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn labels_name_only_the_settings_that_differ() {
    let root = tmpdir("labels");
    let dirs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| root.join(n)).collect();
    make_run(
        &dirs[0],
        &["--method", "erm", "--bn", "darbn"],
        3,
        1.0,
        None,
    );
    make_run(
        &dirs[1],
        &["--method", "open", "--bn", "darbn"],
        3,
        1.0,
        None,
    );
    make_run(
        &dirs[2],
        &["--method", "open", "--bn", "auxbn"],
        3,
        1.0,
        None,
    );
    let f = figs(&[&dirs[0], &dirs[1]]);
    let labels: Vec<&str> = f.loss.view.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(labels, ["method=erm", "method=open"]);
    // The shared headline settings are the subtitle.
    assert_eq!(
        f.loss.subtitle,
        "model wrn-28-10, dataset cifar10, imbalance 100, bn darbn, epochs 3, eval-limit -"
    );
    let f = figs(&[&dirs[0], &dirs[1], &dirs[2]]);
    let labels: Vec<&str> = f.loss.view.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        labels,
        [
            "method=erm bn=darbn",
            "method=open bn=auxbn",
            "method=open bn=darbn"
        ]
    );
    assert_eq!(
        f.loss.subtitle,
        "model wrn-28-10, dataset cifar10, imbalance 100, epochs 3, eval-limit -"
    );
    // A single run is named by its folder.
    let f = figs(&[&dirs[2]]);
    assert_eq!(f.loss.view.series[0].name, "c");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn per_class_bars_are_shaded_by_shot_and_zero_bars_are_drawn() {
    let root = tmpdir("shots");
    // Four many-shot classes (>100 images), three medium (20–100), three few (<20), not in order.
    let train = [100, 500, 19, 300, 60, 1, 150, 20, 101, 5];
    let right = [10, 20, 0, 19, 8, 0, 18, 0, 17, 3];
    let run_dir = root.join("run");
    make_run(&run_dir, &[], 4, 1.0, None);
    write_report(&run_dir, &train, &right);
    let f = figs(&[&run_dir]);
    let bars = f.per_class.as_ref().unwrap();
    // Classes by training images, most first.
    assert_eq!(
        bars.slots,
        [
            "automobile (500)",
            "cat (300)",
            "frog (150)",
            "ship (101)",
            "airplane (100)",
            "deer (60)",
            "horse (20)",
            "bird (19)",
            "truck (5)",
            "dog (1)",
        ]
    );
    assert_eq!(
        bars.shading,
        [
            Shade {
                shot: Shot::Many,
                slots: 0..4
            },
            Shade {
                shot: Shot::Medium,
                slots: 4..7
            },
            Shade {
                shot: Shot::Few,
                slots: 7..10
            },
        ]
    );
    let values: Vec<f64> = bars.series[0]
        .bars
        .iter()
        .map(|b| b.unwrap().value)
        .collect();
    let want = [100.0, 95.0, 90.0, 85.0, 50.0, 40.0, 0.0, 0.0, 15.0, 0.0];
    for (v, w) in values.iter().zip(want) {
        close(*v, w);
    }
    // A zero is a bar (drawn as a line at the axis), not a missing one.
    assert_eq!(values.len(), 10);
    let shade_legend: Vec<&str> = (bars.legend.iter())
        .filter(|e| matches!(e.swatch, Swatch::Shade(_)))
        .map(|e| e.label.as_str())
        .collect();
    assert_eq!(
        shade_legend,
        [
            "many-shot (>100 training images)",
            "medium-shot (20-100)",
            "few-shot (<20)"
        ]
    );
    // All, many, medium, few: 95/200, (20+19+18+17)/80, (10+8+0)/60, (0+0+3)/60; one run, no
    // std.
    let shots = f.shots.as_ref().unwrap();
    assert_eq!(
        shots.slots,
        [
            "all (10 classes)",
            "many (4 classes)",
            "medium (3 classes)",
            "few (3 classes)"
        ]
    );
    let got: Vec<(f64, Option<f64>, usize)> = (shots.series[0].bars.iter())
        .map(|b| b.map(|b| (b.value, b.std, b.n)).unwrap())
        .collect();
    let want = [47.5, 92.5, 30.0, 5.0];
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.0 - w).abs() < 1e-9 && g.1.is_none() && g.2 == 1,
            "{got:?}"
        );
    }

    // Zero bars are seen: a run with every class wrong still shows its colour at each class.
    let zero = root.join("zero");
    make_run(&zero, &[], 4, 1.0, None);
    write_report(&zero, &train, &[0; 10]);
    let out = root.join("zero-figures");
    run(&plot_args(&[&zero], Some(out.clone()), false)).unwrap();
    let (w, _, px) = decode(&out.join(PER_CLASS_PNG));
    let w = w as usize;
    let in_chart = (px.iter().enumerate())
        .filter(|&(i, &p)| i % w < LINE_CHART.0 as usize && p == BLUE)
        .count();
    assert!(in_chart > 1000, "zero bars drawn with {in_chart} pixels");
    fs::remove_dir_all(&root).unwrap();
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

fn sample_std(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

#[test]
fn a_sweeps_groups_are_drawn_with_their_means_and_deviations() {
    let root = tmpdir("sweep");
    // ERM over three seeds, OPeN over two; top-1 per epoch differs by seed.
    let top1 = |method: &str, seed: usize, e: usize| -> f64 {
        let base = if method == "erm" { 0.2 } else { 0.3 };
        base + 0.1 * e as f64 + 0.02 * seed as f64
    };
    for (method, seeds) in [("erm", 3), ("open", 2)] {
        for seed in 0..seeds {
            let dir = root.join(format!("{method}-{seed}"));
            let s = seed.to_string();
            write_config(&dir, &["--epochs", "3", "--method", method, "--seed", &s]);
            let records: Vec<_> = (0..3)
                .map(|e| (Some(1.0 + seed as f64), Some(top1(method, seed, e))))
                .collect();
            write_metrics(&dir, &records);
            // Many-shot: 18 + seed of 20 right; medium-shot: 2·seed.
            let mut right = [18 + seed; 10];
            right[8] = 2 * seed;
            right[9] = 2 * seed;
            write_report(&dir, &TRAIN, &right);
        }
    }
    // A cell still starting (its lock, no config.json yet) is left out with a note.
    fs::create_dir_all(root.join("open-2")).unwrap();
    fs::write(root.join("open-2").join(LOCK_FILE), "").unwrap();

    let f = figures(&plot_args(&[&root], None, false)).unwrap();
    assert!(
        f.notes
            .iter()
            .any(|n| n.contains("open-2") && n.contains("starting")),
        "{:?}",
        f.notes
    );
    let top = f.top1.as_ref().unwrap();
    let labels: Vec<&str> = top.view.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(labels, ["method=erm (n=3)", "method=open (n=2)"]);
    for (i, (method, seeds)) in [("erm", 3), ("open", 2)].into_iter().enumerate() {
        for e in 0..3 {
            let values: Vec<f64> = (0..seeds).map(|s| 100.0 * top1(method, s, e)).collect();
            let mean = values.iter().sum::<f64>() / seeds as f64;
            let std = sample_std(&values);
            let (x, y) = top.view.series[i].line[e];
            assert_eq!(x, e as u32);
            close(y, mean);
            let (bx, lo, hi) = top.bands[i][e];
            assert_eq!(bx, x);
            close(lo, mean - std);
            close(hi, mean + std);
        }
    }
    assert!(top
        .legend
        .iter()
        .any(|l| l.label == "bands: ± 1 std over seeds"));
    // Loss: seeds 0, 1, 2 → 1, 2, 3: mean 2, std 1.
    close(f.loss.view.series[0].line[0].1, 2.0);
    close(f.loss.bands[0][0].2, 3.0);

    // Final accuracy per group: many-shot 90, 95, 100 % (ERM); medium-shot 0, 10, 20 %.
    let shots = f.shots.as_ref().unwrap();
    let erm = &shots.series[0].bars;
    let many = erm[1].unwrap();
    close(many.value, 95.0);
    close(many.std.unwrap(), 5.0);
    assert_eq!(many.n, 3);
    let medium = erm[2].unwrap();
    close(medium.value, 10.0);
    close(medium.std.unwrap(), 10.0);
    // CIFAR-10-LT 100 has no few-shot class: no bar, not a made-up 0, and no shade.
    assert_eq!(erm[3], None);
    assert_eq!(
        shots.shading,
        [
            Shade {
                shot: Shot::Many,
                slots: 1..2
            },
            Shade {
                shot: Shot::Medium,
                slots: 2..3
            },
        ]
    );
    let open_many: Bar = shots.series[1].bars[1].unwrap();
    close(open_many.value, 92.5);
    close(open_many.std.unwrap(), sample_std(&[90.0, 95.0]));
    assert!(shots
        .legend
        .iter()
        .any(|l| l.label == "error bars: ± 1 std over seeds"));

    // --each-run: one series per run, named by method and seed.
    let f = figures(&plot_args(&[&root], None, true)).unwrap();
    let labels: Vec<&str> = f.loss.view.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        labels,
        [
            "method=erm seed=0",
            "method=erm seed=1",
            "method=erm seed=2",
            "method=open seed=0",
            "method=open seed=1"
        ]
    );
    assert!(f.loss.bands.iter().all(|b| b.is_empty()));
    // Drawn: the group files exist.
    let files = run(&plot_args(&[&root], Some(root.join("figures")), false)).unwrap();
    assert_eq!(files.len(), 4);
    fs::remove_dir_all(&root).unwrap();
}

fn plot_err(runs: &[&Path]) -> String {
    run(&plot_args(runs, None, false)).unwrap_err().to_string()
}

#[test]
fn bad_run_folders_are_clear_errors() {
    let root = tmpdir("bad");
    let good = root.join("good");
    make_run(&good, &[], 3, 1.0, None);

    let missing = root.join("missing");
    assert_eq!(
        plot_err(&[&good, &missing]),
        format!("plot: run folder {} does not exist", missing.display())
    );

    let empty_folder = root.join("nothing");
    fs::create_dir(&empty_folder).unwrap();
    assert_eq!(
        plot_err(&[&empty_folder]),
        format!(
            "plot: {}: neither a run folder (no config.json) nor a folder of run folders",
            empty_folder.display()
        )
    );

    let nofile = root.join("nofile");
    write_config(&nofile, &[]);
    let msg = plot_err(&[&nofile]);
    assert!(
        msg.starts_with(&format!(
            "cannot read {}",
            nofile.join("metrics.jsonl").display()
        )),
        "{msg}"
    );

    let empty = root.join("empty");
    write_config(&empty, &[]);
    fs::write(empty.join("metrics.jsonl"), "\n").unwrap();
    assert_eq!(
        plot_err(&[&empty]),
        format!(
            "{}: no epochs recorded yet",
            empty.join("metrics.jsonl").display()
        )
    );

    let garbled = root.join("garbled");
    write_config(&garbled, &[]);
    fs::write(
        garbled.join("metrics.jsonl"),
        "{\"epoch\": 0, \"loss\": 2.0}\n{\"epoch\": 1, \"loss\": 1.\n",
    )
    .unwrap();
    let msg = plot_err(&[&garbled]);
    assert!(
        msg.starts_with(&format!(
            "{}:2: not an epoch record",
            garbled.join("metrics.jsonl").display()
        )),
        "{msg}"
    );
    // A torn last line (a run being written) is not an error: the epochs before it are drawn.
    let torn = root.join("torn");
    write_config(&torn, &[]);
    fs::write(
        torn.join("metrics.jsonl"),
        "{\"epoch\": 0, \"loss\": 2.0}\n{\"epo",
    )
    .unwrap();
    assert_eq!(figs(&[&torn]).loss.view.series[0].line, [(0, 2.0)]);

    let badconfig = root.join("badconfig");
    make_run(&badconfig, &[], 2, 1.0, None);
    fs::write(badconfig.join("config.json"), "{\"purenoise_run\": 1, ").unwrap();
    let msg = plot_err(&[&badconfig]);
    assert!(
        msg.contains(&badconfig.join("config.json").display().to_string()),
        "{msg}"
    );

    let badjson = root.join("badjson");
    make_run(&badjson, &[], 2, 1.0, None);
    fs::write(badjson.join("metrics.json"), "{\"top1\": 0.5}").unwrap();
    let msg = plot_err(&[&badjson]);
    assert!(
        msg.starts_with(&format!(
            "{}: not an evaluation report",
            badjson.join("metrics.json").display()
        )),
        "{msg}"
    );

    // Reports over different class lists cannot share the bar chart.
    let ten = root.join("ten");
    make_run(&ten, &[], 2, 1.0, Some(|k| k));
    let three = root.join("three");
    make_run(&three, &[], 2, 1.0, None);
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    evaluate(&[0, 1, 2], &[0, 1, 1], &[10, 5, 1], &names)
        .unwrap()
        .write(&three)
        .unwrap();
    let msg = plot_err(&[&ten, &three]);
    assert!(
        msg.contains("different classes (10 and 3 classes)"),
        "{msg}"
    );
    // Refused before drawing: no figure was left behind.
    assert!(!ten.join(LOSS_PNG).exists());

    // A report whose per-class lists disagree.
    let uneven = root.join("uneven");
    make_run(&uneven, &[], 2, 1.0, Some(|k| k));
    let report = uneven.join("metrics.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    v["train_counts"].as_array_mut().unwrap().pop();
    fs::write(&report, v.to_string()).unwrap();
    assert_eq!(
        plot_err(&[&uneven]),
        format!(
            "{}: 10 class names, 10 recalls and 9 training counts: the lists must have one \
             entry per class",
            report.display()
        )
    );
    // A recall, or a shot accuracy, that is no fraction.
    let wild = root.join("wild");
    make_run(&wild, &[], 2, 1.0, Some(|k| k));
    let wild_report = wild.join("metrics.json");
    let text = fs::read_to_string(&wild_report).unwrap();
    let mut w: serde_json::Value = serde_json::from_str(&text).unwrap();
    w["per_class_recall"][3] = serde_json::json!(-1e300);
    fs::write(&wild_report, w.to_string()).unwrap();
    assert_eq!(
        plot_err(&[&wild]),
        format!(
            "{}: the recall of class 3 (cat) is -1.000e300, but an accuracy lies between 0 and 1",
            wild_report.display()
        )
    );
    let mut w: serde_json::Value = serde_json::from_str(&text).unwrap();
    w["few"] = serde_json::json!(1.5);
    fs::write(&wild_report, w.to_string()).unwrap();
    assert_eq!(
        plot_err(&[&wild]),
        format!(
            "{}: few-shot accuracy is 1.5, but an accuracy lies between 0 and 1",
            wild_report.display()
        )
    );
    fs::remove_dir_all(&root).unwrap();
}

fn series(name: &str, values: &[Option<f64>]) -> SeriesInput {
    (
        name.to_string(),
        values
            .iter()
            .enumerate()
            .map(|(e, &v)| (e as u32, v))
            .collect(),
    )
}

#[test]
fn extreme_and_non_finite_values_are_clipped_and_marked() {
    // A run that diverged, beside an ordinary one.
    let wild = series(
        "wild",
        &[
            Some(2.3),
            Some(1.5),
            Some(1e300),
            None, // NaN is written as null
            Some(-1e308),
            Some(f64::INFINITY),
            Some(f64::NAN),
            Some(-0.5),
            Some(f64::NEG_INFINITY),
        ],
    );
    let calm = series("calm", &[Some(2.0), Some(1.0), Some(0.8)]);
    let view = line_view(&[wild, calm], None);
    // The axis spans the ordinary values, -0.5 to 2.3, with a 5 % margin.
    let pad = 0.05 * 2.8;
    assert!(
        (view.y.start - (-0.5 - pad)).abs() < 1e-12 && (view.y.end - (2.3 + pad)).abs() < 1e-12,
        "{:?}",
        view.y
    );
    let w = &view.series[0];
    assert_eq!(
        w.clipped,
        [
            (2, Edge::Top, 1e300),
            (4, Edge::Bottom, -1e308),
            (5, Edge::Top, f64::INFINITY),
            (8, Edge::Bottom, f64::NEG_INFINITY),
        ]
    );
    assert_eq!(w.non_finite, [3, 6]);
    // The line runs through every value, clipped ones at the edge.
    let (lo, hi) = (view.y.start, view.y.end);
    assert_eq!(
        w.line,
        [
            (0, 2.3),
            (1, 1.5),
            (2, hi),
            (4, lo),
            (5, hi),
            (7, -0.5),
            (8, lo)
        ]
    );
    let c = &view.series[1];
    assert!(c.clipped.is_empty() && c.non_finite.is_empty());
    assert_eq!(c.line, [(0, 2.0), (1, 1.0), (2, 0.8)]);

    // An ordinary loss falling a hundredfold is not clipped.
    let falling: Vec<Option<f64>> = (0..200).map(|e| Some(2.3 / (1.0 + e as f64))).collect();
    let view = line_view(&[series("falling", &falling)], None);
    assert!(view.series[0].clipped.is_empty());
    assert!(view.y.start < 2.3 / 200.0 && view.y.end > 2.3);

    // Nothing but extremes: the axis stays finite and non-empty, every value marked.
    for values in [
        vec![Some(1e300), Some(-1e300), Some(1e-300)],
        vec![Some(f64::MAX), Some(f64::MIN)],
        vec![None, Some(f64::NAN)],
        vec![Some(5e299); 3],
    ] {
        let view = line_view(&[series("x", &values)], None);
        assert!(
            view.y.start.is_finite() && view.y.end.is_finite() && view.y.start < view.y.end,
            "{values:?}: {:?}",
            view.y
        );
        let s = &view.series[0];
        assert_eq!(
            s.line.len() + s.non_finite.len(),
            values.len(),
            "{values:?}"
        );
    }

    // Percentages keep their 0–100 axis; values past it are clipped to it.
    let top1 = series("top1", &[Some(50.0), Some(1e302), Some(-3.0)]);
    let view = line_view(&[top1], Some(0.0..100.0));
    assert_eq!(view.y, 0.0..100.0);
    assert_eq!(
        view.series[0].clipped,
        [(1, Edge::Top, 1e302), (2, Edge::Bottom, -3.0)]
    );
}

#[test]
fn a_run_with_extreme_metrics_is_drawn_in_bounded_time() {
    let root = tmpdir("extreme");
    let run_dir = root.join("diverged");
    write_config(&run_dir, &["--epochs", "9", "--method", "erm"]);
    let losses = [
        "2.3",
        "1.9",
        "1e300",
        "null",
        "-1e308",
        "1.7976931348623157e308",
        "-4.5",
        "1e-300",
        "0.7",
    ];
    let lines: String = losses
        .iter()
        .enumerate()
        .map(|(e, l)| {
            let top1 = ["0.5", "1e300", "-2", "null"][e % 4];
            format!("{{\"epoch\": {e}, \"loss\": {l}, \"test_top1\": {top1}}}\n")
        })
        .collect();
    fs::write(run_dir.join("metrics.jsonl"), lines).unwrap();
    let calm = root.join("calm");
    make_run(&calm, &["--method", "open"], 9, 1.0, None);
    let out = root.join("figures");
    let args = PlotArgs {
        runs: vec![run_dir, calm],
        out: Some(out.clone()),
        each_run: false,
    };
    // Drawing on a thread with a deadline: a range that plotters cannot tick would hang.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(run(&args).map_err(|e| e.to_string())));
    let files = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("plotting extreme metrics did not finish within 60 s")
        .unwrap();
    assert_eq!(files, [out.join(LOSS_PNG), out.join(TOP1_PNG)]);
    for file in &files {
        let (w, h, px) = decode(file);
        assert!(w > LINE_CHART.0 && h == LINE_CHART.1, "{w}×{h}");
        // Both runs are drawn: their lines and the clipped and non-finite marks.
        assert!(count(&px, BLUE) > 100, "{}", file.display());
        assert!(count(&px, ORANGE) > 100, "{}", file.display());
    }
    fs::remove_dir_all(&root).unwrap();
}
