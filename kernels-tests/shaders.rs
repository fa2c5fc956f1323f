//! Portability without a GPU: every kernel in shaders/ is validated by naga and translated by its
//! SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12) backends, so a shader one of them would reject
//! fails here on any machine; and every kernel's uniform `Params` matches the Rust struct that
//! fills it; every header names the kernel's reference and test, and both exist.

use purenoise::gpu::kernels::{self, Elements, Kernel, Shader};
use purenoise::gpu::tensor::DType;
use purenoise::kernel_params;
use purenoise::ops::kernels::{ADD_BIAS, ALL};
use purenoise::ops::LenParams;

#[test]
fn every_shader_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".wgsl").map(str::to_owned))
        .collect();
    files.sort();
    let mut registered: Vec<String> = ALL.iter().map(|k| k.name.to_owned()).collect();
    registered.sort();
    assert_eq!(
        files, registered,
        "shaders/*.wgsl and ops::kernels::ALL differ"
    );
}

#[test]
fn every_shader_opens_with_a_header_comment() {
    for k in ALL {
        let first = k.source.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("// {}:", k.name)),
            "shaders/{}.wgsl: header",
            k.name
        );
        assert!(
            k.source.contains("// Bindings:") && k.source.contains("// Workgroup:"),
            "shaders/{}.wgsl: header must list workgroup and bindings",
            k.name
        );
        // Whether the kernel keeps its accesses in bounds on its own, as the registry says.
        let bounds = if k.trusted {
            "// Bounds: trusted"
        } else {
            "// Bounds: checked"
        };
        assert!(
            k.source.contains(bounds),
            "shaders/{}.wgsl: header must say `{bounds}` and why",
            k.name
        );
    }
}

/// The header comment: the lines before the first that is not a `//` comment.
fn header(source: &str) -> Vec<&str> {
    source.lines().take_while(|l| l.starts_with("//")).collect()
}

/// `path::name` items on a header line (other words, such as a note in parentheses, are prose).
fn items(line: &str) -> Vec<(&str, &str)> {
    line.split([' ', ','])
        .filter_map(|word| word.rsplit_once("::"))
        .collect()
}

/// Whether `source` (Rust) defines `name` as a function.
fn defines_fn(source: &str, name: &str) -> bool {
    source.contains(&format!("fn {name}("))
}

/// Checks that a header (of `file`) ends with `// Reference:` and `// Test:` lines naming things
/// that exist: `module::fn` in src/<module>.rs, `path/file.rs::fn` of a test file.
fn check_reference_and_test(file: &str, source: &str) -> Result<(), String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).ok();
    let header = header(source);
    let [.., reference, test] = header[..] else {
        return Err(format!(
            "{file}: header too short for `// Reference:` and `// Test:`"
        ));
    };
    let (Some(reference), Some(test)) = (
        reference.strip_prefix("// Reference: "),
        test.strip_prefix("// Test: "),
    ) else {
        return Err(format!(
            "{file}: the header's last two lines must be `// Reference: reference::NAME` and \
             `// Test: kernels-tests/FILE.rs::NAME`"
        ));
    };
    if items(reference).is_empty() || items(test).is_empty() {
        return Err(format!(
            "{file}: `// Reference:` and `// Test:` must each name an item"
        ));
    }
    for (module, name) in items(reference) {
        let found = read(&format!("src/{module}.rs"))
            .or_else(|| read(&format!("src/{module}/mod.rs")))
            .is_some_and(|code| defines_fn(&code, name));
        if !found {
            return Err(format!(
                "{file}: `// Reference:` names `{module}::{name}`, which src/{module}.rs does not define"
            ));
        }
    }
    for (path, name) in items(test) {
        if !read(path).is_some_and(|code| defines_fn(&code, name)) {
            return Err(format!(
                "{file}: `// Test:` names `{path}::{name}`, which {path} does not define"
            ));
        }
    }
    Ok(())
}

