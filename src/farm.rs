//! Render farms: which chunk a task renders (read from the engine's environment) and the job specs
//! `usdrender farm ENGINE` prints for Slurm, Kubernetes, Open Job Description, Deadline and OpenCue.
//!
//! Everything here is pure: the environment comes in through a lookup closure and specs come out as
//! text, so the contract is unit-tested without touching the process environment or a cluster.

use std::fmt::Write as _;

use crate::frames::FrameSlice;
use crate::{Error, Result};

/// Our own index variable: 0-based, and it wins over every engine's, so a wrapper can always say
/// exactly which chunk to render.
pub const OWN_INDEX: &str = "USDRENDER_TASK_INDEX";

/// Where engines put a task's index, in the order they are looked at, and the index of their first
/// task. Grid Engine and LSF count from 1; the others from 0.
///
/// Slurm's `SLURM_ARRAY_TASK_ID` is used as is (0-based) and `SLURM_ARRAY_TASK_MIN` is ignored on
/// purpose: re-submitting only the failed chunks (`sbatch --array=3,5 job.sh`) must still render
/// chunks 3 and 5, which `ID - MIN` would turn into chunks 0 and 2. An array started at 1 by mistake
/// (`--array=1-6` for 6 chunks) fails loudly on its last task instead (see [`check_index`]).
pub const INDEX_VARIABLES: [(&str, usize); 6] = [
    (OWN_INDEX, 0),
    ("SLURM_ARRAY_TASK_ID", 0),
    ("JOB_COMPLETION_INDEX", 0),      // Kubernetes Indexed Job
    ("AWS_BATCH_JOB_ARRAY_INDEX", 0), // AWS Batch array job
    ("SGE_TASK_ID", 1),               // Grid Engine ("undefined" outside an array job)
    ("LSB_JOBINDEX", 1),              // LSF (0 outside an array job)
];

/// A task's 0-based index and where it came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIndex {
    pub index: usize,
    /// The variable it was read from, or `None` when given on the command line.
    pub variable: Option<&'static str>,
    /// The variable's text, as the engine set it.
    pub value: String,
}

impl TaskIndex {
    /// `SLURM_ARRAY_TASK_ID=7` or `--task-index 7`, for error messages.
    pub fn origin(&self) -> String {
        match self.variable {
            Some(var) => format!("{var}={}", self.value),
            None => format!("--task-index {}", self.value),
        }
    }
}

