//! The layer diagram in src/lib.rs holds: every `crate::…` path in src/ names a module of the
//! same layer or of a layer below. A new upward import fails here, naming the file and line.

use std::path::{Path, PathBuf};

/// Module path prefix → layer, lowest first. Modules of one layer may use each other (ops record
/// onto the tape, the tape replays ops); the longest matching prefix decides.
const LAYERS: &[(&str, u32)] = &[
    // Foundations: errors, bounded reads, atomic writes, lock files, seeded randomness, f64
    // references.
    ("error", 0),
    ("Error", 0),
    ("Result", 0),
    ("input", 0),
    ("atomic", 0),
    ("lockfile", 0),
    ("random", 0),
    ("reference", 0),
    // Progress bars and timestamped log lines, for every long-running command.
    ("progress", 0),
    // The host-side data pipeline: needs no GPU.
    ("data", 1),
    // The GPU runtime: device, tensors, buffer pool, kernels' plumbing.
    ("gpu", 2),
    ("kernel_params", 2),
    // Named parameters in GPU arenas.
    ("params", 3),
    // Kernels' ops, the tape that records their backward passes, the optimizer.
    ("ops", 4),
    ("autograd", 4),
    ("optim", 4),
    ("models", 5),
    ("tune", 6),
    ("train", 7),
    // Readers of finished run folders, and the benchmarks.
    ("report", 8),
    ("bench", 8),
    // Sweeps run `train` cells and summarise them with `report`.
    ("train::sweep", 9),
    // A sweep's plan file, parsed into the sweep's own flags.
    ("train::plan", 9),
];

/// Paths a module must not reach even though the layer allows it: (from, to, why).
const FORBIDDEN: &[(&str, &str, &str)] = &[(
    "train",
    "data::cli",
    "the command line of `purenoise dataset`; training takes `data::DataPipeline`",
)];

fn layer_of(path: &str) -> Option<(&'static str, u32)> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            path == *prefix
                || path.starts_with(&format!("{prefix}::"))
                || path.starts_with(&format!("{prefix}/"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(p, l)| (p, l))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under src/, e.g. `train/sweep.rs` → `train::sweep`.
fn module_of(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('/', "::");
    s.strip_suffix("::mod").unwrap_or(&s).to_string()
}

/// Every `crate::a::b` path in one line of code (comments stripped), with grouped imports
/// (`use crate::{a::b, c}`) split into their members.
fn crate_paths(code: &str) -> Vec<String> {
    let code = code.split("//").next().unwrap_or("");
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `$crate::` is a macro's own path, resolved where the macro is defined.
        let macro_path = rest[..i].ends_with('$');
        rest = &rest[i + "crate::".len()..];
        if macro_path {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let member = member.trim();
                if !member.is_empty() {
                    paths.push(ident_path(member));
                }
            }
        } else {
            paths.push(ident_path(rest));
        }
    }
    paths
}

fn ident_path(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect::<String>()
        .trim_end_matches(':')
        .to_string()
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        // lib.rs declares the modules; main.rs is the binary, above every layer.
        if module == "lib" || module == "main" {
            continue;
        }
        let (_, from) = layer_of(&module)
            .unwrap_or_else(|| panic!("src/{} is in no layer of tests/layers.rs", rel.display()));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for path in crate_paths(line) {
                checked += 1;
                let Some((_, to)) = layer_of(&path) else {
                    wrong.push(format!(
                        "src/{}:{}: `crate::{path}` is in no layer of tests/layers.rs",
                        rel.display(),
                        n + 1
                    ));
                    continue;
                };
                if to > from {
                    wrong.push(format!(
                        "src/{}:{}: `{module}` (layer {from}) uses `crate::{path}` (layer {to})",
                        rel.display(),
                        n + 1
                    ));
                }
                for (by, target, why) in FORBIDDEN {
                    if layer_of(&module).is_some_and(|(p, _)| p == *by)
                        && (path == *target || path.starts_with(&format!("{target}::")))
                    {
                        wrong.push(format!(
                            "src/{}:{}: `{module}` uses `crate::{path}`: {why}",
                            rel.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate paths found: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "upward dependencies:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_sees_plain_grouped_and_commented_paths() {
    assert_eq!(
        crate_paths("use crate::gpu::tensor::Tensor;"),
        ["gpu::tensor::Tensor"]
    );
    assert_eq!(
        crate_paths("use crate::{ops::conv, params};"),
        ["ops::conv", "params"]
    );
    assert_eq!(
        crate_paths("let x = crate::input::read(p); // crate::train"),
        ["input::read"]
    );
    assert!(crate_paths("/// [`x`](crate::train::run)").is_empty());
    assert!(crate_paths("impl $crate::gpu::kernels::KernelParams for X").is_empty());
    assert_eq!(layer_of("train::sweep::cells"), Some(("train::sweep", 9)));
    assert_eq!(layer_of("train::trainer"), Some(("train", 7)));
    assert_eq!(layer_of("Result"), Some(("Result", 0)));
    assert_eq!(layer_of("trainer"), None);
}
