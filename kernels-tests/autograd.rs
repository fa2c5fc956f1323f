//! The tape: gradient summing over shared values (in place only when safe), accumulation into
//! parameters until zeroed, no-grad mode, and errors for misuse.

mod common;
use common::*;
use purenoise::autograd::Tape;
use purenoise::ops;
use purenoise::params::ParamStore;
use purenoise::reference;

/// loss = CE(linear(p + p)) for a parameter row p [1, 4]; returns the store and the id of p.
fn doubled_loss_grad(gpu: &purenoise::gpu::Gpu, store: &ParamStore) {
    let mut tape = Tape::new(gpu);
    let p = tape.param(store, store.find("p").unwrap());
    let w = tape.param(store, store.find("w").unwrap());
    let b = tape.param(store, store.find("b").unwrap());
    let twice = ops::residual_add(&mut tape, &p, &p).unwrap();
    let logits = ops::linear(&mut tape, &twice, &w, &b).unwrap();
    let labels = ops::loss::upload_labels(gpu, &[2], 3).unwrap();
    let loss = ops::cross_entropy(&mut tape, &logits, &labels).unwrap();
    tape.backward(&loss, store).unwrap();
}

#[test]
fn shared_values_sum_gradients_and_parameters_accumulate_until_zeroed() {
    let gpu = gpu();
    let mut rng = rng(30);
    let (p, w, b) = (
        random(&mut rng, 4),
        random(&mut rng, 12),
        random(&mut rng, 3),
    );
    let mut builder = ParamStore::builder();
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    builder.param("p", &[1, 4], f32s(&p));
    builder.param("w", &[3, 4], f32s(&w));
    builder.param("b", &[3], f32s(&b));
    let store = builder.build(&gpu).unwrap();

    let twice: Vec<f64> = p.iter().map(|v| 2.0 * v).collect();
    let logits = reference::linear(&twice, &w, &b, 1, 4, 3);
    let (_, dlogits) = reference::cross_entropy(&logits, &[2], 3);
    let (dtwice, _, _) = reference::linear_backward(&twice, &w, &dlogits, 1, 4, 3);
    let want: Vec<f64> = dtwice.iter().map(|g| 2.0 * g).collect();
    let pid = store.find("p").unwrap();

    store.zero_grad();
    doubled_loss_grad(&gpu, &store);
    assert_close(
        "grad through p + p",
        &read(&gpu, &store.grad(pid)),
        &want,
        1e-6,
        1e-5,
    );
    doubled_loss_grad(&gpu, &store);
    let doubled: Vec<f64> = want.iter().map(|g| 2.0 * g).collect();
    assert_close(
        "two backward passes accumulate",
        &read(&gpu, &store.grad(pid)),
        &doubled,
        1e-6,
        1e-5,
    );
    store.zero_grad();
    doubled_loss_grad(&gpu, &store);
    assert_close(
        "zero_grad resets",
        &read(&gpu, &store.grad(pid)),
        &want,
        1e-6,
        1e-5,
    );
}

#[test]
fn no_grad_tape_computes_values_but_records_nothing() {
    let gpu = gpu();
    let mut builder = ParamStore::builder();
    let id = builder.param("x", &[2, 3], vec![-1.0, 2.0, -3.0, 4.0, 0.5, -0.5]);
    let store = builder.build(&gpu).unwrap();
    let mut tape = Tape::no_grad(&gpu);
    let x = tape.param(&store, id);
    let y = ops::relu(&mut tape, &x).unwrap();
    assert!(!y.requires_grad());
    assert_eq!(
        gpu.read(&y.value).unwrap(),
        vec![0.0, 2.0, 0.0, 4.0, 0.5, 0.0]
    );
    let four_d = tape.constant(y.value.reshape(&[1, 6, 1, 1]).unwrap());
    let pooled = ops::global_avg_pool(&mut tape, &four_d).unwrap();
    let msg = tape.backward(&pooled, &store).err().unwrap().to_string();
    assert!(
        msg.contains("scalar loss") && msg.contains("[1, 6]"),
        "{msg}"
    );

    let tape = Tape::no_grad(&gpu);
    let scalar = tape.constant(gpu.zeros("test", &[1]).unwrap());
    let msg = tape.backward(&scalar, &store).err().unwrap().to_string();
    assert!(msg.contains("does not depend on any parameter"), "{msg}");
}

#[test]
fn duplicate_parameter_names_are_rejected() {
    let gpu = gpu();
    let mut builder = ParamStore::builder();
    builder.param("fc.weight", &[1], vec![0.0]);
    builder.buffer("fc.weight", &[1], vec![0.0]);
    let msg = builder.build(&gpu).err().unwrap().to_string();
    assert!(msg.contains("`fc.weight` is used twice"), "{msg}");
}

#[test]
fn a_gradient_summed_in_place_leaves_the_residuals_other_branch_alone() {
    // t = (p + q) + relu(p): the residual hands one gradient tensor to p and q, then relu's
    // gradient is summed into p's. Summing in place there would also change q's gradient.
    let gpu = gpu();
    let mut rng = rng(31);
    let p: Vec<f64> = random(&mut rng, 4).iter().map(|v| v.abs() + 0.1).collect();
    let (q, w, b) = (
        random(&mut rng, 4),
        random(&mut rng, 12),
        random(&mut rng, 3),
    );
    let mut builder = ParamStore::builder();
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    let ids = [
        builder.param("p", &[1, 4], f32s(&p)),
        builder.param("q", &[1, 4], f32s(&q)),
        builder.param("w", &[3, 4], f32s(&w)),
        builder.param("b", &[3], f32s(&b)),
    ];
    let store = builder.build(&gpu).unwrap();
    let mut tape = Tape::new(&gpu);
    let [pv, qv, wv, bv] = ids.map(|id| tape.param(&store, id));
    let s = ops::relu(&mut tape, &pv).unwrap();
    let r = ops::residual_add(&mut tape, &pv, &qv).unwrap();
    let t = ops::residual_add(&mut tape, &r, &s).unwrap();
    let logits = ops::linear(&mut tape, &t, &wv, &bv).unwrap();
    let labels = ops::loss::upload_labels(&gpu, &[1], 3).unwrap();
    let loss = ops::cross_entropy(&mut tape, &logits, &labels).unwrap();
    store.zero_grad();
    tape.backward(&loss, &store).unwrap();

    let tv: Vec<f64> = p.iter().zip(&q).map(|(p, q)| 2.0 * p + q).collect();
    let logits = reference::linear(&tv, &w, &b, 1, 4, 3);
    let (_, dlogits) = reference::cross_entropy(&logits, &[1], 3);
    let (dt, _, _) = reference::linear_backward(&tv, &w, &dlogits, 1, 4, 3);
    let twice: Vec<f64> = dt.iter().map(|g| 2.0 * g).collect();
    assert_close(
        "grad of q",
        &read(&gpu, &store.grad(ids[1])),
        &dt,
        1e-6,
        1e-5,
    );
    assert_close(
        "grad of p",
        &read(&gpu, &store.grad(ids[0])),
        &twice,
        1e-6,
        1e-5,
    );
}
