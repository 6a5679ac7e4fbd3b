//! Runs untrusted Python (generated programs) in a fresh folder with as little reach as Linux
//! lets nl2py take away. `nl2py eval --help` (`--run`) tells the user the same guarantees: keep
//! the two in step.
//!
//! The shape of a run:
//! nl2py → intermediate: own network and PID namespaces (and user namespace when not root);
//!         waits and exits as the program did
//!       → `python3 -I -S program.py`, pid 1 of the new PID namespace: limits; as root, a uid of
//!         its own; Landlock
//!       → whatever it starts, inside the same namespaces, limits, uid and Landlock domain.
//! When pid 1 ends, the kernel kills every process left in its PID namespace.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, Scope, path_beneath_rules,
};

/// Address space of each process (RLIMIT_AS).
const MEMORY_BYTES: u64 = 2 << 30;
/// Largest file a process may write (RLIMIT_FSIZE).
const FILE_BYTES: u64 = 16 << 20;
/// Processes and threads of one run's program, itself included (RLIMIT_NPROC).
const MAX_PROCESSES: u64 = 32;
/// How much of a program's output a run keeps: the end, where a traceback is.
const OUTPUT_TAIL: u64 = 4096;
/// The program's PATH; HOME and TMPDIR are its folder, and it sees no other variable.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Run as root, each run takes a uid from 2^30 on, taken to belong to no one: 4096 per nl2py
/// process (by pid), so concurrent runs never share one, nor its RLIMIT_NPROC count.
const FIRST_RUN_UID: libc::uid_t = 1 << 30;

/// Landlock levels, strongest first: the first this kernel enforces in full is used.
const LANDLOCK: [(ABI, &str); 3] = [
    (ABI::V6, "Landlock on file writes, TCP, signals and abstract sockets"),
    (ABI::V4, "Landlock on file writes and TCP (signals need Linux 6.12)"),
    (ABI::V3, "Landlock on file writes (TCP needs Linux 6.7, signals 6.12)"),
];

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with status 0 within the time limit.
    Passed,
    /// Exited with another status; 128 + N when signal N killed it (137: a limit's SIGKILL).
    Failed(i32),
    /// Still running at the time limit: every process of the run was killed.
    TimedOut,
}

impl Outcome {
    /// The outcome as a word for machine-read output: `passed`, `failed` or `timed-out`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed(_) => "failed",
            Self::TimedOut => "timed-out",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passed => write!(f, "ran to its end (exit status 0)"),
            Self::Failed(status) => write!(f, "failed (exit status {status})"),
            Self::TimedOut => write!(f, "killed at the time limit"),
        }
    }
}

#[derive(Debug)]
pub struct Run {
    pub outcome: Outcome,
    /// The last few KB the program wrote to stdout and stderr together.
    pub output: String,
}

pub struct Sandbox {
    /// The interpreter itself, not a wrapper such as pyenv's shim that needs the environment.
    python: PathBuf,
    timeout: Duration,
    /// nl2py runs as root: each run gets a uid of its own, which owns no file and, unlike root,
    /// is held to RLIMIT_NPROC.
    own_uid: bool,
    /// Own network and PID namespaces (and a user namespace when not root), or why the kernel
    /// refused them.
    namespaces: Result<(), String>,
    /// The strongest Landlock level this kernel enforces in full.
    landlock: Option<(ABI, &'static str)>,
}

/// What the child does to itself between fork and exec.
#[derive(Clone, Copy)]
struct Confinement {
    /// `unshare` flags.
    namespaces: Option<libc::c_int>,
    /// The uid (and gid) to run as.
    uid: Option<libc::uid_t>,
    cpu_seconds: u64,
    /// Where RLIMIT_NPROC counts only this run's processes.
    process_limit: bool,
}

impl Sandbox {
    /// Finds `python3` on PATH and checks that it runs inside the sandbox. Where the kernel
    /// refuses namespaces it runs without them: [`Sandbox::describe`] says what is missing.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let python = interpreter()?;
        let landlock = LANDLOCK.into_iter().find(|&(abi, _)| landlock_rules(abi, Path::new("/")).is_ok());
        // SAFETY: a plain system call.
        let own_uid = unsafe { libc::geteuid() } == 0;
        let mut sandbox = Self { python, timeout, own_uid, namespaces: Ok(()), landlock };
        let probe = match sandbox.run("pass") {
            Ok(probe) => probe,
            Err(refused) => {
                sandbox.namespaces = Err(format!("{:#}", refused));
                sandbox.run("pass")?
            }
        };
        if probe.outcome != Outcome::Passed {
            bail!("python3 does not run in the sandbox ({:?}): {}", probe.outcome, probe.output);
        }
        Ok(sandbox)
    }

