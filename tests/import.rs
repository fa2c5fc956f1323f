//! PyTorch checkpoints in: state dicts saved as safetensors without purenoise's metadata
//! (tests/fixtures, written by make_fixtures.py) load with their values; `--init-from` takes
//! such a file's momentum and continues its epoch, so one step from it equals one step of a run
//! that never stopped; `eval` tells the model from a bare file's tensors.

mod data_common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use clap::Parser;
use purenoise::gpu::tensor::Precision::F32;
use purenoise::gpu::Gpu;
use purenoise::models::BnMode;
use purenoise::models::ModelKind;
use purenoise::train::args::TrainArgs;
use purenoise::train::checkpoint::{self, Checkpoint, NamedTensor};
use purenoise::train::{import, run};
use purenoise::tune::TuneMode;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn args(flags: &[&str]) -> TrainArgs {
    Cli::try_parse_from(std::iter::once("train").chain(flags.iter().copied()))
        .unwrap()
        .args
}

fn gpu() -> Gpu {
    Gpu::new(None)
        .unwrap_or_else(|e| panic!("these tests need a GPU adapter (software Vulkan works): {e}"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purenoise-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One tensor of a hand-written safetensors file: name, dtype, shape, little-endian bytes.
type Raw = (String, &'static str, Vec<usize>, Vec<u8>);

/// Writes a plain safetensors file (as `safetensors.torch.save_file` does), with `metadata`.
fn write_safetensors(path: &Path, tensors: &[Raw], metadata: &[(&str, &str)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [data.len(), data.len() + bytes.len()],
            }),
        );
        data.extend_from_slice(bytes);
    }
    if !metadata.is_empty() {
        let m: serde_json::Map<_, _> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        header.insert("__metadata__".into(), m.into());
    }
    let mut text = serde_json::to_vec(&header).unwrap();
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut file = (text.len() as u64).to_le_bytes().to_vec();
    file.extend(text);
    file.extend(data);
    std::fs::write(path, file).unwrap();
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| (x as f64).to_le_bytes()).collect()
}

/// A purenoise checkpoint's tensors as PyTorch would save them from a DataParallel model with
/// its SGD state: `module.` names, `momentum_buffer.module.<name>`, an I64
/// `num_batches_tracked` beside each BN's running statistics, in `dtype` (F32 or F64).
fn as_pytorch(ckpt: &Checkpoint, dtype: &'static str) -> Vec<Raw> {
    let mut out = Vec::new();
    for t in &ckpt.tensors {
        let name = match t.name.strip_prefix("momentum.") {
            Some(rest) => format!("momentum_buffer.module.{rest}"),
            None => format!("module.{}", t.name),
        };
        let bytes = match dtype {
            "F64" => f64_bytes(&t.data),
            _ => f32_bytes(&t.data),
        };
        out.push((name, dtype, t.shape.clone(), bytes));
        if let Some(layer) = t.name.strip_suffix(".running_var") {
            out.push((
                format!("module.{layer}.num_batches_tracked"),
                "I64",
                vec![],
                12i64.to_le_bytes().to_vec(),
            ));
        }
    }
    out
}

fn get<'a>(ckpt: &'a Checkpoint, name: &str) -> &'a NamedTensor {
    ckpt.get(name)
        .unwrap_or_else(|| panic!("no `{name}` in {:?}", names(ckpt)))
}

