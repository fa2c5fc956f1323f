//! What purenoise may touch, through the real binary on real files and processes (real CIFAR-10
//! from `PURENOISE_DATA_DIR`, resnet-8 on 24 images): `--overwrite` replaces only a purenoise run
//! holding nothing else, and a start that fails leaves it as it was; one process per run folder
//! (a second one is refused with the holder's PID, the lock dies with its holder); resume removes
//! only purenoise's own stale temporary files; a corrupted metrics line is reported; a closed
//! stdout ends a command quietly.

mod data_common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use purenoise::report::plot;
use purenoise::train::files::{self, LOCK_FILE};
use purenoise::train::lock::RunLock;
use purenoise::train::run_config::RunConfig;

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");

fn setup(name: &str) -> (PathBuf, PathBuf) {
    data_common::tiny_subset(&format!("run-folder-{name}"))
}

/// `train` of resnet-8 (ERM) on the subset into `out`, `extra` appended.
fn train_args(indices: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = data_common::tiny_train_flags(indices, out, &["--method", "erm"], &[]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn purenoise<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(BIN);
    data_common::untuned(c.args(args));
    c
}

fn output<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    purenoise(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails with every one of `needles` in its message, without a panic.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "panicked:\n{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` not in:\n{err}");
    }
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// Every file under `dir` (relative path → bytes), folders included as empty entries.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if p.is_dir() {
                todo.push(p);
                all.insert(rel, Vec::new());
            } else {
                all.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    all
}

fn run_id(dir: &Path) -> Option<String> {
    RunConfig::read(dir).unwrap().run_id
}

