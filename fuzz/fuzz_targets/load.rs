//! Fuzz target: bytes as a usda, usdc or usdz layer (the first byte picks which), opened,
//! counted (`info`) and extracted through `usdrender::stage`, as `render` would. Any panic, abort
//! or hang is a finding; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let ext = ["usda", "usdc", "usdz"][kind as usize % 3];
    let dir = std::env::temp_dir().join(format!("usdrender-fuzz-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join(format!("input.{ext}"));
    if std::fs::write(&path, body).is_err() {
        return;
    }
    if let Ok(mut stage) = LoadedStage::open(&path, &OpenOptions::default()) {
        let options = ExtractOptions::default();
        let _ = stage.info(&options);
        if let Ok(scene) = stage.extract(&options) {
            let _ = stage.evaluate(&scene, 1.0);
        }
    }
});
