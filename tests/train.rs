//! Training runs on real CIFAR-10 (`PURENOISE_DATA_DIR`), kept small for the software adapter:
//! the loss goes down, an interrupted and resumed run reproduces the uninterrupted one exactly,
//! and a small model learns a two-class subset well above chance.

mod data_common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use clap::Parser;
use purenoise::data::cifar::{Cifar, DatasetKind, Split};
use purenoise::gpu::tensor::Precision;
use purenoise::gpu::Gpu;
use purenoise::models::{Model, ModelConfig};
use purenoise::progress::{Progress, Unit};
use purenoise::train::args::TrainArgs;
use purenoise::train::resume::ResumeRequest;
use purenoise::train::{checkpoint, run, state, trainer};
use purenoise::tune::TuneMode;

use data_common::metrics;

/// These tests train with the untuned kernels; tuning has its own tests (tests/tune.rs).
const OFF: TuneMode = TuneMode::Off;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn gpu() -> Gpu {
    Gpu::new(None).unwrap_or_else(|e| {
        panic!("training tests need a GPU adapter (software Vulkan works): {e}")
    })
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purenoise-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Training-file indices: the first `per_class[i]` images of each class in `classes`.
fn subset_file(cifar: &Cifar, classes: &[u32], per_class: &[usize], path: &Path) {
    let mut lines = Vec::new();
    for (c, &n) in classes.iter().zip(per_class) {
        lines.extend(
            cifar
                .train
                .labels
                .iter()
                .enumerate()
                .filter(|(_, l)| *l == c)
                .take(n)
                .map(|(i, _)| i.to_string()),
        );
    }
    std::fs::write(path, lines.join("\n")).unwrap();
}

fn args(flags: &[&str]) -> TrainArgs {
    Cli::try_parse_from(std::iter::once("train").chain(flags.iter().copied()))
        .unwrap()
        .args
}

/// The parts of a metrics line that do not depend on wall-clock time.
fn timeless(line: &serde_json::Value) -> serde_json::Value {
    let mut line = line.clone();
    let fields = line.as_object_mut().unwrap();
    fields.remove("seconds");
    fields.remove("images_per_s");
    line
}

#[test]
fn loss_goes_down_and_a_resumed_run_equals_an_uninterrupted_one() {
    let data_dir = data_common::real_data_dir();
    let cifar = Cifar::load(DatasetKind::Cifar10, &data_dir).unwrap();
    let dir = temp_dir("resume");
    let indices = dir.join("subset.txt");
    // Imbalanced 3:1, so OPeN (from epoch 1, δ = 1) replaces some class-1 draws by noise.
    subset_file(&cifar, &[0, 1], &[36, 12], &indices);
    let dd = data_dir.to_str().unwrap();
    let flags = |out: &Path| {
        let out = out.to_str().unwrap().to_string();
        let mut f: Vec<String> = [
            "--model",
            "wrn-10-1",
            "--dropout",
            "0.3",
            "--data-dir",
            dd,
            "--subset-indices",
            indices.to_str().unwrap(),
            "--method",
            "open",
            "--delta",
            "1",
            "--defer-epoch",
            "1",
            "--bn",
            "darbn",
            "--augment",
            "basic",
            "--epochs",
            "3",
            "--batch-size",
            "12",
            "--lr",
            "0.05",
            "--warmup-epochs",
            "0",
            "--milestones",
            "2",
            "--lr-decay",
            "0.1",
            "--eval-limit",
            "24",
            "--seed",
            "5",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        f.push(out);
        f
    };
    let parse = |out: &Path| args(&flags(out).iter().map(String::as_str).collect::<Vec<_>>());
    let gpu = gpu();
    let stop = AtomicBool::new(false);

    let whole = dir.join("whole");
    let outcome = run::train(&gpu, parse(&whole), OFF, &stop).unwrap();
    assert!(!outcome.interrupted);
    let full = metrics(&whole);
    assert_eq!(full.len(), 3);
    let loss = |i: usize| full[i]["loss"].as_f64().unwrap();
    assert!(loss(2) < loss(0), "loss did not go down: {full:?}");
    assert!(whole.join("last.safetensors").exists() && whole.join("best.safetensors").exists());
    assert!(whole.join("metrics.json").exists() && whole.join("per_class.csv").exists());

    // Interrupted mid-epoch 1 (after 6 of 12 steps), then resumed.
    let split = dir.join("split");
    let mut interrupted = parse(&split);
    interrupted.max_steps = Some(6);
    assert!(
        run::train(&gpu, interrupted, OFF, &stop)
            .unwrap()
            .interrupted
    );
    assert_eq!(metrics(&split).len(), 1);
    run::resume(&gpu, &split, &ResumeRequest::default(), OFF, &stop).unwrap();
    let resumed = metrics(&split);
    assert_eq!(
        resumed.iter().map(timeless).collect::<Vec<_>>(),
        full.iter().map(timeless).collect::<Vec<_>>()
    );
    let a = checkpoint::load(&whole.join("last.safetensors")).unwrap();
    let b = checkpoint::load(&split.join("last.safetensors")).unwrap();
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        assert_eq!(
            (&x.name, &x.data),
            (&y.name, &y.data),
            "tensor {} differs after resume",
            x.name
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_small_model_learns_two_classes_well_above_chance() {
    let data_dir = data_common::real_data_dir();
    let cifar = Cifar::load(DatasetKind::Cifar10, &data_dir).unwrap();
    let dir = temp_dir("learn");
    let indices = dir.join("subset.txt");
    // automobile vs frog, balanced.
    let classes = [1u32, 6];
    subset_file(&cifar, &classes, &[150, 150], &indices);
    let out = dir.join("run");
    let flags = [
        "--model",
        "resnet-8",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--subset-indices",
        indices.to_str().unwrap(),
        "--method",
        "erm",
        "--augment",
        "basic",
        "--epochs",
        "3",
        "--batch-size",
        "30",
        "--lr",
        "0.05",
        "--warmup-epochs",
        "0",
        "--milestones",
        "2",
        "--lr-decay",
        "0.1",
        "--eval-limit",
        "30",
        "--out",
        out.to_str().unwrap(),
    ];
    let gpu = gpu();
    run::train(&gpu, args(&flags), OFF, &AtomicBool::new(false)).unwrap();

    // Test images of the two classes only.
    let keep: Vec<usize> = (0..cifar.test.len())
        .filter(|&i| classes.contains(&cifar.test.labels[i]))
        .take(300)
        .collect();
    let test = Split {
        images: keep
            .iter()
            .flat_map(|&i| cifar.test.image(i).to_vec())
            .collect(),
        labels: keep.iter().map(|&i| cifar.test.labels[i]).collect(),
        coarse_labels: None,
        source: "test".into(),
    };
    let ckpt_path = out.join("last.safetensors");
    let model = Model::new(
        &gpu,
        ModelConfig {
            kind: "resnet-8".parse().unwrap(),
            classes: 10,
            bn: purenoise::models::BnMode::DarBn,
            dropout: 0.0,
        },
        0,
    )
    .unwrap();
    state::restore(
        &gpu,
        &model,
        &ckpt_path,
        checkpoint::load(&ckpt_path).unwrap(),
        state::Momentum::Skip,
    )
    .unwrap();
    let (mean, std) = DatasetKind::Cifar10.standard_mean_std();
    let mut progress = Progress::new("eval", None, Unit::Items("images"), 0);
    let predicted =
        trainer::predict(&gpu, &model, &test, None, 50, mean, std, &mut progress).unwrap();
    let (predictions, labels) = (predicted.classes, predicted.labels);
    assert_eq!(labels.len(), test.len());
    // Trained on two of the ten classes: well below the loss of a uniform guess over ten.
    assert!(
        predicted.mean_loss > 0.0 && predicted.mean_loss < 10f64.ln(),
        "test loss {}",
        predicted.mean_loss
    );
    let accuracy = predictions
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / labels.len() as f64;
    assert!(
        accuracy > 0.7,
        "two-class test accuracy {accuracy} (chance 0.5)"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_dump_step_and_a_diverging_run() {
    let data_dir = data_common::real_data_dir();
    let cifar = Cifar::load(DatasetKind::Cifar10, &data_dir).unwrap();
    let dir = temp_dir("tools");
    let indices = dir.join("subset.txt");
    subset_file(&cifar, &[2, 3, 4], &[6, 5, 5], &indices);
    let base = |out: &Path, lr: &str| {
        vec![
            "--model".to_string(),
            "resnet-8".into(),
            "--data-dir".into(),
            data_dir.to_str().unwrap().into(),
            "--subset-indices".into(),
            indices.to_str().unwrap().into(),
            "--method".into(),
            "erm".into(),
            "--augment".into(),
            "none".into(),
            "--epochs".into(),
            "2".into(),
            "--batch-size".into(),
            "8".into(),
            "--lr".into(),
            lr.into(),
            "--warmup-epochs".into(),
            "0".into(),
            "--eval-limit".into(),
            "16".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let parse = |v: Vec<String>| args(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let gpu = gpu();
    let stop = AtomicBool::new(false);

    // eval of the last checkpoint reproduces the last epoch's test accuracy.
    let run_dir = dir.join("run");
    run::train(&gpu, parse(base(&run_dir, "0.05")), OFF, &stop).unwrap();
    let last_top1 = metrics(&run_dir)[1]["test_top1"].as_f64().unwrap();
    let eval_dir = dir.join("eval");
    let evaluation = run::eval_checkpoint(
        &gpu,
        &run_dir.join("last.safetensors"),
        None,
        None,
        Some(16),
        Some(eval_dir.clone()),
        Precision::F32,
    )
    .unwrap();
    assert_eq!(evaluation.report.top1, last_top1);
    assert_eq!(evaluation.epochs_done, Some(2));
    assert_eq!(
        evaluation.files,
        [
            eval_dir.join("eval-last.json"),
            eval_dir.join("eval-last-per_class.csv")
        ]
    );
    assert!(evaluation.files.iter().all(|f| f.exists()));

    // dump-step: every tensor of one step, consistent with SGD's update rule.
    let dump = dir.join("step.safetensors");
    run::dump_step(&gpu, parse(base(&dir.join("unused"), "0.05")), 0, &dump).unwrap();
    let step = checkpoint::load(&dump).unwrap();
    let get = |name: &str| {
        step.tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .data
            .clone()
    };
    assert_eq!(get("input").len(), 8 * 3072);
    assert_eq!(get("labels").len(), 8);
    assert_eq!(get("logits").len(), 80);
    assert!(get("loss")[0].is_finite());
    let (w, g, next) = (
        get("linear.weight"),
        get("grad.linear.weight"),
        get("next.linear.weight"),
    );
    for i in 0..w.len() {
        // First step: the momentum buffer is d = g + wd·w, so w' = w − lr·d.
        let want = w[i] as f64 - 0.05 * (g[i] as f64 + 2e-4 * w[i] as f64);
        assert!(
            (next[i] as f64 - want).abs() < 1e-6,
            "next.linear.weight[{i}] = {}, expected {want}",
            next[i]
        );
    }
    assert!(
        get("next.bn1.running_mean") != get("bn1.running_mean"),
        "the step updates BN statistics"
    );

    // A learning rate that makes the loss blow up stops with the step named.
    let diverge = dir.join("diverge");
    let err = run::train(&gpu, parse(base(&diverge, "1e30")), OFF, &stop)
        .err()
        .expect("a diverging run fails")
        .to_string();
    assert!(
        err.contains("the loss became")
            && err.contains("at step")
            && err.contains("no checkpoint had been written yet")
            && err.contains("--lr 1e29"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_of_another_model_and_an_occupied_run_folder_are_refused() {
    let data_dir = data_common::real_data_dir();
    let dir = temp_dir("refuse");
    let other = dir.join("other.safetensors");
    let tensors = vec![checkpoint::NamedTensor {
        name: "conv1.weight".into(),
        shape: vec![32, 3, 3, 3],
        data: vec![0.0; 864],
    }];
    checkpoint::save(
        &other,
        &checkpoint::Checkpoint {
            tensors,
            state: serde_json::json!({ "model": "wrn-28-10" }),
        },
    )
    .unwrap();
    let out = dir.join("run");
    let flags = |extra: &[&str]| {
        let mut f = vec![
            "--model",
            "resnet-8",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--max-class-size",
            "20",
            "--out",
            out.to_str().unwrap(),
        ];
        f.extend_from_slice(extra);
        args(&f)
    };
    let gpu = gpu();
    let stop = AtomicBool::new(false);
    let err = run::train(
        &gpu,
        flags(&["--init-from", other.to_str().unwrap()]),
        OFF,
        &stop,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("other.safetensors") && err.contains("wrn-28-10") && err.contains("missing"),
        "{err}"
    );
    assert!(
        err.contains("conv1.weight") && err.contains("[32,3,3,3]") && err.contains("[16,3,3,3]"),
        "{err}"
    );
    assert!(!out.exists(), "a refused start leaves no run folder");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("config.json"), "{}").unwrap();
    let err = run::train(&gpu, flags(&[]), OFF, &stop)
        .err()
        .unwrap()
        .to_string();
    // `{}` is no purenoise configuration: the folder is someone else's.
    assert!(
        err.contains(out.to_str().unwrap())
            && err.contains("is not empty and is not a purenoise run folder")
            && err.contains("config.json was not written by purenoise"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("config.json")).unwrap(),
        "{}",
        "the folder is untouched"
    );
    assert_eq!(data_common::entries(&out), ["config.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
