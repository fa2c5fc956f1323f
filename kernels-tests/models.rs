//! The models: parameter counts and PyTorch names of the reference layouts, initialization
//! statistics, forward/backward on the GPU, and the batch-norm modes inside a real network.

mod common;
use common::*;
use purenoise::autograd::Tape;
use purenoise::models::BnMode;
use purenoise::models::{Model, ModelConfig, ModelKind, Pass};
use purenoise::ops::noise::NoiseMask;
use purenoise::ops::{self};

fn config(model: &str, bn: BnMode) -> ModelConfig {
    ModelConfig {
        kind: model.parse().unwrap(),
        classes: 10,
        bn,
        dropout: 0.3,
    }
}

fn count(model: &str, bn: BnMode) -> usize {
    let (params, _) = Model::spec(&config(model, bn)).unwrap();
    params
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

#[test]
fn parameter_counts_match_the_published_models() {
    // WRN-28-10 on CIFAR-10: 36,479,194 parameters; ResNet-32: 464,154.
    assert_eq!(count("wrn-28-10", BnMode::DarBn), 36_479_194);
    assert_eq!(count("resnet-32", BnMode::Standard), 464_154);
    // AuxBN adds a γ and β per channel of every batch norm: WRN-28-10 has 25 of them.
    let bn_channels: usize = Model::spec(&config("wrn-28-10", BnMode::DarBn))
        .unwrap()
        .1
        .iter()
        .filter(|(n, _)| n.ends_with("running_mean"))
        .map(|(_, s)| s[0])
        .sum();
    assert_eq!(
        count("wrn-28-10", BnMode::AuxBn),
        36_479_194 + 2 * bn_channels
    );
}

/// `ModelKind::weights`, the size check made before any weight is drawn, counts every
/// parameter but batch norm's exactly; a model far too large for the adapter is refused by it,
/// naming the model and the limit, without filling host memory first.
#[test]
fn weights_are_counted_from_the_shapes_and_a_huge_model_is_refused_before_it_is_built() {
    for model in ["wrn-28-10", "wrn-10-1", "wrn-16-4", "resnet-8", "resnet-32"] {
        let (params, _) = Model::spec(&config(model, BnMode::Standard)).unwrap();
        let without_bn: usize = params
            .iter()
            .filter(|(n, _)| !n.contains("bn"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let kind: ModelKind = model.parse().unwrap();
        assert_eq!(kind.weights(10), without_bn as f64, "{model}");
    }
    let gpu = gpu();
    for huge in ["wrn-28-100000", "wrn-600000004-10"] {
        let err = Model::new(&gpu, config(huge, BnMode::Standard), 0)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains(&format!("the parameters of {huge}")) && err.contains("max_buffer_size"),
            "{err}"
        );
    }
}

#[test]
fn names_are_pytorch_state_dict_keys() {
    let (params, buffers) = Model::spec(&config("wrn-10-2", BnMode::AuxBn)).unwrap();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "conv1.weight",
        "layer1.0.bn1.weight",
        "layer1.0.bn1_noise.bias",
        "layer1.0.conv1.weight",
        "layer1.0.bn2.weight",
        "layer1.0.conv2.weight",
        "layer1.0.shortcut.0.weight",
        "layer3.0.shortcut.0.weight",
        "bn1.weight",
        "bn1_noise.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(buffers
        .iter()
        .any(|(n, s)| n == "layer2.0.bn2.running_var" && s == &vec![64]));
    let shape = |n: &str| params.iter().find(|(m, _)| m == n).unwrap().1.clone();
    assert_eq!(shape("layer2.0.conv1.weight"), [64, 32, 3, 3]);
    assert_eq!(shape("layer2.0.shortcut.0.weight"), [64, 32, 1, 1]);
    assert_eq!(shape("fc.weight"), [10, 128]);
    // Identity shortcuts have no parameters: wrn-16-1's first stage keeps 16 channels.
    let (params, _) = Model::spec(&config("wrn-16-1", BnMode::DarBn)).unwrap();
    assert!(!params
        .iter()
        .any(|(n, _)| n.starts_with("layer1.0.shortcut") || n.starts_with("layer1.1.shortcut")));
    assert!(params
        .iter()
        .any(|(n, _)| n == "layer2.0.shortcut.0.weight"));
    let (params, _) = Model::spec(&config("resnet-32", BnMode::Standard)).unwrap();
    assert!(
        params.iter().any(|(n, _)| n == "layer3.4.bn2.weight")
            && params.iter().any(|(n, _)| n == "linear.bias")
    );
    assert!(
        !params.iter().any(|(n, _)| n.contains("shortcut")),
        "option A has no parameters"
    );
}

#[test]
fn model_names_are_checked() {
    for (bad, why) in [
        ("wrn-27-10", "6n + 4"),
        ("wrn-28-0", "at least 1"),
        ("resnet-33", "6n + 2"),
        ("vgg-16", "unknown model"),
        ("wrn-x-2", "not a number"),
    ] {
        let msg = bad.parse::<ModelKind>().unwrap_err().to_string();
        assert!(msg.contains(bad) && msg.contains(why), "{msg}");
    }
    assert_eq!(
        "wrn-28-10".parse::<ModelKind>().unwrap().to_string(),
        "wrn-28-10"
    );
}

#[test]
fn initialization_follows_the_reference_layouts() {
    let gpu = gpu();
    let model = Model::new(&gpu, config("wrn-10-2", BnMode::DarBn), 7).unwrap();
    let p = &model.params;
    let values = |name: &str| read(&gpu, &p.value(p.find(name).unwrap()));
    let std = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    // Kaiming normal, fan out = 128 * 3 * 3 for layer3's conv2 (128 -> 128).
    let w = values("layer3.0.conv2.weight");
    let want = (2.0f64 / (128.0 * 9.0)).sqrt();
    assert!(
        (std(&w) / want - 1.0).abs() < 0.02,
        "std {} vs {want}",
        std(&w)
    );
    assert!(
        values("bn1.weight").iter().all(|&g| g == 1.0)
            && values("bn1.bias").iter().all(|&b| b == 0.0)
    );
    let bound = 1.0 / 128f64.sqrt();
    let fc = values("fc.weight");
    assert!(fc.iter().all(|v| v.abs() <= bound) && fc.iter().any(|v| v.abs() > 0.8 * bound));
    // Same seed, same model.
    let again = Model::new(&gpu, config("wrn-10-2", BnMode::DarBn), 7).unwrap();
    assert_eq!(
        read(
            &gpu,
            &again.params.value(again.params.find("fc.weight").unwrap())
        ),
        fc
    );
}

fn logits(model: &Model, x: &[f64], mask: Option<&[bool]>, training: bool) -> Vec<f64> {
    let gpu = model.params.gpu();
    let mask = mask.map(|m| NoiseMask::new(gpu, m).unwrap());
    let mut tape = Tape::new(gpu);
    let x = tape.constant(upload(gpu, x, &[x.len() / 3072, 3, 32, 32]));
    let pass = Pass {
        training,
        mask: mask.as_ref(),
        dropout_seed: 1,
    };
    read(gpu, &model.forward(&mut tape, &x, &pass).unwrap().value)
}

#[test]
fn models_run_forward_and_backward_and_route_noise() {
    let gpu = gpu();
    let mut rng = rng(60);
    let x = random(&mut rng, 4 * 3072);
    for name in ["wrn-10-2", "resnet-8"] {
        let mut cfg = config(name, BnMode::DarBn);
        cfg.dropout = 0.0;
        let model = Model::new(&gpu, cfg, 3).unwrap();
        let plain = logits(&model, &x, None, true);
        assert_eq!(plain.len(), 40);
        assert!(plain.iter().all(|v| v.is_finite()));
        // DAR-BN with an all-natural mask is ordinary BN.
        assert_eq!(logits(&model, &x, Some(&[false; 4]), true), plain, "{name}");
        let routed = logits(&model, &x, Some(&[false, true, false, true]), true);
        assert_ne!(
            routed, plain,
            "{name}: noise samples must change the natural samples' statistics"
        );

        let mut tape = Tape::new(&gpu);
        let input = tape.constant(upload(&gpu, &x, &[4, 3, 32, 32]));
        let out = model
            .forward(
                &mut tape,
                &input,
                &Pass {
                    training: true,
                    mask: None,
                    dropout_seed: 1,
                },
            )
            .unwrap();
        let labels = ops::loss::upload_labels(&gpu, &[0, 1, 2, 3], 10).unwrap();
        let loss = ops::cross_entropy(&mut tape, &out, &labels).unwrap();
        model.params.zero_grad();
        tape.backward(&loss, &model.params).unwrap();
        let grad = read(
            &gpu,
            &model
                .params
                .grad(model.params.find("conv1.weight").unwrap()),
        );
        assert!(
            grad.iter().any(|g| *g != 0.0) && grad.iter().all(|g| g.is_finite()),
            "{name}: conv1 gets a gradient"
        );
    }
}
