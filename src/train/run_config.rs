//! `config.json`: a run's flags, and the proof that purenoise wrote the folder.
//!
//! The file marks its folder as a purenoise run (`purenoise_run`, the format version) and names
//! the run (`run_id`, random, chosen when the run is created and recorded in every checkpoint),
//! so a folder can be recognized before anything in it is replaced, and a checkpoint can be
//! matched to its run. Folders written before this format hold the bare flags; they are read
//! as runs without an id.

use std::path::{Path, PathBuf};

use super::args::TrainArgs;
use super::error::{Result, TrainError};
use super::files::{write_atomic, CONFIG_FILE};

/// The `purenoise_run` value this build writes.
pub const RUN_FORMAT: u32 = 1;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    /// Format version of this file; its presence marks the folder as a purenoise run.
    pub purenoise_run: u32,
    /// Random hex id chosen at creation (`None` for folders from before run ids).
    pub run_id: Option<String>,
    /// The program version that created the run.
    pub program_version: String,
    /// The git commit that program was built from, when it was built from a checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Where the run started; a record only, not part of the run's identity (a resumed run may
    /// run elsewhere). `None` in runs from before these were recorded, and outside `train`.
    #[serde(default)]
    pub started_on: Option<StartedOn>,
    pub args: TrainArgs,
    /// Flags changed on resume, oldest first (free-form records).
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
    /// The run's own copy of the `--subset-indices` list (None without that flag, and for runs
    /// from before copies were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset_indices: Option<SubsetCopy>,
}

/// Where a run started: the adapter and the folders as resolved, whatever flags, environment
/// variables or defaults named them. The folders are records for people, not read back: a
/// path that is not UTF-8 (a non-UTF-8 working folder, say) is kept with its odd bytes replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartedOn {
    /// The adapter, as `purenoise devices` names it ("NAME on BACKEND").
    pub adapter: String,
    /// The data folder (absolute).
    pub data_dir: String,
    /// The run folder (absolute).
    pub run_dir: String,
}

impl StartedOn {
    pub fn new(adapter: String, data_dir: &Path, run_dir: &Path) -> StartedOn {
        let absolute = |p: &Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .to_string_lossy()
                .into_owned()
        };
        StartedOn {
            adapter,
            data_dir: absolute(data_dir),
            run_dir: absolute(run_dir),
        }
    }
}

/// The copy of the `--subset-indices` list kept in the run folder, so the run does not depend on
/// a file outside it, and the SHA-256 of its bytes, so a changed copy is noticed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubsetCopy {
    /// File name inside the run folder.
    pub file: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

/// The fixed name of the copy.
pub const SUBSET_COPY_FILE: &str = "subset_indices.txt";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SubsetCopy {
    /// Writes `indices` (the list the run loaded, one per line) into `run_dir`.
    pub fn write(run_dir: &Path, indices: &[usize]) -> Result<SubsetCopy> {
        let text: String = indices.iter().map(|i| format!("{i}\n")).collect();
        write_atomic(&run_dir.join(SUBSET_COPY_FILE), text.as_bytes())?;
        Ok(SubsetCopy {
            file: SUBSET_COPY_FILE.into(),
            sha256: sha256_hex(text.as_bytes()),
        })
    }

    /// The copy's path in `run_dir`, once its bytes are proven to be the ones recorded.
    pub fn verify(&self, run_dir: &Path) -> Result<PathBuf> {
        let path = run_dir.join(&self.file);
        // At most 64 bytes per index, as the index-list reader allows for the whole dataset.
        let bytes = crate::input::read_bounded(&path, 64 << 20, "a --subset-indices list")
            .map_err(|e| {
                TrainError::io("read the run's copy of its --subset-indices list", &path, e)
            })?;
        let found = sha256_hex(&bytes);
        if found != self.sha256 {
            return Err(TrainError::Other(format!(
                "{}: the run's copy of its --subset-indices list was changed after the run \
                 started (SHA-256 {found}, but the run recorded {}); restore the original list \
                 there, or start a new run with the new list",
                path.display(),
                self.sha256
            )));
        }
        Ok(path)
    }
}

