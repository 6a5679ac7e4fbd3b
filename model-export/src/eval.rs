//! `nl2py eval`: scores generated code the way the field does, per split: CoNaLa test, CoNaLa
//! dev, English–Python dev. BLEU and exact match as CoNaLa's official scorer, ROUGE-L F1 on the
//! same tokens, syntax-valid % (RustPython's parser). Only with `--run`, which executes generated
//! code in [`crate::sandbox`]: runs-clean % of English–Python programs, and pass@1 on MBPP's
//! sanitized test problems and on the held-out functions `nl2py prepare` wrote
//! (`functions.jsonl`); with `--samples N`, pass@k over N sampled answers as well.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nl2py::data::prepare::{Example, Split};
use nl2py::data::sources::MBPP_TEST_IDS;
use nl2py::decode::{Search, Translator};
use nl2py::metrics::{
    corpus_bleu, exact_match, is_repetitive, is_valid_python, leaks_special_token, rouge_l_f1,
    tokenize_for_bleu_eval,
};
use serde::{Deserialize, Serialize};

use crate::prepared::read_split;
use crate::sandbox::{Outcome, Run, Sandbox};
use crate::search_args::{SandboxRunner, SearchArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The model: a bundle file or a run folder.
    #[arg(long)]
    model: PathBuf,
    /// Folder written by `nl2py prepare`.
    #[arg(long, default_value = "prepared")]
    data: PathBuf,
    #[command(flatten)]
    search: SearchArgs,
    /// Score only the first N examples of each split.
    #[arg(long)]
    limit: Option<usize>,
    /// Score only these splits (repeat the flag): conala-test, conala-dev, english-python-dev,
    /// mbpp-test and functions (with --run). Tune settings on the dev splits only.
    #[arg(long = "split", value_name = "NAME", value_parser = ["conala-test", "conala-dev", "english-python-dev", MBPP, FUNCTIONS])]
    splits: Vec<String>,
    /// Print N prompt / reference / output triples per split.
    #[arg(long, default_value_t = 0)]
    show: usize,
    /// Give a retrieval model no retrieved examples: the prompt alone (the retrieval-off row of
    /// MODEL.md's ablation).
    #[arg(long)]
    no_retrieval: bool,
    /// Run the generated programs: English–Python dev's runs-clean, and pass@1 on MBPP's tests
    /// and on the held-out functions of --data (`functions.jsonl`: TheAlgorithms' and
    /// 30-seconds-of-python's functions, never trained on, with their doctests and examples as
    /// asserts; a function whose own code fails its tests is left out, and counted). Without
    /// --run no generated code is executed, and runs-clean is "-" (null in --json).
    ///
    /// Each program runs as `python3 -I -S program.py`, python3 being the interpreter that
    /// python3 on PATH names: -I ignores PYTHON* variables, the user's site-packages and the
    /// script's folder; -S loads the standard library only, no site-packages and none of their
    /// .pth files, so scores do not depend on what else is installed. It runs in a fresh temporary
    /// folder, removed afterwards. Isolated (Linux):
    ///   environment  cleared: only PATH=/usr/local/bin:/usr/bin:/bin, HOME and TMPDIR (the folder)
    ///   input        none (/dev/null); the output is kept for --show
    ///   time         --run-timeout seconds of wall clock, then every process of the run is
    ///                killed; a second more of CPU per process (RLIMIT_CPU)
    ///   memory       2 GiB of address space per process (RLIMIT_AS)
    ///   files        written only inside the folder (Landlock, Linux 6.2+); 16 MiB each
    ///                (RLIMIT_FSIZE); no core dumps
    ///   user         run as root, a uid of its own per run that owns no file and keeps only the
    ///                capability to read and search any folder (so that an interpreter in root's
    ///                home still loads); otherwise yours
    ///   processes    at most 32 processes and threads (RLIMIT_NPROC: it binds the run's own uid,
    ///                or your uid in the run's own user namespace; root itself is exempt); none
    ///                outlives the program (own PID namespace)
    ///   network      none: an own network namespace, whose loopback is down; TCP is also
    ///                refused by Landlock (Linux 6.7+)
    ///   others       other processes are invisible (PID namespace); no signals to them
    ///                (Landlock, Linux 6.12+; as root, the other uid too); their /proc/PID/environ
    ///                is unreadable (the other uid, or the user namespace)
    /// NOT isolated: reading any file you can read; how many files the program writes in its
    /// folder; CPU and memory shared with the rest of the machine. Where the kernel refuses
    /// namespaces (some containers) or lacks Landlock, the run goes on without them: eval says
    /// which guards are missing on stderr and in --json's "sandbox".
    #[arg(long, verbatim_doc_comment)]
    run: bool,
    /// Seconds of wall clock (and one more of CPU per process) a generated program may run
    /// before it is killed and counts as failed.
    #[arg(long, default_value_t = 5)]
    run_timeout: u64,
    /// Sanitized MBPP (`mbpp-sanitized.json`) whose test problems, task ids 11–510, --run
    /// scores: code generated for each prompt, then the problem's imports and asserts. The
    /// model cannot know the name the asserts call: when the code defines a function at top
    /// level (its first `def NAME(`) and the function the asserts expect has another name,
    /// `EXPECTED = NAME` is added before them. The expected function is the first one the
    /// reference solution defines that an assert calls; the held-out functions' tests are bound
    /// the same way. [default:
    /// mbpp-sanitized.json in the data folder ($NL2PY_DATA, else ../shared/data, else
    /// data/sets); skipped with a note when missing]
    #[arg(long, requires = "run")]
    mbpp: Option<PathBuf>,
    /// Answers sampled per tested problem (MBPP, functions), with --temperature: pass@k is then
    /// the unbiased estimate of Chen et al. (2021) over them, for k = 1, 10, 100 up to N; the
    /// other scores read the first answer. Each answer samples with its own seed.
    #[arg(long, default_value_t = 1, requires = "run", value_parser = clap::value_parser!(u64).range(1..=1000))]
    samples: u64,
    #[arg(long)]
    json: bool,
    /// Write every answer to FILE, one JSON object a line: split, id, prompt, answer and, with
    /// --run, how the sandbox ran it (outcome, output) — for tools that run the answers
    /// elsewhere (examples/python_parity.rs runs them in the page's Python).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Backend: flex (CPU), or wgpu, vulkan, cuda[:N] where built with that feature.
    #[arg(long, default_value = "flex")]
    device: String,
}

