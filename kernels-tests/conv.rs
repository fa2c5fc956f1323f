//! Convolution kernels against the f64 reference on awkward shapes, plus gradient checks.

mod common;
use common::*;
use purenoise::ops::conv::{
    conv2d_backward_input, conv2d_backward_input_with, conv2d_backward_weight,
    conv2d_backward_weight_with, conv2d_forward, conv2d_forward_with, conv2d_pack_weight, ALoader,
    ConvShape, Pass, Tile,
};
use purenoise::reference::{self, Shape4};

/// (input shape, weight shape, stride, pad)
const CASES: &[(Shape4, Shape4, usize, usize)] = &[
    ([1, 3, 7, 5], [4, 3, 3, 3], 1, 1), // batch 1, odd non-square input
    ([2, 5, 9, 9], [3, 5, 3, 3], 2, 1), // stride 2 with odd input
    ([3, 7, 6, 6], [11, 7, 1, 1], 2, 0), // strided 1x1 shortcut, odd channel counts
    ([2, 4, 5, 5], [6, 4, 1, 1], 1, 0), // 1x1 stride 1
    ([1, 2, 4, 4], [3, 2, 3, 3], 1, 0), // no padding
    ([2, 17, 8, 8], [33, 17, 3, 3], 1, 1), // channels not a multiple of any tile
    ([3, 9, 11, 9], [70, 9, 3, 3], 1, 1), // edge tiles in both GEMM dimensions
    ([2, 6, 13, 11], [5, 6, 3, 3], 2, 1), // stride 2, odd non-square input, several row tiles
    ([1, 16, 6, 7], [130, 16, 3, 3], 1, 1), // past one 128-column tile; 16-channel input
    // 16 x 16 channels (the 8x16 and 16x16 lane blocks' shape) over more than one 128-row
    // subgroup block, and 13 channels strided: rows and columns off every tile.
    ([3, 16, 9, 7], [16, 16, 3, 3], 1, 1),
    ([2, 13, 17, 11], [13, 13, 3, 3], 2, 1),
    // Pixel strips (lib/conv_a_strip.wgsl): rows of 16 and 24 hold whole strips of 8 (three
    // per row of 24, the middle one at neither edge) and of 16; batch 1, a short odd height.
    ([1, 3, 5, 16], [16, 3, 3, 3], 1, 1),
    ([2, 5, 3, 24], [7, 5, 3, 3], 1, 1),
];

each_mode_and_precision!(conv_kernels_match_reference);
/// Every tile the kernels can be dispatched with on this adapter (the subgroup core where the
/// subgroups are 8 wide), and weight-gradient reduction splits that do and do not divide the
/// reduction evenly (the automatic choice is tested too). With f16 activations the input and
/// output gradient are f16 (the references get them rounded), the GEMMs sum in f32, and y and
/// dx are stored in f16 (one more rounding: `tolerance`); the weight gradient stays f32.
fn conv_kernels_match_reference(gpu: Gpu, dtype: DType) {
    let mut rng = rng(1);
    for &(xs, ws, stride, pad) in CASES {
        let ConvCase {
            xt,
            wt,
            dyt,
            shape: s,
            want_y,
            want_dx,
            want_dw,
        } = ConvCase::new_as(&gpu, &mut rng, xs, ws, stride, pad, dtype);
        let case = format!("{xs:?} * {ws:?} stride {stride} pad {pad} {dtype:?}");
        let check = |what: &str, got: &purenoise::gpu::tensor::Tensor, want: &[f64]| {
            let (atol, rtol) = tolerance(got.dtype(), 1e-4, 1e-4);
            assert_close(
                &format!("{what} {case}"),
                &read(&gpu, got),
                want,
                atol,
                rtol,
            );
        };

        let y = conv2d_forward(&gpu, &xt, &wt, &s).unwrap();
        assert_eq!((y.shape(), y.dtype()), (&s.output_shape()[..], dtype));
        check("forward", &y, &want_y);
        check(
            "input grad",
            &conv2d_backward_input(&gpu, &dyt, &wt, &s).unwrap(),
            &want_dx,
        );
        check(
            "weight grad",
            &conv2d_backward_weight(&gpu, &xt, &dyt, &s).unwrap(),
            &want_dw,
        );
        // The f16 variants differ from the f32 ones only in the index libraries' loads and
        // stores, which every core calls alike: one tile per core (workgroup memory, subgroup)
        // covers them, and saves compiling every tile twice more.
        let mut tiles: Vec<Tile> = Tile::ALL.into_iter().filter(|t| t.runs_on(&gpu)).collect();
        if dtype == DType::F16 {
            tiles.dedup_by_key(|t| t.subgroup);
        }
        for tile in tiles {
            let with = format!("{tile:?}");
            let y = conv2d_forward_with(&gpu, &xt, &wt, &s, tile).unwrap();
            check(&format!("forward {with}"), &y, &want_y);
            let dx = conv2d_backward_input_with(&gpu, &dyt, &wt, &s, tile).unwrap();
            check(&format!("input grad {with}"), &dx, &want_dx);
            for splits in [1, 2, 3] {
                let dw = conv2d_backward_weight_with(&gpu, &xt, &dyt, &s, tile, splits).unwrap();
                check(
                    &format!("weight grad {with} {splits} splits"),
                    &dw,
                    &want_dw,
                );
            }
        }
    }
}