fn names(ckpt: &Checkpoint) -> Vec<&str> {
    ckpt.tensors.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn pytorch_state_dicts_of_three_widths_load_with_their_values() {
    // (file, dtype, 0.1 as that width holds it: f16 0x2E66, bf16 0x3DCD)
    for (file, dtype, tenth) in [
        ("f16", "F16", 819.0 / 8192.0),
        ("bf16", "BF16", 205.0 / 2048.0),
        ("f64", "F64", 0.1),
    ] {
        let path = fixture(&format!("state_dict_{file}.safetensors"));
        let imported = import::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!imported.ours);
        let ckpt = &imported.checkpoint;
        assert_eq!(
            names(ckpt),
            [
                "bn1.bias",
                "bn1.running_mean",
                "bn1.running_var",
                "bn1.weight",
                "fc.bias",
                "fc.weight",
                "momentum.fc.weight"
            ],
            "{file}"
        );
        let ramp = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
            (0..n)
                .map(|i| (i as f32 - (n / 2) as f32) / 8.0 * scale + offset)
                .collect()
        };
        assert_eq!(get(ckpt, "bn1.weight").data, ramp(4, 1.0, 1.0), "{file}");
        assert_eq!(get(ckpt, "bn1.bias").data, ramp(4, 1.0, 0.0), "{file}");
        assert_eq!(get(ckpt, "bn1.running_mean").data, ramp(4, 0.5, 0.0));
        assert_eq!(get(ckpt, "bn1.running_var").data, ramp(4, 0.25, 1.5));
        assert_eq!(get(ckpt, "fc.weight").shape, [3, 4]);
        assert_eq!(get(ckpt, "fc.weight").data, ramp(12, 1.0, 0.0));
        assert_eq!(get(ckpt, "momentum.fc.weight").data, ramp(12, 0.25, 0.0));
        assert_eq!(get(ckpt, "fc.bias").data, [tenth, -tenth, 3.0], "{file}");
        assert_eq!(
            imported.notes,
            [
                "left out 1 integer `num_batches_tracked` tensors (batch norm's step counters, \
                 which purenoise does not use)"
                    .to_string(),
                "read 7 names without DataParallel's `module.` prefix".to_string(),
                format!("converted 7 {dtype} tensors to F32"),
            ]
        );
        // Only the F64 file records where its training stopped.
        let expected = (file == "f64").then_some((160, false));
        assert_eq!(import::next_epoch(ckpt), expected, "{file}");
    }
}