impl RunConfig {
    /// A new run's configuration with a fresh id.
    pub fn new(args: TrainArgs) -> RunConfig {
        RunConfig {
            purenoise_run: RUN_FORMAT,
            run_id: Some(format!("{:032x}", rand::random::<u128>())),
            program_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("PURENOISE_GIT_COMMIT").map(str::to_string),
            started_on: None,
            args,
            history: Vec::new(),
            subset_indices: None,
        }
    }

    /// Parses `config.json`'s text: this format, or the bare flags older runs saved.
    pub fn parse(text: &str) -> std::result::Result<RunConfig, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        if value.get("purenoise_run").is_some() {
            return serde_json::from_value(value);
        }
        Ok(RunConfig {
            purenoise_run: 0,
            run_id: None,
            program_version: String::new(),
            git_commit: None,
            started_on: None,
            args: serde_json::from_value(value)?,
            history: Vec::new(),
            subset_indices: None,
        })
    }

    /// Reads `run_dir/config.json`, naming the file in every error.
    pub fn read(run_dir: &Path) -> Result<RunConfig> {
        let path = run_dir.join(CONFIG_FILE);
        let text =
            crate::input::read_text(&path, crate::input::MAX_CONFIG_BYTES, "a run configuration")
                .map_err(|e| TrainError::io("read the run configuration", &path, e))?;
        RunConfig::parse(&text).map_err(|e| {
            TrainError::Other(format!(
                "{}: not a purenoise run configuration: {e}",
                path.display()
            ))
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a run configuration serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::args::TestCli as Cli;
    use clap::Parser;

    #[test]
    fn round_trips_and_reads_the_bare_flags_of_older_runs() {
        let args = Cli::parse_from(["train", "--model", "resnet-8"]).args;
        let config = RunConfig::new(args.clone());
        let id = config.run_id.clone().unwrap();
        assert_eq!(id.len(), 32);
        assert_ne!(RunConfig::new(args.clone()).run_id, config.run_id);
        let back = RunConfig::parse(std::str::from_utf8(&config.to_json()).unwrap()).unwrap();
        assert_eq!(
            (back.purenoise_run, back.run_id.as_deref()),
            (RUN_FORMAT, Some(id.as_str()))
        );
        assert_eq!(back.args.model, "resnet-8");
        let legacy = RunConfig::parse(&serde_json::to_string(&args).unwrap()).unwrap();
        assert_eq!((legacy.purenoise_run, legacy.run_id), (0, None));
        assert_eq!(legacy.args.model, "resnet-8");
        assert!(RunConfig::parse(r#"{"model": "resnet-8"}"#).is_err());
        assert!(RunConfig::parse("{}").is_err());
    }

    #[test]
    fn where_a_run_started_is_recorded_absolute_and_older_files_without_it_still_read() {
        let mut config = RunConfig::new(Cli::parse_from(["train"]).args);
        let here = std::env::current_dir().unwrap();
        config.started_on = Some(StartedOn::new(
            "llvmpipe on Vulkan".into(),
            Path::new("data"),
            Path::new("runs/a"),
        ));
        let text = String::from_utf8(config.to_json()).unwrap();
        let back = RunConfig::parse(&text).unwrap();
        let started = back.started_on.unwrap();
        assert_eq!(started.data_dir, here.join("data").to_string_lossy());
        assert_eq!(started.run_dir, here.join("runs/a").to_string_lossy());
        assert_eq!(started.adapter, "llvmpipe on Vulkan");
        // A run folder of the same format written before these fields.
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let map = value.as_object_mut().unwrap();
        map.remove("started_on");
        map.remove("git_commit");
        let old = RunConfig::parse(&value.to_string()).unwrap();
        assert_eq!((old.started_on, old.git_commit), (None, None));
        // A working folder whose name is not UTF-8 still gives a config.json.
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/run-\xff"));
            config.started_on = Some(StartedOn::new(String::new(), odd, odd));
            let text = String::from_utf8(config.to_json()).unwrap();
            assert!(text.contains("/tmp/run-\u{fffd}"), "{text}");
        }
    }
}
