//! CIFAR-10/100 in the official binary formats, read from an extracted folder or straight from
//! the `.tar.gz`.
//!
//! Record layouts: CIFAR-10 is 1 label byte and 3072 pixel bytes; CIFAR-100 is 1 coarse-label
//! byte, 1 fine-label byte and 3072 pixel bytes. Pixels are planar: 1024 R, 1024 G, 1024 B, each
//! plane 32×32 row-major, which is already the NCHW order the trainer wants.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{DataError, Result};

pub const SIDE: usize = 32;
pub const PLANE: usize = SIDE * SIDE;
pub const IMAGE_BYTES: usize = 3 * PLANE;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Cifar10,
    Cifar100,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }

    pub fn num_classes(self) -> usize {
        match self {
            DatasetKind::Cifar10 => 10,
            DatasetKind::Cifar100 => 100,
        }
    }

    /// Folder the official archive extracts to.
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar-10-batches-bin",
            DatasetKind::Cifar100 => "cifar-100-binary",
        }
    }

    /// Archive names looked for in the data folder, official name first. The second CIFAR-100
    /// name is the long-tailed rebuild shipped in `shared/datasets` (same layout inside).
    pub fn archive_names(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Cifar10 => &["cifar-10-binary.tar.gz"],
            DatasetKind::Cifar100 => &["cifar-100-binary.tar.gz", "cifar-100-lt-binary.tar.gz"],
        }
    }

    /// The most bytes member `name` can hold, and what it is, for messages: a CIFAR-10 batch is
    /// 10,000 records, a CIFAR-100 data file at most the dataset's 60,000 images, a label-name
    /// file a few hundred bytes (64 KiB allows for long names).
    pub fn member_limit(self, name: &str) -> (u64, &'static str) {
        if self.name_files().contains(&name) {
            return (64 << 10, "a label-name file");
        }
        match self {
            DatasetKind::Cifar10 => (10_000 * self.record_bytes() as u64, "a CIFAR-10 batch file"),
            DatasetKind::Cifar100 => (60_000 * self.record_bytes() as u64, "a CIFAR-100 data file"),
        }
    }

    fn record_bytes(self) -> usize {
        match self {
            DatasetKind::Cifar10 => 1 + IMAGE_BYTES,
            DatasetKind::Cifar100 => 2 + IMAGE_BYTES,
        }
    }

    fn train_files(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Cifar10 => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            DatasetKind::Cifar100 => &["train.bin"],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "test_batch.bin",
            DatasetKind::Cifar100 => "test.bin",
        }
    }

    fn name_files(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Cifar10 => &["batches.meta.txt"],
            DatasetKind::Cifar100 => &["fine_label_names.txt", "coarse_label_names.txt"],
        }
    }

    /// Every member a complete extracted dataset must have.
    pub fn members(self) -> Vec<&'static str> {
        let mut m: Vec<&'static str> = self.train_files().to_vec();
        m.push(self.test_file());
        m.extend_from_slice(self.name_files());
        m
    }

    /// The per-channel normalisation constants the reference code uses for this dataset.
    pub fn standard_mean_std(self) -> ([f32; 3], [f32; 3]) {
        match self {
            DatasetKind::Cifar10 => ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]),
            DatasetKind::Cifar100 => ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]),
        }
    }
}

/// One split: `images` holds `labels.len()` images of `IMAGE_BYTES` planar RGB bytes each.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    /// CIFAR-100 only: the 20 super-class labels.
    pub coarse_labels: Option<Vec<u32>>,
    /// Where the records came from (file or `archive!member`), for messages.
    pub source: String,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }
}

#[derive(Clone, Debug)]
pub struct Cifar {
    pub kind: DatasetKind,
    pub class_names: Vec<String>,
    /// CIFAR-100 only.
    pub coarse_names: Option<Vec<String>>,
    pub train: Split,
    pub test: Split,
    /// The folder or archive the data was read from.
    pub location: PathBuf,
}