#[test]
fn torch_save_files_load_as_a_state_dict_or_a_checkpoint_dict_with_momentum() {
    let ramp = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 - (n / 2) as f32) / 8.0 * scale + offset)
            .collect()
    };
    let values = [
        ("bn1.bias", ramp(4, 1.0, 0.0)),
        ("bn1.running_mean", ramp(4, 0.5, 0.0)),
        ("bn1.running_var", ramp(4, 0.25, 1.5)),
        ("bn1.weight", ramp(4, 1.0, 1.0)),
        ("fc.bias", vec![0.1, -0.1, 3.0]),
        ("fc.weight", ramp(12, 1.0, 0.0)),
    ];
    // torch.save(model.state_dict()) of a DataParallel model.
    let bare = import::load(&fixture("state_dict.pt")).unwrap();
    assert!(!bare.ours);
    assert_eq!(
        names(&bare.checkpoint),
        values.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    for (name, v) in &values {
        assert_eq!(&get(&bare.checkpoint, name).data, v, "{name}");
    }
    assert_eq!(get(&bare.checkpoint, "fc.weight").shape, [3, 4]);
    assert_eq!(
        bare.notes,
        [
            "left out 1 integer `num_batches_tracked` tensors (batch norm's step counters, which \
             purenoise does not use)",
            "read 6 names without DataParallel's `module.` prefix",
        ]
    );
    assert_eq!(import::next_epoch(&bare.checkpoint), None);

    // The reference's checkpoint dict: momentum from the optimizer's state, by parameter order.
    let dict = import::load(&fixture("checkpoint.pt")).unwrap();
    let ckpt = &dict.checkpoint;
    for (name, v) in &values {
        assert_eq!(&get(ckpt, name).data, v, "{name}");
        if !name.starts_with("bn1.running") {
            let quarter: Vec<f32> = v.iter().map(|x| x / 4.0).collect();
            assert_eq!(
                get(ckpt, &format!("momentum.{name}")).data,
                quarter,
                "{name}"
            );
        }
    }
    assert_eq!(ckpt.tensors.len(), 10);
    assert_eq!(import::next_epoch(ckpt), Some((160, false)));
    assert!(
        dict.notes
            .contains(&"left out the checkpoint's `best_acc`".to_string()),
        "{:?}",
        dict.notes
    );

    // A torn archive is refused, naming the file.
    let dir = temp_dir("torn-pt");
    let torn = dir.join("torn.pt");
    let bytes = std::fs::read(fixture("checkpoint.pt")).unwrap();
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();
    let e = import::load(&torn).unwrap_err().to_string();
    assert!(
        e.contains("torn.pt") && e.contains("torch.save file"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn foreign_files_that_cannot_be_read_are_refused_naming_the_tensor() {
    let dir = temp_dir("refused");
    let path = dir.join("bad.safetensors");
    let refused = |tensors: &[Raw], metadata: &[(&str, &str)], wants: &[&str]| {
        write_safetensors(&path, tensors, metadata);
        let e = import::load(&path).unwrap_err().to_string();
        assert!(e.contains(path.to_str().unwrap()), "{e}");
        for w in wants {
            assert!(e.contains(w), "`{w}` not in: {e}");
        }
    };
    let one = |name: &str, dtype: &'static str, bytes: Vec<u8>| -> Raw {
        (name.to_string(), dtype, vec![bytes.len() / 4], bytes)
    };
    // An integer tensor that is not a BN counter.
    refused(
        &[one("fc.labels", "I32", vec![0; 8])],
        &[],
        &["`fc.labels` is I32", "num_batches_tracked"],
    );
    // The same tensor with and without DataParallel's prefix.
    refused(
        &[
            one("fc.bias", "F32", f32_bytes(&[1.0])),
            one("module.fc.bias", "F32", f32_bytes(&[2.0])),
        ],
        &[],
        &["two tensors both mean `fc.bias`"],
    );
    // An F64 value f32 cannot hold.
    refused(
        &[(
            "fc.bias".into(),
            "F64",
            vec![2],
            [1.0f64, 1e300]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        )],
        &[],
        &["`fc.bias`", "outside f32's range (element 1)"],
    );
    refused(
        &[one("fc.bias", "F32", f32_bytes(&[1.0]))],
        &[("finished_epoch", "last")],
        &["`finished_epoch` is `last`"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_model_is_told_from_tensor_names_and_shapes() {
    use purenoise::models::{Model, ModelConfig};
    for (kind, classes, bn) in [
        (
            ModelKind::Wrn {
                depth: 16,
                widen: 2,
            },
            100,
            BnMode::AuxBn,
        ),
        (
            ModelKind::Wrn {
                depth: 10,
                widen: 1,
            },
            10,
            BnMode::Standard,
        ),
        (ModelKind::ResNet { depth: 32 }, 10, BnMode::Standard),
        (ModelKind::ResNet { depth: 8 }, 7, BnMode::AuxBn),
    ] {
        let config = ModelConfig {
            kind,
            classes,
            bn,
            dropout: 0.0,
        };
        let (params, buffers) = Model::spec(&config).unwrap();
        let tensors: Vec<NamedTensor> = params
            .iter()
            .chain(&buffers)
            .map(|(name, shape)| NamedTensor {
                name: name.clone(),
                shape: shape.clone(),
                data: vec![],
            })
            .collect();
        let inferred = import::infer_model(&tensors).unwrap();
        assert_eq!(
            (inferred.kind, inferred.classes, inferred.bn),
            (kind, classes, bn)
        );
    }
    let e = import::infer_model(&[]).unwrap_err();
    assert!(e.contains("neither `fc.weight`"), "{e}");
}

/// Flags of a tiny OPeN run on a 3:1 two-class subset whose learning rate changes between
/// epochs 0 and 1 (warm-up) and whose noise starts at epoch 1.
fn tiny_run(
    data_dir: &Path,
    indices: &Path,
    epochs: &str,
    out: &Path,
    extra: &[&str],
) -> TrainArgs {
    let mut flags = vec![
        "--model",
        "resnet-8",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--subset-indices",
        indices.to_str().unwrap(),
        "--method",
        "open",
        "--delta",
        "1",
        "--defer-epoch",
        "1",
        "--augment",
        "basic",
        "--epochs",
        epochs,
        "--batch-size",
        "8",
        "--lr",
        "0.05",
        "--warmup-epochs",
        "2",
        "--milestones",
        "5",
        "--eval-limit",
        "16",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    flags.extend_from_slice(extra);
    args(&flags)
}

#[test]
fn init_from_a_pytorch_export_continues_like_a_run_that_never_stopped() {
    let data_dir = data_common::real_data_dir();
    let dir = temp_dir("continue");
    let cifar = purenoise::data::cifar::Cifar::load(
        purenoise::data::cifar::DatasetKind::Cifar10,
        &data_dir,
    )
    .unwrap();
    // 24 airplanes and 8 automobiles.
    let mut lines = Vec::new();
    for (class, n) in [(0u32, 24), (1, 8)] {
        lines.extend(
            (cifar.train.labels.iter().enumerate())
                .filter(|(_, l)| **l == class)
                .take(n)
                .map(|(i, _)| i.to_string()),
        );
    }
    let indices = dir.join("subset.txt");
    std::fs::write(&indices, lines.join("\n")).unwrap();
    let gpu = gpu();
    let stop = AtomicBool::new(false);
    let run = |name: &str, epochs: &str, extra: &[&str], max_steps: Option<usize>| {
        let out = dir.join(name);
        let mut a = tiny_run(&data_dir, &indices, epochs, &out, extra);
        a.max_steps = max_steps;
        run::train(&gpu, a, TuneMode::Off, &stop).unwrap_or_else(|e| panic!("run {name}: {e}"));
        checkpoint::load(&out.join("last.safetensors")).unwrap()
    };

    // Epoch 0 alone, exported as PyTorch would save it (F64, DataParallel names, momentum
    // buffers, BN counters), recording the epoch it finished.
    let first = run("first", "1", &[], None);
    let per_epoch = first.state["position"]["global_step"].as_u64().unwrap() as usize;
    let exported = dir.join("exported.safetensors");
    write_safetensors(
        &exported,
        &as_pytorch(&first, "F64"),
        &[("finished_epoch", "0")],
    );
    // The round trip ours -> PyTorch layout -> ours is exact.
    assert_eq!(
        import::load(&exported).unwrap().checkpoint.tensors,
        first.tensors
    );
    let exported = exported.to_str().unwrap();

    // One step of epoch 1: from the export, and in a run that never stopped.
    let one_step = Some(per_epoch + 1);
    let continued = run("continued", "2", &["--init-from", exported], one_step);
    let whole = run("whole", "2", &[], one_step);
    // Where they stand, and what the step measured (the loss, the correct predictions).
    let place = |c: &Checkpoint| {
        [
            "epoch",
            "batch",
            "global_step",
            "epoch_loss_sum",
            "epoch_correct",
        ]
        .map(|k| c.state["position"][k].clone())
    };
    assert_eq!(place(&continued), place(&whole));
    assert_eq!(continued.state["position"]["epoch"], 1);
    assert_eq!(names(&continued), names(&whole));
    for (a, b) in continued.tensors.iter().zip(&whole.tensors) {
        assert_eq!(
            a.data, b.data,
            "`{}` differs from the uninterrupted run",
            a.name
        );
    }
    // The step changed the parameters, and without the momentum it lands elsewhere: the
    // comparison above is not vacuous.
    assert_ne!(
        get(&first, "conv1.weight").data,
        get(&whole, "conv1.weight").data
    );
    let forgetful = run(
        "weights-only",
        "2",
        &[
            "--init-from",
            exported,
            "--weights-only",
            "--start-epoch",
            "1",
        ],
        one_step,
    );
    assert_eq!(place(&forgetful)[..3], place(&whole)[..3]);
    assert_ne!(
        get(&forgetful, "conv1.weight").data,
        get(&whole, "conv1.weight").data
    );
    // A start past the run's end is refused before anything is written.
    let late = dir.join("late");
    let e = run::train(
        &gpu,
        tiny_run(&data_dir, &indices, "1", &late, &["--init-from", exported]),
        TuneMode::Off,
        &stop,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("--start-epoch") && e.contains("start at epoch 1") && e.contains("--epochs 1"),
        "{e}"
    );
    assert!(!late.exists());

    // A mis-shaped tensor is refused by name, with the model the file looks like.
    let mut wrong = as_pytorch(&first, "F32");
    let conv = wrong
        .iter_mut()
        .find(|t| t.0 == "module.layer2.0.conv1.weight")
        .unwrap();
    conv.2 = vec![32, 16, 9, 1];
    let wrong_path = dir.join("wrong.safetensors");
    write_safetensors(&wrong_path, &wrong, &[]);
    let e = run::train(
        &gpu,
        tiny_run(
            &data_dir,
            &indices,
            "2",
            &dir.join("wrong"),
            &["--init-from", wrong_path.to_str().unwrap()],
        ),
        TuneMode::Off,
        &stop,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("wrong.safetensors")
            && e.contains(
                "layer2.0.conv1.weight with shape [32,16,9,1], the model wants [32,16,3,3]"
            )
            && e.contains("resnet-8, 10 classes (told from its tensors)"),
        "{e}"
    );

    // eval on a bare F32 state dict (no metadata, no momentum): the model is told from its
    // tensors and the data from its class count; the result equals the purenoise file's.
    let bare = dir.join("bare.safetensors");
    let weights: Vec<Raw> = as_pytorch(&first, "F32")
        .into_iter()
        .filter(|t| !t.0.starts_with("momentum_buffer."))
        .collect();
    write_safetensors(&bare, &weights, &[]);
    let theirs = run::eval_checkpoint(
        &gpu,
        &bare,
        None,
        Some(data_dir.clone()),
        Some(40),
        None,
        F32,
    )
    .unwrap();
    let ours = run::eval_checkpoint(
        &gpu,
        &dir.join("first/last.safetensors"),
        None,
        Some(data_dir.clone()),
        Some(40),
        None,
        F32,
    )
    .unwrap();
    assert_eq!(theirs.report.top1, ours.report.top1);
    assert_eq!(theirs.report.correct, ours.report.correct);
    // No subset: the whole CIFAR-10 training file.
    assert_eq!(theirs.report.train_counts, vec![5000; 10]);
    assert!(theirs.files.iter().all(|f| f.exists()));
    assert_eq!(theirs.epochs_done, None);
    // eval --model names the net in place of the one told from the tensors: the same net gives
    // the same result; one the tensors do not fit is refused, naming the file and the tensors.
    let eval_as = |path: &Path, model: &str| {
        run::eval_checkpoint(
            &gpu,
            path,
            Some(model),
            Some(data_dir.clone()),
            Some(40),
            None,
            F32,
        )
    };
    let named = eval_as(&bare, "resnet-8").unwrap();
    assert_eq!(named.report.correct, theirs.report.correct);
    let e = eval_as(&bare, "resnet-14").err().unwrap().to_string();
    assert!(
        e.starts_with(&format!(
            "--model: the tensors of {} do not fit resnet-14",
            bare.display()
        )) && e.contains("layer1.1."),
        "{e}"
    );
    let e = eval_as(&bare, "wrn-16-x").err().unwrap().to_string();
    assert!(e.contains("--model `wrn-16-x`"), "{e}");
    // A purenoise checkpoint records its model: another --model is refused.
    let e = eval_as(&dir.join("first/last.safetensors"), "resnet-14")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("--model:") && e.contains("a purenoise checkpoint of resnet-8"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
