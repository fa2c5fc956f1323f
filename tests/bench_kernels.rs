//! `bench peak` and `bench kernels` report what they say: every convolution of the model with
//! three timed passes and their FLOP counts, every elementwise kernel (fused batch norm + ReLU
//! included) at every activation shape, the clock that timed them, and a JSON record.

use purenoise::bench::{conv_layers, kernels, peak, render, KernelsArgs, KernelsReport, PeakArgs};
use purenoise::gpu::tensor::Precision;
use purenoise::gpu::Gpu;
use purenoise::models::{ConvLayer, ModelKind};
use purenoise::ops::conv::Tile;

#[test]
fn bench_kernels_covers_every_convolution_and_elementwise_kernel() {
    let gpu = Gpu::new(None).unwrap_or_else(|e| panic!("needs a GPU adapter: {e}"));
    let args = KernelsArgs {
        model: "resnet-8".into(),
        batch: 1,
        warmup: 0,
        repeats: 1,
        tile: None,
        precision: Precision::F32,
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
    // Three activation shapes (one per stage), each with plain and fused batch norm (with ReLU,
    // with add and ReLU), ReLU, add and dropout.
    for op in [
        "batch_norm forward",
        "batch_norm+relu forward",
        "batch_norm+relu backward",
        "batch_norm+add+relu forward",
        "relu backward",
        "add",
        "dropout",
    ] {
        assert_eq!(
            report.elementwise.iter().filter(|r| r.op == op).count(),
            3,
            "{op}"
        );
    }
    assert!(report.elementwise.iter().all(|r| r.timing.ms > 0.0));
    assert_eq!(report.tile, "chosen");
    assert!(report.candidates.is_empty());
    check_total(&report);
    let timestamps = gpu.has_timestamps();
    assert_eq!(report.clock.starts_with("GPU timestamp"), timestamps);
    let json: serde_json::Value = serde_json::from_str(&render(&report, true)).unwrap();
    assert_eq!(json["model"], "resnet-8");
    assert_eq!(json["precision"], "f32");
    assert_eq!(json["adapter"]["timestamp_queries"], timestamps);

    // Mixed precision: the same rows, each elementwise kernel moving f16 activations (half the
    // bytes), recorded in the report.
    let mixed = kernels(
        &gpu,
        &KernelsArgs {
            precision: Precision::Mixed,
            ..args
        },
    )
    .unwrap();
    assert_eq!(mixed.precision, Precision::Mixed);
    assert_eq!(mixed.convolutions.len(), report.convolutions.len());
    check_total(&mixed);
    for (m, f) in mixed.elementwise.iter().zip(&report.elementwise) {
        assert_eq!((m.op, m.shape), (f.op, f.shape));
        assert_eq!(2 * m.bytes, f.bytes, "{}", m.op);
    }
    let json: serde_json::Value = serde_json::from_str(&render(&mixed, true)).unwrap();
    assert_eq!(json["precision"], "mixed");

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

/// The FLOP-weighted total: every layer's passes (count times), the image convolution's input
/// gradient excluded, FLOPs over summed time, against the same run's peak.
fn check_total(report: &KernelsReport) {
    let (mut gflop, mut ms) = (0.0, 0.0);
    for r in &report.convolutions {
        let n = r.layer.count as f64;
        let passes = if r.layer.c_in == 3 {
            vec![&r.forward, &r.backward_weight]
        } else {
            vec![&r.forward, &r.backward_data, &r.backward_weight]
        };
        for t in passes {
            gflop += n * r.gflop;
            ms += n * t.ms;
        }
    }
    let t = &report.convolution_total;
    assert!((t.gflop - gflop).abs() < 1e-9 * gflop, "{t:?}");
    assert!((t.ms - ms).abs() < 1e-9 * ms, "{t:?}");
    assert!(
        (t.gflops - gflop / ms * 1e3).abs() < 1e-9 * t.gflops,
        "{t:?}"
    );
    assert!(
        (t.of_peak - t.gflops / report.peak.fma_gflops).abs() < 1e-12,
        "{t:?}"
    );
    assert!(render(report, false).contains("FLOP-weighted"));
}

/// `--tile NAME` runs that candidate on every pass (a Winograd name where Winograd applies, its
/// tile's direct kernel elsewhere); `--tile all` also times every candidate the
/// adapter runs on every pass, by name (and both Winograd variants on each tile for the 3x3
/// stride-1 layers); an unknown name is refused with the candidates
/// listed.
#[test]
fn bench_kernels_tile_flag_names_one_or_all_candidates() {
    let gpu = Gpu::new(None).unwrap_or_else(|e| panic!("needs a GPU adapter: {e}"));
    let args = |tile: &str| KernelsArgs {
        model: "resnet-8".into(),
        batch: 1,
        warmup: 0,
        repeats: 1,
        tile: Some(tile.into()),
        precision: Precision::F32,
        json: false,
    };
    let runnable: Vec<String> = Tile::ALL
        .into_iter()
        .filter(|t| t.runs_on(&gpu))
        .map(|t| t.to_string())
        .collect();
    let layers = conv_layers("resnet-8".parse().unwrap());

    let name = runnable.last().unwrap();
    let one = kernels(&gpu, &args(name)).unwrap();
    assert_eq!(&one.tile, name);
    for row in &one.convolutions {
        assert_eq!(row.tiles, [name.clone(), name.clone(), name.clone()]);
    }
    assert!(one.candidates.is_empty());
    check_total(&one);

    // A Winograd name: that kernel on the 3x3 stride-1 layers, its tile's direct kernel elsewhere.
    let winograd_name = format!("winograd-f4x4-{name}");
    let forced = kernels(&gpu, &args(&winograd_name)).unwrap();
    assert_eq!(forced.tile, winograd_name);
    for row in &forced.convolutions {
        let want = match (row.layer.k, row.layer.stride) {
            (3, 1) => &winograd_name,
            _ => name,
        };
        assert_eq!(
            row.tiles,
            [want.clone(), want.clone(), want.clone()],
            "{row:?}"
        );
    }
    assert!(forced
        .convolutions
        .iter()
        .any(|r| r.tiles[0] == winograd_name));
    check_total(&forced);

    let all = kernels(&gpu, &args("all")).unwrap();
    assert_eq!(all.tile, "all");
    // Winograd F(2x2, 3x3) and F(4x4, 3x3): 3x3 stride-1 layers (padding k/2 = 1), every pass.
    let winograd = |layer: &ConvLayer, _pass: &str| (layer.k, layer.stride) == (3, 1);
    let winograd_names: Vec<String> = ["f2x2", "f4x4"]
        .iter()
        .flat_map(|v| runnable.iter().map(move |t| format!("winograd-{v}-{t}")))
        .collect();
    let mut count = 0;
    for layer in &layers {
        for pass in ["forward", "backward-data", "backward-weight"] {
            let mut timed: Vec<&str> = all
                .candidates
                .iter()
                .filter(|c| c.layer == *layer && c.pass == pass)
                .map(|c| c.kernel.as_str())
                .collect();
            timed.sort();
            let mut want: Vec<&str> = runnable.iter().map(String::as_str).collect();
            if winograd(layer, pass) {
                want.extend(winograd_names.iter().map(String::as_str));
            }
            want.sort();
            assert_eq!(timed, want, "{layer:?} {pass}");
            count += want.len();
        }
    }
    assert!(
        count > layers.len() * runnable.len() * 3,
        "resnet-8 has 3x3 stride-1 layers"
    );
    assert_eq!(all.candidates.len(), count);
    assert!(all.candidates.iter().all(|c| c.timing.ms > 0.0));
    check_total(&all);
    assert!(render(&all, false).contains(name.as_str()));

    let err = kernels(&gpu, &args("sg9x9-t1x1-k1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--tile sg9x9-t1x1-k1") && err.contains(&runnable[0]),
        "{err}"
    );
}