/// Kernel, reference and test found by name: every kernel's header ends with the reference it is
/// checked against and the tests that check it, and both exist. Libraries (shaders/lib) are tested
/// through the kernels that include them; one that has a reference of its own names it the same
/// way (lib/random.wgsl: src/random.rs).
#[test]
fn every_shader_names_its_reference_and_test() {
    for k in ALL {
        check_reference_and_test(&format!("shaders/{}.wgsl", k.name), k.source)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/lib");
    for entry in std::fs::read_dir(lib).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        if source.contains("// Reference:") {
            check_reference_and_test(&path.display().to_string(), &source)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn a_header_naming_a_missing_reference_or_test_is_refused() {
    let good = "// k: what\n// Bindings: 0 params\n// Reference: reference::conv2d_forward\n\
                // Test: kernels-tests/conv.rs::conv_kernels_match_reference\n\nfn main() {}\n";
    assert_eq!(check_reference_and_test("k", good), Ok(()));
    let cases = [
        (
            good.replace("conv2d_forward", "conv2d_backward"),
            "`reference::conv2d_backward`, which src/reference.rs does not define",
        ),
        (
            good.replace("conv_kernels_match_reference", "conv_is_fine"),
            "`kernels-tests/conv.rs::conv_is_fine`, which kernels-tests/conv.rs does not define",
        ),
        (
            good.replace("kernels-tests/conv.rs", "kernels-tests/nothing.rs"),
            "kernels-tests/nothing.rs does not define",
        ),
        (
            good.replace("// Reference: reference::conv2d_forward\n", ""),
            "last two lines must be",
        ),
        (
            good.replace("reference::conv2d_forward", "the forward"),
            "must each name an item",
        ),
    ];
    for (source, want) in cases {
        let msg = check_reference_and_test("k", &source).unwrap_err();
        assert!(msg.contains(want), "{msg}");
    }
}

/// naga's backends need override constants resolved first, as wgpu does at pipeline creation.
fn resolved(
    kernel: &Shader,
    elements: Elements,
    lanes: u32,
) -> (naga::Module, naga::valid::ModuleInfo) {
    let (module, info) =
        kernels::validate_lanes(kernel, elements, lanes).unwrap_or_else(|e| panic!("{e}"));
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        None,
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{}: overrides: {e}", kernel.name));
    (module.into_owned(), info.into_owned())
}

/// Translates a kernel variant with naga's SPIR-V, MSL and HLSL backends (HLSL at shader model
/// 6.2, the first with 16-bit types, which DX12 adapters with SHADER_F16 support).
fn translate(kernel: &Shader, elements: Elements) {
    translate_lanes(kernel, elements, 1);
}

/// [`translate`] of the kernel's `lanes`-lane variant.
fn translate_lanes(kernel: &Shader, elements: Elements, lanes: u32) {
    let (module, info) = resolved(kernel, elements, lanes);
    let what = format!("{} {elements:?} {lanes} lanes", kernel.name);
    naga::back::spv::write_vec(&module, &info, &Default::default(), None)
        .unwrap_or_else(|e| panic!("{what}: SPIR-V: {e}"));
    naga::back::msl::write_string(&module, &info, &Default::default(), &Default::default())
        .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));
    let mut hlsl = String::new();
    let options = naga::back::hlsl::Options {
        shader_model: naga::back::hlsl::ShaderModel::V6_2,
        ..Default::default()
    };
    naga::back::hlsl::Writer::new(&mut hlsl, &options, &Default::default())
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));
    assert!(hlsl.contains("main"), "{what}: HLSL has no entry point");
}

#[test]
fn every_shader_translates_to_spirv_msl_and_hlsl() {
    for kernel in ALL {
        translate(kernel, &[]);
    }
}

/// The kernels that store activations: every `//!element` alias f16 (`--precision mixed`).
fn f16_variants() -> Vec<(&'static Shader, Vec<(String, DType)>)> {
    ALL.iter()
        .filter_map(|k| {
            let names = kernels::element_names(k).unwrap_or_else(|e| panic!("{e}"));
            (!names.is_empty()).then(|| (k, names.into_iter().map(|n| (n, DType::F16)).collect()))
        })
        .collect()
}

