//! ReLU, add (and add+ReLU), accumulate, scale, dropout, global average pooling and column sums
//! against the f64 reference, with gradient checks for each backward.

mod common;
use common::*;
use purenoise::autograd::Tape;
use purenoise::ops::activation::{self, DropoutSeed};
use purenoise::ops::{self, pool};
use purenoise::params::ParamStore;
use purenoise::reference;

each_mode_and_precision!(relu_forward_backward);
/// Exact in f16 too: ReLU passes or zeroes values the tensor already holds.
/// relu_forward and relu_backward take four values a thread at 1000 and 4 values, one at the
/// others.
fn relu_forward_backward(gpu: Gpu, dtype: DType) {
    let mut rng = rng(6);
    for len in [1, 255, 257, 1000, 4] {
        let x = stored(dtype, &random(&mut rng, len));
        let y = activation::relu_forward(&gpu, &upload_as(&gpu, &x, &[len], dtype)).unwrap();
        assert_eq!(y.dtype(), dtype);
        assert_close(
            "relu",
            &read(&gpu, &y),
            &reference::relu_forward(&x),
            0.0,
            0.0,
        );
        let dy = stored(dtype, &random(&mut rng, len));
        let dx = read(
            &gpu,
            &activation::relu_backward(&gpu, &y, &upload_as(&gpu, &dy, &[len], dtype)).unwrap(),
        );
        assert_close(
            "relu backward",
            &dx,
            &reference::relu_backward(&reference::relu_forward(&x), &dy),
            0.0,
            0.0,
        );
        // Inputs are at least ~1e-7 away from the kink, far beyond the difference step.
        if x.iter().all(|v| v.abs() > 1e-4) {
            grad_check("relu fd", &dx, &x, &dy, reference::relu_forward);
        }
    }
}

each_mode_and_precision!(add_accumulate_and_scale);
/// In f16 the sum is the exact sum of the stored inputs rounded once to f16 (f32 holds it
/// exactly), so both precisions compare with tolerance 0.
fn add_accumulate_and_scale(gpu: Gpu, dtype: DType) {
    let mut rng = rng(7);
    let shape = [3, 5, 7, 3];
    let len = shape.iter().product();
    let (a, b) = (
        stored(dtype, &random(&mut rng, len)),
        stored(dtype, &random(&mut rng, len)),
    );
    let (at, bt) = (
        upload_as(&gpu, &a, &shape, dtype),
        upload_as(&gpu, &b, &shape, dtype),
    );
    let sum = stored(
        dtype,
        &a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<_>>(),
    );
    assert_close(
        "add",
        &read(&gpu, &activation::add(&gpu, &at, &bt).unwrap()),
        &sum,
        0.0,
        0.0,
    );
    activation::accumulate(&gpu, &at, &bt).unwrap();
    assert_close("accumulate", &read(&gpu, &at), &sum, 0.0, 0.0);
    // add and accumulate take one value a thread above (105 · 3 values), four here (105 · 4).
    let (c, d) = (
        stored(dtype, &random(&mut rng, 420)),
        stored(dtype, &random(&mut rng, 420)),
    );
    let ct = upload_as(&gpu, &c, &[3, 5, 7, 4], dtype);
    let dt = upload_as(&gpu, &d, &[3, 5, 7, 4], dtype);
    let sum4 = stored(
        dtype,
        &c.iter().zip(&d).map(|(x, y)| x + y).collect::<Vec<_>>(),
    );
    let added = activation::add(&gpu, &ct, &dt).unwrap();
    assert_close("add by fours", &read(&gpu, &added), &sum4, 0.0, 0.0);
    activation::accumulate(&gpu, &ct, &dt).unwrap();
    assert_close("accumulate by fours", &read(&gpu, &ct), &sum4, 0.0, 0.0);
    // scale_by scales the loss gradient, which is f32 in both precisions.
    let (bt, s) = (upload(&gpu, &b, &shape), upload(&gpu, &[-2.5], &[1]));
    assert_close(
        "scale_by",
        &read(&gpu, &activation::scale_by(&gpu, &bt, &s).unwrap()),
        &reference::scale_by(&b, -2.5),
        0.0,
        1e-6,
    );
    let other = gpu.alloc("test", &[3, 5, 7, 4], dtype).unwrap();
    let msg = activation::add(&gpu, &at, &other)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("add") && msg.contains("[3, 5, 7, 3]") && msg.contains("[3, 5, 7, 4]"),
        "{msg}"
    );
}

