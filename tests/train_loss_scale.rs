//! `--loss-scale dynamic` through the real binary on real CIFAR-10 (`PURENOISE_DATA_DIR`), resnet-8
//! on 24 images (3 steps of 8 per epoch): overflows are skipped, counted and logged with the
//! scale; a run stopped mid-epoch and resumed equals an uninterrupted one, scaler included; runs
//! without scaling keep their metrics lines as they were; the setting cannot change on resume;
//! `dump-step` writes the unscaled gradients.

mod data_common;

use std::path::Path;
use std::process::Output;

use purenoise::train::checkpoint;
use serde_json::Value;

use data_common::{run_purenoise as run, succeeds, timeless_metrics};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scaler(dir: &Path) -> Value {
    checkpoint::load(&dir.join("last.safetensors"))
        .unwrap()
        .state["position"]["loss_scaler"]
        .clone()
}

#[test]
fn overflows_are_skipped_logged_and_a_resumed_run_scales_as_an_uninterrupted_one() {
    let (dir, indices) = data_common::tiny_subset("loss-scale");
    // From 2^126 (the largest scale) at a rate of 1, resnet-8's scaled gradients overflow in
    // the first epoch; two finite steps later the scale is back at 2^126.
    let flags = |out: &Path, extra: &[&str]| {
        data_common::tiny_train_flags(
            &indices,
            out,
            &[
                &[
                    "--loss-scale",
                    "dynamic",
                    "--initial-loss-scale",
                    "8.507059e37",
                    "--loss-scale-growth-interval",
                    "2",
                    "--epochs",
                    "2",
                    "--lr",
                    "1",
                ],
                extra,
            ]
            .concat(),
            &[("--method", "erm")],
        )
    };
    let whole = dir.join("whole");
    let err = succeeds(&flags(&whole, &[]));
    let full = timeless_metrics(&whole);
    assert_eq!(full.len(), 2);
    assert!(
        err.contains(
            "the gradients overflowed at loss scale 2^126; step skipped, the scale is now 2^125"
        ),
        "{err}"
    );
    let overflows: u64 = full
        .iter()
        .map(|l| l["overflow_steps"].as_u64().unwrap())
        .sum();
    assert!(overflows > 0, "{full:?}");
    let state = scaler(&whole);
    assert_eq!(
        (&state["skipped"], &state["growth_interval"]),
        (&Value::from(overflows), &Value::from(2))
    );
    // Grown back after the back-off.
    assert_eq!(full[1]["loss_scale"], 2f64.powi(126));
    assert_eq!(state["scale"], 2f64.powi(126));
    assert!(
        err.contains(&format!(
            "{overflows} step{} skipped because the scaled gradients overflowed",
            if overflows == 1 { " was" } else { "s were" }
        )),
        "{err}"
    );

    // Stopped after 4 of 6 steps (mid-epoch 1, mid-interval), then resumed.
    let split = dir.join("split");
    succeeds(&flags(&split, &["--max-steps", "4"]));
    succeeds(&[
        "train".into(),
        "--resume".into(),
        split.display().to_string(),
    ]);
    assert_eq!(timeless_metrics(&split), full);
    assert_eq!(scaler(&split), scaler(&whole));
    let a = checkpoint::load(&whole.join("last.safetensors")).unwrap();
    let b = checkpoint::load(&split.join("last.safetensors")).unwrap();
    assert_eq!(a.tensors, b.tensors);

    // Scaling cannot be switched on resume; the refusal names the flag.
    let out = run(&[
        "train".into(),
        "--resume".into(),
        split.display().to_string(),
        "--loss-scale".into(),
        "off".into(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--loss-scale cannot change on resume"),
        "{}",
        stderr(&out)
    );

    // Without scaling, the metrics lines have no scaler fields and checkpoints no scaler.
    let plain = dir.join("plain");
    succeeds(&data_common::tiny_train_flags(
        &indices,
        &plain,
        &["--epochs", "1"],
        &[("--method", "erm")],
    ));
    let line = &timeless_metrics(&plain)[0];
    assert!(
        line.get("loss_scale").is_none() && line.get("overflow_steps").is_none(),
        "{line}"
    );
    assert_eq!(scaler(&plain), Value::Null);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dump_step_writes_the_unscaled_gradients() {
    let (dir, indices) = data_common::tiny_subset("loss-scale-dump");
    let dump =
        |output: &Path, extra: &[&str]| data_common::dump_step_flags(&indices, output, extra);
    let (plain, scaled) = (
        dir.join("plain.safetensors"),
        dir.join("scaled.safetensors"),
    );
    succeeds(&dump(&plain, &[]));
    succeeds(&dump(&scaled, &["--loss-scale", "dynamic"]));
    let (a, b) = (
        checkpoint::load(&plain).unwrap(),
        checkpoint::load(&scaled).unwrap(),
    );
    // The gradients at scale 2^16, divided by it, are the unscaled ones to the bit (powers of
    // two scale exactly), and so are the loss and the parameters after the step.
    assert!(a.tensors.iter().any(|t| t.name.starts_with("grad.")));
    assert_eq!(a.tensors, b.tensors);
    assert_eq!(b.state["dump_step"]["loss_scale"], 65536.0);
    assert!(a.state["dump_step"].get("loss_scale").is_none());
    // The growth interval means nothing to one step: refused, by name.
    let out = run(&dump(&plain, &["--loss-scale-growth-interval", "5"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--loss-scale-growth-interval"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