#[derive(Debug, Serialize)]
struct SplitScore {
    split: String,
    examples: usize,
    bleu: f64,
    exact_match: f64,
    rouge_l: f64,
    syntax_valid: f64,
    /// % of outputs with a 4-gram of evaluation tokens repeated 3 or more times (loops).
    repetitive: f64,
    /// % of outputs holding a special or layout token's name (`<newline>`, `<eos>`, …).
    special_tokens: f64,
    /// With --run, for English–Python programs: % that exit with status 0.
    runs_clean: Option<f64>,
    /// With --run, for MBPP and the held-out functions: % of problems whose asserts pass (with
    /// --samples, the pass@1 estimate over the samples).
    pass_at_1: Option<f64>,
    /// With --copy-examples: % of (first) answers that are a retrieved example's code as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    copied: Option<f64>,
    /// With --samples N: pass@k in % for k = 1, 10, 100 up to N.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pass_at_k: BTreeMap<usize, f64>,
    /// Held-out functions left out because their own code fails their tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    references_failing: Option<usize>,
    /// With --run: the interpreter, and what the sandbox isolates on this machine.
    sandbox: Option<String>,
    seconds: f64,
}

/// The split name of MBPP's test problems.
const MBPP: &str = "mbpp-test";
/// The split name of the held-out functions (`functions.jsonl`).
const FUNCTIONS: &str = "functions";

/// A problem of sanitized MBPP.
#[derive(Deserialize)]
pub(crate) struct MbppProblem {
    pub(crate) task_id: u64,
    pub(crate) prompt: String,
    /// The reference solution.
    code: String,
    test_imports: Vec<String>,
    test_list: Vec<String>,
}

impl MbppProblem {
    /// The problem as an example to generate for, tokenized as `translator` reads prompts; the
    /// reference solution is what BLEU compares with.
    fn example(&self, translator: &Translator) -> Example {
        let prompt = translator.tokenize_prompt(&self.prompt);
        Example {
            source: "mbpp-sanitized.json".into(),
            id: format!("task {}", self.task_id),
            prompt: self.prompt.clone(),
            snippet: self.code.clone(),
            prompt_tokens: prompt.tokens,
            code_tokens: Vec::new(),
            slots: prompt.slots,
            retrieved: Vec::new(),
            tests: Vec::new(),
            attribution: None,
        }
    }

