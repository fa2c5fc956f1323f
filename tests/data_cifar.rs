//! Loaders on synthetic files in the official formats, including every kind of bad input.

mod data_common;

use std::fs;

use data_common::{cifar100_file, pixels, tar_gz, temp_dir, write_cifar10, write_cifar100};
use purenoise::data::cifar::{Cifar, DatasetKind};

fn fine_labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 100) as u8).collect()
}

#[test]
fn cifar100_from_folder_and_from_tar_gz_agree() {
    let root = temp_dir("c100-load");
    let dir = write_cifar100(&root, &fine_labels(250), &fine_labels(120));
    let from_dir = Cifar::load(DatasetKind::Cifar100, &root).unwrap();
    assert_eq!(from_dir.train.len(), 250);
    assert_eq!(from_dir.test.len(), 120);
    assert_eq!(from_dir.train.labels[101], 1);
    assert_eq!(from_dir.train.coarse_labels.as_ref().unwrap()[99], 19);
    assert_eq!(from_dir.train.image(7), pixels(7).as_slice());
    assert_eq!(from_dir.class_names[3], "fine3");
    assert_eq!(from_dir.coarse_names.as_ref().unwrap()[19], "coarse19");

    // Pointing straight at the extracted folder works too.
    let direct = Cifar::load(DatasetKind::Cifar100, &dir).unwrap();
    assert_eq!(direct.train.labels, from_dir.train.labels);

    let tar_root = temp_dir("c100-tar");
    tar_gz(&dir, &tar_root.join("cifar-100-binary.tar.gz"));
    let from_tar = Cifar::load(DatasetKind::Cifar100, &tar_root).unwrap();
    assert_eq!(from_tar.train.images, from_dir.train.images);
    assert_eq!(from_tar.test.labels, from_dir.test.labels);
    assert_eq!(from_tar.train.coarse_labels, from_dir.train.coarse_labels);
    assert_eq!(from_tar.class_names, from_dir.class_names);
    // Reading an archive writes nothing into the data folder.
    assert_eq!(fs::read_dir(&tar_root).unwrap().count(), 1);

    // Members stored as `./cifar-100-binary/...` are found too.
    let dot_root = temp_dir("c100-dot-tar");
    let f = fs::File::create(dot_root.join("cifar-100-binary.tar.gz")).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let data = fs::read(e.path()).unwrap();
        // The tar crate strips `./` in set_path, so write the raw name bytes.
        let name = format!("./cifar-100-binary/{}", e.file_name().to_str().unwrap());
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append(&h, data.as_slice()).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
    let from_dot = Cifar::load(DatasetKind::Cifar100, &dot_root).unwrap();
    assert_eq!(from_dot.train.labels, from_dir.train.labels);
    let _ = fs::remove_dir_all(dot_root);
    let _ = fs::remove_dir_all(root);
    let _ = fs::remove_dir_all(tar_root);
}

#[test]
fn cifar10_folder_concatenates_batches_in_order() {
    let root = temp_dir("c10-load");
    write_cifar10(&root);
    let c = Cifar::load(DatasetKind::Cifar10, &root).unwrap();
    assert_eq!(c.train.len(), 50_000);
    assert_eq!(c.test.len(), 10_000);
    // Record i of batch b has label (i + b) % 10: index 10_000 is batch 2's record 0.
    assert_eq!(c.train.labels[10_000], 1);
    assert_eq!(c.train.labels[49_999], (9_999 + 4) % 10);
    assert_eq!(c.train.image(10_003), pixels(3).as_slice());
    assert_eq!(c.class_names.len(), 10);
    assert_eq!(c.class_names[9], "truck");

    // A truncated batch: error names the file and the expected size.
    let batch = root.join("cifar-10-batches-bin/data_batch_3.bin");
    let bytes = fs::read(&batch).unwrap();
    fs::write(&batch, &bytes[..bytes.len() - 100]).unwrap();
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("3073-byte"),
        "{e}"
    );
    // Whole records but too few of them.
    fs::write(&batch, &bytes[..3073 * 9_999]).unwrap();
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("holds 9999 records"),
        "{e}"
    );
    // A label out of range.
    let mut bad = bytes.clone();
    bad[3073 * 5] = 10;
    fs::write(&batch, &bad).unwrap();
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("record 5: label 10 is out of range 0..=9"),
        "{e}"
    );
    // A missing member.
    fs::remove_file(&batch).unwrap();
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read") && e.contains("data_batch_3.bin"),
        "{e}"
    );
    let _ = fs::remove_dir_all(root);
}

