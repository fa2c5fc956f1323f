//! `purenoise shader NAME`: a kernel with its `//!include`s expanded, exactly the source naga
//! compiles; the kernels' names without NAME; an unknown NAME is an error that lists them.

use std::process::{Command, Output};

use purenoise::gpu::kernels;
use purenoise::ops::kernels::{ALL, CONV2D_FORWARD};

fn purenoise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purenoise"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names() -> Vec<&'static str> {
    ALL.iter().map(|k| k.name).collect()
}

#[test]
fn without_a_name_it_lists_every_kernel() {
    let out = purenoise(&["shader"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), names());
}

#[test]
fn a_kernel_prints_with_its_libraries_expanded() {
    // conv2d_forward: the kernel and five libraries, two of them included by other libraries.
    for arg in [
        "conv2d_forward",
        "conv2d_forward.wgsl",
        "shaders/conv2d_forward.wgsl",
    ] {
        let out = purenoise(&["shader", arg]);
        assert!(out.status.success(), "{arg}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
            text,
            kernels::expanded_source(&CONV2D_FORWARD.shader).unwrap(),
            "{arg}"
        );
        assert!(text.starts_with("// conv2d_forward:"), "{arg}");
        assert!(!text.contains("//!include"), "{arg}: an include left");
        let root = env!("CARGO_MANIFEST_DIR");
        for lib in [
            "conv_common.wgsl",
            "conv2d_forward_index.wgsl",
            "conv_packed_b.wgsl",
            "conv_gemm.wgsl",
            "conv_tiles_mn.wgsl",
        ] {
            let lib_text = std::fs::read_to_string(format!("{root}/shaders/lib/{lib}")).unwrap();
            let first = lib_text.lines().next().unwrap();
            assert!(text.contains(first), "{arg}: lib/{lib} is not in it");
        }
    }
    // Every kernel prints whole, as naga compiles it.
    for kernel in ALL {
        let out = purenoise(&["shader", kernel.name]);
        assert!(out.status.success(), "{}: {}", kernel.name, stderr(&out));
        let text = stdout(&out);
        assert_eq!(text, kernels::expanded_source(kernel).unwrap());
        assert!(text.contains("fn main("), "{}: no entry point", kernel.name);
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("//!")),
            "{}: a directive left",
            kernel.name
        );
    }
}

/// `--f16`: the mixed-precision variant, every element alias f16; a kernel without one (it
/// always runs in f32) is refused by name.
#[test]
fn f16_prints_the_mixed_precision_variant() {
    let out = purenoise(&["shader", "bn_apply", "--f16"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("enable f16;\n// bn_apply:"), "{text}");
    assert!(text.contains("alias act = f16;") && !text.contains("alias act = f32;"));
    let out = purenoise(&["shader", "sgd", "--f16"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("kernel `sgd` has no f16 variant"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_name_is_refused_with_the_list() {
    let out = purenoise(&["shader", "conv2d"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no kernel `conv2d` in shaders/"), "{err}");
    for name in names() {
        assert!(err.lines().any(|l| l == name), "{name} not listed: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&out).is_empty());
}
