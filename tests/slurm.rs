//! A real Slurm cluster on loopback (munged, slurmctld and three emulated slurmd nodes, started and
//! stopped by PID) runs the sbatch script `usdrender farm slurm` prints: every frame lands exactly
//! once, a re-submission over partial outputs renders only what is missing, and `scontrol requeue`
//! of a running task loses nothing. See docs/farm.md and /work/shared/FARM.md for the setup.
//!
//! Slurm is installed with apt-get only under CI=true or USDRENDER_SLURM_INSTALL=1; otherwise a
//! machine without it skips this test with a message.

mod util;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

const PACKAGES: [&str; 4] = ["slurmctld", "slurmd", "slurm-client", "munge"];

/// Finds an executable on PATH or in the sbin folders (root's PATH may lack them).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn slurm_present() -> bool {
    ["slurmctld", "slurmd", "sbatch", "munged"]
        .iter()
        .all(|n| which(n).is_some())
}

/// Slurm's daemons and clients, installing them when allowed; `None` means skip.
fn ensure_slurm() -> bool {
    if slurm_present() {
        return true;
    }
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let allowed = ci || std::env::var("USDRENDER_SLURM_INSTALL").as_deref() == Ok("1");
    if !allowed {
        eprintln!(
            "slurm test skipped: slurmctld/slurmd/munged not installed (apt-get install -y --no-install-recommends {}; \
             or set USDRENDER_SLURM_INSTALL=1 to let the test install them)",
            PACKAGES.join(" ")
        );
        return false;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !install() {
        // A fresh machine may have no package lists yet.
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        assert!(install(), "apt-get install {} failed", PACKAGES.join(" "));
    }
    assert!(slurm_present(), "Slurm installed but its programs are not found");
    true
}

/// Four consecutive free TCP ports on 127.0.0.1 (slurmctld, then one per node).
fn free_ports() -> u16 {
    let start = 20000 + (std::process::id() % 4000) as u16 * 8;
    for attempt in 0..200u16 {
        let base = 20000 + (start - 20000 + attempt * 8) % 32000;
        let listeners: Vec<_> = (0..4)
            .filter_map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if listeners.len() == 4 {
            return base;
        }
    }
    panic!("no four consecutive free ports found");
}

/// The daemons, stopped by PID when dropped (also on panic), jobs cancelled first.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<(String, Child)>,
    jobs: Vec<String>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let munge = dir.join("munge");
        for d in ["munge", "state", "spool", "log"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        // munged refuses a socket folder that others can write to; 0755 is what it accepts.
        fs::set_permissions(&munge, fs::Permissions::from_mode(0o755)).unwrap();
        let key = munge.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
        fs::write(&key, &bytes).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let socket = munge.join("sock");
        let port = free_ports();
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let d = dir.display();
        // cred_expire=5 (the least Slurm accepts): a requeued task is held cred_expire + 1 s.
        // sched_interval/bf_interval=1: else a requeued task waits up to a minute for the scheduler.
        let conf = format!(
            "ClusterName=usdrtest\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={port}\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={},cred_expire=5\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool/%n\nSlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd.%n.pid\nSlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.%n.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\nSelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n\
             SchedulerParameters=sched_interval=1,bf_interval=1\nReturnToService=2\nMpiDefault=none\nMailProg=/bin/true\n\
             NodeName=n[1-3] NodeHostname={host} NodeAddr=127.0.0.1 Port=[{}-{}] CPUs=1 State=UNKNOWN\n\
             PartitionName=main Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP\n",
            socket.display(),
            port + 1,
            port + 3
        );
        let conf_path = dir.join("slurm.conf");
        fs::write(&conf_path, conf).unwrap();
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            conf: conf_path.clone(),
            daemons: Vec::new(),
            jobs: Vec::new(),
        };
        let m = |name: &str| munge.join(name).to_string_lossy().into_owned();
        cluster.spawn(
            "munged",
            &[
                "--force",
                "-F",
                &format!("--key-file={}", key.display()),
                &format!("--socket={}", socket.display()),
                &format!("--pid-file={}", m("munged.pid")),
                &format!("--log-file={}", m("munged.log")),
                &format!("--seed-file={}", m("munged.seed")),
            ],
        );
        wait_for("munged's socket", Duration::from_secs(10), || socket.exists());
        let conf = conf_path.to_string_lossy().into_owned();
        cluster.spawn("slurmctld", &["-D", "-i", "-f", &conf]);
        for n in 1..=3 {
            cluster.spawn("slurmd", &["-D", "-N", &format!("n{n}"), "-f", &conf]);
        }
        let c = &cluster;
        wait_for("three idle nodes", Duration::from_secs(30), || {
            c.slurm("sinfo", &["-h", "-o", "%T %D"]).trim() == "idle 3"
        });
        cluster
    }

    fn spawn(&mut self, name: &str, args: &[&str]) {
        let program = which(name).unwrap_or_else(|| panic!("{name} not found"));
        let log = fs::File::create(self.dir.join("log").join(format!("{name}.{}.out", self.daemons.len()))).unwrap();
        let child = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.daemons.push((name.to_string(), child));
    }

    /// Runs a Slurm client against this cluster; returns stdout (stderr goes to ours).
    fn slurm(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(which(program).unwrap_or_else(|| program.into()))
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sbatch --parsable SCRIPT` in `dir`; the job id.
    fn sbatch(&mut self, dir: &Path, script: &Path) -> String {
        let out = Command::new(which("sbatch").unwrap())
            .arg("--parsable")
            .arg(script)
            .current_dir(dir)
            .env("SLURM_CONF", &self.conf)
            // The tasks must take their index from Slurm, not from a variable the test runner had.
            .env_remove("USDRENDER_TASK_INDEX")
            .output()
            .unwrap();
        assert!(out.status.success(), "sbatch: {}", text(&out));
        let id = String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        assert!(!id.is_empty(), "sbatch printed no job id: {}", text(&out));
        self.jobs.push(id.clone());
        id
    }

    /// Waits until the job has left the queue (`sbatch -W` polls slowly: poll squeue instead).
    fn wait_done(&self, job: &str, limit: Duration) {
        wait_for(&format!("job {job} to finish"), limit, || {
            self.slurm("squeue", &["-h", "-j", job]).trim().is_empty()
        });
    }

    /// (array task id, state, exit code, restarts) of each task, from slurmctld's memory
    /// (accounting is off; finished jobs stay there for MinJobAge, 300 s).
    fn tasks(&self, job: &str) -> Vec<(String, String, String, String)> {
        let text = self.slurm("scontrol", &["show", "job", job, "-o"]);
        let field = |line: &str, key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or("")
                .to_string()
        };
        let mut v: Vec<_> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                (
                    field(l, "ArrayTaskId="),
                    field(l, "JobState="),
                    field(l, "ExitCode="),
                    field(l, "Restarts="),
                )
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first, so no slurmstepd outlives its slurmd.
        for job in &self.jobs {
            let _ = Command::new(which("scancel").unwrap_or_else(|| "scancel".into()))
                .args(["--full", job])
                .env("SLURM_CONF", &self.conf)
                .stderr(Stdio::null())
                .status();
        }
        if !self.jobs.is_empty() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !self.slurm("squeue", &["-h"]).trim().is_empty() {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // Then the daemons, newest first, each by its own PID: SIGTERM, then SIGKILL if it lingers.
        for (name, child) in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                eprintln!("{name} ({}) ignored SIGTERM: killing it", child.id());
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sub-checks, counted and printed; the test fails at the end if any failed.
#[derive(Default)]
struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            self.passed += 1;
            eprintln!("ok     {name}");
        } else {
            self.failed += 1;
            eprintln!("FAILED {name}: {detail}");
        }
    }
}

/// One frame-log line.
struct Line {
    frame: i64,
    status: String,
    pid: Option<u64>,
}

fn read_log(path: &Path) -> Vec<Line> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Line {
            frame: v["frame"].as_f64().unwrap_or(f64::NAN) as i64,
            status: v["status"].as_str().unwrap_or("").to_string(),
            pid: v["pid"].as_u64(),
        })
        .collect()
}

/// How many `ok` lines each frame has.
fn ok_counts(lines: &[Line]) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for l in lines.iter().filter(|l| l.status == "ok") {
        *m.entry(l.frame).or_insert(0) += 1;
    }
    m
}

fn frame_path(out: &Path, f: i64) -> PathBuf {
    out.join(format!("f.{f:04}.png"))
}

/// Frames of 1..=24 whose file is not a whole, decodable PNG.
fn undecodable(out: &Path) -> Vec<i64> {
    (1..=24).filter(|&f| image::open(frame_path(out, f)).is_err()).collect()
}

/// Leftover temporary files in `out`.
fn temporaries(out: &Path) -> Vec<String> {
    fs::read_dir(out)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".usdrender-tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the sbatch script `usdrender farm slurm` prints for this test.
fn farm_script(dir: &Path, program: &Path, out: &str, log: &str, chunk: &str, width: &str, name: &str) -> PathBuf {
    let scene = repo().join("scenes/default.usda");
    let o = run_in(
        dir,
        &[
            "farm",
            "slurm",
            &scene.to_string_lossy(),
            "--frames",
            "1-24",
            "--chunk",
            chunk,
            "-o",
            out,
            "--frame-log",
            log,
            "--gpus",
            "0",
            "--program",
            &program.to_string_lossy(),
            "--workdir",
            &dir.to_string_lossy(),
            "--",
            "--width",
            width,
        ],
    );
    assert!(o.status.success(), "usdrender farm slurm: {}", text(&o));
    let path = dir.join(name);
    fs::write(&path, &o.stdout).unwrap();
    path
}

#[test]
fn slurm_array_renders_every_frame_once_resumes_and_survives_requeue() {
    let started = Instant::now();
    if !ensure_slurm() || !have_adapter() {
        return;
    }
    let installed = started.elapsed();
    // A private folder per run: other engineers' test runs may share target/.
    let dir = tempdir(&format!("slurm-{}", std::process::id()));
    // A private copy of the binary: a concurrent cargo build may replace target/debug/usdrender.
    let program = dir.join("usdrender");
    if fs::hard_link(env!("CARGO_BIN_EXE_usdrender"), &program).is_err() {
        fs::copy(env!("CARGO_BIN_EXE_usdrender"), &program).unwrap();
    }
    let mut checks = Checks::default();
    let up = Instant::now();
    let mut cluster = Cluster::start(&dir);
    eprintln!("cluster up in {:.1} s", up.elapsed().as_secs_f64());

    // 1. A 6-task array (24 frames, chunks of 4): every frame exactly once.
    let t = Instant::now();
    let script = farm_script(
        &dir,
        &program,
        "out/f.####.png",
        "logs/first.jsonl",
        "4",
        "32",
        "first.sh",
    );
    let body = fs::read_to_string(&script).unwrap();
    checks.check(
        "script asks for array 0-5",
        body.contains("#SBATCH --array=0-5\n"),
        &body,
    );
    let job = cluster.sbatch(&dir, &script);
    cluster.wait_done(&job, Duration::from_secs(60));
    let tasks = cluster.tasks(&job);
    let ids: Vec<&str> = tasks.iter().map(|t| t.0.as_str()).collect();
    checks.check(
        "six array tasks ran",
        ids == ["0", "1", "2", "3", "4", "5"],
        format!("{tasks:?}"),
    );
    checks.check(
        "every task completed with exit 0",
        tasks.iter().all(|t| t.1 == "COMPLETED" && t.2 == "0:0"),
        format!("{tasks:?}"),
    );
    let out = dir.join("out");
    let lines = read_log(&dir.join("logs/first.jsonl"));
    let counts = ok_counts(&lines);
    let want: BTreeMap<i64, usize> = (1..=24).map(|f| (f, 1)).collect();
    checks.check(
        "each frame has exactly one ok line",
        counts == want,
        format!("{counts:?}"),
    );
    checks.check(
        "no failed frames",
        lines.iter().all(|l| l.status == "ok"),
        "a frame-log line is not ok",
    );
    let pids: std::collections::BTreeSet<u64> = lines.iter().filter_map(|l| l.pid).collect();
    checks.check(
        "six processes shared the frames",
        pids.len() == 6,
        format!("pids {pids:?}"),
    );
    let bad = undecodable(&out);
    checks.check("all 24 files decode", bad.is_empty(), format!("frames {bad:?}"));
    eprintln!("array of 6 tasks: {:.1} s", t.elapsed().as_secs_f64());

    // 2. Re-submission over partial outputs: only the missing or broken frames are rendered.
    let t = Instant::now();
    for f in [3, 10, 17, 24, 7] {
        fs::remove_file(frame_path(&out, f)).unwrap();
    }
    fs::write(frame_path(&out, 5), b"").unwrap(); // a zero-byte file: not a whole image
    let stale = out.join(".f.0007.png.12345.usdrender-tmp"); // what a killed writer leaves
    fs::write(&stale, b"half a png").unwrap();
    let script = farm_script(
        &dir,
        &program,
        "out/f.####.png",
        "logs/second.jsonl",
        "4",
        "32",
        "second.sh",
    );
    let job = cluster.sbatch(&dir, &script);
    cluster.wait_done(&job, Duration::from_secs(60));
    let tasks = cluster.tasks(&job);
    checks.check(
        "resubmitted tasks completed with exit 0",
        tasks.len() == 6 && tasks.iter().all(|t| t.1 == "COMPLETED" && t.2 == "0:0"),
        format!("{tasks:?}"),
    );
    let lines = read_log(&dir.join("logs/second.jsonl"));
    let rendered: Vec<i64> = ok_counts(&lines).into_keys().collect();
    checks.check(
        "resubmission rendered exactly the missing and broken frames",
        rendered == [3, 5, 7, 10, 17, 24],
        format!("rendered {rendered:?}"),
    );
    let skipped = lines.iter().filter(|l| l.status == "skipped").count();
    checks.check(
        "the other 18 frames were skipped",
        skipped == 18,
        format!("{skipped} skipped"),
    );
    let bad = undecodable(&out);
    checks.check(
        "all 24 files decode after resubmission",
        bad.is_empty(),
        format!("frames {bad:?}"),
    );
    let temps = temporaries(&out);
    checks.check("the stale temporary is gone", temps.is_empty(), format!("{temps:?}"));
    eprintln!("resubmission: {:.1} s", t.elapsed().as_secs_f64());

    // 3. `scontrol requeue` of a task caught mid-chunk: it is SIGTERMed (finishing frames in
    // flight), restarted with SLURM_RESTART_COUNT=1, and renders only the rest. Larger frames and
    // chunks of 12 leave time to catch it; a wrapper records each start.
    let t = Instant::now();
    let wrapper = dir.join("slow-usdrender.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\necho \"$SLURM_ARRAY_TASK_ID ${{SLURM_RESTART_COUNT:-0}}\" >> {}/starts.log\nexec {} \"$@\"\n",
            dir.display(),
            program.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let script = farm_script(
        &dir,
        &wrapper,
        "requeue/f.####.png",
        "logs/requeue.jsonl",
        "12",
        "960",
        "requeue.sh",
    );
    let job = cluster.sbatch(&dir, &script);
    let log = dir.join("logs/requeue.jsonl");
    // Task 1 renders frames 13..24: requeue it as soon as its first frame is written.
    wait_for("task 1's first frame", Duration::from_secs(60), || {
        read_log(&log).iter().any(|l| l.frame >= 13 && l.status == "ok")
    });
    let requeue = Command::new(which("scontrol").unwrap())
        .args(["requeue", &format!("{job}_1")])
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    checks.check("scontrol requeue accepted", requeue.status.success(), text(&requeue));
    let first_run: Vec<Line> = read_log(&log);
    cluster.wait_done(&job, Duration::from_secs(60));
    let tasks = cluster.tasks(&job);
    checks.check(
        "requeued task restarted once and completed with exit 0",
        tasks.len() == 2
            && tasks.iter().all(|t| t.1 == "COMPLETED" && t.2 == "0:0")
            && tasks.iter().any(|t| t.0 == "1" && t.3 == "1"),
        format!("{tasks:?}"),
    );
    let starts = fs::read_to_string(dir.join("starts.log")).unwrap_or_default();
    checks.check(
        "task 1 started again with SLURM_RESTART_COUNT=1",
        starts.lines().any(|l| l.trim() == "1 1"),
        &starts,
    );
    let lines = read_log(&log);
    // The first run of task 1 is the pid that wrote its first frame.
    let first_pid = first_run.iter().find(|l| l.frame >= 13).and_then(|l| l.pid);
    let by_first = lines
        .iter()
        .filter(|l| l.frame >= 13 && l.status == "ok" && l.pid == first_pid)
        .count();
    checks.check(
        "the requeue interrupted task 1 mid-chunk",
        by_first > 0 && by_first < 12,
        format!("its first run wrote {by_first} of 12 frames"),
    );
    let counts = ok_counts(&lines);
    checks.check(
        "after the requeue each frame has exactly one ok line",
        counts == want,
        format!("{counts:?}"),
    );
    let requeue_out = dir.join("requeue");
    let bad = undecodable(&requeue_out);
    checks.check(
        "all 24 requeue-run files decode",
        bad.is_empty(),
        format!("frames {bad:?}"),
    );
    let temps = temporaries(&requeue_out);
    checks.check("no temporary files remain", temps.is_empty(), format!("{temps:?}"));
    eprintln!("requeue: {:.1} s", t.elapsed().as_secs_f64());

    drop(cluster);
    eprintln!(
        "slurm test: {:.1} s in all ({:.1} s finding/installing Slurm)",
        started.elapsed().as_secs_f64(),
        installed.as_secs_f64()
    );
    println!("{} passed, {} failed", checks.passed, checks.failed);
    assert_eq!(
        checks.failed,
        0,
        "{} Slurm sub-check(s) failed; logs in {}",
        checks.failed,
        dir.display()
    );
    let _ = fs::remove_dir_all(&dir);
}
