//! `purenoise dataset fetch`: download the official archive (resumable), verify its MD5, extract
//! it into a temporary folder and rename that into place, so a dataset folder is either complete
//! or absent.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::cifar::{Bounded, Cifar, DatasetKind, MAX_ARCHIVE_BYTES};
use super::error::{DataError, Result};
use crate::lockfile::FileLock;
use crate::progress::{Progress, Unit};

/// Environment variable naming a mirror: a base URL the archive name is appended to.
pub const MIRROR_ENV: &str = "PURENOISE_CIFAR_MIRROR";
const OFFICIAL_BASE: &str = "https://www.cs.toronto.edu/~kriz";

pub fn official_archive(kind: DatasetKind) -> &'static str {
    kind.archive_names()[0]
}

pub fn official_md5(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Cifar10 => "c32a1d4ab5d03f1284b67883e8d87530",
        DatasetKind::Cifar100 => "03b5dce01913d631647c71ecec9e9cb8",
    }
}

/// The download URL: `<mirror>/<archive>` when a mirror is given (flag first, then
/// `$PURENOISE_CIFAR_MIRROR`), else the official host.
pub fn archive_url(kind: DatasetKind, mirror: Option<&str>) -> String {
    let env = std::env::var(MIRROR_ENV).ok().filter(|s| !s.is_empty());
    let base = mirror.map(str::to_string).or(env);
    let base = base.as_deref().unwrap_or(OFFICIAL_BASE);
    format!("{}/{}", base.trim_end_matches('/'), official_archive(kind))
}

/// What to download and how to check it.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    pub kind: DatasetKind,
    pub url: String,
    /// Expected MD5 of the archive, lowercase hex.
    pub md5: String,
    pub data_dir: PathBuf,
    /// Show the download's progress on stderr (a bar on a terminal, else timed lines).
    pub progress: bool,
}

/// What `fetch` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The extracted dataset folder.
    pub dir: PathBuf,
    /// The verified archive, kept beside it.
    pub archive: PathBuf,
    /// False when the folder was already there and nothing was downloaded.
    pub downloaded: bool,
}

pub fn fetch(req: &FetchRequest) -> Result<Fetched> {
    let kind = req.kind;
    let md5 = req.md5.to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DataError::arg(
            "--md5",
            format!("expected 32 hex digits, got {:?}", req.md5),
        ));
    }
    fs::create_dir_all(&req.data_dir)
        .map_err(|e| DataError::io("create the data folder", &req.data_dir, e))?;
    let dir = req.data_dir.join(kind.dir_name());
    let archive = req.data_dir.join(official_archive(kind));
    if dir.is_dir() {
        return already_there(kind, dir, archive);
    }
    // One fetch per dataset and data folder at a time: the download, its `.part` file and the
    // extraction folder are shared names (`sweep --jobs N` starts N runs that all lack the data).
    let lock_path = req
        .data_dir
        .join(format!(".{}.fetch-lock", kind.dir_name()));
    let take =
        |wait| FileLock::take(&lock_path, wait).map_err(|e| DataError::io("lock", &lock_path, e));
    let _lock = match take(false)? {
        Ok(lock) => lock,
        Err(holder) => {
            let holder = holder.map_or("another purenoise process".into(), |pid| {
                format!("purenoise process {pid}")
            });
            eprintln!(
                "waiting for {holder}, which is fetching {} into {} (it holds {})",
                kind.name(),
                req.data_dir.display(),
                lock_path.display()
            );
            take(true)?.map_err(|_| {
                DataError::Fetch(format!(
                    "could not take {}: other processes kept taking it; try again",
                    lock_path.display()
                ))
            })?
        }
    };
    // The holder this process waited for may have fetched it.
    if dir.is_dir() {
        return already_there(kind, dir, archive);
    }
    let mut downloaded = false;
    let have_archive = match fs::symlink_metadata(&archive) {
        Ok(_) => {
            // Not ours to replace: it may be the user's own copy of another version.
            let got = file_md5(&archive)?;
            if got != md5 {
                return Err(DataError::Fetch(format!(
                    "{} is there, but its MD5 is {got}, not the expected {md5}: a damaged copy \
                     or another file. It was left as it is; move it away to download the \
                     archive again, or, if it is a known-good rebuild, pass --md5 {got}",
                    archive.display()
                )));
            }
            true
        }
        Err(_) => false,
    };
    if !have_archive {
        let part = part_path(&archive);
        let offline = format!(
            "the data folder {} holds neither {}/ nor {}. If the dataset is elsewhere on this \
             machine, point PURENOISE_DATA_DIR or --data-dir at the folder that holds either \
             one, or copy the archive into {}",
            req.data_dir.display(),
            kind.dir_name(),
            official_archive(kind),
            req.data_dir.display()
        );
        download(&req.url, &part, req.progress, &offline, MAX_ARCHIVE_BYTES)?;
        let got = file_md5(&part)?;
        if got != md5 {
            // A corrupt file must not be resumed from, so it goes.
            let _ = fs::remove_file(&part);
            return Err(DataError::Fetch(format!(
                "{}: MD5 of the download is {got}, expected {md5}; the file was deleted. Check \
                 the mirror (--mirror or ${MIRROR_ENV}) or, for a known-good rebuild, pass its \
                 checksum with --md5",
                req.url
            )));
        }
        fs::rename(&part, &archive).map_err(|e| DataError::io("rename", &part, e))?;
        downloaded = true;
    }
    extract(kind, &archive, &req.data_dir)?;
    Ok(Fetched {
        dir,
        archive,
        downloaded,
    })
}

