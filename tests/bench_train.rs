//! `bench train` measures what it says: a full step of the named model, with its noise share,
//! the kernels it ran, and memory at least the size of the parameter arenas.

use purenoise::bench::{bench_train, render, TrainBenchArgs};
use purenoise::gpu::Gpu;
use purenoise::ops::norm::BnMode;

#[test]
fn bench_train_reports_a_full_step() {
    let gpu = Gpu::new(None).unwrap_or_else(|e| panic!("needs a GPU adapter: {e}"));
    let args = TrainBenchArgs {
        model: "resnet-8".into(),
        batch: 4,
        steps: 1,
        noise_fraction: 0.5,
        bn: BnMode::DarBn,
        classes: 10,
        json: true,
    };
    let report = bench_train(&gpu, &args).unwrap();
    assert_eq!(
        (report.batch, report.noise_images, report.parameters),
        (4, 2, 75_290)
    );
    assert!(report.images_per_s > 0.0 && report.step_seconds > 0.0);
    // By prefix: the convolutions run as conv2d_forward or conv2d_forward_subgroup, … depending
    // on the adapter's subgroups.
    let ran = |k: &str| {
        report
            .kernels
            .iter()
            .any(|r| r.kernel.starts_with(k) && r.dispatches > 0)
    };
    for k in [
        "conv2d_forward",
        "conv2d_backward_weight",
        "bn_plane_stats",
        "bn_stats",
        "bn_backward_plane_sums",
        "noise",
        "sgd",
        "cross_entropy",
    ] {
        assert!(ran(k), "{k} missing from {:?}", report.kernels);
    }
    let shares: f64 = report.kernels.iter().map(|k| k.share).sum();
    assert!((shares - 1.0).abs() < 1e-9);
    assert!(report.peak_memory_bytes > 3 * 4 * 75_290);
    let json: serde_json::Value = serde_json::from_str(&render(&report, true)).unwrap();
    assert_eq!(json["adapter"]["name"], gpu.info().name.as_str());
    let msg = bench_train(&gpu, &TrainBenchArgs { batch: 0, ..args })
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--batch"), "{msg}");
}