each_mode_and_precision!(dropout_mask_is_exact_reproducible_and_unbiased);
fn dropout_mask_is_exact_reproducible_and_unbiased(gpu: Gpu, dtype: DType) {
    let mut rng = rng(8);
    let len = 100_003;
    let x = stored(dtype, &random(&mut rng, len));
    let xt = upload_as(&gpu, &x, &[len], dtype);
    let seed = DropoutSeed {
        seed: 0x1234_5678_9abc,
        stream: 3,
    };
    let p = 0.3;
    let y = read(
        &gpu,
        &activation::dropout_apply(&gpu, &xt, p, seed).unwrap(),
    );
    let scale = reference::dropout_scale(len, p, seed.seed, seed.stream);
    let want: Vec<f64> = x.iter().zip(&scale).map(|(v, s)| v * s).collect();
    let (atol, rtol) = tolerance(dtype, 1e-6, 1e-6);
    assert_close("dropout", &y, &want, atol, rtol);
    let dropped = scale.iter().filter(|s| **s == 0.0).count() as f64 / len as f64;
    assert!((dropped - 0.3).abs() < 0.005, "dropped fraction {dropped}");
    let again = read(
        &gpu,
        &activation::dropout_apply(&gpu, &xt, p, seed).unwrap(),
    );
    assert_eq!(y, again, "same seed, same mask");
    let other = read(
        &gpu,
        &activation::dropout_apply(&gpu, &xt, p, DropoutSeed { stream: 4, ..seed }).unwrap(),
    );
    assert_ne!(y, other, "another stream, another mask");
    // The backward is the same scaling of dy; d(sum dy*y)/dx is exactly that.
    let dy = stored(dtype, &random(&mut rng, 301));
    let small = &x[..301];
    let dx = read(
        &gpu,
        &activation::dropout_apply(&gpu, &upload_as(&gpu, &dy, &[301], dtype), p, seed).unwrap(),
    );
    // (grad_check's 1e-3 relative tolerance holds an f16 result's rounding, 2⁻¹¹.)
    grad_check("dropout fd", &dx, small, &dy, |x| {
        x.iter()
            .zip(reference::dropout_scale(301, p, seed.seed, seed.stream))
            .map(|(v, s)| v * s)
            .collect()
    });
    let msg = activation::dropout_apply(&gpu, &xt, 1.0, seed)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("dropout") && msg.contains("[0, 1)"), "{msg}");
}

each_mode!(bench_microkernels_match_the_reference);
/// `bench peak`'s kernels compute what their headers say (a guard-crossing thread count and a
/// vec4 count that fills no workgroup), so the FLOPs and bytes it divides by are real.
fn bench_microkernels_match_the_reference(gpu: Gpu) {
    use purenoise::gpu::WORKGROUP;
    use purenoise::ops::{kernels, FmaParams, LenParams};
    let (threads, iters) = (1000, 37);
    let out = gpu.zeros("test", &[threads]).unwrap();
    let params = FmaParams {
        iters: iters as u32,
        threads: threads as u32,
    };
    let grid = gpu.grid(threads as u64, WORKGROUP);
    gpu.dispatch(&kernels::BENCH_FMA, &[], &params, &[("out", &out)], grid)
        .unwrap();
    let want = reference::bench_fma(threads, iters);
    assert_close("bench_fma", &read(&gpu, &out), &want, 1e-4, 1e-5);
    let vec4s = 1001;
    let src = random(&mut rng(11), 4 * vec4s);
    let (srct, dst) = (
        upload(&gpu, &src, &[4 * vec4s]),
        gpu.zeros("test", &[4 * vec4s]).unwrap(),
    );
    let len = LenParams { len: vec4s as u32 };
    let grid = gpu.grid(vec4s as u64, WORKGROUP);
    let tensors = [("src", &srct), ("dst", &dst)];
    gpu.dispatch(&kernels::BENCH_COPY, &[], &len, &tensors, grid)
        .unwrap();
    let want = reference::bench_copy(&src);
    assert_close("bench_copy", &read(&gpu, &dst), &want, 0.0, 0.0);
}

