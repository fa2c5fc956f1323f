//! Batch norm (training and eval mode) against the f64 reference, the running-statistics update,
//! and gradient checks.

mod common;
use common::*;
use purenoise::ops::norm::{
    batch_norm_backward, batch_norm_eval_forward, batch_norm_train_forward, BnParams,
};
use purenoise::reference::{self, Shape4};

const SHAPES: &[Shape4] = &[
    [1, 3, 5, 7],
    [4, 5, 3, 3],
    [2, 17, 9, 9],
    [3, 2, 1, 1],
    [1, 1, 300, 1],
];

struct Layer {
    x: Vec<f64>,
    gamma: Vec<f64>,
    beta: Vec<f64>,
    rm: Vec<f64>,
    rv: Vec<f64>,
}

fn layer(rng: &mut rand_pcg::Pcg64, s: Shape4) -> Layer {
    // An offset and scale per channel, so the statistics are not near 0 and 1.
    let x = random(rng, s.iter().product())
        .iter()
        .enumerate()
        .map(|(i, v)| v * 3.0 + ((i / (s[2] * s[3])) % s[1]) as f64)
        .collect();
    Layer {
        x,
        gamma: random(rng, s[1]),
        beta: random(rng, s[1]),
        rm: random(rng, s[1]),
        rv: random(rng, s[1]).iter().map(|v| v.abs() + 0.5).collect(),
    }
}

#[test]
fn training_forward_and_running_stats_match_reference() {
    let gpu = gpu();
    let mut rng = rng(3);
    for &s in SHAPES {
        let l = layer(&mut rng, s);
        let c = [s[1]];
        let (g, b, rm, rv) = (
            upload(&gpu, &l.gamma, &c),
            upload(&gpu, &l.beta, &c),
            upload(&gpu, &l.rm, &c),
            upload(&gpu, &l.rv, &c),
        );
        let bn = BnParams {
            gamma: &g,
            beta: &b,
            running_mean: &rm,
            running_var: &rv,
        };
        let [y, mean, var] = batch_norm_train_forward(&gpu, &upload(&gpu, &l.x, &s), &bn).unwrap();
        let (want_mean, want_var) = reference::channel_stats(&l.x, s);
        let want_y = reference::bn_apply(&l.x, s, &want_mean, &want_var, &l.gamma, &l.beta);
        let (want_rm, want_rv) = reference::bn_running_update(
            &l.rm,
            &l.rv,
            &want_mean,
            &want_var,
            s[0] * s[2] * s[3],
            0.1,
        );
        assert_close(
            &format!("mean {s:?}"),
            &read(&gpu, &mean),
            &want_mean,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("var {s:?}"),
            &read(&gpu, &var),
            &want_var,
            1e-5,
            1e-4,
        );
        assert_close(&format!("y {s:?}"), &read(&gpu, &y), &want_y, 1e-4, 1e-4);
        assert_close(
            &format!("running_mean {s:?}"),
            &read(&gpu, &rm),
            &want_rm,
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("running_var {s:?}"),
            &read(&gpu, &rv),
            &want_rv,
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn eval_forward_uses_running_stats_and_changes_nothing() {
    let gpu = gpu();
    let mut rng = rng(4);
    let s = [3, 5, 4, 3];
    let l = layer(&mut rng, s);
    let c = [s[1]];
    let (g, b, rm, rv) = (
        upload(&gpu, &l.gamma, &c),
        upload(&gpu, &l.beta, &c),
        upload(&gpu, &l.rm, &c),
        upload(&gpu, &l.rv, &c),
    );
    let bn = BnParams {
        gamma: &g,
        beta: &b,
        running_mean: &rm,
        running_var: &rv,
    };
    let y = batch_norm_eval_forward(&gpu, &upload(&gpu, &l.x, &s), &bn).unwrap();
    let want = reference::bn_apply(&l.x, s, &l.rm, &l.rv, &l.gamma, &l.beta);
    assert_close("eval y", &read(&gpu, &y), &want, 1e-4, 1e-4);
    assert_close("running_mean untouched", &read(&gpu, &rm), &l.rm, 0.0, 0.0);
    assert_close("running_var untouched", &read(&gpu, &rv), &l.rv, 0.0, 0.0);
}

#[test]
fn backward_matches_reference_and_finite_differences() {
    let gpu = gpu();
    let mut rng = rng(5);
    for &s in SHAPES {
        for training in [true, false] {
            let l = layer(&mut rng, s);
            let (mean, var) = if training {
                reference::channel_stats(&l.x, s)
            } else {
                (l.rm.clone(), l.rv.clone())
            };
            let dy = random(&mut rng, l.x.len());
            let c = [s[1]];
            let [dx, dg, db] = batch_norm_backward(
                &gpu,
                &upload(&gpu, &l.x, &s),
                &upload(&gpu, &dy, &s),
                &upload(&gpu, &mean, &c),
                &upload(&gpu, &var, &c),
                &upload(&gpu, &l.gamma, &c),
                training,
            )
            .unwrap();
            let (want_dx, want_dg, want_db) =
                reference::bn_backward(&l.x, s, &dy, &mean, &var, &l.gamma, training);
            let case = format!("{s:?} training={training}");
            assert_close(
                &format!("dx {case}"),
                &read(&gpu, &dx),
                &want_dx,
                1e-4,
                1e-3,
            );
            assert_close(
                &format!("dgamma {case}"),
                &read(&gpu, &dg),
                &want_dg,
                1e-4,
                1e-4,
            );
            assert_close(
                &format!("dbeta {case}"),
                &read(&gpu, &db),
                &want_db,
                1e-4,
                1e-4,
            );
            if s.iter().product::<usize>() > 200 {
                continue; // finite differences on the small shapes only
            }
            // The forward as a function of x: statistics recomputed from x in training mode.
            let forward = |x: &[f64]| {
                let (m, v) = if training {
                    reference::channel_stats(x, s)
                } else {
                    (l.rm.clone(), l.rv.clone())
                };
                reference::bn_apply(x, s, &m, &v, &l.gamma, &l.beta)
            };
            grad_check(
                &format!("dx fd {case}"),
                &read(&gpu, &dx),
                &l.x,
                &dy,
                forward,
            );
            grad_check(
                &format!("dgamma fd {case}"),
                &read(&gpu, &dg),
                &l.gamma,
                &dy,
                |g| reference::bn_apply(&l.x, s, &mean, &var, g, &l.beta),
            );
            grad_check(
                &format!("dbeta fd {case}"),
                &read(&gpu, &db),
                &l.beta,
                &dy,
                |b| reference::bn_apply(&l.x, s, &mean, &var, &l.gamma, b),
            );
        }
    }
}

#[test]
fn training_mode_rejects_one_value_per_channel_and_wrong_channels() {
    let gpu = gpu();
    let c3 = gpu.zeros("test", &[3]).unwrap();
    let bn = BnParams {
        gamma: &c3,
        beta: &c3,
        running_mean: &c3,
        running_var: &c3,
    };
    let x = gpu.zeros("test", &[1, 3, 1, 1]).unwrap();
    let msg = batch_norm_train_forward(&gpu, &x, &bn)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("more than one value per channel"), "{msg}");
    let x = gpu.zeros("test", &[2, 4, 2, 2]).unwrap();
    let msg = batch_norm_train_forward(&gpu, &x, &bn)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("`gamma` must have shape [4], got [3]"),
        "{msg}"
    );
}
