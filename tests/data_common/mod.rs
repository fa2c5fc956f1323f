//! Shared helpers of the tests in tests/: temporary folders and their listings, synthetic files in
//! the official CIFAR binary formats, and the real-data folder from `PURENOISE_DATA_DIR`.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::fs;
use std::path::{Path, PathBuf};

/// The real dataset folder. Tests that need it fail (not skip) when it is not configured.
pub fn real_data_dir() -> PathBuf {
    let dir = std::env::var_os("PURENOISE_DATA_DIR").unwrap_or_else(|| {
        panic!(
            "PURENOISE_DATA_DIR is not set: point it at the shared datasets folder \
             (e.g. PURENOISE_DATA_DIR=../shared/datasets) to run the real-data tests"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "PURENOISE_DATA_DIR={} is not a folder",
        dir.display()
    );
    dir
}

/// The names in a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A fresh, empty temporary folder unique to this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("purenoise-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic pixel bytes of synthetic record `i`.
pub fn pixels(i: usize) -> Vec<u8> {
    (0..3072).map(|p| ((p * 7 + i * 13) % 251) as u8).collect()
}

pub fn cifar10_file(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * 3073);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend(pixels(i));
    }
    out
}

pub fn cifar100_file(fine: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fine.len() * 3074);
    for (i, &l) in fine.iter().enumerate() {
        out.push(l / 5);
        out.push(l);
        out.extend(pixels(i));
    }
    out
}

fn names(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("{prefix}{i}\n")).collect()
}

/// Writes a complete synthetic CIFAR-100 folder `<root>/cifar-100-binary/` with the given
/// fine labels for train and test.
pub fn write_cifar100(root: &Path, train: &[u8], test: &[u8]) -> PathBuf {
    let d = root.join("cifar-100-binary");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("train.bin"), cifar100_file(train)).unwrap();
    fs::write(d.join("test.bin"), cifar100_file(test)).unwrap();
    fs::write(d.join("fine_label_names.txt"), names("fine", 100)).unwrap();
    fs::write(d.join("coarse_label_names.txt"), names("coarse", 20)).unwrap();
    d
}

/// Writes a complete synthetic CIFAR-10 folder `<root>/cifar-10-batches-bin/` (the format fixes
/// 10,000 records per file); label of record i of batch b is (i + b) % 10.
pub fn write_cifar10(root: &Path) -> PathBuf {
    let d = root.join("cifar-10-batches-bin");
    fs::create_dir_all(&d).unwrap();
    for b in 0..6 {
        let labels: Vec<u8> = (0..10_000).map(|i| ((i + b) % 10) as u8).collect();
        let name = if b < 5 {
            format!("data_batch_{}.bin", b + 1)
        } else {
            "test_batch.bin".to_string()
        };
        fs::write(d.join(name), cifar10_file(&labels)).unwrap();
    }
    fs::write(
        d.join("batches.meta.txt"),
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
    )
    .unwrap();
    d
}

/// Packs `dir` (as its own top-level folder) into a `.tar.gz` at `out`.
pub fn tar_gz(dir: &Path, out: &Path) {
    let f = fs::File::create(out).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    t.append_dir_all(dir.file_name().unwrap(), dir).unwrap();
    t.into_inner().unwrap().finish().unwrap();
}

/// A spawned `purenoise` with the untuned convolution kernels and a tuning cache of its own:
/// tuning has its own tests (tests/tune.rs), and a test never touches the user's cache.
pub fn untuned(c: &mut std::process::Command) -> &mut std::process::Command {
    c.env("RUST_BACKTRACE", "1")
        .env("PURENOISE_TUNE", "off")
        .env(
            "PURENOISE_CACHE_DIR",
            std::env::temp_dir().join(format!("purenoise-test-cache-{}", std::process::id())),
        )
}

