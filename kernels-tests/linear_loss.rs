//! Linear layer, softmax cross-entropy and SGD against the f64 reference, with gradient checks.

mod common;
use common::*;
use purenoise::ops::{linear, loss};
use purenoise::optim::Sgd;
use purenoise::params::ParamStore;
use purenoise::reference;

each_mode!(linear_forward_backward);
fn linear_forward_backward(gpu: Gpu) {
    let mut rng = rng(10);
    for (rows, inp, out) in [(1, 1, 1), (3, 17, 10), (128, 64, 10), (5, 300, 7)] {
        let (x, w, b) = (
            random(&mut rng, rows * inp),
            random(&mut rng, out * inp),
            random(&mut rng, out),
        );
        let (xt, wt) = (
            upload(&gpu, &x, &[rows, inp]),
            upload(&gpu, &w, &[out, inp]),
        );
        let y = linear::linear_forward(&gpu, &xt, &wt, &upload(&gpu, &b, &[out])).unwrap();
        assert_eq!(y.shape(), [rows, out]);
        let case = format!("{rows}x{inp} -> {out}");
        assert_close(
            &format!("linear {case}"),
            &read(&gpu, &y),
            &reference::linear(&x, &w, &b, rows, inp, out),
            1e-5,
            1e-5,
        );
        let dy = random(&mut rng, rows * out);
        let [dx, dw, db] =
            linear::linear_backward(&gpu, &xt, &wt, &upload(&gpu, &dy, &[rows, out])).unwrap();
        let (want_dx, want_dw, want_db) = reference::linear_backward(&x, &w, &dy, rows, inp, out);
        assert_close(
            &format!("dx {case}"),
            &read(&gpu, &dx),
            &want_dx,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("dw {case}"),
            &read(&gpu, &dw),
            &want_dw,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("db {case}"),
            &read(&gpu, &db),
            &want_db,
            1e-5,
            1e-5,
        );
        if rows * inp * out < 2000 {
            grad_check("linear dx fd", &read(&gpu, &dx), &x, &dy, |x| {
                reference::linear(x, &w, &b, rows, inp, out)
            });
            grad_check("linear dw fd", &read(&gpu, &dw), &w, &dy, |w| {
                reference::linear(&x, w, &b, rows, inp, out)
            });
            grad_check("linear db fd", &read(&gpu, &db), &b, &dy, |b| {
                reference::linear(&x, &w, b, rows, inp, out)
            });
        }
    }
    let msg = linear::linear_forward(
        &gpu,
        &gpu.zeros("t", &[2, 3]).unwrap(),
        &gpu.zeros("t", &[4, 5]).unwrap(),
        &gpu.zeros("t", &[4]).unwrap(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        msg.contains("linear") && msg.contains("inner sizes 3 and 5"),
        "{msg}"
    );
}

each_mode!(cross_entropy_matches_reference_and_is_stable);
fn cross_entropy_matches_reference_and_is_stable(gpu: Gpu) {
    let mut rng = rng(11);
    for (rows, classes, scale) in [(1, 2, 1.0), (7, 10, 3.0), (300, 100, 1.0), (4, 10, 1e4)] {
        // scale 1e4: logits far beyond exp's f32 range, the max subtraction must keep it finite.
        let logits: Vec<f64> = random(&mut rng, rows * classes)
            .iter()
            .map(|v| v * scale)
            .collect();
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7 + 3) % classes) as u32).collect();
        let lt = loss::upload_labels(&gpu, &labels, classes).unwrap();
        let [l, dl] =
            loss::cross_entropy_forward(&gpu, &upload(&gpu, &logits, &[rows, classes]), &lt)
                .unwrap();
        let (want_l, want_dl) = reference::cross_entropy(&logits, &labels, classes);
        let got = read(&gpu, &l)[0];
        assert!(
            got.is_finite(),
            "loss is {got} for logits scaled by {scale}"
        );
        assert_close(
            &format!("loss {rows}x{classes}x{scale}"),
            &[got],
            &[want_l],
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("dlogits {rows}x{classes}"),
            &read(&gpu, &dl),
            &want_dl,
            1e-6,
            1e-4,
        );
        if scale == 1.0 && rows * classes < 100 {
            let numeric =
                numeric_grad(&logits, |z| reference::cross_entropy(z, &labels, classes).0);
            assert_close("dlogits fd", &read(&gpu, &dl), &numeric, 1e-4, 1e-3);
        }
    }
    let msg = loss::upload_labels(&gpu, &[0, 10, 2], 10)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("label 10 of sample 1") && msg.contains("10 classes"),
        "{msg}"
    );
}

each_mode!(sgd_updates_every_parameter_like_pytorch);
fn sgd_updates_every_parameter_like_pytorch(gpu: Gpu) {
    let mut rng = rng(12);
    // Sizes that leave padding between parameters in the arena.
    let shapes: [&[usize]; 3] = [&[3, 5], &[1], &[7, 2, 3]];
    let mut builder = ParamStore::builder();
    let mut w: Vec<Vec<f64>> = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let init = random(&mut rng, s.iter().product());
        builder.param(
            &format!("p{i}"),
            s,
            init.iter().map(|&v| v as f32).collect(),
        );
        w.push(init);
    }
    let params = builder.build(&gpu).unwrap();
    let mut v: Vec<Vec<f64>> = w.iter().map(|p| vec![0.0; p.len()]).collect();
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
    };
    for _ in 0..3 {
        params.zero_grad();
        for (i, id) in params.ids().enumerate() {
            let g = random(&mut rng, w[i].len());
            purenoise::ops::accumulate(&gpu, &params.grad(id), &upload(&gpu, &g, shapes[i]))
                .unwrap();
            reference::sgd(&mut w[i], &g, &mut v[i], 0.1, 0.9, 5e-4);
        }
        sgd.step(&params).unwrap();
    }
    for (i, id) in params.ids().enumerate() {
        assert_close(
            &format!("{} after 3 steps", params.name(id)),
            &read(&gpu, &params.value(id)),
            &w[i],
            1e-6,
            1e-5,
        );
        assert_close(
            &format!("{} momentum", params.name(id)),
            &read(&gpu, &params.momentum(id)),
            &v[i],
            1e-6,
            1e-5,
        );
    }
}