    /// One line: the interpreter, the guards in effect, and what is not isolated on this machine.
    pub fn describe(&self) -> String {
        let landlock = self.landlock.map(|(abi, _)| abi);
        let mut not = vec!["reading files".to_string()];
        if let Err(why) = &self.namespaces {
            let network = if landlock >= Some(ABI::V4) { "networking other than TCP" } else { "the network" };
            not.push(format!("{network} (namespaces refused: {why})"));
            not.push("processes that leave the process group outlive the run".into());
            if !self.own_uid {
                not.push("the process count; your other processes' /proc/PID/environ".into());
                if landlock < Some(ABI::V6) {
                    not.push("signals to your other processes".into());
                }
            }
        }
        if landlock.is_none() {
            not.push("writes outside the folder (Landlock needs Linux 6.2)".into());
        }
        let namespaces = match (&self.namespaces, self.own_uid) {
            (Ok(()), true) => "network and PID namespaces",
            (Ok(()), false) => "user, network and PID namespaces",
            (Err(_), _) => "no namespaces",
        };
        format!(
            "{} -I -S as {}, {namespaces}, {}; NOT isolated: {}",
            self.python.display(),
            if self.own_uid { "a uid of its own" } else { "you" },
            self.landlock.map_or("no Landlock", |(_, what)| what),
            not.join("; ")
        )
    }

    /// Runs `code` as `program.py` in a fresh folder, removed afterwards. An error means the run
    /// could not be made (no folder, no process), never that the program failed.
    pub fn run(&self, code: &str) -> anyhow::Result<Run> {
        let dir = tempfile::Builder::new().prefix("nl2py-run-").tempdir().context("creating a run folder")?;
        let program = dir.path().join("program.py");
        std::fs::write(&program, code).context("writing program.py")?;
        let uid = self.own_uid.then(run_uid);
        if let Some(uid) = uid {
            for path in [dir.path(), &program] {
                std::os::unix::fs::chown(path, Some(uid), Some(uid))
                    .context("handing the run folder over")?;
            }
        }
        let output = tempfile::tempfile().context("creating the output file")?;
        let confinement = Confinement {
            namespaces: self.namespaces.is_ok().then_some(if self.own_uid {
                libc::CLONE_NEWNET | libc::CLONE_NEWPID
            } else {
                // A user namespace lets an unprivileged user make the others, and in it
                // RLIMIT_NPROC counts only this run's processes.
                libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWPID
            }),
            uid,
            // A second past the wall-clock timeout: a one-thread busy loop reaches both at once,
            // and the wall clock must win so the run reads as timed out, not as killed.
            cpu_seconds: self.timeout.as_secs_f64().ceil() as u64 + 1,
            process_limit: self.own_uid || self.namespaces.is_ok(),
        };
        let mut child = self
            .command(dir.path(), &output, confinement)?
            .spawn()
            .context("starting python3 in the sandbox")?;
        let outcome = self.wait(&mut child).context("waiting for python3")?;
        Ok(Run { outcome, output: tail(output).context("reading the program's output")? })
    }