#[test]
fn philox_matches_known_answers() {
    use purenoise::random::philox4x32;
    // Known-answer vectors of Random123's philox4x32-10.
    assert_eq!(
        philox4x32([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

each_mode_and_precision!(global_avg_pool_forward_backward);
/// The pooled output (the classifier's input) is f32 in both precisions; in f16 the input and
/// its gradient are f16.
fn global_avg_pool_forward_backward(gpu: Gpu, dtype: DType) {
    let mut rng = rng(9);
    for s in [[1, 1, 1, 1], [2, 3, 5, 7], [3, 17, 8, 8]] {
        let x = stored(dtype, &random(&mut rng, s.iter().product()));
        let y = pool::avg_pool_forward(&gpu, &upload_as(&gpu, &x, &s, dtype)).unwrap();
        assert_eq!((y.shape(), y.dtype()), (&s[..2], DType::F32));
        assert_close(
            "avg pool",
            &read(&gpu, &y),
            &reference::avg_pool_forward(&x, s),
            1e-6,
            1e-5,
        );
        let dy = random(&mut rng, s[0] * s[1]);
        let dx = read(
            &gpu,
            &pool::avg_pool_backward(&gpu, &upload(&gpu, &dy, &s[..2]), &s, dtype).unwrap(),
        );
        let (atol, rtol) = tolerance(dtype, 1e-7, 1e-6);
        assert_close(
            "avg pool backward",
            &dx,
            &reference::avg_pool_backward(&dy, s),
            atol,
            rtol,
        );
        grad_check("avg pool fd", &dx, &x, &dy, |x| {
            reference::avg_pool_forward(x, s)
        });
    }
}

#[test]
fn column_sums_match_the_reference_for_every_slicing() {
    let gpu = gpu();
    let mut rng = rng(12);
    // (rows, columns): a batch of 1; rows that no slice count divides; columns that leave the
    // last workgroup (256 / slices columns) partly unused; a split-K-sized sum left unsliced.
    let shapes = [
        (1, 1),
        (1, 300),
        (9, 17),
        (11, 130),
        (37, 3),
        (37, 70),
        (130, 19),
        (130, 1000),
        (5, 70_001),
    ];
    let mut slicings = Vec::new();
    // Sized for this adapter, then as for a GPU (slices even on lavapipe).
    for ((rows, cols), as_gpu) in shapes.iter().flat_map(|&s| [(s, false), (s, true)]) {
        gpu.set_size_as_gpu(as_gpu);
        let ((_, slices), _) = ops::column_reduction(&gpu, rows, cols);
        slicings.push(slices as usize);
        let x = random(&mut rng, rows * cols);
        let out = gpu.zeros("test", &[cols]).unwrap();
        ops::sum_rows(
            &gpu,
            ("x", &upload(&gpu, &x, &[rows, cols])),
            ("out", &out),
            rows,
            cols,
        )
        .unwrap();
        assert_close(
            &format!("sum_rows {rows}x{cols} in {slices} slices (sized as for a GPU: {as_gpu})"),
            &read(&gpu, &out),
            &reference::sum_rows(&x, rows, cols),
            1e-5,
            1e-5,
        );
    }
    for s in [1, 2, 8, 16] {
        assert!(
            slicings.contains(&s),
            "no shape sums in {s} slices: {slicings:?}"
        );
    }
}

#[test]
fn add_relu_forward_and_gradients() {
    let gpu = gpu();
    let mut rng = rng(13);
    for (len, dtype) in [1, 255, 257, 1000]
        .into_iter()
        .flat_map(|len| [(len, DType::F32), (len, DType::F16)])
    {
        let a = stored(dtype, &random(&mut rng, len));
        let b = stored(dtype, &random(&mut rng, len));
        let (at, bt) = (
            upload_as(&gpu, &a, &[len], dtype),
            upload_as(&gpu, &b, &[len], dtype),
        );
        for relu in [false, true] {
            let got = match relu {
                false => activation::add(&gpu, &at, &bt),
                true => activation::add_relu(&gpu, &at, &bt),
            };
            let (atol, rtol) = tolerance(dtype, 1e-6, 1e-6);
            assert_close(
                &format!("add relu {relu}, {len} {dtype:?} values"),
                &read(&gpu, &got.unwrap()),
                &reference::add(&a, &b, relu),
                atol,
                rtol,
            );
        }
    }
    let msg = activation::add_relu(
        &gpu,
        &gpu.zeros("test", &[2, 3]).unwrap(),
        &gpu.zeros("test", &[3, 2]).unwrap(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        msg.contains("add_relu") && msg.contains("[2, 3]") && msg.contains("[3, 2]"),
        "{msg}"
    );

    // On the tape: loss = CE(linear(relu(a + b))), gradients of a and b against finite
    // differences of the reference, and equal to the unfused residual_add then relu.
    let (n, classes) = (7, 3);
    let a = random(&mut rng, n);
    // Sums at least 0.05 away from the kink, far beyond the difference step.
    let b: Vec<f64> = random(&mut rng, n)
        .iter()
        .zip(&a)
        .map(|(v, a)| {
            let s = a + v;
            if s.abs() < 0.05 {
                (0.1 - a) as f32 as f64
            } else {
                *v
            }
        })
        .collect();
    let (w, bias) = (random(&mut rng, classes * n), random(&mut rng, classes));
    let label = [1];
    let loss_of = |a: &[f64], b: &[f64]| {
        let h = reference::add(a, b, true);
        reference::cross_entropy(&reference::linear(&h, &w, &bias, 1, n, classes), &label, 3).0
    };
    let want_a = numeric_grad(&a, |a| loss_of(a, &b));
    let want_b = numeric_grad(&b, |b| loss_of(&a, b));
    let mut grads = Vec::new();
    for fused in [true, false] {
        let mut builder = ParamStore::builder();
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let ids = [
            builder.param("a", &[1, n], f32s(&a)),
            builder.param("b", &[1, n], f32s(&b)),
            builder.param("w", &[classes, n], f32s(&w)),
            builder.param("bias", &[classes], f32s(&bias)),
        ];
        let store = builder.build(&gpu).unwrap();
        let mut tape = Tape::new(&gpu);
        let [av, bv, wv, biasv] = ids.map(|id| tape.param(&store, id));
        let h = match fused {
            true => ops::residual_add_relu(&mut tape, &av, &bv).unwrap(),
            false => {
                let sum = ops::residual_add(&mut tape, &av, &bv).unwrap();
                ops::relu(&mut tape, &sum).unwrap()
            }
        };
        let logits = ops::linear(&mut tape, &h, &wv, &biasv).unwrap();
        let labels = ops::loss::upload_labels(&gpu, &label, classes).unwrap();
        let loss = ops::cross_entropy(&mut tape, &logits, &labels).unwrap();
        store.zero_grad();
        tape.backward(&loss, &store).unwrap();
        let (ga, gb) = (
            read(&gpu, &store.grad(ids[0])),
            read(&gpu, &store.grad(ids[1])),
        );
        assert_close(&format!("da fd, fused {fused}"), &ga, &want_a, 1e-4, 1e-3);
        assert_close(&format!("db fd, fused {fused}"), &gb, &want_b, 1e-4, 1e-3);
        grads.push([ga, gb]);
    }
    assert_eq!(grads[0], grads[1], "fused and unfused gradients");
}
