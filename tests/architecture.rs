//! ARCHITECTURE.md and the README's layout table stay true: every file or folder they name
//! exists, every `module::item` ARCHITECTURE.md names is defined where it says (a method in an
//! `impl` of its type), and the layout table lists every file and folder of src/. A failure
//! names the exact path or item that is missing.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Every .rs file under src/, with its text.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = read(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(ROOT).join("src"), &mut out);
    out
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `word` stands in `text` as a whole word after `before` (e.g. "fn ").
fn has_word_after(text: &str, before: &str, word: &str) -> bool {
    text.match_indices(&format!("{before}{word}"))
        .any(|(i, m)| {
            let next = text[i + m.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Whether the text defines `name` as an item (fn, type, const, static, module, macro).
fn defines(text: &str, name: &str) -> bool {
    [
        "fn ",
        "struct ",
        "enum ",
        "trait ",
        "type ",
        "const ",
        "static ",
        "mod ",
        "macro_rules! ",
    ]
    .iter()
    .any(|kw| has_word_after(text, kw, name))
}

/// Whether the text re-exports `name` (`pub use a::b::name;` or within `{…}`).
fn reexports(text: &str, name: &str) -> bool {
    text.split(';').any(|stmt| {
        let stmt = stmt.trim_start();
        stmt.starts_with("pub use ")
            && stmt
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == name)
    })
}

/// The file of crate module `path` (["train", "run"] → src/train/run.rs or src/train/run/mod.rs).
fn module_file(path: &[&str]) -> Option<PathBuf> {
    let base = Path::new(ROOT).join("src").join(path.join("/"));
    [base.with_extension("rs"), base.join("mod.rs")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Checks one `a::b::Item::member` path; the error says which name is missing where.
fn check_item(item: &str, sources: &[(PathBuf, String)]) -> Result<(), String> {
    let parts: Vec<&str> = item.split("::").collect();
    let modules = parts
        .iter()
        .take_while(|p| p.starts_with(|c: char| c.is_ascii_lowercase()))
        .count();
    let rel = |p: &Path| p.strip_prefix(ROOT).unwrap().display().to_string();
    // The longest prefix of lowercase names that is a module of the crate.
    let mut found_module = None;
    for k in (1..=modules).rev() {
        if let Some(file) = module_file(&parts[..k]) {
            found_module = Some((k, file));
            break;
        }
    }
    let (rest, scope): (&[&str], Vec<&(PathBuf, String)>) = match found_module {
        Some((k, file)) => {
            let rest = &parts[k..];
            let Some(&first) = rest.first() else {
                return Ok(()); // a module alone
            };
            let text = read(&file).unwrap();
            if !defines(&text, first) && !reexports(&text, first) {
                return Err(format!(
                    "`{item}`: {} does not define or re-export `{first}`",
                    rel(&file)
                ));
            }
            // Where `first` is defined: the module's file, or (re-exported) below its folder.
            let folder = file.parent().unwrap().to_path_buf();
            let scope = sources
                .iter()
                .filter(|(p, t)| {
                    (p == &file || (p.starts_with(&folder) && file.ends_with("mod.rs")))
                        && defines(t, first)
                })
                .collect();
            (rest, scope)
        }
        None if modules > 0 => {
            return Err(format!(
                "`{item}`: no module `{}` in src/ (write the path from the crate root)",
                parts[0]
            ))
        }
        // `Type::member`: the type wherever src/ defines it.
        None => {
            let scope: Vec<_> = sources
                .iter()
                .filter(|(_, t)| defines(t, parts[0]))
                .collect();
            if scope.is_empty() {
                return Err(format!("`{item}`: nothing in src/ defines `{}`", parts[0]));
            }
            (&parts[..], scope)
        }
    };
    if scope.is_empty() {
        return Err(format!(
            "`{item}`: the definition of `{}` is not found",
            rest[0]
        ));
    }
    // Members (methods, associated consts, variants) of the type `rest[0]`.
    let ty = rest[0];
    for member in &rest[1..] {
        let found = sources.iter().any(|(_, t)| {
            let impls = has_word_after(t, "impl ", ty)
                || t.match_indices("impl<").any(|(i, _)| {
                    t[i..].lines().next().is_some_and(|l| {
                        l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .any(|w| w == ty)
                    })
                });
            (impls && defines(t, member))
                || scope
                    .iter()
                    .any(|(_, s)| s == t && has_word_after(t, "    ", member))
        });
        if !found {
            return Err(format!(
                "`{item}`: no `{member}` of `{ty}` in src/ (fn, const or variant)"
            ));
        }
    }
    Ok(())
}

/// Repository paths in `text`: words with a `/` ending in `.rs`, `.wgsl` or `/`, or starting
/// with `src/`. Paths without a known top folder are relative to src/ (`gpu/pool.rs`).
fn paths(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "_./-*".contains(c)))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| w.contains('/') && !w.contains('*') && !w.starts_with('/'))
        .filter(|w| {
            w.ends_with(".rs") || w.ends_with(".wgsl") || w.ends_with('/') || w.starts_with("src/")
        })
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn check_path(path: &str) -> Result<(), String> {
    let top = [
        "src/",
        "shaders/",
        "kernels-tests/",
        "tests/",
        "bench/",
        "datasets/",
    ];
    let full = if top.iter().any(|t| path.starts_with(t)) {
        path.to_owned()
    } else {
        format!("src/{path}")
    };
    match Path::new(ROOT).join(&full).exists() {
        true => Ok(()),
        false => Err(format!("`{path}`: {full} does not exist")),
    }
}

/// `module::item` paths in inline code spans (`a::b`, `a::b(x)`, `Type::method`).
fn items(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.split('(').next().unwrap())
        .filter(|span| span.contains("::") && span.split("::").all(is_ident))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn architecture() -> String {
    read(&Path::new(ROOT).join("ARCHITECTURE.md")).unwrap()
}

#[test]
fn every_path_architecture_md_names_exists() {
    let missing: Vec<String> = paths(&architecture())
        .iter()
        .filter_map(|p| check_path(p).err())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_item_architecture_md_names_exists() {
    let sources = sources();
    let names = items(&architecture());
    assert!(names.len() > 20, "found only {names:?}");
    let missing: Vec<String> = names
        .iter()
        .filter_map(|i| check_item(i, &sources).err())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names items that do not exist:\n{}",
        missing.join("\n")
    );
}

/// The README's `## Layout` table: every path it names exists, and every file and folder of
/// src/ is in it.
#[test]
fn the_readme_layout_table_lists_every_part_of_src() {
    let readme = read(&Path::new(ROOT).join("README.md")).unwrap();
    let table = readme
        .split("\n## Layout\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a `## Layout` section");
    let missing: Vec<String> = paths(table)
        .iter()
        .filter_map(|p| check_path(p).err())
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's layout table names paths that do not exist:\n{}",
        missing.join("\n")
    );
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let listed = match entry.path().is_dir() {
            true => format!("`src/{name}/`"),
            false => format!("`src/{name}`"),
        };
        if !table.contains(&listed) {
            unlisted.push(listed);
        }
    }
    unlisted.sort();
    assert!(
        unlisted.is_empty(),
        "README.md's layout table does not list {}",
        unlisted.join(", ")
    );
}

/// The checks themselves catch what they are for.
#[test]
fn a_wrong_name_is_reported_exactly() {
    let sources = sources();
    assert_eq!(
        check_item("train::step::Step::forward_backward", &sources),
        Ok(())
    );
    assert_eq!(check_item("gpu::kernels::check_params", &sources), Ok(()));
    assert_eq!(check_item("Tile::choose", &sources), Ok(()));
    let cases = [
        (
            "train::run::Trainer::forward_backward",
            "`train::run::Trainer::forward_backward`: src/train/run.rs does not define or \
             re-export `Trainer`",
        ),
        (
            "train::trainer::Trainer::backward_forward",
            "`train::trainer::Trainer::backward_forward`: no `backward_forward` of `Trainer`",
        ),
        (
            "kernels::check_params",
            "`kernels::check_params`: no module `kernels` in src/",
        ),
        (
            "Tyle::choose",
            "`Tyle::choose`: nothing in src/ defines `Tyle`",
        ),
    ];
    for (item, want) in cases {
        let msg = check_item(item, &sources).unwrap_err();
        assert!(msg.starts_with(want), "{item}: {msg}");
    }
    assert_eq!(
        paths("see (src/gpu/mod.rs) and gpu/pool.rs, `src/bench/`; ERM/RS a/b shaders/*.wgsl"),
        ["gpu/pool.rs", "src/bench/", "src/gpu/mod.rs"]
    );
    assert_eq!(
        check_path("gpu/nothing.rs"),
        Err("`gpu/nothing.rs`: src/gpu/nothing.rs does not exist".into())
    );
}
