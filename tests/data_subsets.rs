//! Long-tailed subsets on the real data: exact reproduction of the reference index lists and the
//! paper's counts. Needs `PURENOISE_DATA_DIR`.

mod data_common;

use std::fs;
use std::path::Path;

use purenoise::data::cifar::{Cifar, DatasetKind};
use purenoise::data::cli::{run, DatasetCommand, StatsArgs, SubsetArgs};
use purenoise::data::stats::{subset_stats, Group};
use purenoise::data::subset::{class_counts, select_long_tailed};

fn reference(name: &str) -> Vec<usize> {
    let p = data_common::real_data_dir()
        .join("reference-subsets")
        .join(name);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn subset_args(kind: DatasetKind, dir: &Path, imbalance: Option<f64>) -> SubsetArgs {
    SubsetArgs {
        dataset: kind,
        data_dir: Some(dir.to_path_buf()),
        imbalance,
        subset_seed: 0,
        subset_indices: None,
        max_class_size: None,
    }
}

#[test]
fn cifar10_reference_subsets_stats_and_indices_file() {
    let dir = data_common::real_data_dir();
    let cifar = Cifar::load(DatasetKind::Cifar10, &dir).unwrap();
    assert_eq!(cifar.train.len(), 50_000);
    assert_eq!(cifar.test.len(), 10_000);
    assert_eq!(cifar.class_names[0], "airplane");
    assert_eq!(cifar.class_names[9], "truck");
    assert_eq!(class_counts(&cifar.test.labels, 10), vec![1000; 10]);
    // data_batch_1's class-0 count from the datasets README.
    assert_eq!(
        cifar.train.labels[..10_000]
            .iter()
            .filter(|&&l| l == 0)
            .count(),
        1005
    );

    for (r, file, total) in [
        (100.0, "cifar10-lt-ir100.txt", 12_406),
        (50.0, "cifar10-lt-ir50.txt", 13_996),
    ] {
        let got = select_long_tailed(&cifar.train.labels, &cifar.class_names, r, None, 0, "train")
            .unwrap();
        assert_eq!(got.len(), total);
        assert_eq!(got, reference(file), "R={r} differs from {file}");
    }

    // What `dataset stats --dataset cifar10 --imbalance 100` reports.
    let args = subset_args(DatasetKind::Cifar10, &dir, Some(100.0));
    let subset = args.select(&cifar).unwrap();
    assert!(subset.note.is_none());
    let s = subset_stats(&cifar.train, &subset.indices, &cifar.class_names);
    assert_eq!(
        s.counts,
        [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    );
    assert_eq!(s.total, 12_406);
    assert_eq!(
        s.many,
        Group {
            classes: 8,
            images: 12_273
        }
    );
    assert_eq!(
        s.medium,
        Group {
            classes: 2,
            images: 133
        }
    );
    assert_eq!(s.few, Group::default());
    assert!((s.imbalance_ratio - 100.0).abs() < 1e-12);
    // The full set's well-known statistics, as a sanity check on the subset's values.
    let full: Vec<usize> = (0..50_000).collect();
    let f = subset_stats(&cifar.train, &full, &cifar.class_names);
    for (got, want) in f.mean.iter().zip([0.4914, 0.4822, 0.4465]) {
        assert!((got - want).abs() < 1e-4, "mean {got} vs {want}");
    }
    for (got, want) in f.std.iter().zip([0.2470, 0.2435, 0.2616]) {
        assert!((got - want).abs() < 1e-4, "std {got} vs {want}");
    }

    // `--indices FILE` writes the chosen indices, one per line.
    let tmp = data_common::temp_dir("stats-indices");
    let out = tmp.join("idx.txt");
    run(DatasetCommand::Stats(StatsArgs {
        subset: args,
        json: true,
        indices: Some(out.clone()),
    }))
    .unwrap();
    let written: Vec<usize> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(written, reference("cifar10-lt-ir100.txt"));

    // ... and `--subset-indices FILE` reads them back.
    let mut from_file = subset_args(DatasetKind::Cifar10, &dir, None);
    from_file.subset_indices = Some(out);
    assert_eq!(from_file.select(&cifar).unwrap().indices, written);
    let _ = fs::remove_dir_all(tmp);
}

#[test]
fn cifar100_reference_subsets_from_official_fine_labels() {
    let p = data_common::real_data_dir()
        .join("reference-subsets")
        .join("cifar100-train-fine-labels.bin");
    let labels: Vec<u32> = fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .into_iter()
        .map(u32::from)
        .collect();
    assert_eq!(labels.len(), 50_000);
    let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
    for (r, file, total) in [
        (100.0, "cifar100-lt-ir100.txt", 10_847),
        (50.0, "cifar100-lt-ir50.txt", 12_608),
    ] {
        let got = select_long_tailed(&labels, &names, r, None, 0, "fine labels").unwrap();
        assert_eq!(got.len(), total);
        assert_eq!(got, reference(file), "R={r} differs from {file}");
    }
}

#[test]
fn max_class_size_scales_the_long_tail_down() {
    let labels: Vec<u32> = (0..1000).map(|i| i % 10).collect();
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let got = select_long_tailed(&labels, &names, 10.0, Some(50), 0, "synthetic").unwrap();
    let counts = class_counts(&got.iter().map(|&i| labels[i]).collect::<Vec<_>>(), 10);
    // n_i = floor(50 * (1/10)^(i/9))
    assert_eq!(counts, [50, 38, 29, 23, 17, 13, 10, 8, 6, 5]);
    // Each class keeps a prefix of the same shuffled order as the uncapped selection.
    let full = select_long_tailed(&labels, &names, 10.0, None, 0, "synthetic").unwrap();
    assert_eq!(got[..50], full[..50]);
    let msg = select_long_tailed(&labels, &names, 10.0, Some(0), 0, "synthetic")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--max-class-size"), "{msg}");
}

#[test]
fn cifar100_shipped_long_tailed_train_file() {
    let dir = data_common::real_data_dir();
    let cifar = Cifar::load(DatasetKind::Cifar100, &dir).unwrap();
    assert_eq!(cifar.train.len(), 12_608);
    assert_eq!(cifar.test.len(), 10_000);
    assert_eq!(cifar.class_names.len(), 100);
    assert_eq!(cifar.coarse_names.as_ref().unwrap().len(), 20);
    let counts = class_counts(&cifar.train.labels, 100);
    assert_eq!(&counts[..5], &[500, 480, 462, 444, 426]);
    assert_eq!(&counts[95..], &[11, 11, 10, 10, 10]);
    let coarse = class_counts(cifar.train.coarse_labels.as_ref().unwrap(), 20);
    assert_eq!(&coarse[..4], &[674, 696, 165, 1160]);

    // R ≥ 50 works from the pre-subsampled file (with a note that it is not the reference draw).
    let sub = subset_args(DatasetKind::Cifar100, &dir, Some(100.0))
        .select(&cifar)
        .unwrap();
    assert_eq!(sub.indices.len(), 10_847);
    assert!(sub.note.unwrap().contains("already imbalanced"));
    // R < 50 asks for more images than the file holds: a clear error naming the flag.
    let err = subset_args(DatasetKind::Cifar100, &dir, Some(10.0))
        .select(&cifar)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--imbalance:") && err.contains("class 1") && err.contains("480"),
        "{err}"
    );
}