/// A dataset folder that is there already: checked, not downloaded.
fn already_there(kind: DatasetKind, dir: PathBuf, archive: PathBuf) -> Result<Fetched> {
    Cifar::load_dir(kind, &dir)?;
    Ok(Fetched {
        dir,
        archive,
        downloaded: false,
    })
}

fn part_path(archive: &Path) -> PathBuf {
    let mut s = archive.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

pub fn file_md5(path: &Path) -> Result<String> {
    let (mut f, _) =
        crate::input::open_regular(path).map_err(|e| DataError::io("open", path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| DataError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Downloads `url` into `part`, resuming from its current length with an HTTP Range request.
/// `offline` is told when the server cannot be reached at all; more than `max_bytes` in all
/// deletes the download and fails.
fn download(url: &str, part: &Path, progress: bool, offline: &str, max_bytes: u64) -> Result<()> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build(),
    );
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let resp = request.call().map_err(|e| match e {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Timeout(_)
        | ureq::Error::Io(_) => DataError::Fetch(format!(
            "cannot reach {url}: the network is unreachable or the server is down ({e}); {offline}"
        )),
        e => DataError::Fetch(format!("{url}: request failed: {e}")),
    })?;
    let status = resp.status().as_u16();
    let (mut file, start) = match status {
        206 => {
            let f = fs::OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(|e| DataError::io("open", part, e))?;
            (f, have)
        }
        200 => {
            // The server ignored the range (or there was nothing to resume): start over.
            let f = fs::File::create(part).map_err(|e| DataError::io("create", part, e))?;
            (f, 0)
        }
        // Range starts at the end: the previous attempt got everything.
        416 if have > 0 => return Ok(()),
        _ => {
            return Err(DataError::Fetch(format!(
                "{url}: server answered HTTP {status}{}; try again later or use another mirror \
                 (--mirror or ${MIRROR_ENV})",
                resp.status()
                    .canonical_reason()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            )))
        }
    };
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|len| len + start);
    let mut bar =
        progress.then(|| Progress::new(format!("downloading {url}"), total, Unit::Bytes, start));
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                if let Some(bar) = bar {
                    bar.abandon();
                }
                let _ = file.flush();
                return Err(DataError::Fetch(format!(
                    "{url}: transfer interrupted after {got}{} bytes ({e}); {} holds the partial \
                     download; run the same command again to resume",
                    total.map(|t| format!(" of {t}")).unwrap_or_default(),
                    part.display()
                )));
            }
        };
        got += n as u64;
        if got > max_bytes {
            if let Some(bar) = bar {
                bar.abandon();
            }
            drop(file);
            // Not the archive (a captive portal, a wrong URL): it must not fill the disk, nor be
            // resumed from.
            let _ = fs::remove_file(part);
            return Err(DataError::Fetch(format!(
                "{url}: the server sent more than {max_bytes} bytes, more than any CIFAR \
                 archive holds; the download was deleted. Check the mirror (--mirror or \
                 ${MIRROR_ENV})"
            )));
        }
        file.write_all(&buf[..n])
            .map_err(|e| DataError::io("write", part, e))?;
        if let Some(bar) = &mut bar {
            bar.set(got);
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    file.flush().map_err(|e| DataError::io("write", part, e))?;
    if let Some(t) = total {
        if got != t {
            return Err(DataError::Fetch(format!(
                "{url}: transfer ended after {got} of {t} bytes; {} holds the partial download; \
                 run the same command again to resume",
                part.display()
            )));
        }
    }
    Ok(())
}