    pub(crate) fn tested(&self) -> Tested<'_> {
        Tested { prelude: &self.test_imports, reference: &self.code, tests: &self.test_list }
    }
}

/// A problem that generated code must pass: its tests, and the reference solution that names
/// the function they call.
pub(crate) struct Tested<'a> {
    /// Statements before the code (MBPP's `test_imports`).
    prelude: &'a [String],
    reference: &'a str,
    tests: &'a [String],
}

impl<'a> Tested<'a> {
    /// A held-out function: its code is the reference, its tests carry their own imports.
    pub(crate) fn of(example: &'a Example) -> Self {
        Tested { prelude: &[], reference: &example.snippet, tests: &example.tests }
    }

    /// The program that tests `code`: the prelude, the code, the tests. The model cannot know
    /// the name the tests call, so when `code` defines a function at top level under another
    /// name than the expected one (the first function of the reference that a test calls),
    /// `EXPECTED = NAME` binds it under the expected name too.
    pub(crate) fn program(&self, code: &str) -> String {
        let mut program = format!("{}\n{code}\n", self.prelude.join("\n"));
        let expected = functions(self.reference).find(|name| self.tests.iter().any(|t| calls(t, name)));
        if let (Some(expected), Some(name)) = (expected, functions(code).next())
            && expected != name
        {
            program += &format!("{expected} = {name}\n");
        }
        program + &self.tests.join("\n") + "\n"
    }
}

/// How many answers to each problem pass its tests, of how many.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Passes {
    answers: usize,
    passed: usize,
}

/// Runs every answer to every problem against the problem's tests: the runs, per problem, and
/// how many passed.
fn run_tests(
    sandbox: &Sandbox,
    problems: &[Tested],
    answers: &[Vec<String>],
) -> anyhow::Result<(Vec<Vec<Run>>, Vec<Passes>)> {
    let mut runs = Vec::with_capacity(problems.len());
    let mut passes = Vec::with_capacity(problems.len());
    for (problem, answers) in problems.iter().zip(answers) {
        let ran: Vec<Run> =
            answers.iter().map(|code| sandbox.run(&problem.program(code))).collect::<anyhow::Result<_>>()?;
        let passed = ran.iter().filter(|r| r.outcome == Outcome::Passed).count();
        passes.push(Passes { answers: ran.len(), passed });
        runs.push(ran);
    }
    Ok((runs, passes))
}

/// pass@k in %: the unbiased estimate of Chen et al. (2021), the mean over problems of
/// 1 − C(n − c, k) / C(n, k) for n answers of which c pass, computed as their running product.
fn pass_at_k(passes: &[Passes], k: usize) -> f64 {
    let estimate = |&Passes { answers: n, passed: c }: &Passes| {
        if n - c < k {
            1.0
        } else {
            1.0 - (n - c + 1..=n).map(|i| 1.0 - k as f64 / i as f64).product::<f64>()
        }
    };
    100.0 * passes.iter().map(estimate).sum::<f64>() / passes.len().max(1) as f64
}

/// The held-out functions of a prepared folder whose own code passes their tests, and how many
/// do not (with a note naming the first few); none, with a note, for a folder prepared before
/// the split existed.
fn held_out_functions(data: &Path, sandbox: &Sandbox) -> anyhow::Result<(Vec<Example>, usize)> {
    if !data.join(format!("{}.jsonl", Split::Functions.name())).exists() {
        eprintln!(
            "{} has no functions.jsonl (prepared before it): the held-out functions are not scored",
            data.display()
        );
        return Ok((Vec::new(), 0));
    }
    let examples = read_split(data, Split::Functions)?;
    let problems: Vec<Tested> = examples.iter().map(Tested::of).collect();
    let references: Vec<Vec<String>> = examples.iter().map(|e| vec![e.snippet.clone()]).collect();
    let (_, passes) = run_tests(sandbox, &problems, &references)?;
    let (kept, failing): (Vec<_>, Vec<_>) =
        examples.into_iter().zip(&passes).partition(|(_, p)| p.passed == 1);
    if !failing.is_empty() {
        let named: Vec<&str> = failing.iter().take(5).map(|(e, _)| e.id.as_str()).collect();
        eprintln!(
            "held-out functions: {} of {} fail their own tests and are left out (first: {})",
            failing.len(),
            kept.len() + failing.len(),
            named.join(", ")
        );
    }
    Ok((kept.into_iter().map(|(e, _)| e).collect(), failing.len()))
}

