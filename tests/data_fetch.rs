//! `dataset fetch` against a local HTTP server on 127.0.0.1: a good archive, a wrong checksum,
//! a truncated transfer that is then resumed, a server error, an archive of the wrong dataset,
//! the real binary killed mid-download, and a fetch that waits for another.

mod data_common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use data_common::{entries, tar_gz, temp_dir, write_cifar100};
use purenoise::data::cifar::{Cifar, DatasetKind};
use purenoise::data::cli::{run, DatasetCommand, FetchArgs};
use purenoise::data::fetch::{fetch, file_md5, FetchRequest};
use purenoise::lockfile::FileLock;

/// How the server answers a path.
#[derive(Clone)]
enum Route {
    /// Serve the bytes, honouring `Range: bytes=N-` with 206.
    File(Vec<u8>),
    /// First request: announce the full length but send only `cut` bytes, then hang up.
    /// Later requests behave like `File`.
    TruncateOnce(Vec<u8>, usize),
    /// First request: announce the full length, send `cut` bytes, then hold the connection open
    /// without sending more (a stalled transfer to kill the client in). Later requests behave
    /// like `File`.
    StallOnce(Vec<u8>, usize),
    Status(u16),
}

/// (path, Range header) of every request, in arrival order.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    base: String,
    log: RequestLog,
}

fn serve(routes: HashMap<String, Route>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: RequestLog = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut cut_done = false;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("range") {
                        range = Some(v.trim().to_string());
                    }
                }
            }
            log2.lock().unwrap().push((path.clone(), range.clone()));
            let route = routes.get(&path).cloned().unwrap_or(Route::Status(404));
            let mut stall = false;
            let (bytes, cut) = match route {
                Route::Status(code) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    continue;
                }
                Route::File(b) => (b, None),
                Route::StallOnce(b, cut) => {
                    stall = !cut_done;
                    cut_done = true;
                    (b, stall.then_some(cut))
                }
                Route::TruncateOnce(b, cut) => {
                    let c = (!cut_done).then_some(cut);
                    cut_done = true;
                    (b, c)
                }
            };
            let start = range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|r| r.parse::<usize>().ok());
            let (status, body) = match start {
                Some(s) if s >= bytes.len() => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    continue;
                }
                Some(s) => ("206 Partial Content", &bytes[s..]),
                None => ("200 OK", &bytes[..]),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let send = cut.map_or(body.len(), |c| c.min(body.len()));
            let _ = stream.write_all(&body[..send]);
            let _ = stream.flush();
            if stall {
                // Held open on its own thread, so the server goes on answering others.
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(60));
                    drop(stream);
                });
                continue;
            }
            // Dropping the stream closes the connection, short of Content-Length if cut.
        }
    });
    Server { base, log }
}

/// A small CIFAR-100 archive in the official layout.
fn archive_bytes(name: &str) -> Vec<u8> {
    let src = temp_dir(name);
    let labels: Vec<u8> = (0..300).map(|i| (i % 100) as u8).collect();
    let dir = write_cifar100(&src, &labels, &labels[..100]);
    let out = src.join("a.tar.gz");
    tar_gz(&dir, &out);
    let b = fs::read(&out).unwrap();
    let _ = fs::remove_dir_all(src);
    b
}

fn md5_of(bytes: &[u8], scratch: &Path) -> String {
    let p = scratch.join("md5-scratch");
    fs::write(&p, bytes).unwrap();
    let m = file_md5(&p).unwrap();
    fs::remove_file(p).unwrap();
    m
}

fn request(kind: DatasetKind, url: String, md5: &str, dir: &Path) -> FetchRequest {
    FetchRequest {
        kind,
        url,
        md5: md5.to_string(),
        data_dir: dir.to_path_buf(),
        progress: false,
    }
}

