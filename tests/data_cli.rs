//! The clap definitions (as the main binary will nest them) and the training-side builder.

mod data_common;

use std::fs;

use clap::{CommandFactory, Parser, Subcommand};
use data_common::{temp_dir, write_cifar100};
use purenoise::data::augment::AugmentLevel;
use purenoise::data::cifar::{Cifar, DatasetKind};
use purenoise::data::cli::{run, DataArgs, DatasetCommand};
use purenoise::data::sampler::SamplerKind;
use purenoise::data::subset::class_counts;
use purenoise::data::BenchDataArgs;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Subcommand)]
enum Top {
    Dataset {
        #[command(subcommand)]
        cmd: DatasetCommand,
    },
    Train(DataArgs),
    Bench(BenchDataArgs),
}

fn parse(args: &[&str]) -> Result<Top, clap::Error> {
    Cli::try_parse_from(std::iter::once("purenoise").chain(args.iter().copied())).map(|c| c.cmd)
}

#[test]
fn definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn dataset_commands_parse() {
    let Top::Dataset {
        cmd: DatasetCommand::Stats(s),
    } = parse(&[
        "dataset",
        "stats",
        "--dataset",
        "cifar100",
        "--imbalance",
        "100",
        "--json",
        "--indices",
        "out.txt",
    ])
    .unwrap()
    else {
        panic!("not stats")
    };
    assert_eq!(s.subset.dataset, DatasetKind::Cifar100);
    assert_eq!(s.subset.imbalance, Some(100.0));
    assert_eq!(s.subset.subset_seed, 0);
    assert!(s.json);
    assert_eq!(s.indices.unwrap().to_str(), Some("out.txt"));

    let Top::Dataset {
        cmd: DatasetCommand::Fetch(f),
    } = parse(&["dataset", "fetch", "cifar10", "--mirror", "http://m/"]).unwrap()
    else {
        panic!("not fetch")
    };
    assert_eq!(f.dataset, DatasetKind::Cifar10);
    assert_eq!(f.mirror.as_deref(), Some("http://m/"));

    let e = parse(&[
        "dataset",
        "stats",
        "--imbalance",
        "10",
        "--subset-indices",
        "f",
    ])
    .err()
    .unwrap();
    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    assert!(parse(&["dataset", "fetch", "mnist"]).is_err());
}

#[test]
fn train_flags_build_a_pipeline() {
    let root = temp_dir("cli-build");
    let labels: Vec<u8> = (0..3000).map(|i| (i % 100) as u8).collect();
    write_cifar100(&root, &labels, &labels[..200]);
    let dir = root.to_str().unwrap();
    let Top::Train(args) = parse(&[
        "train",
        "--dataset",
        "cifar100",
        "--data-dir",
        dir,
        "--imbalance",
        "3",
        "--subset-seed",
        "7",
        "--sampler",
        "drs",
        "--defer-epoch",
        "10",
        "--augment",
        "basic",
        "--blur-sigma",
        "0.2,1.5",
        "--norm-mean",
        "0.5,0.5,0.5",
    ])
    .unwrap() else {
        panic!("not train")
    };
    assert_eq!(args.sampler.sampler, SamplerKind::Drs);
    assert_eq!(args.augment.augment, AugmentLevel::Basic);
    let p = args.build(64, 1).unwrap();
    // 30 per class, R = 3: class c keeps ⌊30 · 3^(−c/99)⌋ → 30 … 10.
    let cifar = Cifar::load(DatasetKind::Cifar100, &root).unwrap();
    let sub_labels: Vec<u32> = p
        .subset
        .indices
        .iter()
        .map(|&i| cifar.train.labels[i])
        .collect();
    let counts = class_counts(&sub_labels, 100);
    assert_eq!((counts[0], counts[99]), (30, 10));
    assert_eq!(p.mean, [0.5; 3]);
    assert_eq!(p.std, DatasetKind::Cifar100.standard_mean_std().1);
    let n: usize = p.loader.epoch(0).map(|b| b.len()).sum();
    assert_eq!(n, p.subset.indices.len());

    // A different --subset-seed picks other images with the same counts.
    let mut other = args.clone();
    other.subset.subset_seed = 8;
    let q = other.subset.select(&cifar).unwrap();
    assert_eq!(q.indices.len(), p.subset.indices.len());
    assert_ne!(q.indices, p.subset.indices);

    // Bad values name their flag.
    let mut bad = args.clone();
    bad.augment.flip_p = 2.0;
    let e = bad.build(64, 1).err().unwrap().to_string();
    assert!(e.starts_with("--flip-p:"), "{e}");
    let mut bad = args.clone();
    bad.subset.imbalance = Some(0.9);
    let e = bad.build(64, 1).err().unwrap().to_string();
    assert!(e.starts_with("--imbalance:"), "{e}");
    let mut bad = args.clone();
    bad.augment.norm_mean = Some(vec![0.5, 0.5]);
    let e = bad.build(64, 1).err().unwrap().to_string();
    assert!(
        e.starts_with("--norm-mean:") && e.contains("3 values"),
        "{e}"
    );
    let _ = fs::remove_dir_all(root);
}

/// `dataset stats --indices FILE` writes the chosen indices and replaces an earlier list, but
/// never a file that is not one.
#[test]
fn stats_writes_an_index_list_and_replaces_only_an_index_list() {
    let root = temp_dir("cli-stats-indices");
    let labels: Vec<u8> = (0..3000).map(|i| (i % 100) as u8).collect();
    write_cifar100(&root, &labels, &labels[..200]);
    let list = root.join("chosen.txt");
    let stats = |imbalance: &str| {
        let Top::Dataset { cmd } = parse(&[
            "dataset",
            "stats",
            "--dataset",
            "cifar100",
            "--data-dir",
            root.to_str().unwrap(),
            "--imbalance",
            imbalance,
            "--indices",
            list.to_str().unwrap(),
        ])
        .unwrap() else {
            panic!("not dataset")
        };
        run(cmd)
    };
    stats("3").unwrap();
    let first = fs::read_to_string(&list).unwrap();
    stats("10").unwrap();
    let second = fs::read_to_string(&list).unwrap();
    assert!(second.lines().count() < first.lines().count());

    fs::write(&list, "# my notes\n").unwrap();
    let e = stats("3").unwrap_err().to_string();
    assert!(
        e.starts_with("--indices:")
            && e.contains(list.to_str().unwrap())
            && e.contains("not an index list"),
        "{e}"
    );
    assert_eq!(fs::read_to_string(&list).unwrap(), "# my notes\n");
    let _ = fs::remove_dir_all(root);
}