impl Cifar {
    /// Finds the dataset in `data_dir`: the extracted folder (`cifar-10-batches-bin/` …), the
    /// data folder itself if it directly holds the `.bin` files, or the `.tar.gz` archive.
    pub fn load(kind: DatasetKind, data_dir: &Path) -> Result<Cifar> {
        if !data_dir.is_dir() {
            return Err(DataError::format(
                data_dir,
                format!(
                    "data folder does not exist; pass --data-dir, set PURENOISE_DATA_DIR, \
                     or run `purenoise dataset fetch {}`",
                    kind.name()
                ),
            ));
        }
        let extracted = data_dir.join(kind.dir_name());
        if extracted.is_dir() {
            return Self::load_dir(kind, &extracted);
        }
        // `exists`, not `is_file`: a FIFO or folder under a data file's name is refused by
        // name below rather than passed over.
        if data_dir.join(kind.test_file()).exists() {
            return Self::load_dir(kind, data_dir);
        }
        for name in kind.archive_names() {
            let archive = data_dir.join(name);
            if archive.exists() {
                return Self::load_archive(kind, &archive);
            }
        }
        Err(DataError::format(
            data_dir,
            format!(
                "no {} data here: expected the folder {}/ or one of {} \
                 (run `purenoise dataset fetch {}`)",
                kind.name(),
                kind.dir_name(),
                kind.archive_names().join(", "),
                kind.name()
            ),
        ))
    }

    /// Reads an extracted folder that holds the `.bin` and name files directly.
    pub fn load_dir(kind: DatasetKind, dir: &Path) -> Result<Cifar> {
        let mut members = HashMap::new();
        for name in kind.members() {
            let path = dir.join(name);
            let (limit, what) = kind.member_limit(name);
            let bytes = crate::input::read_bounded(&path, limit, what)
                .map_err(|e| DataError::io("read", &path, e))?;
            members.insert(name, (path.display().to_string(), bytes));
        }
        Self::from_members(kind, dir, members)
    }

    /// Reads the members straight out of a `.tar.gz` without extracting to disk.
    pub fn load_archive(kind: DatasetKind, archive: &Path) -> Result<Cifar> {
        let (file, _) =
            crate::input::open_regular(archive).map_err(|e| DataError::io("open", archive, e))?;
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file));
        let mut tar = tar::Archive::new(Bounded::new(gz, MAX_ARCHIVE_BYTES));
        let wanted = kind.members();
        let mut members = HashMap::new();
        let mut seen_dirs = Vec::new();
        let bad = |e: std::io::Error| {
            DataError::format(
                archive,
                format!("not a readable .tar.gz archive ({e}); delete it and fetch it again"),
            )
        };
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            // Ignore `./` components: re-packed archives often carry them.
            let path: PathBuf = entry
                .path()
                .map_err(bad)?
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            let mut comps = path.components();
            let top = comps
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            if !seen_dirs.contains(&top) {
                seen_dirs.push(top.clone());
            }
            let rest = comps.as_path().to_string_lossy().into_owned();
            if top != kind.dir_name() {
                continue;
            }
            if let Some(name) = wanted.iter().find(|w| **w == rest) {
                // The declared size is checked before it sizes a buffer.
                let (limit, what) = kind.member_limit(name);
                if entry.size() > limit {
                    return Err(DataError::format(
                        archive,
                        format!(
                            "member {} declares {} bytes, more than {what} can be ({limit}); \
                             the archive is corrupt: delete it and fetch it again",
                            path.display(),
                            entry.size()
                        ),
                    ));
                }
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                (&mut entry)
                    .take(limit)
                    .read_to_end(&mut bytes)
                    .map_err(bad)?;
                members.insert(
                    *name,
                    (format!("{}!{}", archive.display(), path.display()), bytes),
                );
            }
        }
        // tar stops at its end-of-archive blocks, before gzip's trailer: read the stream to its
        // end so that the trailer's CRC and length are checked.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(bad)?;
        if let Some(missing) = wanted.iter().find(|w| !members.contains_key(*w)) {
            return Err(DataError::format(
                archive,
                format!(
                    "expected member {}/{missing} of the {} archive, but the archive holds \
                     top-level entries [{}]; is this the archive of another dataset?",
                    kind.dir_name(),
                    kind.name(),
                    seen_dirs.join(", ")
                ),
            ));
        }
        Self::from_members(kind, archive, members)
    }

    fn from_members(
        kind: DatasetKind,
        location: &Path,
        mut members: HashMap<&'static str, (String, Vec<u8>)>,
    ) -> Result<Cifar> {
        let mut take = |name: &str| members.remove(name).expect("member was read above");
        let mut train = Split::default();
        let mut sources = Vec::new();
        for name in kind.train_files() {
            let (src, bytes) = take(name);
            let part = parse_records(kind, &src, &bytes)?;
            append(&mut train, part);
            sources.push(src);
        }
        train.source = sources.join(", ");
        let (src, bytes) = take(kind.test_file());
        let test = parse_records(kind, &src, &bytes)?;
        let (class_names, coarse_names) = match kind {
            DatasetKind::Cifar10 => {
                let (src, bytes) = take("batches.meta.txt");
                (parse_names(&src, &bytes, 10)?, None)
            }
            DatasetKind::Cifar100 => {
                let (src, bytes) = take("fine_label_names.txt");
                let fine = parse_names(&src, &bytes, 100)?;
                let (src, bytes) = take("coarse_label_names.txt");
                (fine, Some(parse_names(&src, &bytes, 20)?))
            }
        };
        Ok(Cifar {
            kind,
            class_names,
            coarse_names,
            train,
            test,
            location: location.to_path_buf(),
        })
    }
}

