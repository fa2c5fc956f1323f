//! Checkpoint files: exact round trip, standard safetensors layout, every kind of bad file, the
//! compatibility report, and atomic saves that never damage the previous file.

mod data_common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use purenoise::train::checkpoint::{
    check_compatible, check_compatible_file, load, load_verified, save, save_with_write_limit,
    Checkpoint, CheckpointError, NamedTensor, Verified, STATE_CHECKSUM_KEY, TENSORS_CHECKSUM_KEY,
};
use serde_json::json;

fn tmpdir(name: &str) -> PathBuf {
    data_common::temp_dir(&format!("ckpt-{name}"))
}

fn tensor(name: &str, shape: &[usize], data: Vec<f32>) -> NamedTensor {
    NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data,
    }
}

/// Values that a lossy path (text, f64 round trip, NaN canonicalization) would change.
fn sample() -> Checkpoint {
    let awkward = vec![
        0.1,
        -0.0,
        f32::MIN_POSITIVE / 2.0, // subnormal
        f32::MAX,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_1234), // NaN with a payload
        1.0 + f32::EPSILON,
        -3.5e-30,
    ];
    Checkpoint {
        tensors: vec![
            tensor("layer1.0.conv1.weight", &[2, 1, 2, 2], awkward),
            tensor("conv1.weight", &[2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            tensor("bn1.num_batches_tracked", &[], vec![7.0]),
            tensor("fc.bias", &[0], vec![]),
        ],
        state: json!({"epoch": 3, "step": 1234, "model": "wrn-16-4",
                      "rng": [1u64 << 60, 42], "lr": 0.1}),
    }
}

fn bits(t: &NamedTensor) -> Vec<u32> {
    t.data.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tmpdir("roundtrip");
    let path = dir.join("last.safetensors");
    let ckpt = sample();
    save(&path, &ckpt).unwrap();
    let back = load(&path).unwrap();
    assert_eq!(back.state, ckpt.state);
    let mut want = ckpt.tensors.clone();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(back.tensors.len(), want.len());
    for (b, w) in back.tensors.iter().zip(&want) {
        assert_eq!(b.name, w.name);
        assert_eq!(b.shape, w.shape);
        assert_eq!(bits(b), bits(w), "{}", w.name);
    }
    assert_eq!(back.get("conv1.weight").unwrap().data, [1.0, 2.0, 3.0, 4.0]);
    // Saving over an existing file replaces it and leaves nothing else in the folder.
    let mut second = ckpt.clone();
    second.state = json!({"epoch": 4});
    save(&path, &second).unwrap();
    assert_eq!(load(&path).unwrap().state, json!({"epoch": 4}));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_is_standard_safetensors() {
    let dir = tmpdir("layout");
    let path = dir.join("c.safetensors");
    let ckpt = sample();
    save(&path, &ckpt).unwrap();
    let bytes = fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut covered = 0;
    for t in &ckpt.tensors {
        let h = &header[&t.name];
        assert_eq!(h["dtype"], "F32", "{}", t.name);
        assert_eq!(h["shape"], json!(t.shape));
        let (s, e) = (
            h["data_offsets"][0].as_u64().unwrap() as usize,
            h["data_offsets"][1].as_u64().unwrap() as usize,
        );
        assert_eq!(e - s, 4 * t.data.len());
        let le: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(&data[s..e], &le[..], "{}", t.name);
        covered += e - s;
    }
    assert_eq!(covered, data.len());
    let meta = &header["__metadata__"];
    assert_eq!(meta["purenoise.format"], "1");
    for key in [TENSORS_CHECKSUM_KEY, STATE_CHECKSUM_KEY] {
        let sum = meta[key].as_str().unwrap();
        assert!(
            sum.len() == 24 && sum.starts_with("xxh3-64:"),
            "{key}: {sum}"
        );
    }
    let state: serde_json::Value =
        serde_json::from_str(meta["purenoise.state"].as_str().unwrap()).unwrap();
    assert_eq!(state, ckpt.state);
    fs::remove_dir_all(&dir).unwrap();
}

fn load_err(path: &Path) -> String {
    let e = load(path).expect_err("a bad file must not load");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message must name the file: {msg}"
    );
    msg
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tmpdir("bad");
    let good = dir.join("good.safetensors");
    save(&good, &sample()).unwrap();
    let bytes = fs::read(&good).unwrap();

    let missing = dir.join("nope.safetensors");
    let msg = load_err(&missing);
    assert!(msg.contains("cannot read checkpoint"), "{msg}");
    assert!(matches!(load(&missing), Err(CheckpointError::Read { .. })));

    // Truncated in the data, in the header, and in the length field.
    for (cut, want) in [
        (bytes.len() - 3, "truncated"),
        (20, "truncated"),
        (5, "too short"),
        (0, "too short"),
    ] {
        let p = dir.join(format!("cut{cut}.safetensors"));
        fs::write(&p, &bytes[..cut]).unwrap();
        let msg = load_err(&p);
        assert!(msg.contains(want), "cut at {cut}: {msg}");
    }

    let p = dir.join("garbage.safetensors");
    let junk = b"{\"a\": this is not json at all}";
    let mut g = (junk.len() as u64).to_le_bytes().to_vec();
    g.extend_from_slice(junk);
    fs::write(&p, &g).unwrap();
    let msg = load_err(&p);
    assert!(msg.contains("not valid safetensors JSON"), "{msg}");

    let p = dir.join("huge.safetensors");
    fs::write(&p, [0xffu8; 64]).unwrap();
    let msg = load_err(&p);
    assert!(msg.contains("not a safetensors file"), "{msg}");

    fs::remove_dir_all(&dir).unwrap();
}

/// A safetensors file written by the crate directly, as another tool would.
fn write_raw(path: &Path, dtype: safetensors::Dtype, meta: Option<HashMap<String, String>>) {
    let data = [0u8; 16];
    let view =
        safetensors::tensor::TensorView::new(dtype, vec![2], &data[..2 * dtype.bitsize() / 8])
            .unwrap();
    let bytes = safetensors::serialize([("w", view)], meta).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn wrong_dtype_and_missing_state_are_errors() {
    let dir = tmpdir("dtype");
    let ours = |state: &str| {
        HashMap::from([
            ("purenoise.format".to_string(), "1".to_string()),
            ("purenoise.state".to_string(), state.to_string()),
        ])
    };

    let p = dir.join("f64.safetensors");
    write_raw(&p, safetensors::Dtype::F64, Some(ours("{}")));
    let msg = load_err(&p);
    assert!(
        msg.contains("tensor `w` is F64") && msg.contains("F32"),
        "{msg}"
    );

    let p = dir.join("plain.safetensors");
    write_raw(&p, safetensors::Dtype::F32, None);
    let msg = load_err(&p);
    assert!(msg.contains("not a purenoise checkpoint"), "{msg}");

    let p = dir.join("nostate.safetensors");
    let mut meta = ours("{}");
    meta.remove("purenoise.state");
    write_raw(&p, safetensors::Dtype::F32, Some(meta));
    let msg = load_err(&p);
    assert!(msg.contains("no `purenoise.state`"), "{msg}");

    let p = dir.join("badstate.safetensors");
    write_raw(&p, safetensors::Dtype::F32, Some(ours("{epoch: 3")));
    let msg = load_err(&p);
    assert!(msg.contains("not valid JSON"), "{msg}");

    let p = dir.join("future.safetensors");
    let mut meta = ours("{}");
    meta.insert("purenoise.format".into(), "2".into());
    write_raw(&p, safetensors::Dtype::F32, Some(meta));
    let msg = load_err(&p);
    assert!(msg.contains("format version 2"), "{msg}");

    // The same file with a valid state loads.
    let p = dir.join("ok.safetensors");
    write_raw(&p, safetensors::Dtype::F32, Some(ours("{\"epoch\": 1}")));
    let ok = load(&p).unwrap();
    assert_eq!(ok.state, json!({"epoch": 1}));
    assert_eq!(ok.tensors, [tensor("w", &[2], vec![0.0, 0.0])]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_checkpoints_are_refused_before_writing() {
    let dir = tmpdir("invalid");
    let path = dir.join("x.safetensors");
    let mut c = sample();
    c.tensors.push(tensor("odd", &[2, 3], vec![0.0; 5]));
    let msg = save(&path, &c).unwrap_err().to_string();
    assert!(msg.contains("`odd`") && msg.contains("[2,3]"), "{msg}");
    let mut c = sample();
    c.tensors.push(tensor("fc.bias", &[1], vec![0.0]));
    let msg = save(&path, &c).unwrap_err().to_string();
    assert!(msg.contains("`fc.bias` is used twice"), "{msg}");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compatibility_report_names_every_difference() {
    let ckpt = Checkpoint {
        tensors: vec![
            tensor("conv1.weight", &[16, 3, 3, 3], vec![0.0; 432]),
            tensor("layer1.0.conv1.weight", &[160, 16, 3, 3], vec![0.0; 23040]),
            tensor("fc.weight", &[10, 4], vec![0.0; 40]),
            tensor("layer1.0.bn1_noise.weight", &[16], vec![0.0; 16]),
        ],
        state: json!({"model": "wrn-28-10"}),
    };
    let want = |n: &str, s: &[usize]| (n.to_string(), s.to_vec());
    let same = [
        want("conv1.weight", &[16, 3, 3, 3]),
        want("layer1.0.conv1.weight", &[160, 16, 3, 3]),
        want("fc.weight", &[10, 4]),
        want("layer1.0.bn1_noise.weight", &[16]),
    ];
    check_compatible(&same, &ckpt).unwrap();

    let model = [
        want("conv1.weight", &[16, 3, 3, 3]),
        want("layer1.0.conv1.weight", &[64, 16, 3, 3]),
        want("fc.weight", &[100, 4]),
        want("fc.bias", &[100]),
    ];
    let err =
        check_compatible_file(Path::new("runs/x/last.safetensors"), &model, &ckpt).unwrap_err();
    let CheckpointError::Incompatible(r) = &err else {
        panic!("{err}")
    };
    assert_eq!(r.missing, ["fc.bias"]);
    assert_eq!(r.unexpected, ["layer1.0.bn1_noise.weight"]);
    assert_eq!(
        r.shapes,
        [
            (
                "layer1.0.conv1.weight".to_string(),
                vec![64, 16, 3, 3],
                vec![160, 16, 3, 3]
            ),
            ("fc.weight".to_string(), vec![100, 4], vec![10, 4]),
        ]
    );
    assert_eq!(r.saved_for.as_deref(), Some("wrn-28-10"));
    let msg = err.to_string();
    for part in [
        "checkpoint runs/x/last.safetensors does not fit this model",
        "saved for model `wrn-28-10`",
        "layer1.0.conv1.weight with shape [160,16,3,3], the model wants [64,16,3,3]",
        "fc.weight with shape [10,4], the model wants [100,4]",
        "missing 1 tensors the model needs: fc.bias",
        "1 tensors the model does not have: layer1.0.bn1_noise.weight",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }

    // Long lists are cut to five names and a count.
    let many: Vec<(String, Vec<usize>)> = (0..8).map(|i| want(&format!("t{i}"), &[1])).collect();
    let msg = check_compatible(&many, &Checkpoint::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing 8 tensors the model needs: t0, t1, t2, t3, t4 and 3 more"),
        "{msg}"
    );
    assert!(msg.contains("saved for another model"), "{msg}");
}

#[test]
fn failed_saves_keep_the_old_file_and_leave_no_temp() {
    let dir = tmpdir("atomic");
    let path = dir.join("last.safetensors");
    let old = sample();
    save(&path, &old).unwrap();
    let old_bytes = fs::read(&path).unwrap();
    let mut new = sample();
    new.state = json!({"epoch": 99});

    // Disk full halfway through the temporary file.
    for limit in [0, 10, old_bytes.len() / 2] {
        let err = save_with_write_limit(&path, &new, limit).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("disk full"),
            "{msg}"
        );
        assert!(
            msg.contains("previous checkpoint there is untouched"),
            "{msg}"
        );
        assert_eq!(fs::read(&path).unwrap(), old_bytes);
        assert_eq!(data_common::entries(&dir), ["last.safetensors"]);
    }

    // The rename fails (the target is a non-empty folder): the temporary file is removed.
    let blocked = dir.join("blocked.safetensors");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), b"x").unwrap();
    let msg = save(&blocked, &new).unwrap_err().to_string();
    assert!(msg.contains("renaming"), "{msg}");
    assert_eq!(
        data_common::entries(&dir),
        ["blocked.safetensors", "last.safetensors"]
    );
    assert_eq!(data_common::entries(&blocked), ["keep"]);

    // A folder that does not exist.
    let msg = save(&dir.join("no/such/last.safetensors"), &new)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("does the folder exist"), "{msg}");

    // A read-only folder; root may write there anyway, so this part only runs where the
    // permission is enforced.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("ro");
        fs::create_dir(&ro).unwrap();
        let target = ro.join("last.safetensors");
        save(&target, &old).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let enforced = fs::write(ro.join("probe"), b"").is_err();
        if enforced {
            let msg = save(&target, &new).unwrap_err().to_string();
            assert!(msg.contains("is the folder writable"), "{msg}");
            assert_eq!(fs::read(&target).unwrap(), old_bytes);
            assert_eq!(data_common::entries(&ro), ["last.safetensors"]);
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }

    // After all that, a normal save still works.
    save(&path, &new).unwrap();
    assert_eq!(load(&path).unwrap().state, json!({"epoch": 99}));
    fs::remove_dir_all(&dir).unwrap();
}

/// The header JSON of a safetensors file: (start, end) of its bytes.
fn header_span(bytes: &[u8]) -> (usize, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (8, 8 + n)
}

/// `bytes` with the one occurrence of `from` in the header replaced by `to` (same length, so
/// every offset stays valid and only the checksums can tell).
fn replace_in_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let (s, e) = header_span(bytes);
    let header = &bytes[s..e];
    let hits: Vec<usize> = (0..header.len() - from.len())
        .filter(|&i| &header[i..i + from.len()] == from.as_bytes())
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "`{from}` in {}",
        String::from_utf8_lossy(header)
    );
    let mut out = bytes.to_vec();
    out[s + hits[0]..s + hits[0] + to.len()].copy_from_slice(to.as_bytes());
    out
}

