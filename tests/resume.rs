//! What `--resume`, `eval` and `dump-step` guarantee, through the real binary on real CIFAR-10
//! (`PURENOISE_DATA_DIR`) with resnet-8 on 24 images: a resume that cannot be trusted is refused
//! with nothing changed (a lost `last`, an edited config.json, another run's checkpoint, a changed
//! index list, a flag that may not change), the allowed changes are recorded, `--resume-from best`
//! keeps what it replaces, `eval` writes its own files, `dump-step` replaces only dumps, and
//! degenerate settings are named before training.

mod data_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use purenoise::train::checkpoint;
use serde_json::Value;

fn setup(name: &str) -> (PathBuf, PathBuf) {
    data_common::tiny_subset(&format!("resume-{name}"))
}

fn flags(indices: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    data_common::tiny_train_flags(
        indices,
        out,
        extra,
        &[("--method", "erm"), ("--lr", "0.05")],
    )
}

use data_common::run_purenoise as run;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeds(args: &[String]) -> Output {
    let out = run(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    out
}

/// Runs `args`, which must fail with every needle in its message.
fn fails_with(args: &[String], needles: &[&str]) -> String {
    let out = run(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded:\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: `{needle}` not in:\n{err}");
    }
    err
}

fn resume(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut f = vec!["train".into(), "--resume".into(), dir.display().to_string()];
    f.extend(extra.iter().map(|s| s.to_string()));
    f
}

/// Every file of a folder (links as their target's name), by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = if e.file_type().unwrap().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

fn saved_config(path: &Path) -> Value {
    checkpoint::load(path).unwrap().state["config"].clone()
}

fn metrics_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn resume_verifies_the_run_records_allowed_changes_and_can_go_on_from_best() {
    let (dir, indices) = setup("verify");
    let run_dir = dir.join("run");
    succeeds(&flags(&indices, &run_dir, &["--epochs", "2"]));
    // The index list lives in the run folder, its hash in config.json; the original can go.
    let copy = std::fs::read(run_dir.join("subset_indices.txt")).unwrap();
    let original: Vec<usize> = std::fs::read_to_string(&indices)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let copied: Vec<usize> = String::from_utf8(copy.clone())
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(copied, original);
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&copy)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(config(&run_dir)["subset_indices"]["sha256"], sha.as_str());
    std::fs::remove_file(&indices).unwrap();
    let untouched = snapshot(&run_dir);

    // Flags that may not change on resume are refused by name.
    fails_with(
        &resume(
            &run_dir,
            &["--epochs", "3", "--batch-size", "4", "--overwrite"],
        ),
        &[
            "--batch-size, --overwrite cannot change on resume",
            "--epochs, --lr",
        ],
    );
    // --epochs below what the checkpoint has done.
    fails_with(
        &resume(&run_dir, &["--epochs", "1"]),
        &["--epochs", "already completed 2 epochs"],
    );
    // config.json edited to disagree with the checkpoint.
    let config_path = run_dir.join("config.json");
    let good_config = std::fs::read(&config_path).unwrap();
    let mut edited = config(&run_dir);
    edited["args"]["batch_size"] = 4.into();
    edited["args"]["seed"] = 9.into();
    std::fs::write(&config_path, serde_json::to_vec(&edited).unwrap()).unwrap();
    fails_with(
        &resume(&run_dir, &["--epochs", "3"]),
        &[
            "disagrees with the checkpoint",
            "--batch-size: config.json has 4, the checkpoint 8",
            "--seed: config.json has 9, the checkpoint 0",
        ],
    );
    std::fs::write(&config_path, &good_config).unwrap();
    // A checkpoint copied from another run.
    let other = dir.join("other");
    std::fs::write(
        &indices,
        original
            .iter()
            .map(|i| format!("{i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    succeeds(&flags(
        &indices,
        &other,
        &["--epochs", "2", "--max-steps", "1"],
    ));
    std::fs::remove_file(&indices).unwrap();
    let last = run_dir.join("last.safetensors");
    let good_last = std::fs::read(&last).unwrap();
    std::fs::copy(other.join("last.safetensors"), &last).unwrap();
    let ids = [config(&run_dir), config(&other)].map(|c| c["run_id"].as_str().unwrap().to_string());
    assert_ne!(ids[0], ids[1]);
    fails_with(
        &resume(&run_dir, &["--epochs", "3"]),
        &["belongs to another run", &ids[0], &ids[1]],
    );
    std::fs::write(&last, &good_last).unwrap();
    // A changed copy of the index list.
    let copy_path = run_dir.join("subset_indices.txt");
    std::fs::write(&copy_path, [&copy[..], b"7\n"].concat()).unwrap();
    fails_with(
        &resume(&run_dir, &["--epochs", "3"]),
        &[
            copy_path.to_str().unwrap(),
            "was changed after the run started",
        ],
    );
    std::fs::write(&copy_path, &copy).unwrap();
    assert_eq!(
        snapshot(&run_dir),
        untouched,
        "a refused resume changed the run"
    );

    // Allowed changes: printed, recorded in config.json's history and in later checkpoints,
    // and the history survives a second resume.
    let out = succeeds(&resume(&run_dir, &["--epochs", "3", "--lr", "0.02"]));
    let err = stderr(&out);
    assert!(
        err.contains("--epochs changes from 2 to 3 at epoch 2")
            && err.contains("--lr changes from 0.05 to 0.02"),
        "{err}"
    );
    let m = metrics_lines(&run_dir);
    assert_eq!(m.len(), 3);
    let epoch2: Value = serde_json::from_str(&m[2]).unwrap();
    assert!(
        (epoch2["lr"].as_f64().unwrap() - 0.02).abs() < 1e-7,
        "{epoch2}"
    );
    succeeds(&resume(
        &run_dir,
        &["--epochs", "4", "--eval-every", "2", "--nan-policy", "skip"],
    ));
    let history = config(&run_dir)["history"].as_array().unwrap().clone();
    let summary: Vec<(String, String, String, u64)> = history
        .iter()
        .map(|h| {
            (
                h["flag"].as_str().unwrap().to_string(),
                h["old"].to_string(),
                h["new"].to_string(),
                h["at_epoch"].as_u64().unwrap(),
            )
        })
        .collect();
    let s = |a: &str| a.to_string();
    assert_eq!(
        summary,
        [
            (s("--epochs"), s("2"), s("3"), 2),
            (s("--lr"), s("0.05"), s("0.02"), 2),
            (s("--epochs"), s("3"), s("4"), 3),
            (s("--eval-every"), s("1"), s("2"), 3),
            (s("--nan-policy"), s("\"stop\""), s("\"skip\""), 3),
        ]
    );
    let saved = saved_config(&last);
    assert_eq!(
        (&saved["epochs"], &saved["eval_every"], &saved["nan_policy"]),
        (&4.into(), &2.into(), &"skip".into())
    );
    assert!((saved["lr"].as_f64().unwrap() - 0.02).abs() < 1e-7);
    assert_eq!(metrics_lines(&run_dir).len(), 4);

    // last lost while the run had progressed: refused, metrics and best untouched.
    let before = snapshot(&run_dir);
    let best_epoch = checkpoint::load(&run_dir.join("best.safetensors"))
        .unwrap()
        .state["position"]["epoch"]
        .as_u64()
        .unwrap() as usize;
    let needles = [
        "the run had made progress",
        "metrics.jsonl: 4 epoch line(s)",
        &format!("best.safetensors, saved after {best_epoch} complete epochs"),
        &format!(
            "purenoise train --resume {} --resume-from best",
            run_dir.display()
        ),
        "--overwrite",
        "Nothing was changed",
    ];
    std::fs::remove_file(&last).unwrap();
    fails_with(
        &resume(&run_dir, &[]),
        &[&["last.safetensors is missing"], &needles[..]].concat(),
    );
    let mut without_last = before.clone();
    without_last.remove("last.safetensors");
    assert_eq!(snapshot(&run_dir), without_last);
    std::os::unix::fs::symlink(run_dir.join("gone.safetensors"), &last).unwrap();
    fails_with(
        &resume(&run_dir, &[]),
        &[
            &["is a link to", "gone.safetensors", "which does not exist"],
            &needles[..],
        ]
        .concat(),
    );
    std::fs::remove_file(&last).unwrap();
    std::fs::write(&last, b"not a checkpoint").unwrap();
    fails_with(
        &resume(&run_dir, &[]),
        &[&["last.safetensors cannot be read"], &needles[..]].concat(),
    );
    let mut garbage = without_last.clone();
    garbage.insert("last.safetensors".into(), b"not a checkpoint".to_vec());
    assert_eq!(snapshot(&run_dir), garbage);

    // Going on from best keeps the later checkpoint and metrics under new names.
    let out = succeeds(&resume(&run_dir, &["--resume-from", "best"]));
    let err = stderr(&out);
    assert!(
        err.contains("last-before-resume-from-best.safetensors"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("last-before-resume-from-best.safetensors")).unwrap(),
        b"not a checkpoint"
    );
    assert_eq!(
        std::fs::read(run_dir.join("metrics-before-resume-from-best.jsonl")).unwrap(),
        before["metrics.jsonl"]
    );
    let m = metrics_lines(&run_dir);
    assert_eq!(m.len(), 4);
    let old: Vec<String> = String::from_utf8(before["metrics.jsonl"].clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(m[..best_epoch], old[..best_epoch]);
    assert_eq!(
        checkpoint::load(&last).unwrap().state["position"]["epoch"],
        4
    );

    // eval of the run folder evaluates its best checkpoint and writes its own files beside it,
    // from the run's copy of the index list, naming the checkpoint and its epoch; the run's
    // results stay as they were.
    let results = snapshot(&run_dir);
    let best = run_dir.join("best.safetensors");
    let best_done = checkpoint::load(&best).unwrap().state["position"]["epoch"].clone();
    let out = succeeds(&[
        "eval".into(),
        run_dir.display().to_string(),
        "--eval-limit".into(),
        "16".into(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "checkpoint {} (saved after {best_done} complete epochs)",
            best.display()
        )) && text.contains(&format!(
            "wrote {}",
            run_dir.join("eval-best.json").display()
        )),
        "{text}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("eval-best.json")).unwrap()).unwrap();
    assert_eq!(report["checkpoint"]["path"], best.display().to_string());
    assert_eq!(report["checkpoint"]["epochs_done"], best_done);
    assert_eq!(report["samples"], 16);
    let csv = std::fs::read_to_string(run_dir.join("eval-best-per_class.csv")).unwrap();
    assert_eq!(csv.lines().count(), 11);
    let mut after = snapshot(&run_dir);
    after.remove("eval-best.json");
    after.remove("eval-best-per_class.csv");
    assert_eq!(after, results, "eval changed the run's own files");
    // Evaluating the same checkpoint again replaces its results; another checkpoint of the
    // same name into the same --out, or a file purenoise did not write there, is refused
    // before anything runs, and the results stay.
    let again = [
        "eval".into(),
        best.display().to_string(),
        "--eval-limit".into(),
        "8".into(),
    ];
    succeeds(&again);
    let evaluated = snapshot(&run_dir);
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_best = other.join("best.safetensors");
    std::fs::copy(&last, &other_best).unwrap();
    let into_run = |checkpoint: &Path, out: &Path| -> Vec<String> {
        vec![
            "eval".into(),
            checkpoint.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let eval_json = run_dir.join("eval-best.json");
    fails_with(
        &into_run(&other_best, &run_dir),
        &[eval_json.to_str().unwrap(), "another checkpoint", "--out"],
    );
    assert_eq!(snapshot(&run_dir), evaluated);
    let notes = dir.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("eval-best.json"), "my notes\n").unwrap();
    fails_with(
        &into_run(&other_best, &notes),
        &["eval-best.json", "not an evaluation purenoise wrote"],
    );
    assert_eq!(
        std::fs::read_to_string(notes.join("eval-best.json")).unwrap(),
        "my notes\n"
    );
    // ... and refuses a changed copy of the list by name (the flag of earlier versions too).
    std::fs::write(&copy_path, b"1\n2\n").unwrap();
    fails_with(
        &[
            "eval".into(),
            "--checkpoint".into(),
            best.display().to_string(),
        ],
        &[copy_path.to_str().unwrap(), "was changed"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dump_step_replaces_only_dumps_and_degenerate_settings_are_named_first() {
    let (dir, indices) = setup("dump");
    let dump =
        |output: &Path, extra: &[&str]| data_common::dump_step_flags(&indices, output, extra);
    // A run's checkpoint (here: a run stopped at once) is not replaced.
    let run_dir = dir.join("run");
    let out = succeeds(&flags(
        &indices,
        &run_dir,
        &[
            "--method",
            "open",
            "--defer-epoch",
            "5",
            "--epochs",
            "2",
            "--milestones",
            "1,3",
            "--max-class-size",
            "5",
            "--max-steps",
            "0",
        ],
    ));
    // Degenerate settings, each named before training starts.
    let err = stderr(&out);
    let start = err
        .find("stopped after --max-steps")
        .expect("the run stops");
    for warning in [
        "warning: --max-class-size 5 is ignored: --subset-indices",
        "warning: --method open starts at --defer-epoch 5, but the run has only 2 epochs, so it never acts",
        "warning: --milestones: 3 is at or past the end of the run (2 epochs, 0 to 1)",
        "warning: 7 of 10 classes have no training images: 0 (airplane), 1 (automobile), 5 (dog)",
    ] {
        let at = err.find(warning).unwrap_or_else(|| panic!("`{warning}` not in:\n{err}"));
        assert!(at < start, "`{warning}` after training began:\n{err}");
    }
    fails_with(
        &flags(&indices, &dir.join("never"), &["--milestones", "180,160"]),
        &["--milestones", "180 is followed by 160"],
    );
    assert!(!dir.join("never").exists());

    let last = run_dir.join("last.safetensors");
    let checkpoint_bytes = std::fs::read(&last).unwrap();
    fails_with(
        &dump(&last, &[]),
        &[
            last.to_str().unwrap(),
            "a training checkpoint",
            "--overwrite",
        ],
    );
    assert_eq!(std::fs::read(&last).unwrap(), checkpoint_bytes);
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    fails_with(&dump(&notes, &[]), &[notes.to_str().unwrap(), "not a dump"]);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    // An earlier dump is replaced; anything else with --overwrite.
    let step = dir.join("step.safetensors");
    succeeds(&dump(&step, &[]));
    succeeds(&dump(&step, &["--epoch", "1"]));
    assert_eq!(
        checkpoint::load(&step).unwrap().state["dump_step"]["epoch"],
        1
    );
    succeeds(&dump(&notes, &["--overwrite"]));
    assert!(checkpoint::load(&notes)
        .unwrap()
        .state
        .get("dump_step")
        .is_some());

    // --init-from: the step starts from the checkpoint's weights, not a fresh model (seed 7
    // initializes other weights than the run's seed 0, so the comparison is not vacuous).
    let saved = checkpoint::load(&last).unwrap();
    let tensor = |c: &checkpoint::Checkpoint, name: &str| {
        (c.tensors.iter().find(|t| t.name == name))
            .unwrap_or_else(|| panic!("{name} missing"))
            .data
            .clone()
    };
    let fresh = dir.join("fresh.safetensors");
    succeeds(&dump(&fresh, &["--seed", "7"]));
    let from = dir.join("from.safetensors");
    let out = succeeds(&dump(
        &from,
        &["--seed", "7", "--init-from", last.to_str().unwrap()],
    ));
    assert!(
        stderr(&out).contains(&format!("initialized from {}", last.display())),
        "{}",
        stderr(&out)
    );
    let (fresh, from) = (
        checkpoint::load(&fresh).unwrap(),
        checkpoint::load(&from).unwrap(),
    );
    for name in ["conv1.weight", "linear.weight", "bn1.running_var"] {
        assert_eq!(tensor(&from, name), tensor(&saved, name), "{name}");
    }
    assert_ne!(
        tensor(&fresh, "conv1.weight"),
        tensor(&saved, "conv1.weight")
    );

    // A run folder without a best checkpoint yet: eval says so and names the last one.
    fails_with(
        &["eval".into(), run_dir.display().to_string()],
        &[
            "has no best.safetensors yet",
            &format!("purenoise eval {}", last.display()),
        ],
    );
    // Train flags dump-step has no use for are refused by name, before any work.
    for flag in [
        &["--max-steps", "3"][..],
        &["--preset", "quick"],
        &["--epochs", "9"],
    ] {
        fails_with(&dump(&step, flag), &[flag[0], "leave it out"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_diverged_run_names_a_command_that_continues_it() {
    let (dir, indices) = setup("diverge");
    let run_dir = dir.join("run");
    // One epoch (3 steps) at a sane rate, then a rate that diverges.
    succeeds(&flags(
        &indices,
        &run_dir,
        &["--epochs", "3", "--max-steps", "3"],
    ));
    let err = fails_with(
        &resume(&run_dir, &["--lr", "1e30"]),
        &["the loss became", "the last good checkpoint is"],
    );
    let command = format!("purenoise train --resume {} --lr 1e29", run_dir.display());
    assert!(err.contains(&command), "{err}");
    // The advised command is accepted and recorded (stopped at once here by --max-steps).
    let mut advised: Vec<String> = command.split(' ').skip(1).map(str::to_string).collect();
    advised.extend(["--max-steps".into(), "3".into()]);
    let out = succeeds(&advised);
    assert!(
        stderr(&out).contains("--lr changes from 1e+30 to 1e+29"),
        "{}",
        stderr(&out)
    );
    let lrs: Vec<String> = config(&run_dir)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}->{}", h["old"], h["new"]))
        .collect();
    assert_eq!(lrs, ["0.05->1e+30", "1e+30->1e+29"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