/// Makes a named pipe at `path`: opening it for reading blocks until a writer comes.
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(
        unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// Runs `f` on a thread and waits at most `secs` for it: a reader that blocks (on a FIFO, say)
/// fails the test instead of hanging it.
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what} did not finish within {secs} s"))
}

/// A temporary folder `<prefix>` holding `subset.txt`, a 24-image `--subset-indices` list of
/// the real CIFAR-10 training set (8 images of each of classes 2, 3, 4: 3 steps of 8 per
/// epoch); returns (folder, list).
pub fn tiny_subset(prefix: &str) -> (PathBuf, PathBuf) {
    use purenoise::data::cifar::{Cifar, DatasetKind};
    let dir = temp_dir(prefix);
    let cifar = Cifar::load(DatasetKind::Cifar10, &real_data_dir()).unwrap();
    let mut lines = Vec::new();
    for c in [2u32, 3, 4] {
        lines.extend(
            (0..cifar.train.len())
                .filter(|&i| cifar.train.labels[i] == c)
                .take(8)
                .map(|i| i.to_string()),
        );
    }
    let indices = dir.join("subset.txt");
    fs::write(&indices, lines.join("\n")).unwrap();
    (dir, indices)
}

/// Runs the purenoise binary (untuned), asserting it did not panic: a user-facing error is a
/// message, never a backtrace.
#[allow(dead_code)] // Not every test binary that includes this module runs the binary.
pub fn run_purenoise(args: &[String]) -> std::process::Output {
    let out = untuned(std::process::Command::new(env!("CARGO_BIN_EXE_purenoise")).args(args))
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{args:?} panicked:\n{err}"
    );
    out
}

/// [`run_purenoise`], asserting it succeeded; returns what it printed to stderr.
#[allow(dead_code)]
pub fn succeeds(args: &[String]) -> String {
    let out = run_purenoise(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed:\n{err}");
    err
}

/// `command` of resnet-8 on the real data's `indices` subset, never downloading, then `rest`.
fn resnet8_on_subset(command: &str, indices: &Path, rest: &[&str]) -> Vec<String> {
    let data_dir = real_data_dir();
    let head = [
        command,
        "--model",
        "resnet-8",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--no-download",
        "--subset-indices",
        indices.to_str().unwrap(),
    ];
    head.iter().chain(rest).map(|s| s.to_string()).collect()
}

/// `dump-step` of resnet-8 on a subset list (batch 8) into `output`, then `extra`.
#[allow(dead_code)] // Not every test binary that includes this module dumps a step.
pub fn dump_step_flags(indices: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut flags = resnet8_on_subset(
        "dump-step",
        indices,
        &["-b", "8", "-o", output.to_str().unwrap()],
    );
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

/// `train` of resnet-8 on a [`tiny_subset`] list into `out` (batch 8, no augmentation, no
/// warm-up, 16 test images), then `extra`, then each of `defaults` (flag, value) that `extra`
/// does not give.
pub fn tiny_train_flags(
    indices: &Path,
    out: &Path,
    extra: &[&str],
    defaults: &[(&str, &str)],
) -> Vec<String> {
    let mut flags = resnet8_on_subset(
        "train",
        indices,
        &[
            "--augment",
            "none",
            "--batch-size",
            "8",
            "--warmup-epochs",
            "0",
            "--eval-limit",
            "16",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    flags.extend(extra.iter().map(|s| s.to_string()));
    for (flag, value) in defaults {
        if !extra.contains(flag) {
            flags.extend([flag.to_string(), value.to_string()]);
        }
    }
    flags
}

/// A run folder's metrics.jsonl, a value per epoch line.
pub fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// [`metrics`] without the wall-clock fields, which differ between equal runs.
pub fn timeless_metrics(dir: &Path) -> Vec<serde_json::Value> {
    let mut lines = metrics(dir);
    for line in &mut lines {
        let fields = line.as_object_mut().unwrap();
        fields.remove("seconds");
        fields.remove("images_per_s");
    }
    lines
}
