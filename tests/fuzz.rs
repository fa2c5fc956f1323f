//! Seeded mutation fuzzing of the readers that take files from users: the checkpoint loader and
//! the CIFAR record and label-name parsers. Each mutant (truncation, byte flips, a corrupted
//! safetensors header length, spliced garbage) must give an error or a consistent value, never
//! a panic. A fixed number of cases keeps it to seconds and reproducible.

mod data_common;

use purenoise::data::cifar::{parse_names, parse_records, DatasetKind};
use purenoise::train::checkpoint::{self, Checkpoint, NamedTensor};
use purenoise::train::trainer::mix;

/// SplitMix64 stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0, 0x6675_7a7a)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random corruption of `valid`.
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(6) {
        0 => b.truncate(rng.below(valid.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // The safetensors header length (first 8 bytes), near the truth or anywhere.
            let len = u64::from_le_bytes(b[..8].try_into().unwrap());
            let new = match rng.below(3) {
                0 => len.wrapping_add(rng.below(64) as u64).wrapping_sub(32),
                1 => rng.next(),
                _ => valid.len() as u64 - rng.below(16) as u64,
            };
            b[..8].copy_from_slice(&new.to_le_bytes());
        }
        3 => {
            // Bytes inside the JSON header, where names, shapes and offsets live.
            let header = (u64::from_le_bytes(b[..8].try_into().unwrap()) as usize + 8).min(b.len());
            for _ in 0..1 + rng.below(4) {
                let i = 8 + rng.below(header - 8);
                b[i] = b"0123456789,[]{}\":-e"[rng.below(19)];
            }
        }
        4 => {
            let at = rng.below(b.len());
            let garbage: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            b.splice(at..at, garbage);
        }
        _ => b.extend((0..1 + rng.below(20)).map(|_| rng.next() as u8)),
    }
    b
}

#[test]
fn the_checkpoint_reader_survives_corrupt_files() {
    let dir = data_common::temp_dir("fuzz-ckpt");
    let path = dir.join("ckpt.safetensors");
    let ckpt = Checkpoint {
        tensors: vec![
            NamedTensor {
                name: "conv1.weight".into(),
                shape: vec![4, 3, 3, 3],
                data: (0..108).map(|i| i as f32 * 0.25).collect(),
            },
            NamedTensor {
                name: "momentum.conv1.weight".into(),
                shape: vec![4, 3, 3, 3],
                data: vec![-1.0; 108],
            },
            NamedTensor {
                name: "bn1.running_var".into(),
                shape: vec![4],
                data: vec![1.0; 4],
            },
        ],
        state: serde_json::json!({ "model": "resnet-8", "position": { "epoch": 3 } }),
    };
    checkpoint::save(&path, &ckpt).unwrap();
    let valid = std::fs::read(&path).unwrap();
    assert_eq!(checkpoint::load(&path).unwrap().tensors.len(), 3);
    let mut rng = Rng(1);
    let (mut ok, mut err) = (0, 0);
    for case in 0..1500 {
        let bytes = mutate(&mut rng, &valid);
        std::fs::write(&path, &bytes).unwrap();
        match checkpoint::load(&path) {
            Ok(c) => {
                ok += 1;
                for t in &c.tensors {
                    assert_eq!(
                        t.data.len(),
                        t.shape.iter().product::<usize>(),
                        "case {case}: {} is inconsistent",
                        t.name
                    );
                }
            }
            Err(e) => {
                err += 1;
                assert!(
                    e.to_string().contains(path.to_str().unwrap()),
                    "case {case}: the error does not name the file: {e}"
                );
            }
        }
    }
    // Both outcomes occur, so the mutations neither always break nor never touch the file.
    assert!(ok > 0 && err > 1000, "{ok} loaded, {err} refused");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_dataset_readers_survive_corrupt_files() {
    let valid10 =
        data_common::cifar10_file(&(0..10_000).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    let valid100 = data_common::cifar100_file(&(0..40).map(|i| (i * 2) as u8).collect::<Vec<_>>());
    let names: Vec<u8> = (0..10)
        .flat_map(|i| format!("class{i}\n").into_bytes())
        .collect();
    let mut rng = Rng(2);
    for case in 0..300 {
        // CIFAR-10 files are 30 MB: mutate a copy's record fields cheaply instead of cloning
        // through `mutate` every time.
        let mut b10 = valid10.clone();
        match rng.below(3) {
            0 => b10.truncate(rng.below(b10.len())),
            1 => {
                let r = rng.below(10_000);
                b10[r * 3073] = rng.next() as u8;
            }
            _ => b10.extend((0..rng.below(3073 * 2)).map(|_| 0)),
        }
        if let Ok(split) = parse_records(DatasetKind::Cifar10, "fuzz10", &b10) {
            assert_eq!(split.images.len(), split.labels.len() * 3072, "case {case}");
            assert!(split.labels.iter().all(|&l| l < 10), "case {case}");
        }
    }
    for case in 0..3000 {
        let b = mutate(&mut rng, &valid100);
        if let Ok(split) = parse_records(DatasetKind::Cifar100, "fuzz100", &b) {
            assert_eq!(split.images.len(), split.labels.len() * 3072, "case {case}");
            assert!(split.labels.iter().all(|&l| l < 100), "case {case}");
            assert!(
                split.coarse_labels.unwrap().iter().all(|&l| l < 20),
                "case {case}"
            );
        }
        let n = mutate(&mut rng, &names);
        if let Ok(parsed) = parse_names("fuzz-names", &n, 10) {
            assert_eq!(parsed.len(), 10, "case {case}");
        }
    }
}