#[test]
fn every_f16_variant_translates_and_matches_its_params() {
    let variants = f16_variants();
    // Every activation kernel (the head's, the optimizer's and the benches' stay f32). The strip
    // and tap-row convolutions expand too, through their index libraries, though src/ops/conv.rs
    // only runs them on f32.
    assert_eq!(variants.len(), 25, "kernels with an f16 variant");
    for (kernel, elements) in variants {
        let elements: Vec<(&str, DType)> = elements.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let source = kernels::expanded_source_as(kernel, &elements).unwrap();
        assert!(
            source.starts_with("enable f16;\n") && source.contains("alias act = f16;"),
            "{}",
            kernel.name
        );
        translate(kernel, &elements);
        let (module, _) = kernels::validate_as(kernel, &elements).unwrap();
        kernels::check_params(kernel, &module).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The kernels with a four-lane variant (`//!lanes`: the batch norm's per-plane kernels,
/// relu_forward, relu_backward, add and accumulate), with f32 and with f16 elements.
#[test]
fn every_four_lane_variant_translates_and_matches_its_params() {
    let with_lanes: Vec<&Shader> = ALL
        .iter()
        .filter(|k| kernels::has_lanes(k).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut names: Vec<&str> = with_lanes.iter().map(|k| k.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accumulate",
            "add",
            "bn_apply",
            "bn_backward_input",
            "bn_backward_plane_sums",
            "bn_plane_stats",
            "relu_backward",
            "relu_forward"
        ]
    );
    for kernel in with_lanes {
        for dtype in [DType::F32, DType::F16] {
            let names = kernels::element_names(kernel).unwrap();
            let elements: Vec<(&str, DType)> = names.iter().map(|n| (n.as_str(), dtype)).collect();
            let source = kernels::expanded_source_lanes(kernel, &elements, 4).unwrap();
            assert!(
                source.contains("const LANES: u32 = 4u;")
                    && source.contains("alias actv = vec4<act>;")
                    && source.contains("alias f32v = vec4<f32>;"),
                "{}",
                kernel.name
            );
            translate_lanes(kernel, &elements, 4);
            let (module, _) = kernels::validate_lanes(kernel, &elements, 4).unwrap();
            kernels::check_params(kernel, &module).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn lanes_are_declared_and_checked() {
    use purenoise::ops::kernels::{BN_APPLY, SCALE_BY};
    // The one-lane expansion: scalar aliases.
    let source = kernels::expanded_source(&BN_APPLY.shader).unwrap();
    assert!(
        source.contains("const LANES: u32 = 1u;")
            && source.contains("alias actv = act;")
            && source.contains("alias f32v = f32;"),
        "{source}"
    );
    let msg = kernels::expanded_source_lanes(&SCALE_BY.shader, &[], 4)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("shaders/scale_by.wgsl") && msg.contains("no 4-lane variant"),
        "{msg}"
    );
    let msg = kernels::expanded_source_lanes(&BN_APPLY.shader, &[], 3)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("1 or 4"), "{msg}");
}

#[test]
fn element_types_are_named_and_checked() {
    use purenoise::ops::kernels::{RELU_FORWARD, SCALE_BY};
    // f32 expansion: the alias is f32 and nothing is enabled.
    let f32_source = kernels::expanded_source(&RELU_FORWARD.shader).unwrap();
    assert!(f32_source.contains("alias act = f32;") && !f32_source.contains("enable f16"));
    let msg = kernels::expanded_source_as(&SCALE_BY.shader, &[("act", DType::F16)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("shaders/scale_by.wgsl") && msg.contains("no element type `act`"),
        "{msg}"
    );
    let msg = kernels::expanded_source_as(&RELU_FORWARD.shader, &[("act", DType::U32)])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("f32 or f16"), "{msg}");
    // `purenoise shader NAME --f16`.
    let text = purenoise::ops::kernels::shader_text(Some("bn_apply"), true).unwrap();
    assert!(text.starts_with("enable f16;") && text.contains("array<actv>"));
    let msg = purenoise::ops::kernels::shader_text(Some("sgd"), true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`sgd` has no f16 variant"), "{msg}");
}

#[test]
fn a_broken_shader_is_reported_with_its_file_and_line() {
    let broken = Kernel::<LenParams>::new(
        "broken",
        "// broken: test\nfn main() { let x: f32 = 1u; }\n",
        false,
    );
    let msg = kernels::validate(&broken.shader).err().unwrap().to_string();
    assert!(
        msg.contains("shaders/broken.wgsl") && msg.contains("wgsl:2"),
        "{msg}"
    );
    let missing = Kernel::<LenParams>::new("missing", "//!include nothing.wgsl\n", false);
    let msg = kernels::validate(&missing.shader)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("nothing.wgsl"), "{msg}");
    // A library named twice (here directly and through reduce.wgsl) is expanded once.
    let twice = Kernel::<LenParams>::new(
        "twice",
        "//!include grid.wgsl\nconst REDUCE_THREADS: u32 = 64u;\nconst REDUCE_GROUP: u32 = 8u;\n\
         alias Reduced = f32;\n//!include reduce.wgsl\n",
        false,
    );
    let source = kernels::expanded_source(&twice.shader).unwrap();
    assert_eq!(source.matches("fn workgroup_index").count(), 1, "{source}");
    kernels::validate(&twice.shader).unwrap_or_else(|e| panic!("{e}"));
}

/// The check dispatch runs at pipeline creation, on every kernel and the struct it is typed by.
#[test]
fn every_kernel_params_struct_matches_its_shader() {
    for kernel in ALL {
        let (module, _) = kernels::validate(kernel).unwrap_or_else(|e| panic!("{e}"));
        kernels::check_params(kernel, &module).unwrap_or_else(|e| panic!("{e}"));
    }
}

kernel_params! {
    /// add_bias's `{ m: u32, n: u32 }` with the fields swapped.
    struct Swapped {
        n: u32,
        m: u32,
    }
}

kernel_params! {
    /// Renamed second field.
    struct Renamed {
        m: u32,
        cols: u32,
    }
}

kernel_params! {
    /// The right name and offset, the wrong type.
    struct Retyped {
        m: u32,
        n: f32,
    }
}

kernel_params! {
    /// One field short.
    struct Short {
        m: u32,
    }
}

kernel_params! {
    /// One field too many.
    struct Long {
        m: u32,
        n: u32,
        extra: u32,
    }
}

/// add_bias's source typed by `P`, as if the registry named the wrong struct.
fn add_bias_with<P: purenoise::gpu::KernelParams>() -> Result<(), String> {
    let kernel = Kernel::<P>::new("add_bias", ADD_BIAS.shader.source, true);
    let (module, _) = kernels::validate(&kernel.shader).unwrap();
    kernels::check_params(&kernel.shader, &module).map_err(|e| e.to_string())
}

#[test]
fn a_mismatched_params_struct_is_refused_naming_the_kernel_and_the_field() {
    let msg = add_bias_with::<Swapped>().unwrap_err();
    assert!(
        msg.contains("kernel `shaders/add_bias.wgsl`")
            && msg.contains(
                "field 0 is `m: u32` at byte 0 in the shader but `n: u32` at byte 0 in `Swapped`"
            ),
        "{msg}"
    );
    let msg = add_bias_with::<Renamed>().unwrap_err();
    assert!(
        msg.contains("field 1 is `n: u32` at byte 4 in the shader but `cols: u32` at byte 4"),
        "{msg}"
    );
    let msg = add_bias_with::<Retyped>().unwrap_err();
    assert!(
        msg.contains("field 1 is `n: u32` at byte 4 in the shader but `n: f32` at byte 4"),
        "{msg}"
    );
    let msg = add_bias_with::<Short>().unwrap_err();
    assert!(
        msg.contains("field 1 is `n: u32` at byte 4 in the shader but missing in `Short`"),
        "{msg}"
    );
    let msg = add_bias_with::<Long>().unwrap_err();
    assert!(
        msg.contains("field 2 is missing in the shader but `extra: u32` at byte 8 in `Long`"),
        "{msg}"
    );
    assert_eq!(
        add_bias_with::<purenoise::ops::MatrixParams>(),
        Ok(()),
        "the registered struct"
    );
}