#[test]
fn bad_cifar100_inputs_are_clear_errors() {
    let root = temp_dir("c100-bad");
    let dir = write_cifar100(&root, &fine_labels(30), &fine_labels(10));
    let mut train = cifar100_file(&fine_labels(30));
    train[3074 * 2 + 1] = 100;
    fs::write(dir.join("train.bin"), &train).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.bin") && e.contains("record 2: label 100 is out of range 0..=99"),
        "{e}"
    );
    train[3074 * 2 + 1] = 5;
    train[3074 * 3] = 20;
    fs::write(dir.join("train.bin"), &train).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .unwrap_err()
        .to_string();
    assert!(e.contains("record 3: coarse label 20"), "{e}");
    fs::write(dir.join("train.bin"), cifar100_file(&fine_labels(30))).unwrap();
    fs::write(dir.join("fine_label_names.txt"), "a\nb\n").unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fine_label_names.txt") && e.contains("expected 100 class names"),
        "{e}"
    );
    let _ = fs::remove_dir_all(root);
}

#[test]
fn missing_folder_wrong_tarball_and_corrupt_archive() {
    let nowhere = std::env::temp_dir().join("purenoise-does-not-exist-42");
    let e = Cifar::load(DatasetKind::Cifar10, &nowhere)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("purenoise-does-not-exist-42") && e.contains("does not exist"),
        "{e}"
    );

    let empty = temp_dir("empty-data");
    let e = Cifar::load(DatasetKind::Cifar10, &empty)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cifar-10-batches-bin/") && e.contains("cifar-10-binary.tar.gz"),
        "{e}"
    );

    // A CIFAR-100 archive under the CIFAR-10 name.
    let src = temp_dir("wrong-src");
    let dir = write_cifar100(&src, &fine_labels(10), &fine_labels(10));
    let root = temp_dir("wrong-tar");
    let archive = root.join("cifar-10-binary.tar.gz");
    tar_gz(&dir, &archive);
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cifar-10-binary.tar.gz")
            && e.contains("cifar-100-binary")
            && e.contains("another dataset"),
        "{e}"
    );

    // Truncated gzip stream.
    let bytes = fs::read(&archive).unwrap();
    fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let e = Cifar::load(DatasetKind::Cifar10, &root)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cifar-10-binary.tar.gz"), "{e}");
    for d in [empty, src, root] {
        let _ = fs::remove_dir_all(d);
    }
}

/// `bytes` gunzipped, for rebuilding archives with other tar fields.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzip_trailer_that_does_not_match_is_refused() {
    let src = temp_dir("crc-src");
    let dir = write_cifar100(&src, &fine_labels(30), &fine_labels(10));
    let root = temp_dir("crc");
    let archive = root.join("cifar-100-binary.tar.gz");
    tar_gz(&dir, &archive);
    let good = fs::read(&archive).unwrap();
    Cifar::load(DatasetKind::Cifar100, &root).unwrap();
    // The trailer: CRC-32 of the data (8 to 5 bytes from the end), then its length. Every tar
    // member reads fine either way; only draining the stream to its end checks them.
    for at in [good.len() - 8, good.len() - 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs::write(&archive, &bad).unwrap();
        let e = Cifar::load(DatasetKind::Cifar100, &root)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&archive.display().to_string())
                && e.contains("not a readable .tar.gz")
                && e.contains("does not have a matching checksum"),
            "{e}"
        );
    }
    // The trailer cut off.
    fs::write(&archive, &good[..good.len() - 8]).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a readable .tar.gz"), "{e}");
    for d in [src, root] {
        let _ = fs::remove_dir_all(d);
    }
}