/// Every workgroup-memory candidate fits the software adapter the tests run on (lavapipe: 32 KiB
/// of workgroup memory, 1024 threads), so conv_kernels_match_reference covers each one before a
/// GPU with larger limits runs it; an adapter with smaller limits than that proves nothing here.
#[test]
fn every_workgroup_memory_tile_runs_where_the_tests_run() {
    let gpu = gpu();
    let limits = gpu.limits();
    if limits.max_compute_workgroup_storage_size < 32 << 10
        || limits.max_compute_invocations_per_workgroup < 1024
    {
        return;
    }
    for tile in Tile::ALL.into_iter().filter(|t| !t.subgroup) {
        assert!(
            tile.runs_on(&gpu),
            "{tile} exceeds 32 KiB of workgroup memory or 1024 threads: no test would run it"
        );
    }
}

/// The weight packed as each GEMM reads it (forward; backward data per stride phase, including
/// phases with fewer taps) against the reference, with column counts off multiples of 4 and over
/// one 32-column block.
#[test]
fn pack_weight_matches_reference() {
    let gpu = gpu();
    let mut rng = rng(3);
    for (ws, stride) in [
        ([5, 3, 3, 3], 1),
        ([4, 7, 3, 3], 2),
        ([6, 4, 1, 1], 2),
        ([3, 9, 5, 5], 3),
        ([40, 3, 3, 3], 1),
        ([4, 37, 3, 3], 2),
    ] {
        let xs = [1, ws[1], 9, 9];
        let w = random(&mut rng, ws.iter().product());
        let wt = upload(&gpu, &w, &ws);
        let x = gpu.zeros("test", &xs).unwrap();
        let s = ConvShape::new(&x, &wt, stride, ws[2] / 2).unwrap();
        let mut phases = vec![(Pass::Forward, [0, 0], None)];
        for py in 0..stride {
            for px in 0..stride {
                phases.push((Pass::BackwardInput, [py, px], Some([py, px])));
            }
        }
        for (pass, phase, reference_phase) in phases {
            let got = conv2d_pack_weight(&gpu, &wt, &s, pass, phase).unwrap();
            let (want, shape) = reference::conv2d_pack_weight(&w, ws, stride, reference_phase);
            let what = format!("pack {ws:?} stride {stride} {pass:?} {phase:?}");
            if shape[0] == 0 {
                continue; // a phase without taps: no GEMM reads its buffer
            }
            assert_eq!(got.shape(), shape, "{what}");
            assert_close(&what, &read(&gpu, &got), &want, 0.0, 1e-6);
        }
    }
    let x = gpu.zeros("test", &[1, 3, 8, 8]).unwrap();
    let wt = gpu.zeros("test", &[4, 3, 3, 3]).unwrap();
    let s = ConvShape::new(&x, &wt, 2, 1).unwrap();
    let msg = conv2d_pack_weight(&gpu, &wt, &s, Pass::BackwardInput, [2, 0])
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("no stride phase [2, 0]"), "{msg}");
}