fn corrupt_msg(path: &Path, part: &str) -> String {
    let e = load(path).expect_err("a corrupted file must not load");
    assert!(
        matches!(&e, CheckpointError::Corrupt { part: p, .. } if p.contains(part)),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("checkpoint {} is corrupted", path.display())),
        "{msg}"
    );
    msg
}

#[test]
fn a_damaged_byte_in_data_state_or_tensor_table_is_refused() {
    let dir = tmpdir("corrupt");
    let path = dir.join("c.safetensors");
    save(&path, &sample()).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(load_verified(&path).unwrap().1, Verified::Checksums);

    // A flipped bit in the data section (the last value of some tensor).
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    fs::write(&path, &flipped).unwrap();
    let msg = corrupt_msg(&path, "tensor data");
    // Not a run's checkpoint: nothing to fall back on but a backup.
    assert!(msg.ends_with("restore it from a backup"), "{msg}");

    // Changes to the header that keep it valid safetensors: a tensor's name, its shape (same
    // number of values), its dtype (same width).
    for (from, to) in [
        ("\"conv1.weight\"", "\"conv2.weight\""),
        ("\"shape\":[2,2]", "\"shape\":[4,1]"),
        (
            "\"dtype\":\"F32\",\"shape\":[2,2]",
            "\"dtype\":\"I32\",\"shape\":[2,2]",
        ),
    ] {
        fs::write(&path, replace_in_header(&bytes, from, to)).unwrap();
        corrupt_msg(&path, "tensor data");
    }
    // Offsets of two tensors of the same size swapped: the checksum covers each name's data.
    // (`0` first, so both offsets of `a` and `b` have two digits.)
    let three = Checkpoint {
        tensors: vec![
            tensor("0", &[4], vec![0.0; 4]),
            tensor("a", &[2], vec![1.0, 2.0]),
            tensor("b", &[2], vec![3.0, 4.0]),
        ],
        state: json!({}),
    };
    save(&path, &three).unwrap();
    let b3 = fs::read(&path).unwrap();
    let swapped = replace_in_header(&b3, "[16,24]", "[99,99]");
    let swapped = replace_in_header(&swapped, "[24,32]", "[16,24]");
    let swapped = replace_in_header(&swapped, "[99,99]", "[24,32]");
    fs::write(&path, swapped).unwrap();
    corrupt_msg(&path, "tensor data");

    // A digit of the training state: still valid JSON, but not what was saved.
    fs::write(
        &path,
        replace_in_header(&bytes, "\\\"step\\\":1234", "\\\"step\\\":1235"),
    )
    .unwrap();
    corrupt_msg(&path, "training state");

    // A damaged checksum key name must not pass the file off as an older one without them.
    fs::write(
        &path,
        replace_in_header(&bytes, STATE_CHECKSUM_KEY, "purenoise.checksum.statf"),
    )
    .unwrap();
    let msg = load_err(&path);
    assert!(
        msg.contains("keys this build does not know (purenoise.checksum.statf)"),
        "{msg}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupted_run_checkpoint_points_to_the_other_one() {
    let dir = tmpdir("fallback");
    let (last, best) = (dir.join("last.safetensors"), dir.join("best.safetensors"));
    let at = |epoch: u64| {
        let mut c = sample();
        c.state = json!({"model": "resnet-8", "position": {"epoch": epoch, "batch": 0}});
        c
    };
    save(&last, &at(7)).unwrap();
    save(&best, &at(5)).unwrap();
    let damage = |p: &Path| {
        let mut b = fs::read(p).unwrap();
        let i = b.len() - 5;
        b[i] ^= 0x40;
        fs::write(p, b).unwrap();
    };

    // last is damaged, best is intact: use best, and how to resume from it.
    let good_last = fs::read(&last).unwrap();
    damage(&last);
    let msg = corrupt_msg(&last, "tensor data");
    assert!(
        msg.contains(&format!(
            "the run's other checkpoint {} (epoch 5) is intact: use it instead",
            best.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("copy best.safetensors to last.safetensors and resume"),
        "{msg}"
    );

    // best is damaged, last is intact.
    fs::write(&last, &good_last).unwrap();
    damage(&best);
    let msg = corrupt_msg(&best, "tensor data");
    assert!(
        msg.contains(&format!(
            "the run's other checkpoint {} (epoch 7) is intact: use it instead",
            last.display()
        )),
        "{msg}"
    );
    assert!(!msg.contains("resume"), "{msg}");

    // Both damaged.
    damage(&last);
    let msg = corrupt_msg(&last, "tensor data");
    assert!(
        msg.contains(&format!(
            "the run's other checkpoint {} cannot be used either (checkpoint {} is corrupted",
            best.display(),
            best.display()
        )),
        "{msg}"
    );

    // No other checkpoint.
    fs::remove_file(&best).unwrap();
    let msg = corrupt_msg(&last, "tensor data");
    assert!(
        msg.contains("the run has no best.safetensors to fall back on"),
        "{msg}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_older_checkpoint_without_checksums_still_loads() {
    let dir = tmpdir("legacy");
    let p = dir.join("old.safetensors");
    let meta = HashMap::from([
        ("purenoise.format".to_string(), "1".to_string()),
        ("purenoise.state".to_string(), "{\"epoch\": 2}".to_string()),
    ]);
    write_raw(&p, safetensors::Dtype::F32, Some(meta.clone()));
    let (ckpt, verified) = load_verified(&p).unwrap();
    assert_eq!(verified, Verified::NoChecksums);
    assert_eq!(ckpt.state, json!({"epoch": 2}));
    assert_eq!(ckpt.tensors, [tensor("w", &[2], vec![0.0, 0.0])]);

    // One checksum without the other is a damaged header, not an older file.
    let mut half = meta.clone();
    half.insert(
        TENSORS_CHECKSUM_KEY.into(),
        "xxh3-64:0000000000000000".into(),
    );
    write_raw(&p, safetensors::Dtype::F32, Some(half));
    let msg = load_err(&p);
    assert!(msg.contains("without the other"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_without_blocking() {
    let dir = tmpdir("special");
    let fifo = dir.join("last.safetensors");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    // A blocked open would hang the test: the load runs on a thread with a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = fifo.clone();
    std::thread::spawn(move || tx.send(load(&p).map(|_| ()).map_err(|e| e.to_string())));
    let msg = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("loading a FIFO blocked")
        .unwrap_err();
    assert!(
        msg.contains(&fifo.display().to_string()) && msg.contains("named pipe (FIFO)"),
        "{msg}"
    );
    let msg = load_err(&dir);
    assert!(msg.contains("it is a folder"), "{msg}");
    let msg = load_err(Path::new("/dev/zero"));
    assert!(msg.contains("character device"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}