    fn command(&self, dir: &Path, output: &File, confinement: Confinement) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.python);
        command
            .args(["-I", "-S", "program.py"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", dir)
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output.try_clone()?)
            .process_group(0);
        // Made here: between fork and exec the child may only make system calls.
        let mut ruleset = self.landlock.map(|(abi, _)| landlock_rules(abi, dir)).transpose()?;
        // SAFETY: `confine` makes system calls only; it neither allocates nor takes locks.
        unsafe { command.pre_exec(move || confine(confinement, ruleset.take())) };
        Ok(command)
    }

    fn wait(&self, child: &mut Child) -> io::Result<Outcome> {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= self.timeout {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The whole process group: what a program started goes with it even where there is no
        // PID namespace to take it (a process that left the group survives there).
        // SAFETY: a plain system call; the group id is the child's pid (`process_group(0)`).
        unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
        Ok(match status {
            None => {
                child.wait()?;
                Outcome::TimedOut
            }
            Some(status) if status.success() => Outcome::Passed,
            Some(status) => Outcome::Failed(status.code().or(status.signal().map(|s| 128 + s)).unwrap_or(-1)),
        })
    }
}

fn run_uid() -> libc::uid_t {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    FIRST_RUN_UID + std::process::id() % 4096 * 4096 + RUNS.fetch_add(1, Ordering::Relaxed) % 4096
}

/// The interpreter's own path: `python3` on PATH may be a wrapper (pyenv's shim) that does not
/// work in an empty environment.
fn interpreter() -> anyhow::Result<PathBuf> {
    let found = Command::new("python3")
        .args(["-I", "-S", "-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output();
    let out = match found {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("python3 is needed for --run: there is no python3 on PATH")
        }
        Err(e) => bail!("python3 is needed for --run: starting it failed: {e}"),
    };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || path.is_empty() {
        bail!(
            "python3 is needed for --run: `python3 -c 'import sys; print(sys.executable)'` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(path))
}

/// Landlock at level `abi`, in full or not at all: read and execute anywhere, write only beneath
/// `dir`; from V4 no TCP bind or connect; from V6 no signals to, and no abstract Unix sockets of,
/// processes outside the run.
fn landlock_rules(abi: ABI, dir: &Path) -> Result<RulesetCreated, RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))?;
    if abi >= ABI::V4 {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    if abi >= ABI::V6 {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    ruleset
        .create()?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules([dir], AccessFs::from_all(abi)))
}

/// The child, between fork and exec: system calls only (the parent has other threads, so a lock
/// such as malloc's may be held by a thread that does not exist here).
fn confine(confinement: Confinement, ruleset: Option<RulesetCreated>) -> io::Result<()> {
    // Die with the nl2py thread that started the run: Ctrl-C does not reach this process group.
    // SAFETY (every block here): plain system calls on values owned by this process.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
    if let Some(flags) = confinement.namespaces {
        check(unsafe { libc::unshare(flags) })?;
        // Only the next child enters the new PID namespace, as its pid 1.
        match check(unsafe { libc::fork() })? {
            0 => check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?,
            program => relay_exit(program),
        };
    }
    let limits = [
        (libc::RLIMIT_CPU, Some(confinement.cpu_seconds)),
        (libc::RLIMIT_AS, Some(MEMORY_BYTES)),
        (libc::RLIMIT_FSIZE, Some(FILE_BYTES)),
        (libc::RLIMIT_CORE, Some(0)),
        // It counts all processes of a user (in a user namespace: of the user there), and root
        // is exempt: only a run's own uid or user namespace make it a per-run limit.
        (libc::RLIMIT_NPROC, confinement.process_limit.then_some(MAX_PROCESSES)),
    ];
    for (resource, value) in limits {
        let Some(value) = value else { continue };
        let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
        check(unsafe { libc::setrlimit(resource, &limit) })?;
    }
    if let Some(uid) = confinement.uid {
        check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1) })?;
        check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
        check(unsafe { libc::setgid(uid) })?;
        check(unsafe { libc::setuid(uid) })?;
        keep_only_read_search()?;
    }
    // No set-uid program gives the privileges back.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    if let Some(ruleset) = ruleset {
        // The error's errno is the failed call's.
        ruleset.restrict_self().map_err(|_| io::Error::last_os_error())?;
    }
    Ok(())
}