/// `--task-index N|auto`: a number, or `auto` to read the engine's variable through `lookup`
/// (`|k| std::env::var(k).ok()` in the binary; a map in tests).
pub fn task_index(arg: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<TaskIndex> {
    if arg.trim() != "auto" {
        let index = arg.trim().parse::<usize>().map_err(|_| {
            Error::Option(format!(
                "--task-index {arg:?} must be a chunk number (0-based) or `auto`"
            ))
        })?;
        return Ok(TaskIndex {
            index,
            variable: None,
            value: arg.trim().to_string(),
        });
    }
    task_index_from_env(lookup)
}

/// The task index from the first of [`INDEX_VARIABLES`] that is set. A value that is empty, not a
/// whole number, or below the engine's first index is an error naming the variable: a task that
/// cannot tell which chunk it is must not render anything (least of all every frame).
pub fn task_index_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<TaskIndex> {
    for (variable, base) in INDEX_VARIABLES {
        let Some(value) = lookup(variable) else { continue };
        let text = value.trim();
        let number: u64 = text.parse().map_err(|_| {
            let hint = if variable == "SGE_TASK_ID" && text == "undefined" {
                " (Grid Engine sets this outside array jobs: submit with qsub -t 1-N)"
            } else {
                ""
            };
            Error::Option(format!(
                "--task-index auto: {variable}={value:?} is not a task index{hint}"
            ))
        })?;
        let index = number.checked_sub(base as u64).ok_or_else(|| {
            Error::Option(format!(
                "--task-index auto: {variable}={value} but this engine counts tasks from {base} \
                 (0 means the job is not an array job)"
            ))
        })?;
        let index = usize::try_from(index)
            .map_err(|_| Error::Option(format!("--task-index auto: {variable}={value} is too large")))?;
        return Ok(TaskIndex {
            index,
            variable: Some(variable),
            value,
        });
    }
    let names: Vec<&str> = INDEX_VARIABLES.iter().map(|(v, _)| *v).collect();
    Err(Error::Option(format!(
        "--task-index auto: no task index in the environment (looked at {}); \
         run inside an array job, or set {OWN_INDEX} or --task-index N",
        names.join(", ")
    )))
}

/// `--shard i/n`: part `i` (0-based) of `n` near-equal contiguous parts.
pub fn parse_shard(text: &str) -> Result<FrameSlice> {
    let err = || Error::Option(format!("--shard {text:?} must be i/n with 0 <= i < n (e.g. 0/4)"));
    let (i, n) = text.split_once('/').ok_or_else(err)?;
    let index: usize = i.trim().parse().map_err(|_| err())?;
    let count: usize = n.trim().parse().map_err(|_| err())?;
    if count == 0 || index >= count {
        return Err(err());
    }
    Ok(FrameSlice::Shard { index, count })
}

/// Checks that chunk `index` of `frames` frames exists, naming where the index came from. Slurm
/// arrays started at 1 get a hint, since that is the usual way to be one past the end.
pub fn check_index(chunk: usize, frames: usize, index: &TaskIndex) -> Result<()> {
    if chunk == 0 {
        return Err(Error::Option("--chunk must be at least 1".into()));
    }
    let tasks = frames.div_ceil(chunk);
    if index.index < tasks {
        return Ok(());
    }
    let hint = match index.variable {
        Some("SLURM_ARRAY_TASK_ID") => format!(
            "; Slurm array ids are chunk numbers counted from 0: submit with --array=0-{}",
            tasks.saturating_sub(1)
        ),
        _ => String::new(),
    };
    Err(Error::Option(format!(
        "task index {} ({}) is past the last chunk: {frames} frame(s) in chunks of {chunk} make {tasks} task(s), \
         indices 0..{}{hint}",
        index.index,
        index.origin(),
        tasks.saturating_sub(1)
    )))
}

/// The slice a `usdrender render` process renders, from `--chunk N --task-index N|auto` or
/// `--shard i/n`, and where a chunk's index came from. `frames` is the frame count when it is known
/// before the stage opens (`--frames`), so an index past the end names its variable at once.
pub fn slice_from_args(
    chunk: Option<usize>,
    task_index_arg: Option<&str>,
    shard: Option<&str>,
    frames: Option<usize>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(FrameSlice, Option<TaskIndex>)>> {
    match (chunk, task_index_arg, shard) {
        (None, None, None) => Ok(None),
        (None, None, Some(shard)) => Ok(Some((parse_shard(shard)?, None))),
        (Some(size), Some(arg), None) => {
            if size == 0 {
                return Err(Error::Option("--chunk must be at least 1".into()));
            }
            let index = task_index(arg, lookup)?;
            if let Some(frames) = frames {
                check_index(size, frames, &index)?;
            }
            Ok(Some((
                FrameSlice::Chunk {
                    size,
                    index: index.index,
                },
                Some(index),
            )))
        }
        (Some(_), None, _) | (None, Some(_), _) => Err(Error::Option(
            "--chunk and --task-index go together: --chunk N --task-index K|auto".into(),
        )),
        (Some(_), Some(_), Some(_)) => Err(Error::Option("--shard cannot be combined with --chunk".into())),
    }
}

/// Frames of a finished run whose output is not a whole image on disk: a farm task exits 0 only
/// when every frame of its chunk exists (another process may have removed or truncated one, or a
/// skipped file rotted since it was checked).
pub fn missing_outputs(job: &crate::job::Job, report: &crate::schedule::Report) -> Vec<f64> {
    let mut frames: Vec<f64> = report
        .rendered
        .iter()
        .map(|o| o.frame)
        .chain(report.skipped.iter().copied())
        .collect();
    frames.extend(report.failed.iter().map(|o| o.frame));
    frames.sort_by(f64::total_cmp);
    frames.dedup();
    frames
        .into_iter()
        // Every file of the frame (the beauty and any AOV side files) must be whole.
        .filter(|&f| !crate::output::is_complete_frame(&job.frame_outputs(f)))
        .collect()
}

/// The engines `usdrender farm` writes specs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Slurm,
    Kubernetes,
    OpenJd,
    Deadline,
    OpenCue,
}

impl Engine {
    pub const NAMES: [&'static str; 5] = ["slurm", "k8s", "openjd", "deadline", "opencue"];

    pub fn from_name(name: &str) -> Option<Engine> {
        Some(match name {
            "slurm" => Engine::Slurm,
            "k8s" | "kubernetes" => Engine::Kubernetes,
            "openjd" => Engine::OpenJd,
            "deadline" => Engine::Deadline,
            "opencue" => Engine::OpenCue,
            _ => return None,
        })
    }
}

/// What a job spec needs: the render command's parts and the farm's knobs.
#[derive(Debug, Clone)]
pub struct FarmSpec {
    pub engine: Engine,
    /// Job name shown by the engine.
    pub name: String,
    /// The usdrender executable on the farm's machines (or a wrapper script).
    pub program: String,
    pub stage: String,
    /// The frames, resolved (from `--frames` or the stage's range): task counts and ranges.
    pub frames: Vec<f64>,
    /// `--frames` as the user gave it; `None` when the stage's range was used.
    pub frames_spec: Option<String>,
    pub chunk: usize,
    pub output: String,
    /// The frame log every task appends to.
    pub frame_log: String,
    /// Further `usdrender render` flags, passed through unchanged.
    pub render_args: Vec<String>,
    /// Working directory of the tasks (relative stage and output paths resolve against it).
    pub workdir: Option<String>,
    /// Most tasks running at once (Slurm `%N`, Kubernetes parallelism, OpenCue/Deadline limits).
    pub throttle: Option<usize>,
    /// GPUs per task (0: ask the engine for none).
    pub gpus: u32,
    /// Container image (Kubernetes).
    pub image: String,
}

/// `first-last` when `frames` are consecutive whole numbers counting up: engines that hand a task
/// a frame range can then pass it straight to `--frames`.
pub fn integer_run(frames: &[f64]) -> Option<(i64, i64)> {
    let first = *frames.first()?;
    for (i, &f) in frames.iter().enumerate() {
        if f.fract() != 0.0 || f != first + i as f64 || f.abs() > 1e15 {
            return None;
        }
    }
    Some((first as i64, first as i64 + frames.len() as i64 - 1))
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+%@#".contains(c);
    if !s.is_empty() && s.chars().all(safe) && !s.starts_with('#') {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Quotes `s` as a YAML/JSON string (JSON strings are valid YAML flow scalars).
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// How a task learns its frames.
enum Frames<'a> {
    /// `--frames SPEC --chunk N --task-index INDEX` (INDEX: `auto` or an engine token).
    Index(&'a str),
    /// `--frames RANGE` (an engine token such as `<STARTFRAME>-<ENDFRAME>`).
    Range(&'a str),
}

impl FarmSpec {
    /// How many tasks cover the frames.
    pub fn tasks(&self) -> usize {
        self.frames.len().div_ceil(self.chunk.max(1))
    }

    /// `--frames` for index-mode tasks: the user's spec, else the stage's range written out when it
    /// is a plain run (so every task sees the list the array was sized for), else nothing.
    fn frames_arg(&self) -> Option<String> {
        self.frames_spec
            .clone()
            .or_else(|| integer_run(&self.frames).map(|(a, b)| format!("{a}-{b}")))
    }

    /// The render command, one word per element.
    fn command(&self, frames: Frames<'_>) -> Vec<String> {
        let mut c = vec![self.program.clone(), "render".into(), self.stage.clone()];
        match frames {
            Frames::Index(index) => {
                if let Some(spec) = self.frames_arg() {
                    c.extend(["--frames".into(), spec]);
                }
                c.extend([
                    "--chunk".into(),
                    self.chunk.to_string(),
                    "--task-index".into(),
                    index.into(),
                ]);
            }
            Frames::Range(range) => c.extend(["--frames".into(), range.into()]),
        }
        c.extend([
            "-o".into(),
            self.output.clone(),
            "--skip-existing".into(),
            "--frame-log".into(),
            self.frame_log.clone(),
        ]);
        c.extend(self.render_args.iter().cloned());
        c
    }

    fn shell_command(&self, frames: Frames<'_>) -> String {
        self.command(frames)
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn summary(&self) -> String {
        format!(
            "{} frame(s) of {} in {} task(s) of {} frame(s)",
            self.frames.len(),
            self.stage,
            self.tasks(),
            self.chunk
        )
    }

    /// The job spec for `self.engine`.
    pub fn render(&self) -> Result<String> {
        if self.chunk == 0 {
            return Err(Error::Option("--chunk must be at least 1".into()));
        }
        if self.frames.is_empty() {
            return Err(Error::Option("--frames selects no frame".into()));
        }
        Ok(match self.engine {
            Engine::Slurm => self.slurm(),
            Engine::Kubernetes => self.kubernetes(),
            Engine::OpenJd => self.openjd(),
            Engine::Deadline => self.deadline(),
            Engine::OpenCue => self.opencue(),
        })
    }

    /// An sbatch script: one array task per chunk, requeueable, one GPU each.
    fn slurm(&self) -> String {
        let mut s = String::from("#!/bin/bash\n");
        let _ = writeln!(s, "# usdrender farm slurm: {}.", self.summary());
        s.push_str(
            "# Array task K renders chunk K (SLURM_ARRAY_TASK_ID, counted from 0). Tasks skip finished frames,\n\
             # so a requeue, a retry or `sbatch --array=3,5 THIS_FILE` (redo chunks 3 and 5) renders only what\n\
             # is missing. A task exits 0 only when every frame of its chunk exists as a whole image.\n",
        );
        let _ = writeln!(s, "#SBATCH --job-name={}", shell_quote(&self.name));
        let throttle = self.throttle.map(|t| format!("%{t}")).unwrap_or_default();
        let _ = writeln!(s, "#SBATCH --array=0-{}{throttle}", self.tasks() - 1);
        s.push_str("#SBATCH --requeue\n#SBATCH --open-mode=append\n#SBATCH --output=slurm-%A_%a.out\n");
        if self.gpus > 0 {
            let _ = writeln!(s, "#SBATCH --gres=gpu:{}", self.gpus);
        }
        if let Some(dir) = &self.workdir {
            let _ = writeln!(s, "#SBATCH --chdir={}", shell_quote(dir));
        }
        s.push_str("set -eu\n");
        if self.gpus > 0 {
            s.push_str(&gpu_pinning_snippet());
            let _ = writeln!(s, "exec {} \"$@\"", self.shell_command(Frames::Index("auto")));
        } else {
            let _ = writeln!(s, "exec {}", self.shell_command(Frames::Index("auto")));
        }
        s
    }

    /// A Kubernetes Indexed Job: pod K renders chunk K (JOB_COMPLETION_INDEX); a failed pod is
    /// replaced with the same index.
    fn kubernetes(&self) -> String {
        let name: String = self
            .name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = name.trim_matches('-');
        let name = if name.is_empty() { "usdrender" } else { name };
        let tasks = self.tasks();
        let parallelism = self.throttle.unwrap_or(tasks).min(tasks);
        let mut s = String::new();
        let _ = writeln!(s, "# usdrender farm k8s: {}.", self.summary());
        s.push_str(
            "# Pod K renders chunk K (JOB_COMPLETION_INDEX). Mount the stage and output folder at the same\n\
             # paths in every pod (a shared volume); finished frames are skipped on retries.\n",
        );
        let _ = write!(
            s,
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  completionMode: Indexed\n  \
             completions: {tasks}\n  parallelism: {parallelism}\n  backoffLimitPerIndex: 3\n  maxFailedIndexes: {tasks}\n  \
             template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: usdrender\n          \
             image: {}\n",
            yaml_str(&self.image)
        );
        if let Some(dir) = &self.workdir {
            let _ = writeln!(s, "          workingDir: {}", yaml_str(dir));
        }
        s.push_str("          command:\n");
        for word in self.command(Frames::Index("auto")) {
            let _ = writeln!(s, "            - {}", yaml_str(&word));
        }
        s.push_str(
            "          env:\n            # Without `graphics` the NVIDIA runtime does not mount the Vulkan driver.\n            \
             - name: NVIDIA_DRIVER_CAPABILITIES\n              value: \"compute,utility,graphics\"\n",
        );
        if self.gpus > 0 {
            let _ = writeln!(
                s,
                "          resources:\n            limits:\n              nvidia.com/gpu: {}",
                self.gpus
            );
        }
        s
    }

    /// An Open Job Description template (AWS Deadline Cloud; `openjd run` locally): one task per
    /// chunk, the chunk number as an INT task parameter.
    fn openjd(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# usdrender farm openjd: {}.", self.summary());
        s.push_str("# Task Chunk=K renders chunk K; finished frames are skipped on retries.\n");
        s.push_str("specificationVersion: jobtemplate-2023-09\n");
        let _ = writeln!(s, "name: {}", yaml_str(&self.name));
        // Working directory: a PATH parameter (its default must be relative for `openjd run`).
        let dir = self.workdir.clone().unwrap_or_else(|| ".".into());
        let _ = writeln!(
            s,
            "parameterDefinitions:\n  - name: WorkDir\n    type: PATH\n    objectType: DIRECTORY\n    dataFlow: INOUT\n    \
             default: {}\n    description: Folder the stage and output paths are relative to",
            yaml_str(&dir)
        );
        let _ = writeln!(
            s,
            "steps:\n  - name: Render\n    parameterSpace:\n      taskParameterDefinitions:\n        - name: Chunk\n          \
             type: INT\n          range: \"0-{}\"",
            self.tasks() - 1
        );
        s.push_str("    script:\n      actions:\n        onRun:\n          command: bash\n          args:\n");
        s.push_str("            - \"-c\"\n");
        let script = format!(
            "cd \"$1\" && exec {}",
            self.shell_command(Frames::Index("{{Task.Param.Chunk}}"))
        );
        let _ = writeln!(s, "            - {}", yaml_str(&script));
        s.push_str("            - usdrender-task\n            - \"{{Param.WorkDir}}\"\n");
        s
    }

    /// A Deadline 10 CommandLine-plugin job: the job info and plugin info files, with the
    /// `deadlinecommand` that submits them.
    fn deadline(&self) -> String {
        let (frames, chunk, args) = match integer_run(&self.frames) {
            // Deadline chunks a frame range itself and hands each task <STARTFRAME>-<ENDFRAME>.
            Some((a, b)) => (
                format!("{a}-{b}"),
                self.chunk,
                self.command(Frames::Range("<STARTFRAME>-<ENDFRAME>")),
            ),
            // Not a plain run of whole frames (steps, fractions): Deadline "frames" are chunk numbers.
            None => (
                format!("0-{}", self.tasks() - 1),
                1,
                self.command(Frames::Index("<STARTFRAME>")),
            ),
        };
        let executable = &args[0];
        // The CommandLine plugin splits arguments itself (no shell): double quotes group words.
        let arguments: Vec<String> = args[1..]
            .iter()
            .map(|w| {
                if w.is_empty() || w.contains([' ', '"', '\t']) {
                    format!("\"{}\"", w.replace('"', "\\\""))
                } else {
                    w.clone()
                }
            })
            .collect();
        let mut s = String::new();
        let _ = writeln!(s, "# usdrender farm deadline: {}.", self.summary());
        s.push_str("# Save the two sections as job_info.job and plugin_info.job, then:\n");
        s.push_str("#   deadlinecommand job_info.job plugin_info.job\n");
        s.push_str("# ---- job_info.job ----\nPlugin=CommandLine\n");
        let _ = writeln!(s, "Name={}", self.name);
        let _ = writeln!(s, "Frames={frames}\nChunkSize={chunk}");
        if let Some(t) = self.throttle {
            let _ = writeln!(s, "ConcurrentTasks=1\nMachineLimit={t}");
        }
        s.push_str("# ---- plugin_info.job ----\n");
        let _ = writeln!(s, "Executable={executable}");
        let _ = writeln!(s, "Arguments={}", arguments.join(" "));
        if let Some(dir) = &self.workdir {
            let _ = writeln!(s, "StartupDirectory={dir}");
        }
        s.push_str("Shell=default\nShellExecute=False\n");
        s
    }

    /// An OpenCue PyOutline script: one Shell layer, chunked by OpenCue.
    fn opencue(&self) -> String {
        let (range, chunk, command) = match integer_run(&self.frames) {
            Some((a, b)) => (
                format!("{a}-{b}"),
                self.chunk,
                self.command(Frames::Range("#FRAME_START#-#FRAME_END#")),
            ),
            None => (
                format!("0-{}", self.tasks() - 1),
                1,
                self.command(Frames::Index("#IFRAME#")),
            ),
        };
        let mut s = String::from("#!/usr/bin/env python3\n");
        let _ = writeln!(s, "# usdrender farm opencue: {}.", self.summary());
        s.push_str("# Run with OpenCue's pyoutline installed; finished frames are skipped on retries.\n");
        s.push_str("import outline\nimport outline.cuerun\nfrom outline.modules.shell import Shell\n\n");
        let _ = writeln!(s, "ol = outline.Outline({})", yaml_str(&self.name));
        let words: Vec<String> = command.iter().map(|w| yaml_str(w)).collect();
        let command = match &self.workdir {
            // Shell runs an argv; a working directory needs a shell around it.
            Some(dir) => format!(
                "[\"bash\", \"-c\", {}]",
                yaml_str(&format!(
                    "cd {} && exec {}",
                    shell_quote(dir),
                    command.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
                ))
            ),
            None => format!("[{}]", words.join(", ")),
        };
        let _ = writeln!(
            s,
            "ol.add_layer(Shell(\"render\", command={command}, range=\"{range}\", chunk={chunk}{}))",
            if self.gpus > 0 {
                format!(", gpus={}", self.gpus)
            } else {
                String::new()
            }
        );
        s.push_str("outline.cuerun.launch(ol, use_pycuerun=False)\n");
        s
    }
}

/// Shell lines that pin a task to the GPUs its scheduler allocated. Vulkan ignores
/// CUDA_VISIBLE_DEVICES, so the indices are turned into PCI bus ids with nvidia-smi and passed as
/// `--adapters pci:..`; nvidia-smi's 8-digit PCI domain is dropped because wgpu reports 4 digits.
fn gpu_pinning_snippet() -> String {
    "# Vulkan ignores CUDA_VISIBLE_DEVICES: pin the GPU(s) this task was given by PCI bus id.\n\
     set --\n\
     if [ -n \"${CUDA_VISIBLE_DEVICES:-}\" ] && command -v nvidia-smi >/dev/null 2>&1; then\n    \
     bus=$(nvidia-smi --query-gpu=pci.bus_id --format=csv,noheader -i \"$CUDA_VISIBLE_DEVICES\" | sed 's/^[0-9A-Fa-f]*://; s/^/pci:/' | paste -sd, -)\n    \
     if [ -n \"$bus\" ]; then set -- --adapters \"$bus\"; fi\n\
     fi\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    fn index(pairs: &[(&str, &str)]) -> Result<TaskIndex> {
        task_index("auto", env(pairs))
    }

    #[test]
    fn zero_based_engines_are_used_as_is() {
        for var in [
            "SLURM_ARRAY_TASK_ID",
            "JOB_COMPLETION_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX",
        ] {
            let t = index(&[(var, "3")]).unwrap();
            assert_eq!((t.index, t.variable), (3, Some(var)));
        }
    }

    #[test]
    fn one_based_engines_count_from_one() {
        assert_eq!(index(&[("SGE_TASK_ID", "1")]).unwrap().index, 0);
        assert_eq!(index(&[("LSB_JOBINDEX", "6")]).unwrap().index, 5);
        let e = index(&[("LSB_JOBINDEX", "0")]).unwrap_err().to_string();
        assert!(e.contains("LSB_JOBINDEX=0") && e.contains("from 1"), "{e}");
        let e = index(&[("SGE_TASK_ID", "undefined")]).unwrap_err().to_string();
        assert!(e.contains("SGE_TASK_ID") && e.contains("qsub -t"), "{e}");
    }

    #[test]
    fn our_own_variable_wins() {
        let t = index(&[("SLURM_ARRAY_TASK_ID", "4"), (OWN_INDEX, "1")]).unwrap();
        assert_eq!((t.index, t.variable), (1, Some(OWN_INDEX)));
        assert_eq!(t.origin(), "USDRENDER_TASK_INDEX=1");
    }

    #[test]
    fn slurm_array_min_is_not_subtracted() {
        // `sbatch --array=3,5` re-runs chunks 3 and 5: task 5 must stay chunk 5.
        let t = index(&[("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "3")]).unwrap();
        assert_eq!(t.index, 5);
        // An array started at 1 for 6 chunks: the last task is past the end, and says how to fix it.
        let t = index(&[("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "1")]).unwrap();
        let e = check_index(4, 24, &t).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID=6") && e.contains("--array=0-5"), "{e}");
    }

    #[test]
    fn missing_or_bad_index_is_an_error_naming_the_variable() {
        let e = index(&[]).unwrap_err().to_string();
        assert!(
            e.contains("no task index") && e.contains("SLURM_ARRAY_TASK_ID") && e.contains(OWN_INDEX),
            "{e}"
        );
        for bad in ["", "x", "-1", "1.5", "3 4"] {
            let e = index(&[("JOB_COMPLETION_INDEX", bad)]).unwrap_err().to_string();
            assert!(e.contains("JOB_COMPLETION_INDEX"), "{bad:?}: {e}");
        }
        let e = index(&[(OWN_INDEX, "-2"), ("SLURM_ARRAY_TASK_ID", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(OWN_INDEX),
            "a bad value of ours is not silently passed over: {e}"
        );
        let e = task_index("seven", env(&[])).unwrap_err().to_string();
        assert!(e.contains("--task-index \"seven\""), "{e}");
        assert_eq!(task_index(" 7 ", env(&[])).unwrap().index, 7);
    }

    #[test]
    fn index_past_the_last_chunk_is_an_error() {
        let t = index(&[("JOB_COMPLETION_INDEX", "6")]).unwrap();
        let e = check_index(4, 24, &t).unwrap_err().to_string();
        assert!(e.contains("JOB_COMPLETION_INDEX=6") && e.contains("6 task(s)"), "{e}");
        assert!(check_index(4, 24, &TaskIndex { index: 5, ..t.clone() }).is_ok());
        assert!(check_index(5, 24, &TaskIndex { index: 4, ..t.clone() }).is_ok());
        assert!(check_index(0, 24, &t).is_err());
    }

    #[test]
    fn slices_from_flags() {
        let none = env(&[]);
        assert_eq!(slice_from_args(None, None, None, Some(24), &none).unwrap(), None);
        let (slice, origin) = slice_from_args(Some(4), Some("auto"), None, Some(24), env(&[("SGE_TASK_ID", "2")]))
            .unwrap()
            .unwrap();
        assert_eq!(slice, FrameSlice::Chunk { size: 4, index: 1 });
        assert_eq!(origin.unwrap().variable, Some("SGE_TASK_ID"));
        let e = slice_from_args(
            Some(4),
            Some("auto"),
            None,
            Some(24),
            env(&[("SLURM_ARRAY_TASK_ID", "6")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID=6") && e.contains("past the last chunk"),
            "{e}"
        );
        // Without --frames the count is not known yet: the scheduler checks the index later.
        assert!(slice_from_args(Some(4), Some("99"), None, None, &none).is_ok());
        assert!(slice_from_args(Some(4), None, None, None, &none).is_err());
        assert!(slice_from_args(None, Some("1"), None, None, &none).is_err());
        assert!(slice_from_args(Some(0), Some("0"), None, None, &none).is_err());
        assert_eq!(
            slice_from_args(None, None, Some("2/3"), None, &none).unwrap(),
            Some((FrameSlice::Shard { index: 2, count: 3 }, None))
        );
    }

    #[test]
    fn shards_parse() {
        assert_eq!(parse_shard("1/4").unwrap(), FrameSlice::Shard { index: 1, count: 4 });
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3", "1/"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integer_runs() {
        assert_eq!(integer_run(&[1.0, 2.0, 3.0]), Some((1, 3)));
        assert_eq!(integer_run(&[-2.0, -1.0]), Some((-2, -1)));
        assert_eq!(integer_run(&[1.0, 3.0]), None);
        assert_eq!(integer_run(&[1.5, 2.5]), None);
        assert_eq!(integer_run(&[3.0, 2.0]), None);
        assert_eq!(integer_run(&[]), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("out/f.####.png"), "out/f.####.png");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("#x"), "'#x'");
    }
}
