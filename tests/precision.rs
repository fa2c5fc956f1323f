//! `--precision mixed` against f32 through the real binary on real CIFAR-10
//! (`PURENOISE_DATA_DIR`) with resnet-8 on 24 images: both precisions start from the same
//! weights (same seed; weights are f32 in both), so their differences are the f16 storage of
//! activations and activation gradients alone. A training run's per-epoch loss curves stay
//! together, and `dump-step`'s tensors agree within a tolerance per tensor class.

mod data_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use purenoise::train::checkpoint::{self, NamedTensor};

use data_common::{metrics, succeeds};

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");

/// Runs the binary as `command` is set up; returns its stderr.
fn succeeds_with(command: &mut Command, args: &[String]) -> String {
    let out = command.args(args).output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    stderr
}

/// A tuning cache in `dir` that sends every 3x3 stride-1 pass of resnet-8 at batch 8 in mixed
/// precision (f16 activations: choices are cached per precision) to Winograd (forward and input
/// gradient by F(4x4, 3x3), the variant with the larger rounding errors; weight gradient by
/// F(2x2, 3x3), so both run) and every other pass to its untuned default, so a `--tune cached`
/// mixed run times nothing and runs Winograd wherever it applies.
fn winograd_cache(dir: &Path) {
    use purenoise::gpu::tensor::Precision;
    use purenoise::ops::conv::winograd::{self, Variant};
    use purenoise::ops::conv::{default_choice, ConvKernel, Pass};
    use purenoise::tune::{self, cache::AdapterKey, Cache, Choice, Measured};
    let gpu = purenoise::gpu::Gpu::new(None).unwrap();
    let mut choices = std::collections::BTreeMap::new();
    for p in tune::problems("resnet-8".parse().unwrap(), 8, Precision::Mixed) {
        let (default, splits) = default_choice(&gpu, &p.shape, p.pass);
        let chosen = match winograd::eligible(&p.shape, p.pass) {
            true => {
                let variant = match p.pass {
                    Pass::BackwardWeight => Variant::F2x2,
                    _ => Variant::F4x4,
                };
                let tile = tune::winograd_tiles(&gpu, &p.shape, (p.pass, variant), None)[0];
                let kernel = ConvKernel::Winograd(variant, tile);
                (kernel, kernel.default_splits(&gpu, &p.shape, p.pass))
            }
            false => (default, splits),
        };
        let measured = |(kernel, splits): (ConvKernel, usize)| Measured {
            kernel: kernel.to_string(),
            splits,
            ms: 1.0,
        };
        let choice = Choice {
            chosen: measured(chosen),
            runner_up: None,
            default: measured((default, splits)),
            candidates: 1,
        };
        choices.insert(p.key(), choice);
    }
    for variant in Variant::ALL {
        assert!(choices
            .values()
            .any(|c| c.chosen.kernel.starts_with(variant.prefix())));
    }
    let warning = Cache::in_dir(dir).save(&AdapterKey::of(&gpu), &choices);
    assert!(warning.is_none(), "{warning:?}");
}

/// 24 CIFAR-10 training images of classes 2, 3 and 4, 14, 7 and 3 of them: imbalanced, so
/// OPeN replaces some minority images by pure noise (DAR-BN's noise slot runs).
fn imbalanced_subset(prefix: &str) -> (PathBuf, PathBuf) {
    use purenoise::data::cifar::{Cifar, DatasetKind};
    let dir = data_common::temp_dir(prefix);
    let cifar = Cifar::load(DatasetKind::Cifar10, &data_common::real_data_dir()).unwrap();
    let mut lines = Vec::new();
    for (c, count) in [(2u32, 14), (3, 7), (4, 3)] {
        lines.extend(
            (0..cifar.train.len())
                .filter(|&i| cifar.train.labels[i] == c)
                .take(count)
                .map(|i| i.to_string()),
        );
    }
    let indices = dir.join("subset.txt");
    std::fs::write(&indices, lines.join("\n")).unwrap();
    (dir, indices)
}

/// 40 epochs of 3 steps (120 SGD steps) at --lr 0.05 with OPeN's noise from epoch 10 (so
/// DAR-BN's noise slot is exercised), evaluated once at the end: a few seconds per run.
fn train_flags(indices: &Path, out: &Path, precision: &str) -> Vec<String> {
    data_common::tiny_train_flags(
        indices,
        out,
        &[
            "--precision",
            precision,
            "--epochs",
            "40",
            "--eval-every",
            "40",
            "--method",
            "open",
            "--defer-epoch",
            "10",
            "--milestones",
            "30",
        ],
        &[("--lr", "0.02")],
    )
}

