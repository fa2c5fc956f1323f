//! `bench peak` and `bench kernels` report what they say: every convolution of the model with
//! three timed passes and their FLOP counts, every elementwise kernel (fused batch norm + ReLU
//! included) at every activation shape, the clock that timed them, and a JSON record.

use purenoise::bench::{conv_layers, kernels, peak, render, KernelsArgs, PeakArgs};
use purenoise::gpu::Gpu;
use purenoise::models::ModelKind;

#[test]
fn bench_kernels_covers_every_convolution_and_elementwise_kernel() {
    let gpu = Gpu::new(None).unwrap_or_else(|e| panic!("needs a GPU adapter: {e}"));
    let args = KernelsArgs {
        model: "resnet-8".into(),
        batch: 1,
        warmup: 0,
        repeats: 1,
        tile: None,
        json: true,
    };
    let report = kernels(&gpu, &args).unwrap();
    let kind: ModelKind = "resnet-8".parse().unwrap();
    let layers = conv_layers(kind);
    assert_eq!(report.convolutions.len(), layers.len());
    for (row, layer) in report.convolutions.iter().zip(&layers) {
        assert_eq!(row.layer, *layer);
        let ho = layer.size / layer.stride;
        let flop = 2 * layer.c_out * ho * ho * layer.c_in * layer.k * layer.k;
        assert!((row.gflop - flop as f64 / 1e9).abs() < 1e-12, "{row:?}");
        for t in [&row.forward, &row.backward_data, &row.backward_weight] {
            assert!(t.ms > 0.0 && t.rate > 0.0 && t.of_peak > 0.0, "{row:?}");
        }
    }
    // Three activation shapes (one per stage), each with plain and fused batch norm, ReLU and add.
    for op in [
        "batch_norm forward",
        "batch_norm+relu forward",
        "batch_norm+relu backward",
        "relu backward",
        "add",
    ] {
        assert_eq!(
            report.elementwise.iter().filter(|r| r.op == op).count(),
            3,
            "{op}"
        );
    }
    assert!(report.elementwise.iter().all(|r| r.timing.ms > 0.0));
    let timestamps = gpu.has_timestamps();
    assert_eq!(report.clock.starts_with("GPU timestamp"), timestamps);
    let json: serde_json::Value = serde_json::from_str(&render(&report, true)).unwrap();
    assert_eq!(json["model"], "resnet-8");
    assert_eq!(json["adapter"]["timestamp_queries"], timestamps);

    let peak = peak(
        &gpu,
        &PeakArgs {
            repeats: 1,
            json: false,
        },
    )
    .unwrap();
    assert!(peak.peak.fma_gflops > 0.0 && peak.peak.bandwidth_gbs > 0.0);
    assert!(render(&peak, false).contains("GFLOP/s"));
}
