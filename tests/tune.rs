//! The convolution tuner: tile names round-trip, the cache (hit, miss, another adapter, corrupt
//! and foreign files), tuned convolutions against the f64 reference, and `bench tune` / `train
//! --tune` through the binary. Every test uses its own temporary cache folder.

#[path = "../kernels-tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use purenoise::gpu::tensor::{DType, Precision};
use purenoise::models::ConvLayer;
use purenoise::ops::conv::{
    choice, choice_text, conv2d_backward_input, conv2d_backward_input_by, conv2d_backward_weight,
    conv2d_backward_weight_by, conv2d_forward, conv2d_forward_by, default_choice, winograd,
    ConvKernel, Pass, Tile,
};
use purenoise::tune::{self, cache, Cache, Problem, TuneMode};

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("purenoise-tune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tile_names_round_trip_and_bad_names_are_refused() {
    let names: Vec<String> = Tile::ALL.iter().map(Tile::to_string).collect();
    for (tile, name) in Tile::ALL.iter().zip(&names) {
        assert_eq!(name.parse::<Tile>().unwrap(), *tile, "{name}");
        assert!(name.starts_with(if tile.subgroup { "sg" } else { "wg" }));
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
    assert_eq!(Tile::SUBGROUP.to_string(), "sg8x4-t8x32-k16");
    let double: Tile = "wg16x8-t8x8-k16-db".parse().unwrap();
    assert!(double.double_buffered && Tile::ALL.contains(&double));
    assert!(!"wg16x8-t8x8-k16".parse::<Tile>().unwrap().double_buffered);
    for bad in [
        "",
        "sg",
        "xx8x4-t8x32-k16",
        "sg8x4-t8x32",
        "sg8x4-t8x32-k16-extra",
        "sg08x4-t8x32-k16",
        "sg8x4-8x32-k16",
        "wg8xfour-t8x8-k16",
        "wg8x8-t8x8-k16-db-db",
        "wg8x8-t8x8-k16-sb",
        "wg8x8-t8x8-db-k16",
        "sg8x4-t8x32-k16-db",
    ] {
        let err = bad.parse::<Tile>().unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{bad}`")) && err.contains(&names[0]),
            "{bad}: {err}"
        );
    }
}

/// The tuner offers both Winograd variants for every pass of a 3x3 stride-1 layer on at least one
/// tile the adapter runs, and on the fastest direct tile it is handed;
/// `tuned_convolutions_match_reference` checks every such choice's results.
#[test]
fn tuner_offers_winograd_for_3x3_stride_1_layers() {
    let gpu = gpu();
    let x = gpu.zeros("test", &[2, 64, 8, 8]).unwrap();
    let w = gpu.zeros("test", &[64, 64, 3, 3]).unwrap();
    let s = purenoise::ops::conv::ConvShape::new(&x, &w, 1, 1).unwrap();
    let runnable: Vec<Tile> = Tile::ALL.into_iter().filter(|t| t.runs_on(&gpu)).collect();
    for pass in Pass::ALL {
        assert!(winograd::eligible(&s, pass));
        for variant in winograd::Variant::ALL {
            let tiles = tune::winograd_tiles(&gpu, &s, (pass, variant), None);
            assert!(
                !tiles.is_empty() && tiles.iter().all(|t| runnable.contains(t)),
                "{tiles:?}"
            );
            let last = *runnable.last().unwrap();
            assert!(tune::winograd_tiles(&gpu, &s, (pass, variant), Some(last)).contains(&last));
        }
    }
}

/// A tuned Winograd choice (either variant) runs for f16 activations too (mixed precision; the
/// tuner times in f32, and the choice is the shape's): the ops take the Winograd path, giving
/// exactly what `*_by(Winograd)` gives, within f16 tolerance of the f64 reference (odd sides, batch
/// 2).
#[test]
fn a_tuned_winograd_choice_runs_for_f16() {
    let gpu = gpu();
    let mut rng = rng(21);
    let (xs, ws) = ([2, 16, 5, 7], [16, 16, 3, 3]);
    let case = ConvCase::new_as(&gpu, &mut rng, xs, ws, 1, 1, DType::F16);
    for variant in winograd::Variant::ALL {
        let tile = tune::winograd_tiles(&gpu, &case.shape, (Pass::Forward, variant), None)[0];
        tuned_winograd_runs_for_f16(&gpu, ConvKernel::Winograd(variant, tile), &case);
    }
}

fn tuned_winograd_runs_for_f16(gpu: &Gpu, kernel: ConvKernel, case: &ConvCase) {
    let ConvCase {
        xt,
        wt,
        dyt,
        shape: s,
        want_y,
        want_dx,
        want_dw,
    } = case;
    for pass in Pass::ALL {
        gpu.set_tuned(s.tuning_key(pass, DType::F32), Some(choice_text(kernel, 2)));
        assert_eq!(choice(gpu, s, pass, DType::F32), (kernel, 2), "{pass:?}");
    }
    let results = [
        (
            "forward",
            conv2d_forward(gpu, xt, wt, s).unwrap(),
            conv2d_forward_by(gpu, xt, wt, s, kernel).unwrap(),
            want_y,
        ),
        (
            "input grad",
            conv2d_backward_input(gpu, dyt, wt, s).unwrap(),
            conv2d_backward_input_by(gpu, dyt, wt, s, kernel).unwrap(),
            want_dx,
        ),
        (
            "weight grad",
            conv2d_backward_weight(gpu, xt, dyt, s).unwrap(),
            conv2d_backward_weight_by(gpu, xt, dyt, s, kernel, 2).unwrap(),
            want_dw,
        ),
    ];
    for (what, got, by_winograd, want) in results {
        // Activations come back f16, the weight gradient f32.
        let dtype = match what {
            "weight grad" => DType::F32,
            _ => DType::F16,
        };
        assert_eq!(got.dtype(), dtype, "{what}");
        let got = read(gpu, &got);
        assert_eq!(
            got,
            read(gpu, &by_winograd),
            "{what}: not the Winograd path"
        );
        let (atol, rtol) = tolerance(dtype, 1e-4, 1e-4);
        assert_close(
            &format!("tuned Winograd {what} f16"),
            &got,
            want,
            atol,
            rtol,
        );
    }
}

/// A small model's passes, two shapes only, so each tuning call stays short.
fn small_problems() -> Vec<Problem> {
    let all = tune::problems("resnet-8".parse().unwrap(), 1, Precision::F32);
    all.into_iter()
        .filter(|p| (p.layer.c_in, p.layer.c_out) == (16, 32) || p.layer.c_in == 64)
        .collect()
}

fn tune_with(gpu: &purenoise::gpu::Gpu, cache: &Cache, mode: TuneMode) -> tune::Outcome {
    let mut calls = 0;
    let out = tune::tune(gpu, &small_problems(), mode, cache, &mut |_, _, _| {
        calls += 1
    })
    .unwrap();
    assert_eq!(
        calls,
        out.decisions.iter().filter(|d| d.measured).count(),
        "one progress call per measured pass"
    );
    out
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Mixed precision tunes on f16 activations and keeps its choices apart from f32's: the same
/// shapes tune again, their keys end in ` f16`, and until they are tuned an f16 convolution
/// runs the f32 choice.
#[test]
fn mixed_precision_is_tuned_and_cached_apart_from_f32() {
    let gpu = gpu();
    let dir = temp_dir("per-precision");
    let cache = Cache::in_dir(&dir);
    let f32s = tune_with(&gpu, &cache, TuneMode::Cached);
    let p = f32s.decisions[0].problem;
    let f32_choice = choice(&gpu, &p.shape, p.pass, DType::F32);
    assert_eq!(choice(&gpu, &p.shape, p.pass, DType::F16), f32_choice);

    let mixed: Vec<Problem> = small_problems()
        .into_iter()
        .map(|p| Problem {
            act: DType::F16,
            ..p
        })
        .collect();
    let tuned = tune::tune(&gpu, &mixed, TuneMode::Cached, &cache, &mut |_, _, _| {}).unwrap();
    assert!(
        tuned.decisions.iter().all(|d| d.measured),
        "f32 choices do not count"
    );
    for d in &tuned.decisions {
        assert!(d.problem.key().ends_with(" f16"), "{}", d.problem.key());
        assert!(d.problem.describe().ends_with(" f16"));
        let chosen = &d.choice.chosen;
        let kernel: ConvKernel = chosen.kernel.parse().unwrap();
        assert_eq!(
            choice(&gpu, &d.problem.shape, d.problem.pass, DType::F16),
            (kernel, chosen.splits)
        );
    }
    // Both precisions' choices are cached: a fresh device times nothing for either.
    let again = tune::tune(
        &common::gpu(),
        &mixed,
        TuneMode::Cached,
        &cache,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(again.timed_runs, 0);
    assert_eq!(tune::use_cached(&common::gpu(), &cache), 2 * mixed.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tuner_cache_hit_miss_other_adapter_and_full() {
    let gpu = gpu();
    let dir = temp_dir("cache");
    let cache = Cache::in_dir(&dir);
    let file = dir.join(cache::FILE);
    let problems = small_problems();
    assert_eq!(problems.len(), 6);

    // Miss: everything measured, saved, and handed to the ops.
    let first = tune_with(&gpu, &cache, TuneMode::Cached);
    assert!(first.timed_runs >= problems.len(), "{}", first.timed_runs);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_eq!(first.cache.as_deref(), Some(file.as_path()));
    for d in &first.decisions {
        assert!(d.measured);
        let c = &d.choice;
        let s = d.problem.shape;
        let kernel: ConvKernel = c.chosen.kernel.parse().unwrap();
        assert!(Tile::ALL.contains(&kernel.tile()) && kernel.runs(&gpu, &s, d.problem.pass));
        // The default is a candidate, so the choice is never slower than it.
        assert!(c.chosen.ms <= c.default.ms, "{c:?}");
        assert!(c.candidates >= 1 && c.chosen.ms > 0.0);
        if let Some(r) = &c.runner_up {
            assert!(r.ms >= c.chosen.ms);
        }
        assert_eq!(
            gpu.tuned(&s.tuning_key(d.problem.pass, DType::F32)),
            Some(choice_text(kernel, c.chosen.splits))
        );
        assert_eq!(
            choice(&gpu, &s, d.problem.pass, DType::F32),
            (kernel, c.chosen.splits)
        );
        if d.problem.pass != Pass::BackwardWeight {
            assert_eq!(c.chosen.splits, 1);
        }
    }
    let saved = read_json(&file);
    assert_eq!(saved["format"], "purenoise-conv-tuning");
    assert_eq!(saved["adapters"].as_array().unwrap().len(), 1);
    assert_eq!(
        saved["adapters"][0]["choices"].as_object().unwrap().len(),
        problems.len()
    );

    // Hit: a fresh device (nothing tuned in it yet) reads every choice, timing nothing.
    let fresh = common::gpu();
    let (s, pass) = (problems[0].shape, problems[0].pass);
    assert_eq!(
        choice(&fresh, &s, pass, DType::F32),
        default_choice(&fresh, &s, pass)
    );
    let second = tune_with(&fresh, &cache, TuneMode::Cached);
    assert_eq!(second.timed_runs, 0);
    assert!(second.decisions.iter().all(|d| !d.measured));
    for (a, b) in first.decisions.iter().zip(&second.decisions) {
        let (a, b) = (&a.choice.chosen, &b.choice.chosen);
        assert_eq!((&a.kernel, a.splits), (&b.kernel, b.splits));
        assert!((a.ms - b.ms).abs() < 1e-9 * a.ms, "{a:?} {b:?}");
    }
    assert_eq!(
        fresh.tuned(&s.tuning_key(pass, DType::F32)),
        gpu.tuned(&s.tuning_key(pass, DType::F32))
    );
    assert_eq!(tune::use_cached(&common::gpu(), &cache), problems.len());

    // Off: nothing timed, nothing read or written.
    let before = std::fs::read(&file).unwrap();
    let off = tune_with(&common::gpu(), &cache, TuneMode::Off);
    assert_eq!((off.timed_runs, off.decisions.len()), (0, 0));
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Another adapter: the file holds only another device's choices, so this one misses; the
    // other's entry is kept beside the new one. A different kernel fingerprint of the same
    // adapter is a miss too, and is replaced rather than kept.
    for (field, value, kept) in [("name", "Other GPU", 2), ("kernels", "0123456789abcdef", 1)] {
        let mut other = read_json(&file);
        let adapters = other["adapters"].as_array_mut().unwrap();
        // Ours is the entry saved last.
        let ours = adapters.pop().unwrap();
        *adapters = vec![ours];
        other["adapters"][0]["adapter"][field] = value.into();
        std::fs::write(&file, serde_json::to_vec(&other).unwrap()).unwrap();
        let out = tune_with(&common::gpu(), &cache, TuneMode::Cached);
        assert!(out.timed_runs > 0 && out.decisions.iter().all(|d| d.measured));
        let saved = read_json(&file);
        let adapters = saved["adapters"].as_array().unwrap();
        assert_eq!(adapters.len(), kept, "{field}");
        assert_eq!(
            adapters
                .iter()
                .filter(|a| a["adapter"][field] == value)
                .count(),
            kept - 1,
            "{field}"
        );
    }

    // Full retunes what the cache holds.
    let full = tune_with(&common::gpu(), &cache, TuneMode::Full);
    assert!(full.timed_runs > 0 && full.decisions.iter().all(|d| d.measured));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_cache_is_set_aside_and_foreign_file_left_alone() {
    let gpu = gpu();
    let dir = temp_dir("corrupt");
    let cache = Cache::in_dir(&dir);
    let file = dir.join(cache::FILE);

    std::fs::write(&file, b"{\"format\": \"purenoise-conv-tun").unwrap();
    let out = tune_with(&gpu, &cache, TuneMode::Cached);
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    let warning = &out.warnings[0];
    assert!(
        warning.starts_with("warning: ")
            && warning.contains(&file.display().to_string())
            && warning.contains("not valid JSON")
            && !warning.contains('\n'),
        "{warning}"
    );
    assert!(out.decisions.iter().all(|d| d.measured));
    // Replaced by a valid cache; the damaged one kept aside, not deleted.
    assert_eq!(read_json(&file)["format"], "purenoise-conv-tuning");
    assert_eq!(
        std::fs::read(dir.join(format!("{}.corrupt", cache::FILE))).unwrap(),
        b"{\"format\": \"purenoise-conv-tun"
    );
    assert_eq!(tune_with(&gpu, &cache, TuneMode::Cached).timed_runs, 0);

    // Our format, damaged inside: also corrupt.
    std::fs::write(
        &file,
        br#"{"format": "purenoise-conv-tuning", "version": 1, "adapters": 3}"#,
    )
    .unwrap();
    let out = tune_with(&gpu, &cache, TuneMode::Cached);
    assert!(out.warnings.len() == 1 && out.warnings[0].contains("damaged"));
    assert_eq!(read_json(&file)["adapters"].as_array().unwrap().len(), 1);

    // Another program's file (or a newer purenoise's) is never overwritten.
    for foreign in [
        r#"{"someone": "else"}"#,
        r#"{"format": "purenoise-conv-tuning", "version": 99, "adapters": []}"#,
    ] {
        std::fs::write(&file, foreign).unwrap();
        let out = tune_with(&gpu, &cache, TuneMode::Cached);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("will not be saved"));
        assert!(out.decisions.iter().all(|d| d.measured));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), foreign);
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no temporary files left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Convolutions after tuning (the ops then run the tuner's choices through `Gpu::tuned`) match
/// the f64 reference within the tolerance every candidate is held to in kernels-tests/conv.rs,
/// on awkward shapes; so do forced choices of every candidate and split count.
#[test]
fn tuned_convolutions_match_reference() {
    let gpu = gpu();
    let dir = temp_dir("reference");
    let cache = Cache::in_dir(&dir);
    let mut rng = rng(7);
    // (input, weight, stride, pad)
    let cases: [([usize; 4], [usize; 4], usize, usize); 3] = [
        ([3, 9, 11, 9], [70, 9, 3, 3], 1, 1),
        ([2, 6, 13, 11], [5, 6, 3, 3], 2, 1),
        ([3, 7, 6, 6], [11, 7, 1, 1], 2, 0),
    ];
    for (xs, ws, stride, pad) in cases {
        let ConvCase {
            xt,
            wt,
            dyt,
            shape: s,
            want_y,
            want_dx,
            want_dw,
        } = ConvCase::new(&gpu, &mut rng, xs, ws, stride, pad);
        let layer = ConvLayer {
            c_in: xs[1],
            c_out: ws[0],
            size: xs[2],
            k: ws[2],
            stride,
            count: 1,
        };
        let problems: Vec<Problem> = Pass::ALL
            .map(|pass| Problem {
                layer,
                shape: s,
                pass,
                act: DType::F32,
            })
            .into();
        let out = tune::tune(&gpu, &problems, TuneMode::Full, &cache, &mut |_, _, _| {}).unwrap();
        let check = |what: &str| {
            let case = format!("{what} {xs:?} * {ws:?} stride {stride}");
            let got = |t| read(&gpu, &t);
            let y = conv2d_forward(&gpu, &xt, &wt, &s).unwrap();
            assert_close(&format!("forward {case}"), &got(y), &want_y, 1e-4, 1e-4);
            let dx = conv2d_backward_input(&gpu, &dyt, &wt, &s).unwrap();
            assert_close(
                &format!("input grad {case}"),
                &got(dx),
                &want_dx,
                1e-4,
                1e-4,
            );
            let dw = conv2d_backward_weight(&gpu, &xt, &dyt, &s).unwrap();
            assert_close(
                &format!("weight grad {case}"),
                &got(dw),
                &want_dw,
                1e-4,
                1e-4,
            );
        };
        for d in &out.decisions {
            let chosen: ConvKernel = d.choice.chosen.kernel.parse().unwrap();
            assert_eq!(
                choice(&gpu, &s, d.problem.pass, DType::F32),
                (chosen, d.choice.chosen.splits)
            );
        }
        check("tuned");
        for tile in Tile::ALL.into_iter().filter(|t| t.runs_on(&gpu)) {
            // Direct, and Winograd where it applies; the weight gradient in one part and in three.
            let mut kernels = vec![ConvKernel::Direct(tile)];
            if winograd::eligible(&s, Pass::Forward) {
                for variant in winograd::Variant::ALL {
                    kernels.push(ConvKernel::Winograd(variant, tile));
                }
            }
            for kernel in kernels {
                for splits in [1, 3] {
                    for pass in Pass::ALL {
                        gpu.set_tuned(
                            s.tuning_key(pass, DType::F32),
                            Some(choice_text(kernel, splits)),
                        );
                    }
                    check(&format!("{kernel}/{splits}"));
                }
            }
        }
        // A choice this build cannot read falls back to the default.
        gpu.set_tuned(
            s.tuning_key(Pass::Forward, DType::F32),
            Some("no-such-kernel/1".into()),
        );
        assert_eq!(
            choice(&gpu, &s, Pass::Forward, DType::F32),
            default_choice(&gpu, &s, Pass::Forward)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn purenoise(cache_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env(cache::ENV, cache_dir)
        .output()
        .unwrap()
}

#[test]
fn bench_tune_reports_a_row_per_pass_and_reuses_the_cache() {
    let dir = temp_dir("bench");
    let args = [
        "bench",
        "tune",
        "--model",
        "resnet-8",
        "--batch-size",
        "2",
        "--json",
    ];
    let out = purenoise(&dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = tune::problems("resnet-8".parse().unwrap(), 2, Precision::F32);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), problems.len());
    // The image convolution's input gradient is never tuned (training never runs it).
    assert_eq!(problems.len(), 6 * 3 - 1);
    for (row, p) in rows.iter().zip(&problems) {
        assert_eq!(row["pass"], p.pass.name());
        assert_eq!(row["layer"]["c_in"], p.layer.c_in);
        assert_eq!(row["input"][0], 2);
        assert_eq!(row["measured"], true);
        let kernel = row["chosen"]["kernel"].as_str().unwrap();
        let parsed: ConvKernel = kernel.parse().unwrap();
        assert!(Tile::ALL.contains(&parsed.tile()), "{kernel}");
        let (gflops, of_peak) = (
            row["chosen"]["gflops"].as_f64().unwrap(),
            row["chosen"]["of_peak"].as_f64().unwrap(),
        );
        assert!(gflops > 0.0 && of_peak > 0.0);
        let peak = report["peak"]["fma_gflops"].as_f64().unwrap();
        assert!((gflops / peak - of_peak).abs() < 1e-9);
        assert!(row["gain"].as_f64().unwrap() >= 1.0, "{row}");
    }
    assert!(report["timed_runs"].as_u64().unwrap() >= rows.len() as u64);
    assert_eq!(
        report["cache"],
        dir.join(cache::FILE).display().to_string().as_str()
    );

    let cached = purenoise(&dir, &[&args[..], &["--cached"][..]].concat());
    assert!(cached.status.success());
    let report: serde_json::Value = serde_json::from_slice(&cached.stdout).unwrap();
    assert_eq!(report["timed_runs"], 0);
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["measured"] == false));

    // The table, from the same cache: the choices of the first run.
    let table = purenoise(&dir, &[&args[..6], &["--cached"][..]].concat());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("runner-up") && text.contains("(cached)"),
        "{text}"
    );
    for row in rows {
        assert!(text.contains(row["chosen"]["kernel"].as_str().unwrap()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tuning cut short (here: killed once its cache file appears) keeps what it measured: the cache
/// is whole, holds those choices, and the next tuning measures only the rest.
#[test]
fn an_interrupted_tuning_keeps_what_it_measured() {
    let dir = temp_dir("interrupted");
    let args = ["bench", "tune", "--model", "resnet-8", "--batch-size", "2"];
    let mut child = Command::new(BIN)
        .args(args)
        .env(cache::ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let file = dir.join(cache::FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = read_json(&file)["adapters"][0]["choices"]
        .as_object()
        .unwrap()
        .len();
    let problems = tune::problems("resnet-8".parse().unwrap(), 2, Precision::F32).len();
    assert!(
        (1..problems).contains(&saved),
        "{saved} of {problems} saved"
    );

    let out = purenoise(&dir, &[&args[..], &["--cached", "--json"][..]].concat());
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), problems);
    let from_cache = rows.iter().filter(|r| r["measured"] == false).count();
    assert_eq!(from_cache, saved, "saved choices reused, the rest measured");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_accepts_tune_modes() {
    let dir = temp_dir("train");
    let run = |mode: &str, cache_dir: &Path| {
        let out_dir = dir.join(format!("run-{mode}"));
        purenoise(
            cache_dir,
            &[
                "train",
                "--preset",
                "quick",
                "--batch-size",
                "4",
                "--max-steps",
                "1",
                "--no-download",
                "--tune",
                mode,
                "--out",
                out_dir.to_str().unwrap(),
            ],
        )
    };
    let off_cache = dir.join("off-cache");
    let out = run("off", &off_cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("tuning"), "{stderr}");
    assert!(!off_cache.exists());

    let cache_dir = dir.join("cache");
    let out = run("cached", &cache_dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("tuning 17 of 17 convolution passes of resnet-8 at batch 4"),
        "{stderr}"
    );
    assert!(stderr.contains("tuned 17 convolution passes"), "{stderr}");
    // Without a terminal, progress comes as timestamped lines, closed by the total.
    assert!(
        stderr.lines().any(|l| l
            .get(19..)
            .is_some_and(|t| t.starts_with("Z tuning: 17 passes in "))),
        "{stderr}"
    );
    assert!(cache_dir.join(cache::FILE).exists());

    // Tuning that runs out of memory gives way to the untuned kernels; the step then fails
    // with training's own account of the limit.
    let oom = purenoise(
        &cache_dir,
        &[
            "--memory-limit",
            "2MiB",
            "train",
            "--preset",
            "quick",
            "--batch-size",
            "8",
            "--max-steps",
            "1",
            "--no-download",
            "--tune",
            "full",
            "--out",
            dir.join("run-oom").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&oom.stderr);
    assert!(!oom.status.success(), "{stderr}");
    let stopped = stderr
        .find("tuning stopped, the untuned kernels run: out of GPU memory")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        stderr[stopped..].contains("--memory-limit of 2.0 MiB"),
        "{stderr}"
    );

    let bad = purenoise(&cache_dir, &["train", "--tune", "sometimes"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--tune"));
    std::fs::remove_dir_all(&dir).unwrap();
}
