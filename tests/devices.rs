//! `purenoise devices` and adapter selection through the command line: the backend beside every
//! name, `--json`, `PURENOISE_ADAPTER` (the flag wins), and the note when a pattern matches
//! several adapters. Runs on whatever adapters the machine has (lavapipe offers two llvmpipes,
//! Vulkan and GL).

use std::process::{Command, Output};

use serde_json::Value;

/// The binary with `env` set and `PURENOISE_ADAPTER` otherwise unset (never the caller's).
fn purenoise(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_purenoise"));
    command
        .args(args)
        .env_remove("PURENOISE_ADAPTER")
        .env("RUST_BACKTRACE", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `devices --json` with `args` and `env`, parsed; fails the test when the command does.
fn devices_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = vec!["devices", "--json"];
    all.extend_from_slice(args);
    let out = purenoise(&all, env);
    assert!(out.status.success(), "{all:?} {env:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{all:?}: not JSON ({e}):\n{}", stdout(&out)))
}

fn selected_index(json: &Value) -> u64 {
    json["selected"]["index"].as_u64().unwrap()
}

#[test]
fn devices_json_lists_every_adapter_and_names_the_selected_one_with_its_backend() {
    let json = devices_json(&[], &[]);
    let adapters = json["adapters"].as_array().unwrap();
    assert!(!adapters.is_empty(), "{json}");
    for (i, a) in adapters.iter().enumerate() {
        assert_eq!(a["index"], i as u64, "{a}");
        for field in ["name", "backend", "device_type", "driver"] {
            assert!(a[field].is_string(), "{field}: {a}");
        }
        assert!(
            ["Vulkan", "Metal", "Dx12", "Gl", "BrowserWebGpu", "Noop"]
                .contains(&a["backend"].as_str().unwrap()),
            "{a}"
        );
        // Every limit the text prints, as a positive number (sizes in bytes).
        let limits = a["limits"].as_object().unwrap();
        assert_eq!(limits.len(), 9, "{a}");
        assert!(limits.values().all(|v| v.as_u64().unwrap() > 0), "{a}");
        for feature in ["f16", "subgroups", "timestamp_queries"] {
            assert!(a["features"][feature].is_boolean(), "{feature}: {a}");
        }
    }
    let selected = &json["selected"];
    let index = selected_index(&json) as usize;
    assert!(index < adapters.len(), "{json}");
    assert_eq!(selected["name"], adapters[index]["name"]);
    assert_eq!(selected["backend"], adapters[index]["backend"]);

    // The text form: the backend beside every name and in the `selected:` line.
    let out = purenoise(&["devices"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for a in adapters {
        let line = format!(
            "[{}] {} on {}",
            a["index"],
            a["name"].as_str().unwrap(),
            a["backend"].as_str().unwrap()
        );
        assert!(text.contains(&line), "`{line}` not in:\n{text}");
    }
    let line = format!(
        "selected: [{index}] {} on {}",
        selected["name"].as_str().unwrap(),
        selected["backend"].as_str().unwrap()
    );
    assert!(text.lines().any(|l| l == line), "`{line}` not in:\n{text}");

    // --adapter by index selects exactly that one, whichever the default would be.
    let last = adapters.len() - 1;
    let json = devices_json(&["--adapter", &last.to_string()], &[]);
    assert_eq!(selected_index(&json), last as u64);
    assert_eq!(json["selected"]["backend"], adapters[last]["backend"]);
}

#[test]
fn purenoise_adapter_selects_like_the_flag_and_the_flag_wins() {
    let all = devices_json(&[], &[]);
    let adapters = all["adapters"].as_array().unwrap();
    let last = adapters.len() - 1;

    // By index.
    let json = devices_json(&[], &[("PURENOISE_ADAPTER", &last.to_string())]);
    assert_eq!(selected_index(&json), last as u64);

    // By a part of the name, in another case (lavapipe's is "llvmpipe (LLVM …)"): the adapter
    // chosen is the best of those whose name contains it, as with --adapter.
    let name = adapters[last]["name"].as_str().unwrap();
    let pattern = name[..name.len().min(6)].to_uppercase();
    let by_env = devices_json(&[], &[("PURENOISE_ADAPTER", &pattern)]);
    let by_flag = devices_json(&["--adapter", &pattern], &[]);
    assert_eq!(by_env["selected"], by_flag["selected"]);
    assert!(by_env["selected"]["name"]
        .as_str()
        .unwrap()
        .to_uppercase()
        .contains(&pattern));

    // The flag wins over the variable, even over a bad one.
    let json = devices_json(
        &["--adapter", &last.to_string()],
        &[("PURENOISE_ADAPTER", "no-such-gpu")],
    );
    assert_eq!(selected_index(&json), last as u64);

    // A bad value fails as a bad --adapter does, naming the variable; so does an index past the
    // end, and so does every command that opens an adapter, not only `devices`.
    for (value, args, needles) in [
        (
            "no-such-gpu",
            &["devices"][..],
            &["PURENOISE_ADAPTER `no-such-gpu` matches no adapter", "0: "][..],
        ),
        (
            "no-such-gpu",
            &["bench", "peak"][..],
            &["PURENOISE_ADAPTER `no-such-gpu` matches no adapter"][..],
        ),
        (
            "99",
            &["devices", "--json"][..],
            &["PURENOISE_ADAPTER 99: there are only"][..],
        ),
    ] {
        let out = purenoise(args, &[("PURENOISE_ADAPTER", value)]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} with {value} succeeded");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: `{needle}` not in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        // --json prints nothing on stdout when it fails: no half a report to parse.
        if args.contains(&"--json") {
            assert!(out.stdout.is_empty(), "{}", stdout(&out));
        }
    }
    let out = purenoise(&["devices", "--adapter", "no-such-gpu"], &[]);
    assert!(
        stderr(&out).contains("--adapter `no-such-gpu` matches no adapter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pattern_matching_several_adapters_says_which_it_took() {
    let all = devices_json(&[], &[]);
    let adapters = all["adapters"].as_array().unwrap();
    let name = adapters[0]["name"].as_str().unwrap();
    let matching: Vec<u64> = adapters
        .iter()
        .filter(|a| a["name"].as_str().unwrap().contains(name))
        .map(|a| a["index"].as_u64().unwrap())
        .collect();
    let out = purenoise(&["devices", "--json", "--adapter", name], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let chosen = selected_index(&json);
    assert!(matching.contains(&chosen));
    let err = stderr(&out);
    if matching.len() > 1 {
        // On lavapipe: the Vulkan llvmpipe is taken, the GL one named as also matching.
        assert!(
            err.contains(&format!(
                "--adapter `{name}` matches {} adapters; using {chosen}: ",
                matching.len()
            )),
            "{err}"
        );
        for other in matching.iter().filter(|&&i| i != chosen) {
            let other = &adapters[*other as usize];
            let label = format!(
                "{}: {} on {}",
                other["index"],
                other["name"].as_str().unwrap(),
                other["backend"].as_str().unwrap()
            );
            assert!(err.contains(&label), "`{label}` not in:\n{err}");
        }
    } else {
        assert!(!err.contains("matches"), "{err}");
    }
    // An index is never ambiguous.
    let out = purenoise(&["devices", "--json", "--adapter", "0"], &[]);
    assert!(!stderr(&out).contains("matches"), "{}", stderr(&out));
}