/// Mean of each run of five epochs (15 steps).
fn windows(curve: &[f64]) -> Vec<f64> {
    curve
        .chunks(5)
        .map(|w| w.iter().sum::<f64>() / w.len() as f64)
        .collect()
}

/// f16 keeps 11 significant bits, so each step's activations and gradients differ from f32's by
/// ~5e-4 relative; SGD on a nonconvex loss carries such differences forward and amplifies them
/// (at batch 8 the order of 24 images decides much). So: the first 3 epochs (9 steps) agree
/// within 1 % (measured: 0.3 %), the mean loss of epochs 0..5 and of 5..10 within 0.05 + 20 % of
/// f32's, and once the runs have taken their own paths (the noise starts at epoch 10) the mean
/// loss of epochs 10..40 within 0.05 + 10 % of f32's (measured: 0.011–0.025 at means of
/// 0.61–0.65). Shorter windows there measure the chaos, not the precision: two mixed runs that
/// differ only in the order of batch norm's f32 sums (before and after its four-value items,
/// 2026-11-30) differed by 0.24 in the mean of epochs 25..30, more than either did from f32,
/// with the same one-step errors against f32 (`dump` below). Both runs must learn (before the
/// noise starts, epochs 5..10 average under 60 % of epochs 0..5), so the curves do not agree by
/// both stalling, and no step may be skipped as non-finite (an f16 overflow would show there). A
/// third run, mixed with every 3x3 stride-1 pass tuned to Winograd (f16 activations through its
/// transforms), is held to the same bounds and must differ from the direct kernels' mixed run.
#[test]
fn mixed_precision_training_follows_the_f32_loss_curve() {
    let (dir, indices) = imbalanced_subset("precision-curve");
    let cache = dir.join("winograd-cache");
    winograd_cache(&cache);
    let mut curves = Vec::new();
    for (name, precision) in [("f32", "f32"), ("mixed", "mixed"), ("winograd", "mixed")] {
        let out = dir.join(name);
        let mut command = Command::new(BIN);
        data_common::untuned(&mut command);
        if name == "winograd" {
            command
                .env("PURENOISE_TUNE", "cached")
                .env("PURENOISE_CACHE_DIR", &cache);
        }
        let stderr = succeeds_with(&mut command, &train_flags(&indices, &out, precision));
        // Every pass came from the cache: nothing was timed, so Winograd's choices ran.
        assert!(!stderr.contains("tuned "), "{name}: {stderr}");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["args"]["precision"], precision, "{config}");
        let lines = metrics(&out);
        assert_eq!(lines.len(), 40, "{name}: one line per epoch");
        assert!(
            lines.iter().all(|m| m["skipped_steps"] == 0),
            "{name}: skipped steps"
        );
        curves.push(
            lines
                .iter()
                .map(|m| m["loss"].as_f64().unwrap())
                .collect::<Vec<f64>>(),
        );
    }
    let (f32s, winograd) = (&curves[0], &curves[2]);
    assert_ne!(
        &curves[1], winograd,
        "Winograd computed exactly what the direct kernels did"
    );
    let report = format!(
        "f32:   {f32s:.4?}\nmixed: {:.4?}\nmixed, Winograd: {winograd:.4?}",
        curves[1]
    );
    eprintln!("{report}");
    for mixed in &curves[1..] {
        check_follows(f32s, mixed, &report);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `mixed`'s loss curve against `f32s`' within the bounds above.
fn check_follows(f32s: &[f64], mixed: &[f64], report: &str) {
    for e in 0..3 {
        let (a, b) = (f32s[e], mixed[e]);
        assert!(
            (a - b).abs() <= 0.01 * a,
            "epoch {e}: loss {b} in mixed precision, {a} in f32\n{report}"
        );
    }
    let (fw, mw) = (windows(f32s), windows(mixed));
    for (w, (a, b)) in fw.iter().zip(&mw).enumerate().take(2) {
        assert!(
            (a - b).abs() <= 0.05 + 0.2 * a,
            "epochs {}..{}: mean loss {b} in mixed precision, {a} in f32\n{report}",
            5 * w,
            5 * w + 5
        );
    }
    let mean = |c: &[f64]| c[10..].iter().sum::<f64>() / (c.len() - 10) as f64;
    let (a, b) = (mean(f32s), mean(mixed));
    assert!(
        (a - b).abs() <= 0.05 + 0.1 * a,
        "epochs 10..40: mean loss {b} in mixed precision, {a} in f32\n{report}"
    );
    for w in [&fw, &mw] {
        assert!(w[1] < 0.6 * w[0], "the run did not learn: {w:?}");
    }
}

fn tensor<'a>(tensors: &'a [NamedTensor], name: &str) -> &'a NamedTensor {
    tensors
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in the dump"))
}

