//! ReLU, add, accumulate, scale, dropout and global average pooling against the f64 reference,
//! with gradient checks for each backward.

mod common;
use common::*;
use purenoise::ops::activation::{self, DropoutSeed};
use purenoise::ops::pool;
use purenoise::reference;

each_mode!(relu_forward_backward);
fn relu_forward_backward(gpu: Gpu) {
    let mut rng = rng(6);
    for len in [1, 255, 257, 1000] {
        let x = random(&mut rng, len);
        let y = activation::relu_forward(&gpu, &upload(&gpu, &x, &[len])).unwrap();
        assert_close("relu", &read(&gpu, &y), &reference::relu(&x), 0.0, 0.0);
        let dy = random(&mut rng, len);
        let dx = read(
            &gpu,
            &activation::relu_backward(&gpu, &y, &upload(&gpu, &dy, &[len])).unwrap(),
        );
        assert_close(
            "relu backward",
            &dx,
            &reference::relu_backward(&reference::relu(&x), &dy),
            0.0,
            0.0,
        );
        // Inputs are at least ~1e-7 away from the kink, far beyond the difference step.
        if x.iter().all(|v| v.abs() > 1e-4) {
            grad_check("relu fd", &dx, &x, &dy, reference::relu);
        }
    }
}

each_mode!(add_accumulate_and_scale);
fn add_accumulate_and_scale(gpu: Gpu) {
    let mut rng = rng(7);
    let shape = [3, 5, 7, 3];
    let len = shape.iter().product();
    let (a, b) = (random(&mut rng, len), random(&mut rng, len));
    let (at, bt) = (upload(&gpu, &a, &shape), upload(&gpu, &b, &shape));
    let sum: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (*x as f32 + *y as f32) as f64)
        .collect();
    assert_close(
        "add",
        &read(&gpu, &activation::add(&gpu, &at, &bt).unwrap()),
        &sum,
        0.0,
        0.0,
    );
    activation::accumulate(&gpu, &at, &bt).unwrap();
    assert_close("accumulate", &read(&gpu, &at), &sum, 0.0, 0.0);
    let s = upload(&gpu, &[-2.5], &[1]);
    let scaled: Vec<f64> = b.iter().map(|v| v * -2.5).collect();
    assert_close(
        "scale_by",
        &read(&gpu, &activation::scale_by(&gpu, &bt, &s).unwrap()),
        &scaled,
        0.0,
        1e-6,
    );
    let other = gpu.zeros("test", &[3, 5, 7, 4]).unwrap();
    let msg = activation::add(&gpu, &at, &other)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("add") && msg.contains("[3, 5, 7, 3]") && msg.contains("[3, 5, 7, 4]"),
        "{msg}"
    );
}

each_mode!(dropout_mask_is_exact_reproducible_and_unbiased);
fn dropout_mask_is_exact_reproducible_and_unbiased(gpu: Gpu) {
    let mut rng = rng(8);
    let len = 100_003;
    let x = random(&mut rng, len);
    let xt = upload(&gpu, &x, &[len]);
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
    assert_close("dropout", &y, &want, 1e-6, 1e-6);
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
    let dy = random(&mut rng, 301);
    let small = &x[..301];
    let dx = read(
        &gpu,
        &activation::dropout_apply(&gpu, &upload(&gpu, &dy, &[301]), p, seed).unwrap(),
    );
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

each_mode!(global_avg_pool_forward_backward);
fn global_avg_pool_forward_backward(gpu: Gpu) {
    let mut rng = rng(9);
    for s in [[1, 1, 1, 1], [2, 3, 5, 7], [3, 17, 8, 8]] {
        let x = random(&mut rng, s.iter().product());
        let y = pool::avg_pool_forward(&gpu, &upload(&gpu, &x, &s)).unwrap();
        assert_eq!(y.shape(), &s[..2]);
        assert_close(
            "avg pool",
            &read(&gpu, &y),
            &reference::avg_pool(&x, s),
            1e-6,
            1e-5,
        );
        let dy = random(&mut rng, s[0] * s[1]);
        let dx = read(
            &gpu,
            &pool::avg_pool_backward(&gpu, &upload(&gpu, &dy, &s[..2]), &s).unwrap(),
        );
        assert_close(
            "avg pool backward",
            &dx,
            &reference::avg_pool_backward(&dy, s),
            1e-7,
            1e-6,
        );
        grad_check("avg pool fd", &dx, &x, &dy, |x| reference::avg_pool(x, s));
    }
}