#[test]
fn fetch_good_bad_truncated_error_and_wrong_dataset() {
    let good = archive_bytes("fetch-src");
    let scratch = temp_dir("fetch-scratch");
    let md5 = md5_of(&good, &scratch);
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let name = "cifar-100-binary.tar.gz";
    let routes: HashMap<String, Route> = [
        (format!("/good/{name}"), Route::File(good.clone())),
        (format!("/corrupt/{name}"), Route::File(corrupt)),
        (
            format!("/trunc/{name}"),
            Route::TruncateOnce(good.clone(), 1000),
        ),
        (format!("/down/{name}"), Route::Status(500)),
        // CIFAR-100 content under the CIFAR-10 archive name.
        (
            "/wrong/cifar-10-binary.tar.gz".to_string(),
            Route::File(good.clone()),
        ),
    ]
    .into_iter()
    .collect();
    let server = serve(routes);
    let base = &server.base;

    // Good archive, through the CLI entry point with --mirror and --md5.
    let dir = temp_dir("fetch-good");
    run(DatasetCommand::Fetch(FetchArgs {
        dataset: DatasetKind::Cifar100,
        positional: None,
        data_dir: Some(dir.clone()),
        mirror: Some(format!("{base}/good/")),
        md5: Some(md5.to_uppercase()),
    }))
    .unwrap();
    assert_eq!(entries(&dir), ["cifar-100-binary", name]);
    let c = Cifar::load(DatasetKind::Cifar100, &dir).unwrap();
    assert_eq!(c.train.len(), 300);
    // A second fetch finds it and downloads nothing.
    let before = server.log.lock().unwrap().len();
    let again = fetch(&request(
        DatasetKind::Cifar100,
        format!("{base}/good/{name}"),
        &md5,
        &dir,
    ))
    .unwrap();
    assert!(!again.downloaded);
    assert_eq!(server.log.lock().unwrap().len(), before);

    // Wrong checksum: a clear error, and nothing left behind.
    let dir = temp_dir("fetch-corrupt");
    let e = fetch(&request(
        DatasetKind::Cifar100,
        format!("{base}/corrupt/{name}"),
        &md5,
        &dir,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("/corrupt/") && e.contains(&format!("expected {md5}")),
        "{e}"
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));

    // Truncated transfer: the error says how to resume; rerunning resumes with a Range request.
    let dir = temp_dir("fetch-trunc");
    let url = format!("{base}/trunc/{name}");
    let e = fetch(&request(DatasetKind::Cifar100, url.clone(), &md5, &dir))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/trunc/") && e.contains("resume"), "{e}");
    assert_eq!(entries(&dir), [format!("{name}.part")]);
    assert_eq!(
        fs::metadata(dir.join(format!("{name}.part")))
            .unwrap()
            .len(),
        1000
    );
    let got = fetch(&request(DatasetKind::Cifar100, url, &md5, &dir)).unwrap();
    assert!(got.downloaded);
    assert_eq!(fs::read(&got.archive).unwrap(), good);
    let last = server.log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        (format!("/trunc/{name}"), Some("bytes=1000-".to_string()))
    );
    assert_eq!(entries(&dir), ["cifar-100-binary", name]);

    // Server error.
    let dir = temp_dir("fetch-down");
    let e = fetch(&request(
        DatasetKind::Cifar100,
        format!("{base}/down/{name}"),
        &md5,
        &dir,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("/down/") && e.contains("HTTP 500"), "{e}");
    assert!(entries(&dir).is_empty());

    // Archive of the wrong dataset: the checksum matches but extraction finds no
    // cifar-10-batches-bin/, and no half-extracted folder stays.
    let dir = temp_dir("fetch-wrong");
    let e = fetch(&request(
        DatasetKind::Cifar10,
        format!("{base}/wrong/cifar-10-binary.tar.gz"),
        &md5,
        &dir,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cifar-10-batches-bin") && e.contains("another dataset"),
        "{e}"
    );
    assert_eq!(entries(&dir), ["cifar-10-binary.tar.gz"]);

    // A malformed --md5 is rejected before any download.
    let e = fetch(&request(
        DatasetKind::Cifar100,
        format!("{base}/good/{name}"),
        "xyz",
        &dir,
    ))
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--md5:"), "{e}");

    for d in [
        "fetch-good",
        "fetch-corrupt",
        "fetch-trunc",
        "fetch-down",
        "fetch-wrong",
        "fetch-scratch",
    ] {
        let _ = fs::remove_dir_all(temp_dir(d));
    }
}

/// The real binary's `dataset fetch` of CIFAR-100 from `mirror` into `data`.
fn fetch_cifar100(mirror: &str, md5: &str, data: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_purenoise"));
    c.args([
        "dataset",
        "fetch",
        "--dataset",
        "cifar100",
        "--mirror",
        mirror,
        "--md5",
        md5,
    ])
    .arg("--data-dir")
    .arg(data);
    c
}

/// SIGKILL during the transfer leaves only the partial download (and the lock file it held): no
/// archive, no dataset folder. A fetch started while another holds the lock waits for it; the
/// next one resumes from where the file ends and yields the whole dataset.
#[test]
fn a_fetch_killed_mid_download_resumes_to_the_whole_dataset() {
    let good = archive_bytes("fetch-kill-src");
    let dir = temp_dir("fetch-kill");
    let md5 = md5_of(&good, &dir);
    let name = "cifar-100-binary.tar.gz";
    let cut = good.len() / 2;
    let server = serve(
        [(
            format!("/stall/{name}"),
            Route::StallOnce(good.clone(), cut),
        )]
        .into(),
    );
    let mirror = format!("{}/stall/", server.base);
    let data = dir.join("data");
    let mut child = fetch_cifar100(&mirror, &md5, &data)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let part = data.join(format!("{name}.part"));
    let started = std::time::Instant::now();
    // The transfer is stalled once half the archive is on disk: the kill lands mid-download.
    while fs::metadata(&part).map_or(0, |m| m.len()) < cut as u64 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the download never reached {cut} bytes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The killed fetch's lock file stays; its lock went with the process.
    let lock_file = data.join(".cifar-100-binary.fetch-lock");
    assert_eq!(
        entries(&data),
        [
            ".cifar-100-binary.fetch-lock".to_string(),
            format!("{name}.part")
        ]
    );
    let partial = fs::read(&part).unwrap();
    assert_eq!(partial[..], good[..cut]);

    // While another process fetches (here: this one holds the lock), a fetch waits, saying
    // for whom, and touches nothing; once the lock is let go, it resumes the download.
    let held = FileLock::take(&lock_file, false).unwrap().unwrap();
    let requests = server.log.lock().unwrap().len();
    let mut waiting = fetch_cifar100(&mirror, &md5, &data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains(&format!(
            "waiting for purenoise process {}",
            std::process::id()
        )) && line.contains(lock_file.to_str().unwrap()),
        "{line}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(server.log.lock().unwrap().len(), requests);
    assert_eq!(fs::read(&part).unwrap(), partial);
    drop(held);
    let status = waiting.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    let last = server.log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.1, Some(format!("bytes={cut}-")));
    assert_eq!(entries(&data), ["cifar-100-binary", name]);
    assert_eq!(fs::read(data.join(name)).unwrap(), good);
    assert_eq!(
        Cifar::load(DatasetKind::Cifar100, &data)
            .unwrap()
            .train
            .len(),
        300
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Without a network the error says so, names the data folder it searched and how to point at
/// files elsewhere; a local archive with another checksum is reported, left alone, and nothing
/// is downloaded over it.
#[test]
fn offline_and_a_local_archive_with_another_checksum_are_told_apart() {
    // Port 1 on the loopback: nothing listens, so the connection is refused at once.
    let url = "http://127.0.0.1:1/cifar-10-binary.tar.gz".to_string();
    let md5 = "c32a1d4ab5d03f1284b67883e8d87530";
    let dir = temp_dir("fetch-offline");
    let e = fetch(&request(DatasetKind::Cifar10, url.clone(), md5, &dir))
        .unwrap_err()
        .to_string();
    let shown = dir.display().to_string();
    for part in [
        "cannot reach http://127.0.0.1:1/",
        "the network is unreachable",
        &format!("the data folder {shown} holds neither cifar-10-batches-bin/"),
        "PURENOISE_DATA_DIR or --data-dir",
    ] {
        assert!(e.contains(part), "{part:?} not in: {e}");
    }
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));

    let archive = dir.join("cifar-10-binary.tar.gz");
    fs::write(&archive, b"not the archive").unwrap();
    let other = md5_of(b"not the archive", &temp_dir("fetch-offline-scratch"));
    let e = fetch(&request(DatasetKind::Cifar10, url, md5, &dir))
        .unwrap_err()
        .to_string();
    for part in [
        archive.display().to_string(),
        format!("its MD5 is {other}, not the expected {md5}"),
        "left as it is".to_string(),
        format!("--md5 {other}"),
    ] {
        assert!(e.contains(&part), "{part:?} not in: {e}");
    }
    assert_eq!(fs::read(&archive).unwrap(), b"not the archive");
    assert_eq!(entries(&dir), ["cifar-10-binary.tar.gz"]);
    for d in ["fetch-offline", "fetch-offline-scratch"] {
        let _ = fs::remove_dir_all(temp_dir(d));
    }
}

/// Without a terminal the real binary shows the download as timestamped lines on stderr (a bar
/// would stay hidden there), ending at the archive's whole size; stdout keeps only the result.
#[test]
fn a_fetch_without_a_terminal_shows_progress_lines() {
    let good = archive_bytes("fetch-lines-src");
    let dir = temp_dir("fetch-lines");
    let md5 = md5_of(&good, &dir);
    let name = "cifar-100-binary.tar.gz";
    let server = serve([(format!("/files/{name}"), Route::File(good.clone()))].into());
    let mirror = format!("{}/files/", server.base);
    let out = fetch_cifar100(&mirror, &md5, &dir.join("data"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let what = format!(" downloading {mirror}{name}: ");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&what)).collect();
    assert!(lines.len() >= 2, "{log}");
    let mib = format!("{:.1}", good.len() as f64 / 1_048_576.0);
    for line in &lines {
        let stamp = line.split(' ').next().unwrap();
        assert!(
            stamp.len() == 20 && stamp.starts_with("20") && stamp.ends_with('Z'),
            "{line}"
        );
    }
    let (last, closing) = (lines[lines.len() - 2], lines[lines.len() - 1]);
    assert!(last.contains(&format!(": {mib}/{mib} MiB, ")), "{log}");
    assert!(last.contains(" MiB/s, ETA 0 s"), "{log}");
    assert!(closing.contains(&format!(": {mib} MiB in ")), "{log}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("MiB"));
    let _ = fs::remove_dir_all(&dir);
}