/// ‖a − b‖ / ‖b‖.
fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// One step (epoch 2's first batch, with noise images) dumped in both precisions. Tolerances per
/// tensor class, each relative to the f32 dump (norms over the tensor):
/// - input: every value is the f32 one rounded to f16: within 2⁻¹¹ of it, element by element;
/// - logits: 0.5 % (measured 0.04 %): a forward through 7 convolutions and batch norms, each
///   storing f16 (~2⁻¹¹ each) — errors that add up over the layers;
/// - loss: 0.1 % (measured 4e-6), an f32 reduction over the logits;
/// - weight gradients, and the update each parameter got (next.* − the parameter): 8 % per
///   tensor (measured: 0.02 % at the classifier, growing layer by layer back to 3.9 % at the
///   first block's BN): the backward carries f16-stored activation gradients through every
///   layer, and batch norm's backward and the weight gradients' sums cancel strongly at batch 8
///   (BN removes each channel's mean gradient), so their relative error exceeds an element's
///   2⁻¹¹; f32 parameters and sums keep it from compounding further. Running statistics, f32
///   sums of f16 inputs, move within 5e-4 (measured);
/// - the parameters and BN statistics before the step: equal (the same f32 initialization).
#[test]
fn mixed_precision_dump_step_agrees_with_f32_within_each_tensor_class() {
    let (dir, indices) = imbalanced_subset("precision-dump");
    let mut dumps = Vec::new();
    for precision in ["f32", "mixed"] {
        let output = dir.join(format!("{precision}.safetensors"));
        let flags = data_common::dump_step_flags(
            &indices,
            &output,
            &[
                "--method",
                "open",
                "--defer-epoch",
                "1",
                "--epoch",
                "2",
                "--precision",
                precision,
            ],
        );
        succeeds(&flags);
        dumps.push(checkpoint::load(&output).unwrap().tensors);
    }
    let (f32s, mixed) = (&dumps[0], &dumps[1]);
    let noise = &tensor(f32s, "noise_mask").data;
    assert!(noise.contains(&1.0), "the batch should hold noise images");
    let (a, b) = (&tensor(mixed, "input").data, &tensor(f32s, "input").data);
    for (i, (m, f)) in a.iter().zip(b).enumerate() {
        assert!(
            (m - f).abs() <= f.abs() * 2f32.powi(-11) + 2f32.powi(-25),
            "input {i}: {m} in mixed precision, {f} in f32"
        );
    }
    let update = |dump: &[NamedTensor], name: &str| -> Vec<f32> {
        let before = &tensor(dump, name.strip_prefix("next.").unwrap()).data;
        let after = &tensor(dump, name).data;
        after.iter().zip(before).map(|(a, b)| a - b).collect()
    };
    let mut errors = Vec::new();
    for t in f32s {
        let (err, bound) = match t.name.as_str() {
            "input" | "labels" | "noise_mask" => continue,
            "logits" => (relative_error(&tensor(mixed, "logits").data, &t.data), 5e-3),
            "loss" => (relative_error(&tensor(mixed, "loss").data, &t.data), 1e-3),
            name if name.starts_with("grad.") => {
                (relative_error(&tensor(mixed, name).data, &t.data), 0.08)
            }
            name if name.starts_with("next.") && name.contains("running_") => {
                (relative_error(&tensor(mixed, name).data, &t.data), 5e-4)
            }
            name if name.starts_with("next.") => (
                relative_error(&update(mixed, name), &update(f32s, name)),
                0.08,
            ),
            name => (relative_error(&tensor(mixed, name).data, &t.data), 0.0),
        };
        errors.push((t.name.clone(), err, bound));
    }
    let report: String = errors
        .iter()
        .map(|(name, err, bound)| format!("{name}: {err:.2e} (bound {bound})\n"))
        .collect();
    eprintln!("{report}");
    for (name, err, bound) in &errors {
        assert!(
            err <= bound,
            "{name}: relative error {err} between the mixed-precision and f32 dumps, bound \
             {bound}\n{report}"
        );
    }
    // Mixed precision did store something in f16: the dumps are not identical.
    assert!(
        errors
            .iter()
            .any(|(name, err, _)| name.starts_with("grad.") && *err > 0.0),
        "the mixed-precision step computed exactly the f32 one"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