/// Unpacks into `<data_dir>/.<dir>.extracting` (under the fetch lock, so no other process is
/// using one left there), checks the result is a complete, readable dataset, then renames it
/// into place.
fn extract(kind: DatasetKind, archive: &Path, data_dir: &Path) -> Result<()> {
    let tmp = data_dir.join(format!(".{}.extracting", kind.dir_name()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| DataError::io("remove", &tmp, e))?;
    }
    let result = (|| {
        fs::create_dir_all(&tmp).map_err(|e| DataError::io("create", &tmp, e))?;
        let (f, _) =
            crate::input::open_regular(archive).map_err(|e| DataError::io("open", archive, e))?;
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
        let mut tar = tar::Archive::new(Bounded::new(gz, MAX_ARCHIVE_BYTES));
        let cannot = |e: std::io::Error| {
            DataError::format(archive, format!("cannot extract the .tar.gz archive: {e}"))
        };
        tar.unpack(&tmp).map_err(cannot)?;
        // The gzip trailer's CRC and length are only checked once the stream is read to its end.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(cannot)?;
        let inner = tmp.join(kind.dir_name());
        if !inner.is_dir() {
            return Err(DataError::format(
                archive,
                format!(
                    "the archive has no {}/ folder; is it the archive of another dataset?",
                    kind.dir_name()
                ),
            ));
        }
        Cifar::load_dir(kind, &inner)?;
        let dest = data_dir.join(kind.dir_name());
        fs::rename(&inner, &dest).map_err(|e| DataError::io("rename into place", &inner, e))
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_flag_then_env_then_official() {
        // The only test in this binary that touches the variable, so no race with other tests.
        std::env::remove_var(MIRROR_ENV);
        assert_eq!(
            archive_url(DatasetKind::Cifar10, None),
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
        );
        std::env::set_var(MIRROR_ENV, "http://env.example/cifar");
        assert_eq!(
            archive_url(DatasetKind::Cifar100, None),
            "http://env.example/cifar/cifar-100-binary.tar.gz"
        );
        assert_eq!(
            archive_url(DatasetKind::Cifar100, Some("http://flag.example/")),
            "http://flag.example/cifar-100-binary.tar.gz"
        );
        std::env::remove_var(MIRROR_ENV);
    }

    /// A server that sends without end (a captive portal, a wrong URL streaming something):
    /// the download stops past its bound, deletes what it wrote and says why.
    #[test]
    fn an_endless_download_stops_at_its_bound_and_is_deleted() {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/cifar-10-binary.tar.gz",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let chunk = [0u8; 1 << 14];
            while stream.write_all(&chunk).is_ok() {}
        });
        let dir = std::env::temp_dir().join(format!("purenoise-endless-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let part = dir.join("cifar-10-binary.tar.gz.part");
        let err = download(&url, &part, false, "offline", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&url)
                && err.contains("more than 1048576 bytes")
                && err.contains("deleted"),
            "{err}"
        );
        assert!(!part.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
