//! Every `shaders/*.wgsl` must parse and validate with naga (the same front end wgpu uses), so a
//! shader mistake fails `cargo test` on any machine, GPU or not. `visibility.wgsl` is not a module
//! of its own: it is checked as the renderer builds it (after mesh.wgsl, with primitive_index).

use std::path::PathBuf;

#[test]
fn every_wgsl_shader_parses_and_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    files.sort();
    // A check that finds nothing must not pass.
    assert!(!files.is_empty(), "no .wgsl files found in {}", dir.display());
    let mut failures = Vec::new();
    for path in &files {
        let composed = path.file_name().is_some_and(|n| n == "visibility.wgsl");
        let source = if composed {
            let source = usdrender::gpu::visibility::shader_source();
            let own = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                source.ends_with(&own),
                "{}: not what the renderer composes",
                path.display()
            );
            source
        } else {
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!(
                    "{}: parse error:\n{}",
                    path.display(),
                    e.emit_to_string(&source)
                ));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            if composed {
                naga::valid::Capabilities::default() | naga::valid::Capabilities::PRIMITIVE_INDEX
            } else {
                naga::valid::Capabilities::default()
            },
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(format!(
                "{}: validation error:\n{}",
                path.display(),
                e.emit_to_string(&source)
            ));
            continue;
        }
        let entry_points: Vec<&str> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
        println!("{}: ok, entry points {entry_points:?}", path.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_texture_table_source_validates_at_every_size_it_is_built_with() {
    // The compute shading pass reads up to MAX_TABLE_SLOTS textures: its source is mesh.wgsl and
    // visibility.wgsl with a generated `sample_slot` and the bindings past mesh.wgsl's 12.
    use usdrender::gpu::visibility::{shading_source, table_binding, MAX_TABLE_SLOTS};
    for slots in [12, 13, 30, MAX_TABLE_SLOTS] {
        let source = shading_source(slots);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{slots} slots: parse error:\n{}", e.emit_to_string(&source)));
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default() | naga::valid::Capabilities::PRIMITIVE_INDEX,
        );
        if let Err(e) = validator.validate(&module) {
            panic!("{slots} slots: validation error:\n{}", e.emit_to_string(&source));
        }
        let last = slots - 1;
        assert!(
            source.contains(&format!("textureSampleGrad(t{last}, s{last}")),
            "{slots}: reads entry {last}"
        );
        assert!(
            !source.contains(&format!("var t{slots}:")),
            "{slots}: declares no more than it has"
        );
        // Bindings of group 1 are distinct.
        let mut bindings: Vec<u32> = (0..slots).flat_map(table_binding).collect();
        bindings.sort_unstable();
        bindings.dedup();
        assert_eq!(bindings.len(), 2 * slots, "{slots}: distinct bindings");
    }
}