/// Adapters without 8-wide subgroups never get the subgroup core, and every choice is one of
/// `Tile::ALL`, which the reference test above runs against the f64 reference. With 8-wide
/// subgroups, GEMMs of up to 16 columns get a 16-column lane block: 16x16 where its 128-row
/// blocks pad the rows little, else 8x16 (a 3x3 weight gradient of 16 or 3 input channels).
#[test]
fn small_channel_gemms_get_16_column_lane_blocks() {
    let name = |m, n| Tile::choose_for(true, true, m, n).to_string();
    assert_eq!(name(32768, 16), "sg8x1-t16x16-k16"); // 16-channel layer, batch 32
    assert_eq!(name(1000, 3), "sg8x1-t16x16-k16");
    assert_eq!(name(144, 16), "sg8x1-t8x16-k16"); // weight gradient, 16 input channels
    assert_eq!(name(27, 16), "sg8x1-t8x16-k16"); // the stem's weight gradient
    assert_eq!(name(32768, 17), "sg8x1-t8x32-k16");
    assert_eq!(name(32768, 64), "sg8x2-t8x32-k16");
}

/// The subgroup core reads the forward and backward-data passes of stride-1 3x3 layers with
/// padding 1 as pixel strips where their rows hold whole strips, and their weight gradient by tap
/// rows (8-row lane blocks, rows a multiple of 4 wide), in f32, on adapters with 8-wide subgroups
/// and 64-bit integers (lavapipe): the reference test's cases of 8-, 16- and 24-wide rows run
/// those kernels there, and every other shape reads a scalar per row.
#[test]
fn strip_and_tap_row_loaders_serve_stride_one_3x3_layers() {
    let gpu = gpu();
    let (t16, t8) = (Tile::ALL[4], Tile::ALL[2]);
    assert_eq!((t16.tm, t8.tm), (16, 8));
    let shape = |x: Shape4, w: Shape4, stride, pad| {
        let x = gpu.zeros("test", &x).unwrap();
        let w = gpu.zeros("test", &w).unwrap();
        ConvShape::new(&x, &w, stride, pad).unwrap()
    };
    let lavapipe_like = Tile::SUBGROUP.runs_on(&gpu)
        && gpu
            .device()
            .features()
            .contains(wgpu::Features::SHADER_INT64);
    let when = |loader| if lavapipe_like { loader } else { ALoader::Rows };
    let (f32, f16) = (DType::F32, DType::F16);
    let rows16 = shape([1, 3, 5, 16], [16, 3, 3, 3], 1, 1);
    let rows24 = shape([2, 5, 3, 24], [7, 5, 3, 3], 1, 1);
    let rows7 = shape([3, 16, 9, 7], [16, 16, 3, 3], 1, 1);
    for pass in [Pass::Forward, Pass::BackwardInput] {
        assert_eq!(rows16.a_loader(&gpu, pass, t16, f32), when(ALoader::Strips));
        assert_eq!(rows16.a_loader(&gpu, pass, t8, f32), when(ALoader::Strips));
        assert_eq!(rows24.a_loader(&gpu, pass, t8, f32), when(ALoader::Strips));
        // 24 is not a whole number of 16-pixel strips.
        assert_eq!(rows24.a_loader(&gpu, pass, t16, f32), ALoader::Rows);
    }
    let bw = Pass::BackwardWeight;
    assert_eq!(rows16.a_loader(&gpu, bw, t8, f32), when(ALoader::TapRows));
    assert_eq!(rows24.a_loader(&gpu, bw, t8, f32), when(ALoader::TapRows));
    // 16-row lane blocks; rows 7 wide.
    assert_eq!(rows16.a_loader(&gpu, bw, t16, f32), ALoader::Rows);
    assert_eq!(rows7.a_loader(&gpu, bw, t8, f32), ALoader::Rows);
    for pass in Pass::ALL {
        // f16; a stride, no padding, a 1x1 kernel; the workgroup-memory core.
        assert_eq!(rows16.a_loader(&gpu, pass, t8, f16), ALoader::Rows);
        for (w, stride, pad) in [
            ([16, 3, 3, 3], 2, 1),
            ([16, 3, 3, 3], 1, 0),
            ([16, 3, 1, 1], 1, 0),
        ] {
            let other = shape([1, 3, 16, 16], w, stride, pad);
            assert_eq!(
                other.a_loader(&gpu, pass, t8, f32),
                ALoader::Rows,
                "{other:?}"
            );
        }
        assert_eq!(
            rows16.a_loader(&gpu, pass, Tile::ALL[5], f32),
            ALoader::Rows
        );
    }
}