/// Waits for a stderr line containing `needle` (the rest of stderr is drained in a thread).
fn wait_for_line(child: &mut Child, needle: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let found = rx.iter().any(|l| l.contains(needle));
    assert!(found, "the run ended before printing `{needle}`");
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own live (unreaped) child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

#[test]
fn overwrite_replaces_only_a_purenoise_run_and_a_failed_start_keeps_it() {
    let (dir, indices) = setup("overwrite");

    // A folder of notes, with a config.json that is not a run's and a subfolder.
    let notes = dir.join("notes");
    std::fs::create_dir_all(notes.join("drafts")).unwrap();
    std::fs::write(notes.join("todo.txt"), "buy milk\n").unwrap();
    std::fs::write(notes.join("drafts/a.md"), "# a\n").unwrap();
    std::fs::write(notes.join("config.json"), r#"{"editor": "vim"}"#).unwrap();
    let before = snapshot(&notes);
    let shown = notes.display().to_string();
    for extra in [
        &["--overwrite", "--max-steps", "1"][..],
        &["--max-steps", "1"],
    ] {
        let r = output(&train_args(&indices, &notes, extra));
        assert_refused(&r, &[&shown, "not a purenoise run folder", "config.json"]);
        assert_eq!(snapshot(&notes), before, "{extra:?} changed the folder");
    }
    // The current directory, named as `.`.
    let r = purenoise(&train_args(
        &indices,
        Path::new("."),
        &["--overwrite", "--max-steps", "1"],
    ))
    .current_dir(&notes)
    .output()
    .unwrap();
    assert_refused(&r, &["refusing to clear .", "Nothing was deleted"]);
    assert_eq!(snapshot(&notes), before);

    // A real run: stopped after one step, so it has config, checkpoint and no metrics yet.
    let run = dir.join("run");
    assert_ok(&output(&train_args(&indices, &run, &["--max-steps", "1"])));
    let first_id = run_id(&run).expect("a new run has an id");
    assert!(run.join("last.safetensors").exists());
    assert!(
        !run.join(LOCK_FILE).exists(),
        "the lock file goes with its holder"
    );

    // Without --overwrite: refused, pointing at --resume.
    let before = snapshot(&run);
    let r = output(&train_args(&indices, &run, &["--max-steps", "1"]));
    assert_refused(&r, &["already holds a run", "--resume", "--overwrite"]);
    assert_eq!(snapshot(&run), before);

    // A user's file inside the run folder: --overwrite refuses, naming it; nothing deleted.
    std::fs::write(run.join("my notes.txt"), "lr 0.1 diverged\n").unwrap();
    std::fs::create_dir(run.join("analysis")).unwrap();
    let before = snapshot(&run);
    let r = output(&train_args(
        &indices,
        &run,
        &["--overwrite", "--max-steps", "1"],
    ));
    assert_refused(
        &r,
        &[
            &run.display().to_string(),
            "purenoise did not write",
            "analysis/, my notes.txt",
            "Nothing was deleted",
        ],
    );
    assert_eq!(snapshot(&run), before);
    std::fs::remove_file(run.join("my notes.txt")).unwrap();
    std::fs::remove_dir(run.join("analysis")).unwrap();

    // A start that fails late (the --init-from file is missing, found after flags, data and
    // adapter were accepted) leaves the old run exactly as it was.
    let before = snapshot(&run);
    let missing = dir.join("missing.safetensors");
    let r = output(&train_args(
        &indices,
        &run,
        &["--overwrite", "--init-from", missing.to_str().unwrap()],
    ));
    assert_refused(&r, &[missing.to_str().unwrap()]);
    assert_eq!(snapshot(&run), before);

    // --overwrite that would delete the checkpoint --init-from starts from: refused, whether
    // the path names the file directly or through a detour; nothing deleted.
    let before = snapshot(&run);
    for init in [
        run.join("last.safetensors"),
        run.join("..").join("run").join("last.safetensors"),
    ] {
        let r = output(&train_args(
            &indices,
            &run,
            &["--overwrite", "--init-from", init.to_str().unwrap()],
        ));
        assert_refused(
            &r,
            &[
                "--init-from",
                init.to_str().unwrap(),
                "would delete",
                "Nothing was deleted",
            ],
        );
        assert_eq!(snapshot(&run), before);
    }

    // --overwrite of the run itself: a new run (new id) whose old files are gone.
    std::fs::write(run.join("report.txt"), "an old report\n").unwrap();
    assert_ok(&output(&train_args(
        &indices,
        &run,
        &["--overwrite", "--max-steps", "1"],
    )));
    let second_id = run_id(&run).unwrap();
    assert_ne!(second_id, first_id);
    // (subset_indices.txt: the new run's own copy of its --subset-indices list.)
    assert_eq!(
        data_common::entries(&run),
        ["config.json", "last.safetensors", "subset_indices.txt"]
    );

    // A failed start into a folder that did not exist leaves no folder.
    let fresh = dir.join("fresh");
    let r = output(&train_args(
        &indices,
        &fresh,
        &["--init-from", missing.to_str().unwrap()],
    ));
    assert_refused(&r, &[missing.to_str().unwrap()]);
    assert!(!fresh.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_process_per_run_folder_and_the_lock_dies_with_its_holder() {
    let (dir, indices) = setup("lock");
    let run = dir.join("run");
    // Long enough never to finish by itself; it is paused, then killed.
    let mut child = purenoise(&train_args(&indices, &run, &["--epochs", "1000"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "training images");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.join("last.safetensors").exists() {
        assert!(Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, libc::SIGSTOP);
    // kill(2) returns before the stop takes effect: wait until the process is seen stopped, so
    // it cannot change the folder while the others are tried.
    let stat = format!("/proc/{}/stat", child.id());
    while !std::fs::read_to_string(&stat)
        .unwrap()
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('T'))
    {
        assert!(Instant::now() < deadline, "the run did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let holder = format!("purenoise process {}", child.id());
    let resume = ["train", "--resume", run.to_str().unwrap()];

    let before = snapshot(&run);
    assert_refused(&output(&resume), &[&holder, "in use", LOCK_FILE]);
    let overwrite = train_args(&indices, &run, &["--overwrite", "--max-steps", "1"]);
    assert_refused(&output(&overwrite), &[&holder, "in use"]);
    assert_eq!(
        snapshot(&run),
        before,
        "a refused process changed the folder"
    );

    // SIGKILL: no clean-up runs, yet the OS lock is gone with the process.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        run.join(LOCK_FILE).exists(),
        "the killed holder's lock file stays"
    );
    let r = output(&[&resume[..], &["--max-steps", "1"]].concat());
    assert_ok(&r);
    assert!(!run.join(LOCK_FILE).exists());

    // In one process too: the lock is per open file, so a second take fails while the first
    // is held, and works again once it is dropped.
    let lock = RunLock::acquire(&run).unwrap();
    let err = RunLock::acquire(&run).unwrap_err().to_string();
    assert!(
        err.contains(&format!("purenoise process {}", std::process::id())),
        "{err}"
    );
    drop(lock);
    drop(RunLock::acquire(&run).unwrap());

    // A lock file purenoise never makes: a link (the PID would go into the file it points to)
    // or a named pipe (opening it would block). Refused, naming it; nothing followed.
    let lock_file = run.join(LOCK_FILE);
    let target = dir.join("user-file.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, &lock_file).unwrap();
    let r = output(&[&resume[..], &["--max-steps", "1"]].concat());
    assert_refused(&r, &[lock_file.to_str().unwrap(), "not a regular file"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(!purenoise::report::table::is_locked(&run));
    std::fs::remove_file(&lock_file).unwrap();
    data_common::mkfifo(&lock_file);
    let err = RunLock::acquire(&run).unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!purenoise::report::table::is_locked(&run));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_removes_only_its_own_stale_temporaries_and_reports_a_corrupted_metrics_line() {
    let (dir, indices) = setup("resume");
    let run = dir.join("run");
    // Two epochs done (3 steps each), stopped in the third.
    assert_ok(&output(&train_args(
        &indices,
        &run,
        &["--epochs", "4", "--max-steps", "7"],
    )));
    let metrics = run.join("metrics.jsonl");
    let good = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(good.lines().count(), 2);

    // A dead process's temporary file, a live one's (this test's), and a user's look-alikes.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = format!(".last.safetensors.purenoise-tmp-{dead}");
    let live = format!(".best.safetensors.purenoise-tmp-{}", std::process::id());
    let foreign = [
        "x.tmp-123",
        "last.safetensors.tmp-456",
        "notes.purenoise-tmp-1",
    ];
    for name in [&stale, &live]
        .into_iter()
        .chain(&foreign.map(String::from))
    {
        std::fs::write(run.join(name), "keep?").unwrap();
    }

    // A corrupted line in the middle: reported by file and line, nothing changed.
    let corrupt = good.replacen("\"epoch\":0", "\"epoch\":0,,", 1);
    assert_ne!(corrupt, good);
    std::fs::write(&metrics, &corrupt).unwrap();
    let last = std::fs::read(run.join("last.safetensors")).unwrap();
    let resume = [
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--max-steps",
        "8",
    ];
    let r = output(&resume);
    assert_refused(
        &r,
        &[
            &format!("{}, line 1", metrics.display()),
            "corrupted",
            "--overwrite",
        ],
    );
    assert_eq!(std::fs::read_to_string(&metrics).unwrap(), corrupt);
    assert_eq!(std::fs::read(run.join("last.safetensors")).unwrap(), last);

    // A torn final line (a kill mid-append) is trimmed, and the resume goes on.
    std::fs::write(&metrics, format!("{good}{{\"epoch\": 2, \"lo")).unwrap();
    assert_ok(&output(&resume));
    assert_eq!(std::fs::read_to_string(&metrics).unwrap(), good);
    let names = data_common::entries(&run);
    assert!(!names.contains(&stale), "{names:?}");
    for keep in foreign.iter().copied().chain([live.as_str()]) {
        assert!(names.iter().any(|n| n == keep), "{keep} removed: {names:?}");
        assert_eq!(std::fs::read_to_string(run.join(keep)).unwrap(), "keep?");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_name_purenoise_writes_in_a_run_folder_is_known_as_its_own() {
    for name in plot::FIGURES {
        assert!(files::is_run_file(name.as_ref()), "{name}");
    }
    for name in ["notes.txt", "x.tmp-1", LOCK_FILE, "last.safetensors.tmp-1"] {
        assert!(!files::is_run_file(name.as_ref()), "{name}");
    }
}

/// stdout is a pipe whose reading end is already closed, as under `| head -1` once head quit.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    purenoise(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_the_program_quietly_by_sigpipe() {
    let data_dir = data_common::real_data_dir();
    for args in [
        &["devices"][..],
        &["dataset", "stats", "--data-dir", data_dir.to_str().unwrap()],
    ] {
        let r = with_closed_stdout(args);
        assert_eq!(
            r.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            r.status
        );
        let err = stderr(&r);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}:\n{err}"
        );
    }
}