/// The most bytes a CIFAR `.tar.gz` may decompress to: the official archives hold about 185 MB,
/// so anything past 1 GiB is corrupt (or a decompression bomb), refused before it fills memory.
pub const MAX_ARCHIVE_BYTES: u64 = 1 << 30;

/// A reader that fails once more than `limit` bytes have passed through it.
pub(crate) struct Bounded<R> {
    inner: R,
    limit: u64,
    left: u64,
}

impl<R> Bounded<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            limit,
            left: limit,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "it decompresses to more than {} bytes, far more than a CIFAR archive holds",
                    self.limit
                ),
            )
        })?;
        Ok(n)
    }
}

fn append(dst: &mut Split, src: Split) {
    dst.images.extend_from_slice(&src.images);
    dst.labels.extend_from_slice(&src.labels);
    if let Some(c) = src.coarse_labels {
        dst.coarse_labels.get_or_insert_with(Vec::new).extend(c);
    }
}

/// Parses one `.bin` file. `source` names it in errors.
pub fn parse_records(kind: DatasetKind, source: &str, bytes: &[u8]) -> Result<Split> {
    let rec = kind.record_bytes();
    let err = |msg: String| DataError::format(source, msg);
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        return Err(err(format!(
            "{} bytes is not a whole number of {}-byte {} records; the file is truncated or \
             not a {} binary batch",
            bytes.len(),
            rec,
            kind.name(),
            kind.name()
        )));
    }
    let n = bytes.len() / rec;
    // Every official CIFAR-10 batch has exactly 10,000 records; a shorter file is truncated
    // even when it happens to end on a record boundary.
    if kind == DatasetKind::Cifar10 && n != 10_000 {
        return Err(err(format!(
            "holds {n} records, but every CIFAR-10 batch file holds 10000 ({} bytes)",
            10_000 * rec
        )));
    }
    let mut split = Split {
        images: Vec::with_capacity(n * IMAGE_BYTES),
        labels: Vec::with_capacity(n),
        coarse_labels: (kind == DatasetKind::Cifar100).then(|| Vec::with_capacity(n)),
        source: source.to_string(),
    };
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        let (label, pixels) = match kind {
            DatasetKind::Cifar10 => (r[0], &r[1..]),
            DatasetKind::Cifar100 => {
                if r[0] >= 20 {
                    return Err(err(format!(
                        "record {i}: coarse label {} is out of range 0..=19",
                        r[0]
                    )));
                }
                if let Some(c) = split.coarse_labels.as_mut() {
                    c.push(r[0] as u32);
                }
                (r[1], &r[2..])
            }
        };
        if label as usize >= kind.num_classes() {
            return Err(err(format!(
                "record {i}: label {label} is out of range 0..={}",
                kind.num_classes() - 1
            )));
        }
        split.labels.push(label as u32);
        split.images.extend_from_slice(pixels);
    }
    Ok(split)
}

/// Parses a label-name file: one name per line; blank lines (the official CIFAR-10 file ends
/// with some) are ignored.
pub fn parse_names(source: &str, bytes: &[u8], expected: usize) -> Result<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DataError::format(source, "label-name file is not UTF-8 text"))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected {
        return Err(DataError::format(
            source,
            format!(
                "expected {expected} class names, one per line, found {}",
                names.len()
            ),
        ));
    }
    Ok(names)
}

/// The data folder: `--data-dir` if given, else `$PURENOISE_DATA_DIR`, else `./data`.
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("PURENOISE_DATA_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_up_to_its_limit_then_fails() {
        let data = vec![7u8; 100];
        let mut exact = Vec::new();
        Bounded::new(&data[..], 100)
            .read_to_end(&mut exact)
            .unwrap();
        assert_eq!(exact, data);
        let e = Bounded::new(&data[..], 99)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("more than 99 bytes"), "{e}");
    }
}
