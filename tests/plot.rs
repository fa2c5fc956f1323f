//! `purenoise plot`: figures of two synthetic runs, decoded and checked, and bad run folders.

use std::fs;
use std::path::{Path, PathBuf};

use purenoise::report::plot::{
    bar_chart_size, run, PlotArgs, LINE_CHART, LOSS_PNG, PER_CLASS_PNG, TOP1_PNG,
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
