//! The tuner's cache: one JSON file, `conv-tuning.json`, in the user's cache folder
//! (`$PURENOISE_CACHE_DIR`, else the platform's cache directory + `purenoise`), holding each
//! adapter's choices by convolution shape and pass.
//!
//! An adapter is identified by its name, backend, driver and driver version, and by a fingerprint
//! of the convolution kernels' sources and the candidates (tiles, Winograd variants), so a driver
//! update or new kernels make its old choices miss (they are replaced at the next save). The file
//! is written through a temporary file and a rename. A file that is not valid JSON (a corrupt copy
//! of ours) is ignored with a warning, set aside as `conv-tuning.json.corrupt` and rewritten; a
//! valid JSON file of another format or a newer version is not ours to replace: it is ignored and
//! left as it is, and choices are then not saved.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Choice;
use crate::atomic;
use crate::gpu::{kernels, Gpu};
use crate::ops::conv::{winograd, Tile};
use crate::ops::kernels::{ALL, SUM_ROWS};

/// The environment variable that overrides the cache folder.
pub const ENV: &str = "PURENOISE_CACHE_DIR";
/// The file name inside the cache folder.
pub const FILE: &str = "conv-tuning.json";
const FORMAT: &str = "purenoise-conv-tuning";
const VERSION: u32 = 1;

/// What a set of choices was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterKey {
    pub name: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    /// FNV-1a of the convolution kernels' sources and the candidate tiles' and Winograd variants'
    /// names.
    pub kernels: String,
}

impl AdapterKey {
    pub fn of(gpu: &Gpu) -> AdapterKey {
        let info = gpu.info();
        AdapterKey {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            kernels: kernels_fingerprint(),
        }
    }

    fn same_adapter(&self, other: &AdapterKey) -> bool {
        (&self.name, &self.backend, &self.driver, &self.driver_info)
            == (
                &other.name,
                &other.backend,
                &other.driver,
                &other.driver_info,
            )
    }
}

fn kernels_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |text: &str| {
        for b in text.bytes().chain([0]) {
            hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for k in ALL {
        if k.name.starts_with("conv") || k.name == SUM_ROWS.shader.name {
            eat(&kernels::expanded_source(k).unwrap_or_else(|_| k.source.to_string()));
        }
    }
    for tile in Tile::ALL {
        eat(&tile.to_string());
    }
    for variant in winograd::Variant::ALL {
        eat(variant.prefix());
    }
    format!("{hash:016x}")
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: String,
    version: u32,
    adapters: Vec<AdapterEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AdapterEntry {
    adapter: AdapterKey,
    /// By `ConvShape::tuning_key`.
    choices: BTreeMap<String, Choice>,
}

/// What is at the cache path.
enum OnDisk {
    Missing,
    Ours(CacheFile),
    /// Not JSON, or our format damaged: ignored and set aside when saving.
    Corrupt(String),
    /// Unreadable, or valid JSON that is not our format (or a newer version): left alone.
    Foreign(String),
}

/// The cache file's location; `None` where there is no cache folder at all.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// `$PURENOISE_CACHE_DIR`, else the platform's cache directory (`~/.cache/purenoise` on
    /// Linux, `~/Library/Caches/purenoise` on macOS, `%LOCALAPPDATA%\purenoise` on Windows).
    pub fn user() -> Cache {
        let dir = match std::env::var_os(ENV) {
            Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
            _ => dirs::cache_dir().map(|d| d.join("purenoise")),
        };
        Cache { dir }
    }

    pub fn in_dir(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: Some(dir.into()),
        }
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(FILE))
    }

    fn read(&self) -> OnDisk {
        let Some(path) = self.path() else {
            return OnDisk::Missing;
        };
        let bytes = match crate::input::read_bounded(
            &path,
            crate::input::MAX_CONFIG_BYTES,
            "a tuning cache",
        ) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return OnDisk::Missing,
            Err(e) => return OnDisk::Foreign(format!("cannot read it: {e}")),
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return OnDisk::Corrupt(format!("not valid JSON ({e})")),
        };
        match (value.get("format"), value.get("version")) {
            (Some(f), Some(v)) if f == FORMAT && *v == VERSION => {}
            (Some(f), Some(v)) if f == FORMAT => {
                return OnDisk::Foreign(format!("written by another purenoise (version {v})"))
            }
            _ => return OnDisk::Foreign(format!("not a {FORMAT} file")),
        }
        match serde_json::from_value(value) {
            Ok(file) => OnDisk::Ours(file),
            Err(e) => OnDisk::Corrupt(format!("damaged ({e})")),
        }
    }

    /// The choices stored for `key`, and a one-line warning when the file was ignored.
    pub fn load(&self, key: &AdapterKey) -> (BTreeMap<String, Choice>, Option<String>) {
        let path = self.path().unwrap_or_default();
        match self.read() {
            OnDisk::Missing => (BTreeMap::new(), None),
            OnDisk::Ours(file) => {
                let choices = file
                    .adapters
                    .into_iter()
                    .find(|e| e.adapter == *key)
                    .map(|e| e.choices)
                    .unwrap_or_default();
                (choices, None)
            }
            OnDisk::Corrupt(why) => (
                BTreeMap::new(),
                Some(format!(
                    "warning: ignoring the tuning cache {}: {why}; it will be set aside as {}.corrupt and rewritten",
                    path.display(),
                    path.display()
                )),
            ),
            OnDisk::Foreign(why) => (
                BTreeMap::new(),
                Some(format!(
                    "warning: ignoring {}: {why}; tuned choices will not be saved there (set {ENV} to another folder)",
                    path.display()
                )),
            ),
        }
    }

    /// Stores `choices` as `key`'s (replacing what the file held for the same adapter, keeping
    /// other adapters'); a warning where nothing could be saved.
    pub fn save(&self, key: &AdapterKey, choices: &BTreeMap<String, Choice>) -> Option<String> {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.path()) else {
            return Some(format!(
                "warning: no cache folder (set {ENV}): tuned choices are not saved"
            ));
        };
        let mut file = match self.read() {
            OnDisk::Missing => None,
            OnDisk::Ours(file) => Some(file),
            OnDisk::Corrupt(_) => {
                let aside = dir.join(format!("{FILE}.corrupt"));
                if let Err(e) = fs::rename(&path, &aside) {
                    return Some(format!(
                        "warning: could not set the damaged tuning cache {} aside: {e}; tuned choices are not saved",
                        path.display()
                    ));
                }
                None
            }
            // Warned about when loaded.
            OnDisk::Foreign(_) => return None,
        }
        .unwrap_or(CacheFile {
            format: FORMAT.into(),
            version: VERSION,
            adapters: Vec::new(),
        });
        file.adapters.retain(|e| !e.adapter.same_adapter(key));
        file.adapters.push(AdapterEntry {
            adapter: key.clone(),
            choices: choices.clone(),
        });
        let text = serde_json::to_string_pretty(&file).expect("the cache serializes");
        if let Err(e) = fs::create_dir_all(dir) {
            return Some(format!(
                "warning: could not create the tuning cache folder {}: {e}; tuned choices are not saved",
                dir.display()
            ));
        }
        atomic::write(&path, text.as_bytes())
            .err()
            .map(|e| format!("warning: tuned choices are not saved: {e}"))
    }
}