/// Adapters without 8-wide subgroups never get the subgroup core, and every choice is one of
/// `Tile::ALL`, which the reference test above runs against the f64 reference.
#[test]
fn tile_choice_falls_back_without_subgroups() {
    for cpu in [true, false] {
        for subgroups_of_8 in [true, false] {
            for n in [1, 3, 16, 17, 32, 33, 64, 65, 640] {
                for m in [1, 27, 64, 128, 144, 1000, 32768] {
                    let tile = Tile::choose_for(cpu, subgroups_of_8, m, n);
                    assert!(Tile::ALL.contains(&tile), "{tile:?}");
                    assert_eq!(
                        tile.subgroup,
                        cpu && subgroups_of_8,
                        "{tile:?} for {m} x {n}"
                    );
                }
            }
        }
    }
}

each_mode!(conv_gradients_match_finite_differences);
fn conv_gradients_match_finite_differences(gpu: Gpu) {
    let mut rng = rng(2);
    for &(xs, ws, stride, pad) in &[
        ([1, 2, 5, 5], [3, 2, 3, 3], 2, 1),
        ([2, 3, 4, 3], [2, 3, 1, 1], 1, 0),
    ] {
        let x = random(&mut rng, xs.iter().product());
        let w = random(&mut rng, ws.iter().product());
        let (xt, wt) = (upload(&gpu, &x, &xs), upload(&gpu, &w, &ws));
        let s = ConvShape::new(&xt, &wt, stride, pad).unwrap();
        let dy = random(&mut rng, s.output_shape().iter().product());
        let dyt = upload(&gpu, &dy, &s.output_shape());
        let dx = read(&gpu, &conv2d_backward_input(&gpu, &dyt, &wt, &s).unwrap());
        let dw = read(&gpu, &conv2d_backward_weight(&gpu, &xt, &dyt, &s).unwrap());
        grad_check("conv input grad", &dx, &x, &dy, |x| {
            reference::conv2d_forward(x, xs, &w, ws, stride, pad)
        });
        grad_check("conv weight grad", &dw, &w, &dy, |w| {
            reference::conv2d_forward(&x, xs, w, ws, stride, pad)
        });
    }
}

#[test]
fn conv_rejects_mismatched_shapes() {
    let gpu = gpu();
    let x = gpu.zeros("test", &[1, 3, 8, 8]).unwrap();
    let w = gpu.zeros("test", &[4, 5, 3, 3]).unwrap();
    let msg = ConvShape::new(&x, &w, 1, 1).err().unwrap().to_string();
    assert!(
        msg.contains("conv2d") && msg.contains("5 input channels") && msg.contains("has 3"),
        "{msg}"
    );
    let w = gpu.zeros("test", &[4, 3, 9, 9]).unwrap();
    let msg = ConvShape::new(&x, &w, 1, 0).err().unwrap().to_string();
    assert!(msg.contains("9x9 kernel does not fit a 8x8 input"), "{msg}");
    let flat = gpu.zeros("test", &[3, 64]).unwrap();
    let msg = ConvShape::new(&flat, &w, 1, 0).err().unwrap().to_string();
    assert!(msg.contains("`input` must be 4-D"), "{msg}");

    // Tiles the GEMM core cannot run, and sizes past the kernels' f32 index division.
    let w = gpu.zeros("test", &[4, 3, 3, 3]).unwrap();
    let s = ConvShape::new(&x, &w, 1, 1).unwrap();
    let odd = Tile {
        wm: 8,
        wn: 8,
        tm: 6,
        tn: 8,
        bk: 16,
        subgroup: false,
        double_buffered: false,
    };
    let msg = conv2d_forward_with(&gpu, &x, &w, &s, odd)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("unsupported tile") && msg.contains("tm: 6"),
        "{msg}"
    );
    let big = gpu.zeros("test", &[1, 1, 2048, 2048]).unwrap();
    let w = gpu.zeros("test", &[1, 1, 1, 1]).unwrap();
    let s = ConvShape::new(&big, &w, 1, 0).unwrap();
    let msg = conv2d_forward(&gpu, &big, &w, &s)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("4194304 positions") && msg.contains("split the batch"),
        "{msg}"
    );
}