/// Of root's capabilities, keeps only reading and searching any folder, through exec: an
/// interpreter installed in root's home (pyenv's) must still load. Writing, signalling, and
/// escaping RLIMIT_NPROC need other capabilities.
fn keep_only_read_search() -> io::Result<()> {
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_DAC_READ_SEARCH: u32 = 2;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Sets {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header { version: CAPABILITY_VERSION_3, pid: 0 };
    let bit = 1 << CAP_DAC_READ_SEARCH;
    // Version 3 takes two words: capabilities 0–31, then 32–63.
    let sets = [
        Sets { effective: bit, permitted: bit, inheritable: bit },
        Sets { effective: 0, permitted: 0, inheritable: 0 },
    ];
    // SAFETY: plain system calls; both pointers live across the call.
    unsafe {
        if libc::syscall(libc::SYS_capset, &header, sets.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Ambient: kept across exec by a program without file capabilities.
        check(libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0))?;
    }
    Ok(())
}

/// The intermediate process: waits for the program (pid 1 of the new PID namespace) and exits as
/// it did, 128 + N for signal N. It keeps no file open: std's spawn reads a pipe until every copy
/// of its write end is closed, which would otherwise be when the program ends.
fn relay_exit(program: libc::pid_t) -> ! {
    // SAFETY: plain system calls; `_exit` skips the parent's atexit handlers and buffers.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0) != 0 {
            (3..1024).for_each(|fd| {
                libc::close(fd);
            });
        }
        let mut status = 0;
        let code = loop {
            if libc::waitpid(program, &mut status, 0) == program {
                break if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break 127;
            }
        };
        libc::_exit(code)
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

fn tail(mut file: File) -> io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(len.saturating_sub(OUTPUT_TAIL)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    //! Each test shows one guard at work. Where this machine lacks the guard (a kernel without
    //! Landlock, a container that refuses namespaces) the test fails naming it, unless
    //! `NL2PY_SANDBOX_UNCHECKED` is set: then it says so and checks nothing, and
    //! `scripts/test.sh` reports the sandbox as not checked.

    use super::*;

    fn sandbox(timeout_s: u64) -> Sandbox {
        Sandbox::new(Duration::from_secs(timeout_s)).expect("these tests need python3")
    }

    /// Runs `code`, which prints `refused …` and exits 0 when the guard stopped it, and returns
    /// what it printed.
    fn refused(sandbox: &Sandbox, code: &str) -> String {
        let run = sandbox.run(code).unwrap();
        assert!(run.outcome == Outcome::Passed && run.output.starts_with("refused"), "{run:?}");
        run.output
    }

    /// True when nothing the guard needs is `missing`; otherwise false where the opt-out is set,
    /// and a failure naming what is missing where it is not.
    fn checkable(missing: Option<String>) -> bool {
        let Some(missing) = missing else { return true };
        assert!(
            std::env::var_os("NL2PY_SANDBOX_UNCHECKED").is_some(),
            "{missing}, so the sandbox's guard cannot be checked here: set NL2PY_SANDBOX_UNCHECKED=1 \
             on a machine without it"
        );
        eprintln!("not checked (NL2PY_SANDBOX_UNCHECKED is set): {missing}");
        false
    }

    fn has_namespaces(sandbox: &Sandbox) -> bool {
        checkable(
            sandbox.namespaces.as_ref().err().map(|why| format!("this machine refuses namespaces ({why})")),
        )
    }

    fn has_landlock(sandbox: &Sandbox, at_least: ABI) -> bool {
        let has = sandbox.landlock.map(|(abi, _)| abi);
        checkable(
            (has < Some(at_least))
                .then(|| format!("this kernel lacks Landlock {at_least:?} (it has {has:?})")),
        )
    }

    /// Whether process `pid` (as this machine numbers it: a run's `/proc/self`) ends, within a
    /// bound only a hang reaches; if not, it is killed. A zombie has ended, whoever reaps it.
    fn ends(pid: &str) -> bool {
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(") ").is_some_and(|(_, state)| !state.starts_with(['Z', 'X']))
            })
        };
        let started = Instant::now();
        while running() {
            if started.elapsed() > Duration::from_secs(60) {
                // SAFETY: a plain system call, on the process a run left behind.
                unsafe { libc::kill(pid.parse().expect("a pid"), libc::SIGKILL) };
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    #[test]
    fn a_program_runs_in_a_fresh_folder_that_is_removed_after() {
        let sandbox = sandbox(5);
        let run = sandbox.run("import os\nprint(os.getcwd(), os.listdir('.'))").unwrap();
        assert_eq!(run.outcome, Outcome::Passed, "{run:?}");
        let (folder, listing) = run.output.trim().split_once(' ').unwrap();
        assert_eq!(listing, "['program.py']");
        assert!(!Path::new(folder).exists(), "{folder} is still there");
        assert_eq!(sandbox.run("raise SystemExit(3)").unwrap().outcome, Outcome::Failed(3));
        let crash = sandbox.run("1 / 0").unwrap();
        assert_eq!(crash.outcome, Outcome::Failed(1));
        assert!(crash.output.contains("ZeroDivisionError"), "{crash:?}");
    }

    #[test]
    fn the_environment_is_not_inherited() {
        let run = sandbox(5).run("import json, os\nprint(json.dumps(sorted(os.environ)))").unwrap();
        let names: Vec<String> = serde_json::from_str(&run.output).unwrap();
        // LC_CTYPE: Python's own locale coercion (PEP 538) in an environment without a locale.
        let allowed = ["HOME", "LC_CTYPE", "PATH", "TMPDIR"];
        assert!(names.iter().all(|n| allowed.contains(&n.as_str())), "{names:?}");
    }

    #[test]
    fn the_parents_environment_cannot_be_read_through_proc() {
        let mut sandbox = sandbox(5);
        let pid = std::process::id();
        let code = format!(
            "try:\n    open('/proc/{pid}/environ', 'rb').read()\n    print('escaped')\n\
             except PermissionError:\n    print('refused')"
        );
        refused(&sandbox, &code);
        // Each guard on its own (Landlock does not cover this): the run's own uid, as root...
        let namespaces = std::mem::replace(&mut sandbox.namespaces, Err("turned off by the test".into()));
        if sandbox.own_uid {
            refused(&sandbox, &code);
        }
        // ...and a user namespace, as any other user.
        sandbox.namespaces = namespaces;
        sandbox.own_uid = false;
        if has_namespaces(&sandbox) {
            refused(&sandbox, &code);
        }
    }

    #[test]
    fn writes_outside_the_folder_are_refused() {
        let sandbox = sandbox(5);
        if has_landlock(&sandbox, ABI::V3) {
            let outside = std::env::temp_dir().join(format!("nl2py-sandbox-escape-{}", std::process::id()));
            let code = format!(
                "open('inside.txt', 'w').write('fine')\n\
                 try:\n    open({outside:?}, 'w').write('escaped')\n    print('escaped')\n\
                 except PermissionError:\n    print('refused')"
            );
            let run = sandbox.run(&code).unwrap();
            let escaped = outside.exists();
            let _ = std::fs::remove_file(&outside);
            assert!(!escaped && run.output.starts_with("refused"), "{run:?}");
        }
    }

    #[test]
    fn signals_cannot_reach_processes_outside() {
        let mut sandbox = sandbox(5);
        // Signal 0 only asks whether a signal could be sent.
        let code = format!(
            "import os\ntry:\n    os.kill({}, 0)\n    print('escaped')\n\
             except (PermissionError, ProcessLookupError) as e:\n    print('refused', type(e).__name__)",
            std::process::id()
        );
        if has_namespaces(&sandbox) {
            // The PID namespace does not even name processes outside it.
            assert!(refused(&sandbox, &code).contains("ProcessLookupError"));
        }
        if has_landlock(&sandbox, ABI::V6) {
            // Landlock's signal scope on its own: same uid, no namespaces.
            sandbox.namespaces = Err("turned off by the test".into());
            sandbox.own_uid = false;
            assert!(refused(&sandbox, &code).contains("PermissionError"));
        }
    }

    #[test]
    fn a_fork_bomb_stops_at_the_process_limit() {
        let sandbox = sandbox(10);
        if has_namespaces(&sandbox) {
            let output = refused(
                &sandbox,
                "import os, time\ncount = 0\ntry:\n    while count < 200:\n        if os.fork() == 0:\n\
                 \x20           time.sleep(30)\n            os._exit(0)\n        count += 1\n    print('escaped', count)\n\
                 except OSError:\n    print('refused', count)",
            );
            let forked: u64 = output.split_whitespace().nth(1).unwrap().parse().unwrap();
            assert!(forked < MAX_PROCESSES, "{output}");
        }
    }

    #[test]
    fn no_process_outlives_the_program() {
        let sandbox = sandbox(5);
        if has_namespaces(&sandbox) {
            // The child leaves the process group, so only the PID namespace can take it along.
            let run = sandbox
                .run(
                    "import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n\
                     \x20   print(os.readlink('/proc/self'), flush=True)\n    os.write(w, b'x')\n    time.sleep(60)\n\
                     os.read(r, 1)",
                )
                .unwrap();
            assert_eq!(run.outcome, Outcome::Passed, "{run:?}");
            let pid = run.output.trim();
            assert!(ends(pid), "process {pid} outlived the program");
        }
    }

    #[test]
    fn the_network_is_unreachable() {
        let sandbox = sandbox(5);
        if has_namespaces(&sandbox) {
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let (tcp_port, udp_port) = (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port());
            // UDP, which Landlock does not cover: only the network namespace stops it.
            let output = refused(
                &sandbox,
                &format!(
                    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                     try:\n    s.sendto(b'x', ('127.0.0.1', {udp_port}))\n    print('escaped udp')\n\
                     except OSError as e:\n    print('refused udp', e)\n\
                     try:\n    socket.create_connection(('127.0.0.1', {tcp_port}), timeout=2)\n    print('escaped tcp')\n\
                     except OSError as e:\n    print('refused tcp', e)"
                ),
            );
            assert!(!output.contains("escaped"), "{output}");
            udp.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            assert!(udp.recv(&mut [0; 8]).is_err(), "a datagram got out");
        }
    }

    #[test]
    fn tcp_is_refused_even_without_namespaces() {
        let mut sandbox = sandbox(5);
        if has_landlock(&sandbox, ABI::V4) {
            sandbox.namespaces = Err("turned off by the test".into());
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = tcp.local_addr().unwrap().port();
            refused(
                &sandbox,
                &format!(
                    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n\
                     \x20   print('escaped')\nexcept PermissionError:\n    print('refused')"
                ),
            );
        }
    }

    /// A program that sleeps or loops past the timeout, with a child in its process group that
    /// sleeps: the run reads as timed out, and neither process survives it.
    #[test]
    fn a_program_is_killed_at_the_timeout() {
        let sandbox = sandbox(2);
        for hang in ["time.sleep(60)", "while True:\n    pass"] {
            let code = format!(
                "import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n\
                 \x20   print(os.readlink('/proc/self'), flush=True)\n    os.write(w, b'x')\n    time.sleep(60)\n\
                 print(os.readlink('/proc/self'), flush=True)\nos.read(r, 1)\n{hang}"
            );
            let run = sandbox.run(&code).unwrap();
            assert_eq!(run.outcome, Outcome::TimedOut, "{hang}: {run:?}");
            let pids: Vec<&str> = run.output.split_whitespace().collect();
            assert_eq!(pids.len(), 2, "{hang}: {run:?}");
            for pid in pids {
                assert!(ends(pid), "{hang}: process {pid} outlived the run");
            }
        }
    }

    #[test]
    fn memory_is_capped() {
        refused(
            &sandbox(5),
            "try:\n    b = bytearray(3 << 30)\n    print('escaped')\nexcept MemoryError:\n    print('refused')",
        );
    }

    #[test]
    fn file_size_is_capped() {
        refused(
            &sandbox(5),
            "try:\n    open('big', 'wb').write(bytes(32 << 20))\n    print('escaped')\n\
             except OSError as e:\n    print('refused', e)",
        );
    }
}