/// The names of the functions `code` defines at top level, in order.
fn functions(code: &str) -> impl Iterator<Item = &str> {
    code.lines().filter_map(|line| Some(line.strip_prefix("def ")?.split_once('(')?.0.trim()))
}

/// Whether `text` calls the function `name`: the name, not part of a longer one nor a method,
/// then `(` after optional spaces (MBPP writes `is_Diff (12345)`).
fn calls(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && text[at + name.len()..].trim_start().starts_with('(')
    })
}

/// MBPP's test problems: from `path`, or the default file when it is there (else none, saying
/// so on stderr: `left_out` tells what goes without them).
pub(crate) fn mbpp_test_problems(path: Option<&Path>, left_out: &str) -> anyhow::Result<Vec<MbppProblem>> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => {
            let path = nl2py::data::data_dir(Path::new("")).join("mbpp-sanitized.json");
            if !path.exists() {
                eprintln!("{} is missing: {left_out} (--mbpp FILE)", path.display());
                return Ok(Vec::new());
            }
            path
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let problems: Vec<MbppProblem> =
        serde_json::from_str(&text).with_context(|| format!("{} is not sanitized MBPP", path.display()))?;
    Ok(problems.into_iter().filter(|p| MBPP_TEST_IDS.contains(&p.task_id)).collect())
}

/// The evaluation splits: CoNaLa test, and dev by source.
fn splits(data: &Path) -> anyhow::Result<Vec<(String, Vec<Example>)>> {
    let test = read_split(data, Split::Test)?;
    let dev = read_split(data, Split::Dev)?;
    let (conala, english): (Vec<Example>, Vec<Example>) =
        dev.into_iter().partition(|e| e.source.starts_with("conala"));
    Ok(vec![
        ("conala-test".into(), test),
        ("conala-dev".into(), conala),
        ("english-python-dev".into(), english),
    ])
}