#[test]
fn implausible_sizes_are_refused_before_allocating() {
    let root = temp_dir("sizes");
    let dir = write_cifar100(&root, &fine_labels(30), &fine_labels(10));
    // A train.bin of 8 GB (sparse: no disk used): refused by its size, not read.
    let train = dir.join("train.bin");
    fs::File::options()
        .write(true)
        .open(&train)
        .unwrap()
        .set_len(8_000_000_000)
        .unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&train.display().to_string())
            && e.contains("8000000000 bytes")
            && e.contains("more than a CIFAR-100 data file can be"),
        "{e}"
    );
    fs::write(&train, cifar100_file(&fine_labels(30))).unwrap();
    fs::write(dir.join("fine_label_names.txt"), vec![b'a'; 100 << 10]).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than a label-name file can be"), "{e}");
    fs::write(
        dir.join("fine_label_names.txt"),
        (0..100).map(|i| format!("fine{i}\n")).collect::<String>(),
    )
    .unwrap();

    // A tar entry that declares 8 GB for train.bin (with no data behind it): refused by the
    // declared size before a buffer is sized from it.
    let mut header = tar::Header::new_gnu();
    header.set_path("cifar-100-binary/train.bin").unwrap();
    header.set_size(8_000_000_000);
    header.set_mode(0o644);
    header.set_cksum();
    let mut tar_bytes = header.as_bytes().to_vec();
    tar_bytes.extend(vec![0u8; 1024]);
    let tar_root = temp_dir("sizes-tar");
    let archive = tar_root.join("cifar-100-binary.tar.gz");
    fs::write(&archive, gzip(&tar_bytes)).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &tar_root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("member cifar-100-binary/train.bin declares 8000000000 bytes")
            && e.contains("more than a CIFAR-100 data file can be"),
        "{e}"
    );
    // A real archive with its train.bin's declared size doubled (header checksum fixed).
    tar_gz(&dir, &archive);
    let mut t = gunzip(&fs::read(&archive).unwrap());
    let at = (0..t.len())
        .step_by(512)
        .find(|&i| t[i..i + 100].starts_with(b"cifar-100-binary/train.bin"))
        .unwrap();
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&t[at..at + 512]);
    h.set_size(2 * 30 * 3074);
    h.set_cksum();
    t[at..at + 512].copy_from_slice(h.as_bytes());
    fs::write(&archive, gzip(&t)).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &tar_root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&archive.display().to_string()), "{e}");
    for d in [root, tar_root] {
        let _ = fs::remove_dir_all(d);
    }
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let root = temp_dir("fifo-data");
    let dir = write_cifar100(&root, &fine_labels(30), &fine_labels(10));
    let train = dir.join("train.bin");
    fs::remove_file(&train).unwrap();
    data_common::mkfifo(&train);
    let r = root.clone();
    let e = data_common::within(10, "loading a FIFO member", move || {
        Cifar::load(DatasetKind::Cifar100, &r).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&train.display().to_string()) && e.contains("named pipe (FIFO)"),
        "{e}"
    );
    // A device under a member's name: /dev/zero never ends.
    fs::remove_file(&train).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &train).unwrap();
    let e = Cifar::load(DatasetKind::Cifar100, &root)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("character device"), "{e}");

    // A FIFO under the archive's name is refused by name, not passed over.
    let tar_root = temp_dir("fifo-tar");
    let archive = tar_root.join("cifar-100-binary.tar.gz");
    data_common::mkfifo(&archive);
    let t = tar_root.clone();
    let e = data_common::within(10, "loading a FIFO archive", move || {
        Cifar::load(DatasetKind::Cifar100, &t).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&archive.display().to_string()) && e.contains("named pipe (FIFO)"),
        "{e}"
    );
    for d in [root, tar_root] {
        let _ = fs::remove_dir_all(d);
    }
}
