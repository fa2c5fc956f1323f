//! `purenoise plot`: figures of two synthetic runs, decoded and checked, and bad run folders.

use std::fs;
use std::path::{Path, PathBuf};

use purenoise::report::plot::{
    bar_chart_size, line_view, run, Edge, PlotArgs, SeriesInput, LINE_CHART, LOSS_PNG,
    PER_CLASS_PNG, TOP1_PNG,
};
use purenoise::train::metrics::evaluate;

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
/// tab10's first two colours: the first and second run.
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("purenoise-plot-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A run folder with `epochs` lines of metrics and, if `recall_of` is given, an evaluation in
/// which class k has 20 test samples and `recall_of(k)` of them right.
fn make_run(dir: &Path, epochs: usize, scale: f64, recall_of: Option<fn(usize) -> usize>) {
    fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for e in 0..epochs {
        let loss = scale * 2.3 / (1.0 + e as f64);
        let top1 = if e % 3 == 2 {
            "null".to_string()
        } else {
            format!("{}", 0.1 + 0.05 * e as f64 * scale)
        };
        lines += &format!(
            "{{\"epoch\": {e}, \"loss\": {loss}, \"lr\": 0.1, \"train_acc\": 0.3, \
             \"test_top1\": {top1}, \"images_per_s\": 800.0, \"seconds\": 12.5}}\n"
        );
    }
    fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    if let Some(right) = recall_of {
        let (mut pred, mut labels) = (Vec::new(), Vec::new());
        for k in 0..10u32 {
            for i in 0..20 {
                labels.push(k);
                pred.push(if i < right(k as usize) {
                    k
                } else {
                    (k + 1) % 10
                });
            }
        }
        let names: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
        evaluate(&pred, &labels, &TRAIN, &names)
            .unwrap()
            .write(dir)
            .unwrap();
    }
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
fn two_runs_give_three_figures() {
    let root = tmpdir("two");
    let (erm, open) = (root.join("erm"), root.join("open"));
    make_run(&erm, 12, 1.0, Some(|k| 20 - 2 * k));
    make_run(&open, 9, 0.8, Some(|k| 18 - k));
    let out = root.join("figures");
    let files = run(&PlotArgs {
        runs: vec![erm.clone(), open.clone()],
        out: Some(out.clone()),
    })
    .unwrap();
    assert_eq!(
        files,
        [
            out.join(LOSS_PNG),
            out.join(TOP1_PNG),
            out.join(PER_CLASS_PNG)
        ]
    );
    for (file, size) in [
        (LOSS_PNG, LINE_CHART),
        (TOP1_PNG, LINE_CHART),
        (PER_CLASS_PNG, bar_chart_size(10, 2)),
    ] {
        let (w, h, px) = decode(&out.join(file));
        assert_eq!((w, h), size, "{file}");
        let white = count(&px, [255, 255, 255]);
        assert!(white < px.len() * 98 / 100, "{file} is blank");
        assert!(white > px.len() / 2, "{file} has no background");
        // Both runs are drawn, in their colours, and there is text and axes.
        assert!(count(&px, BLUE) > 200, "{file}: first run missing");
        assert!(count(&px, ORANGE) > 200, "{file}: second run missing");
        assert!(dark(&px) > 2000, "{file}: no axes or text");
    }
    // Bars: ERM's first class is at 100 %, so its bar is taller than any of OPeN's (90 %).
    // Only the left half counts: the legend is in the upper right.
    let (w, _, px) = decode(&out.join(PER_CLASS_PNG));
    let w = w as usize;
    let top_row = |c: [u8; 3]| {
        (0..px.len())
            .find(|&i| i % w < w / 2 && px[i] == c)
            .unwrap()
            / w
    };
    assert!(top_row(BLUE) < top_row(ORANGE));

    // Default output folder: the first run's.
    let files = run(&PlotArgs {
        runs: vec![erm.clone()],
        out: None,
    })
    .unwrap();
    assert_eq!(
        files,
        [
            erm.join(LOSS_PNG),
            erm.join(TOP1_PNG),
            erm.join(PER_CLASS_PNG)
        ]
    );
    assert_eq!(decode(&files[2]).0, bar_chart_size(10, 1).0);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn run_without_evaluation_gets_lines_but_no_bars() {
    let root = tmpdir("noeval");
    let (a, b) = (root.join("a"), root.join("b"));
    make_run(&a, 5, 1.0, None);
    make_run(&b, 5, 1.0, Some(|k| k));
    let files = run(&PlotArgs {
        runs: vec![a.clone(), b.clone()],
        out: None,
    })
    .unwrap();
    assert_eq!(
        files,
        [a.join(LOSS_PNG), a.join(TOP1_PNG), a.join(PER_CLASS_PNG)]
    );
    // Only run b has bars: they are in the first colour.
    let (_, _, px) = decode(&files[2]);
    assert!(count(&px, BLUE) > 200);
    assert_eq!(count(&px, ORANGE), 0);

    // No evaluation anywhere: no bar chart at all.
    let files = run(&PlotArgs {
        runs: vec![a.clone()],
        out: Some(root.join("only-a")),
    })
    .unwrap();
    assert_eq!(files.len(), 2);
    assert!(!root.join("only-a").join(PER_CLASS_PNG).exists());
    fs::remove_dir_all(&root).unwrap();
}

fn plot_err(runs: &[&Path]) -> String {
    run(&PlotArgs {
        runs: runs.iter().map(|p| p.to_path_buf()).collect(),
        out: None,
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn bad_run_folders_are_clear_errors() {
    let root = tmpdir("bad");
    let good = root.join("good");
    make_run(&good, 3, 1.0, None);

    let missing = root.join("missing");
    assert_eq!(
        plot_err(&[&good, &missing]),
        format!("plot: run folder {} does not exist", missing.display())
    );

    let nofile = root.join("nofile");
    fs::create_dir(&nofile).unwrap();
    let msg = plot_err(&[&nofile]);
    assert!(
        msg.starts_with(&format!(
            "cannot read {}",
            nofile.join("metrics.jsonl").display()
        )),
        "{msg}"
    );

    let empty = root.join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join("metrics.jsonl"), "\n").unwrap();
    assert_eq!(
        plot_err(&[&empty]),
        format!(
            "{}: no epochs recorded yet",
            empty.join("metrics.jsonl").display()
        )
    );

    let garbled = root.join("garbled");
    fs::create_dir(&garbled).unwrap();
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

    let badjson = root.join("badjson");
    make_run(&badjson, 2, 1.0, None);
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
    make_run(&ten, 2, 1.0, Some(|k| k));
    let three = root.join("three");
    make_run(&three, 2, 1.0, None);
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
    make_run(&uneven, 2, 1.0, Some(|k| k));
    let report = uneven.join("metrics.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    v["train_counts"].as_array_mut().unwrap().pop();
    fs::write(&report, v.to_string()).unwrap();
    // A recall that is no fraction.
    let wild = root.join("wild");
    make_run(&wild, 2, 1.0, Some(|k| k));
    let wild_report = wild.join("metrics.json");
    let mut w: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&wild_report).unwrap()).unwrap();
    w["per_class_recall"][3] = serde_json::json!(-1e300);
    fs::write(&wild_report, w.to_string()).unwrap();
    assert_eq!(
        plot_err(&[&wild]),
        format!(
            "{}: the recall of class 3 (cat) is -1.000e300, but a recall lies between 0 and 1",
            wild_report.display()
        )
    );

    assert_eq!(
        plot_err(&[&uneven]),
        format!(
            "{}: 10 class names, 10 recalls and 9 training counts: the lists must have one \
             entry per class",
            report.display()
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
    fs::create_dir_all(&run_dir).unwrap();
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
    make_run(&calm, 9, 1.0, None);
    let out = root.join("figures");
    let args = PlotArgs {
        runs: vec![run_dir, calm],
        out: Some(out.clone()),
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
        assert_eq!((w, h), LINE_CHART);
        // Both runs are drawn: their lines and the clipped and non-finite marks.
        assert!(count(&px, BLUE) > 100, "{}", file.display());
        assert!(count(&px, ORANGE) > 100, "{}", file.display());
    }
    fs::remove_dir_all(&root).unwrap();
}
