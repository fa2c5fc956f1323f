//! Seeded mutation fuzzing of the readers that take files from users: the checkpoint loader, the
//! CIFAR `.tar.gz` reader and the CIFAR record and label-name parsers. Each mutant (truncation,
//! byte flips, a corrupted safetensors header length or tar size field, spliced garbage) must
//! give an error or a consistent value, never a panic; a checkpoint or a gzip stream that loads
//! must give exactly what was saved, since both carry checksums. A fixed number of cases keeps
//! it to seconds and reproducible.

mod data_common;

use std::path::Path;

use purenoise::data::cifar::{parse_names, parse_records, Cifar, DatasetKind};
use purenoise::train::checkpoint::{self, Checkpoint, CheckpointError, NamedTensor};
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
    let header_end = 8 + u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
    let mut saved = ckpt.tensors.clone();
    saved.sort_by(|a, b| a.name.cmp(&b.name));
    let same = |c: &Checkpoint| {
        c.state == ckpt.state
            && c.tensors.len() == saved.len()
            && c.tensors.iter().zip(&saved).all(|(a, b)| {
                a.name == b.name
                    && a.shape == b.shape
                    && a.data
                        .iter()
                        .map(|x| x.to_bits())
                        .eq(b.data.iter().map(|x| x.to_bits()))
            })
    };
    assert!(same(&checkpoint::load(&path).unwrap()));
    let mut rng = Rng(1);
    let (mut unchanged, mut err, mut data_refused) = (0, 0, 0);
    for case in 0..1500 {
        // Every fifth case flips bits in the tensor data only: still valid safetensors, so only
        // the checksum can refuse it.
        let data_only = case % 5 == 4;
        let bytes = if data_only {
            let mut b = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let i = header_end + rng.below(valid.len() - header_end);
                b[i] ^= 1 << rng.below(8);
            }
            b
        } else {
            mutate(&mut rng, &valid)
        };
        std::fs::write(&path, &bytes).unwrap();
        match checkpoint::load(&path) {
            // No corruption is accepted: what loads is what was saved, bit for bit.
            Ok(c) => {
                assert!(
                    same(&c),
                    "case {case}: a damaged file loaded with other content"
                );
                unchanged += 1;
            }
            Err(e) => {
                err += 1;
                if data_only {
                    assert!(
                        matches!(e, CheckpointError::Corrupt { .. }),
                        "case {case}: {e}"
                    );
                    data_refused += 1;
                }
                assert!(
                    e.to_string().contains(path.to_str().unwrap()),
                    "case {case}: the error does not name the file: {e}"
                );
            }
        }
    }
    // Mutations that leave the content alone (a change in the header's padding, say) may load;
    // everything else was refused, including every change to the data.
    assert!(
        err > 1000 && data_refused >= 300,
        "{unchanged} loaded, {err} refused"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fields of two datasets that a reader fills.
fn same_dataset(a: &Cifar, b: &Cifar) -> bool {
    a.class_names == b.class_names
        && a.coarse_names == b.coarse_names
        && [(&a.train, &b.train), (&a.test, &b.test)]
            .iter()
            .all(|(x, y)| {
                x.images == y.images && x.labels == y.labels && x.coarse_labels == y.coarse_labels
            })
}

fn consistent(c: &Cifar) -> bool {
    [&c.train, &c.test].iter().all(|s| {
        s.images.len() == s.labels.len() * 3072
            && s.labels.iter().all(|&l| l < 100)
            && s.coarse_labels
                .as_ref()
                .is_some_and(|cl| cl.len() == s.labels.len() && cl.iter().all(|&l| l < 20))
    }) && c.class_names.len() == 100
        && c.coarse_names.as_ref().is_some_and(|n| n.len() == 20)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

fn load_archive(path: &Path, bytes: &[u8]) -> Result<Cifar, String> {
    std::fs::write(path, bytes).unwrap();
    Cifar::load_archive(DatasetKind::Cifar100, path).map_err(|e| e.to_string())
}

#[test]
fn the_archive_reader_survives_corrupt_archives() {
    let dir = data_common::temp_dir("fuzz-tar");
    let labels: Vec<u8> = (0..40).map(|i| (i * 2) as u8).collect();
    let folder = data_common::write_cifar100(&dir.join("src"), &labels, &labels[..10]);
    let path = dir.join("cifar-100-binary.tar.gz");
    data_common::tar_gz(&folder, &path);
    let valid_gz = std::fs::read(&path).unwrap();
    let original = Cifar::load_archive(DatasetKind::Cifar100, &path).unwrap();
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&valid_gz[..]), &mut tar).unwrap();
    // Offsets of the tar headers: every 512-byte block that carries the `ustar` magic.
    let headers: Vec<usize> = (0..tar.len())
        .step_by(512)
        .filter(|&i| tar[i + 257..i + 262] == *b"ustar")
        .collect();
    assert!(headers.len() >= 5, "{} tar headers", headers.len());

    let mut rng = Rng(3);
    let (mut loaded, mut refused) = (0, 0);
    for case in 0..600 {
        let outcome = if case % 2 == 0 {
            // The compressed stream: gzip's CRC and length cover every byte it decompresses
            // to, so what loads must be the original.
            let result = load_archive(&path, &mutate_gz(&mut rng, &valid_gz));
            if let Ok(c) = &result {
                assert!(
                    same_dataset(c, &original),
                    "case {case}: a damaged gzip stream loaded with other content"
                );
            }
            result
        } else {
            // The tar inside, recompressed: sizes, checksums, names and data of members.
            let mut t = tar.clone();
            let h = headers[rng.below(headers.len())];
            match rng.below(4) {
                0 => {
                    // The 12-byte octal size field, to a near or an arbitrary value.
                    let field: Vec<u8> = match rng.below(3) {
                        0 => format!("{:011o}\0", rng.below(1 << 20)).into_bytes(),
                        1 => format!("{:011o}\0", rng.next() & 0o77777777777).into_bytes(),
                        _ => (0..12).map(|_| rng.next() as u8).collect(),
                    };
                    t[h + 124..h + 136].copy_from_slice(&field);
                    // Half the time with a matching header checksum, so tar reads on.
                    if rng.below(2) == 0 {
                        let mut header = tar::Header::new_old();
                        header.as_mut_bytes().copy_from_slice(&t[h..h + 512]);
                        header.set_cksum();
                        t[h..h + 512].copy_from_slice(header.as_bytes());
                    }
                }
                1 => t.truncate(rng.below(t.len())),
                2 => {
                    for _ in 0..1 + rng.below(8) {
                        let i = h + rng.below(512);
                        t[i] ^= 1 << rng.below(8);
                    }
                }
                _ => {
                    let i = rng.below(t.len());
                    t[i] = rng.next() as u8;
                }
            }
            load_archive(&path, &gzip(&t))
        };
        match outcome {
            Ok(c) => {
                assert!(consistent(&c), "case {case}: inconsistent dataset loaded");
                loaded += 1;
            }
            Err(e) => {
                assert!(
                    e.contains(path.to_str().unwrap()),
                    "case {case}: the error does not name the archive: {e}"
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 300, "{loaded} loaded, {refused} refused");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One random corruption of a gzip stream: truncated, bits flipped anywhere (header, deflate
/// data, CRC, length), garbage spliced in.
fn mutate_gz(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(valid.len())),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // The trailer: CRC-32 and length.
            let i = b.len() - 1 - rng.below(8);
            b[i] ^= 1 << rng.below(8);
        }
        _ => {
            let at = rng.below(b.len());
            let garbage: Vec<u8> = (0..1 + rng.below(40)).map(|_| rng.next() as u8).collect();
            b.splice(at..at, garbage);
        }
    }
    b
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