/// Generated code for each example, in order, `samples` answers each, with the search every user
/// gets unless the flags say otherwise; greedy search and sampling decode 32 prompts at a time.
/// The decoder seeds a batch's row r with seed + r: each batch starts where the last one ended,
/// so every sampled answer has a seed of its own.
fn generate(
    translator: &Translator,
    runner: &mut SandboxRunner,
    examples: &[Example],
    samples: usize,
    args: &Args,
) -> anyhow::Result<(Vec<Vec<String>>, usize)> {
    let prompts: Vec<&str> =
        examples.iter().flat_map(|e| std::iter::repeat_n(e.prompt.as_str(), samples)).collect();
    let mut codes = Vec::with_capacity(prompts.len());
    let mut copied = 0;
    for (n, chunk) in prompts.chunks(32).enumerate() {
        let mut options = args.search.options();
        if let Search::Sample { seed, .. } = &mut options.search {
            *seed = seed.wrapping_add(32 * n as u64);
        }
        for generation in pollster::block_on(translator.generate_batch_watched(chunk, &options, runner))? {
            codes.push(match generation {
                Ok(generation) => {
                    copied += usize::from(generation.copied_from.is_some() && codes.len() % samples == 0);
                    generation.code
                }
                // A prompt the model cannot read gets no code, and scores as such.
                Err(nl2py::Error::EmptyPrompt | nl2py::Error::UnknownPrompt(_)) => String::new(),
                Err(e) => return Err(e.into()),
            });
        }
    }
    Ok((codes.chunks(samples).map(<[String]>::to_vec).collect(), copied))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = crate::devices::parse(&args.device)?.remove(0);
    let samples = args.samples as usize;
    if samples > 1 && !matches!(args.search.options().search, Search::Sample { .. }) {
        bail!("--samples {samples} needs sampled answers: give --temperature too");
    }
    // Before the model loads: a missing python3 or MBPP file says so at once.
    let sandbox = args.run.then(|| Sandbox::new(Duration::from_secs(args.run_timeout))).transpose()?;
    let mbpp = if args.run {
        mbpp_test_problems(args.mbpp.as_deref(), "MBPP's tests are not scored")?
    } else {
        Vec::new()
    };
    if let Some(sandbox) = &sandbox {
        eprintln!("sandbox: {}", sandbox.describe());
    }
    let wanted = |name: &str| args.splits.is_empty() || args.splits.iter().any(|s| s == name);
    let (functions, references_failing) = match &sandbox {
        Some(sandbox) if wanted(FUNCTIONS) => held_out_functions(&args.data, sandbox)?,
        _ => (Vec::new(), 0),
    };
    let mut runner = args.search.runner()?;
    let mut translator = crate::model_file::load(&args.model, &device)?;
    if args.no_retrieval {
        translator.index = None;
    }
    args.search.rerank.apply(&mut translator, &device)?;
    // A folder's splits and references are those of its slot setting: scores compare only on
    // data prepared as the model was trained, with slots or without.
    if crate::prepared::read_config(&args.data)?.slots != translator.slots {
        bail!(
            "{} was prepared {} slots but the model was trained {} them",
            args.data.display(),
            if translator.slots { "without" } else { "with" },
            if translator.slots { "with" } else { "without" }
        );
    }
    let mut sets = splits(&args.data).context("reading the prepared splits")?;
    if !mbpp.is_empty() {
        sets.push((MBPP.into(), mbpp.iter().map(|p| p.example(&translator)).collect()));
    }
    if !functions.is_empty() {
        sets.push((FUNCTIONS.into(), functions));
    }
    sets.retain(|(name, _)| wanted(name));
    let mut answers_file = match &args.answers {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("--answers {}", path.display()))?,
        )),
        None => None,
    };
    let mut scores = Vec::new();
    for (name, mut examples) in sets {
        if let Some(limit) = args.limit {
            examples.truncate(limit);
        }
        if examples.is_empty() {
            continue;
        }
        let started = Instant::now();
        // MBPP's code should pass the problem's asserts, a held-out function its tests.
        let problems: Vec<Tested> = match name.as_str() {
            MBPP => mbpp.iter().take(examples.len()).map(MbppProblem::tested).collect(),
            FUNCTIONS => examples.iter().map(Tested::of).collect(),
            _ => Vec::new(),
        };
        let (answers, copied) = generate(
            &translator,
            &mut runner,
            &examples,
            if problems.is_empty() { 1 } else { samples },
            args,
        )?;
        // The scores of text read each problem's first answer.
        let codes: Vec<String> = answers.iter().map(|a| a[0].clone()).collect();
        let tokens: Vec<(Vec<String>, Vec<String>)> = codes
            .iter()
            .zip(&examples)
            .map(|(code, e)| (tokenize_for_bleu_eval(code), tokenize_for_bleu_eval(&e.snippet)))
            .collect();
        let n = examples.len() as f64;
        let percent = |count: usize| 100.0 * count as f64 / n;
        // Per example, the runs of its answers; English–Python programs should run clean.
        let (runs, passes) = match &sandbox {
            Some(sandbox) if !problems.is_empty() => run_tests(sandbox, &problems, &answers)?,
            Some(sandbox) if name == "english-python-dev" => {
                let runs: Vec<Vec<Run>> =
                    codes.iter().map(|c| Ok(vec![sandbox.run(c)?])).collect::<anyhow::Result<_>>()?;
                (runs, Vec::new())
            }
            _ => (Vec::new(), Vec::new()),
        };
        let runs_clean = (name == "english-python-dev" && !runs.is_empty())
            .then(|| percent(runs.iter().filter(|r| r[0].outcome == Outcome::Passed).count()));
        let tested = !passes.is_empty();
        let sampled_passes: BTreeMap<usize, f64> = [1, 10, 100]
            .into_iter()
            .filter(|&k| tested && samples > 1 && k <= samples)
            .map(|k| (k, pass_at_k(&passes, k)))
            .collect();
        let score = SplitScore {
            examples: examples.len(),
            bleu: corpus_bleu(&tokens).score,
            exact_match: percent(
                codes.iter().zip(&examples).filter(|(c, e)| exact_match(c, &e.snippet)).count(),
            ),
            rouge_l: 100.0 * tokens.iter().map(|(h, r)| rouge_l_f1(h, r)).sum::<f64>() / n,
            syntax_valid: percent(codes.iter().filter(|c| is_valid_python(c)).count()),
            repetitive: percent(codes.iter().filter(|c| is_repetitive(c)).count()),
            special_tokens: percent(codes.iter().filter(|c| leaks_special_token(c)).count()),
            runs_clean,
            pass_at_1: tested.then(|| pass_at_k(&passes, 1)),
            pass_at_k: sampled_passes,
            copied: args.search.options().copy_examples.map(|_| percent(copied)),
            references_failing: (name == FUNCTIONS).then_some(references_failing),
            sandbox: sandbox.as_ref().filter(|_| !runs.is_empty()).map(Sandbox::describe),
            seconds: started.elapsed().as_secs_f64(),
            split: name.clone(),
        };
        if !args.json {
            for (i, (code, e)) in codes.iter().zip(&examples).enumerate().take(args.show) {
                println!(
                    "--- {name} {}\nprompt:    {}\nreference: {}\noutput:    {}",
                    e.id,
                    e.prompt,
                    e.snippet.trim_end(),
                    code.trim_end()
                );
                if let Some(run) = runs.get(i).and_then(|r| r.first()) {
                    println!("ran:       {:?}\n{}", run.outcome, run.output.trim_end());
                }
            }
            let head = match score.pass_at_1 {
                Some(pass) => {
                    let mut head = format!("{} problems, pass@1 {pass:.1} %", score.examples);
                    for (k, pass) in score.pass_at_k.iter().filter(|(k, _)| **k > 1) {
                        head += &format!(", pass@{k} {pass:.1} %");
                    }
                    if samples > 1 {
                        head += &format!(" ({samples} samples)");
                    }
                    head
                }
                None => format!("{} examples", score.examples),
            };
            let head = match score.copied {
                Some(copied) => format!("{head} ({copied:.1} % copied from an example)"),
                None => head,
            };
            let clean = match (score.pass_at_1, score.runs_clean) {
                (Some(_), _) => String::new(),
                (None, clean) => {
                    format!(", runs-clean {} %", clean.map_or("-".into(), |r| format!("{r:.1}")))
                }
            };
            println!(
                "{name}: {head}, BLEU {:.2}, exact {:.1} %, ROUGE-L {:.2}, syntax-valid {:.1} %{clean}, repetitive {:.1} %, special tokens {:.1} %, {:.0} s",
                score.bleu,
                score.exact_match,
                score.rouge_l,
                score.syntax_valid,
                score.repetitive,
                score.special_tokens,
                score.seconds
            );
        }
        if let Some(file) = &mut answers_file {
            for (i, (code, e)) in codes.iter().zip(&examples).enumerate() {
                let mut line =
                    serde_json::json!({ "split": name, "id": e.id, "prompt": e.prompt, "answer": code });
                if let Some(run) = runs.get(i).and_then(|r| r.first()) {
                    line["run"] = serde_json::json!({
                        "outcome": run.outcome.key(), "output": run.output
                    });
                }
                writeln!(file, "{line}").context("writing --answers")?;
            }
        }
        scores.push(score);
    }
    if let Some(mut file) = answers_file {
        file.flush().context("writing --answers")?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MBPP's task 2, with one of its asserts.
    fn problem() -> MbppProblem {
        MbppProblem {
            task_id: 2,
            prompt: "Write a function to find the shared elements from the given two lists.".into(),
            code: "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res) ".into(),
            test_imports: vec!["import math".into()],
            test_list: vec!["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))".into()],
        }
    }

    #[test]
    fn generated_code_is_tested_under_the_name_the_asserts_call() {
        let sandbox = Sandbox::new(Duration::from_secs(5)).expect("this test needs python3");
        let problem = problem();
        let right = problem.tested().program("def shared(a, b):\n    return set(a) & set(b)");
        assert!(right.contains("\nsimilar_elements = shared\n"), "{right}");
        let run = sandbox.run(&right).unwrap();
        assert_eq!(run.outcome, Outcome::Passed, "{run:?}");
        let wrong = problem.tested().program("def shared(a, b):\n    return a");
        assert_eq!(sandbox.run(&wrong).unwrap().outcome, Outcome::Failed(1));
        // The expected name needs no second one; code without a function gets none.
        assert!(!problem.tested().program("def similar_elements(a, b):\n    pass").contains(" = "));
        assert!(!problem.tested().program("print(1)").contains(" = "));
    }

    /// A held-out function as `nl2py prepare` writes it: its reference code and tests.
    fn held_out(id: &str, snippet: &str, tests: &[&str]) -> Example {
        Example {
            source: "thealgorithms-python".into(),
            id: id.into(),
            prompt: "p".into(),
            snippet: snippet.into(),
            prompt_tokens: Vec::new(),
            code_tokens: Vec::new(),
            slots: Default::default(),
            retrieved: Vec::new(),
            tests: tests.iter().map(|t| t.to_string()).collect(),
            attribution: None,
        }
    }

    /// Four held-out functions and an answer to each: right (under another name, and needing
    /// the tests' import), wrong, raising, hanging. Only the first passes: pass@1 is 25 %.
    #[test]
    fn pass_at_1_counts_the_problems_whose_tests_pass() {
        let sandbox = Sandbox::new(Duration::from_secs(3)).expect("this test needs python3");
        let examples = [
            held_out(
                "maths/root.py#square_root",
                "import math\ndef square_root(x):\n    return math.sqrt(x)\n",
                &["import math", "assert square_root(9) == 3.0", "assert square_root(2) == math.sqrt(2)"],
            ),
            held_out(
                "snippets/double.md",
                "def double(n):\n  return 2 * n\n",
                &["x = 4", "assert double(x) == 8"],
            ),
            held_out("maths/half.py#half", "def half(n):\n    return n / 2\n", &["assert half(3) == 1.5"]),
            held_out(
                "maths/negate.py#negate",
                "def negate(n):\n    return -n\n",
                &["assert negate(2) == -2"],
            ),
        ];
        let problems: Vec<Tested> = examples.iter().map(Tested::of).collect();
        let answers = [
            "def root(x):\n    return x ** 0.5",
            "def double(n):\n    return n + 2",
            "def half(n):\n    raise ValueError(n)",
            "def negate(n):\n    import time\n    time.sleep(60)",
        ];
        let answers: Vec<Vec<String>> = answers.iter().map(|a| vec![a.to_string()]).collect();
        let (runs, passes) = run_tests(&sandbox, &problems, &answers).unwrap();
        let outcomes: Vec<Outcome> = runs.iter().map(|r| r[0].outcome).collect();
        let expected = [Outcome::Passed, Outcome::Failed(1), Outcome::Failed(1), Outcome::TimedOut];
        assert_eq!(outcomes, expected, "{runs:?}");
        assert!(runs[1][0].output.contains("AssertionError") && runs[2][0].output.contains("ValueError"));
        assert_eq!(pass_at_k(&passes, 1), 25.0);
        // The references pass their own tests.
        let references: Vec<Vec<String>> = examples.iter().map(|e| vec![e.snippet.clone()]).collect();
        let (_, passes) = run_tests(&sandbox, &problems, &references).unwrap();
        assert_eq!(pass_at_k(&passes, 1), 100.0);
    }

    #[test]
    fn pass_at_k_is_the_unbiased_estimate() {
        let passes = |answers, passed| Passes { answers, passed };
        // One of 10 answers right: pass@1 is 1/10, pass@10 certain, pass@5 1 − C(9,5)/C(10,5).
        let one = [passes(10, 1)];
        assert!((pass_at_k(&one, 1) - 10.0).abs() < 1e-9);
        assert!((pass_at_k(&one, 10) - 100.0).abs() < 1e-9);
        assert!((pass_at_k(&one, 5) - 50.0).abs() < 1e-9);
        // Three of 10 right, and a problem never solved: pass@2 = (1 − C(7,2)/C(10,2)) / 2.
        let two = [passes(10, 3), passes(10, 0)];
        assert!((pass_at_k(&two, 2) - 100.0 * (1.0 - 21.0 / 45.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn names_are_read_as_mbpp_writes_them() {
        assert!(calls("assert is_Diff (12345) == False", "is_Diff"));
        assert!(!calls("assert x.area(3) == 9", "area"));
        assert!(!calls("assert my_area(3) == 9", "area"));
        let code = "import re\ndef get_max_sum (n):\n\tdef inner(x): pass\nclass A:\n    def m(self): pass\ndef b(): pass";
        assert_eq!(functions(code).collect::<Vec<_>>(), ["get_max_sum", "b"]);
    }
}
