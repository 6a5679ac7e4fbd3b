//! `nl2py eval`: scores generated code the way the field does, per split: CoNaLa test, CoNaLa
//! dev, English–Python dev. BLEU and exact match as CoNaLa's official scorer, ROUGE-L F1 on the
//! same tokens, syntax-valid % (RustPython's parser). Only with `--run`, which executes generated
//! code in [`crate::sandbox`]: runs-clean % of English–Python programs, and pass@1 on MBPP's
//! sanitized test problems.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nl2py::data::prepare::{Example, Split};
use nl2py::data::sources::MBPP_TEST_IDS;
use nl2py::decode::Translator;
use nl2py::metrics::{
    corpus_bleu, exact_match, is_repetitive, is_valid_python, leaks_special_token, rouge_l_f1,
    tokenize_for_bleu_eval,
};
use serde::{Deserialize, Serialize};

use crate::prepared::read_split;
use crate::sandbox::{Outcome, Run, Sandbox};
use crate::search_args::SearchArgs;

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
    /// mbpp-test (with --run). Tune settings on the dev splits only.
    #[arg(long = "split", value_name = "NAME", value_parser = ["conala-test", "conala-dev", "english-python-dev", MBPP])]
    splits: Vec<String>,
    /// Print N prompt / reference / output triples per split.
    #[arg(long, default_value_t = 0)]
    show: usize,
    /// Give a retrieval model no retrieved examples: the prompt alone (the retrieval-off row of
    /// MODEL.md's ablation).
    #[arg(long)]
    no_retrieval: bool,
    /// Run the generated programs: English–Python dev's runs-clean and MBPP's tests (pass@1).
    /// Without --run no generated code is executed, and runs-clean is "-" (null in --json).
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
    /// reference solution defines that the first assert calls. [default:
    /// $NL2PY_DATA/mbpp-sanitized.json, else ../shared/data/mbpp-sanitized.json; skipped with a
    /// note when missing]
    #[arg(long, requires = "run")]
    mbpp: Option<PathBuf>,
    #[arg(long)]
    json: bool,
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
    /// With --run, for MBPP: % of problems whose asserts pass.
    pass_at_1: Option<f64>,
    /// With --run: the interpreter, and what the sandbox isolates on this machine.
    sandbox: Option<String>,
    seconds: f64,
}

/// The split name of MBPP's test problems.
const MBPP: &str = "mbpp-test";

/// A problem of sanitized MBPP.
#[derive(Deserialize)]
struct MbppProblem {
    task_id: u64,
    prompt: String,
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
        }
    }

    /// The program that tests `code`: the problem's imports, the code, its asserts. The model
    /// cannot know the name the asserts call, so when `code` defines a function at top level
    /// under another name than the expected one (the first function of the reference solution
    /// that the first assert calls), `EXPECTED = NAME` binds it under the expected name too.
    fn program(&self, code: &str) -> String {
        let mut program = format!("{}\n{code}\n", self.test_imports.join("\n"));
        let first_assert = self.test_list.first().map_or("", String::as_str);
        let expected = functions(&self.code).find(|name| calls(first_assert, name));
        if let (Some(expected), Some(name)) = (expected, functions(code).next())
            && expected != name
        {
            program += &format!("{expected} = {name}\n");
        }
        program + &self.test_list.join("\n") + "\n"
    }
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

/// MBPP's test problems for --run: from --mbpp, or the default file when it is there.
fn mbpp_problems(args: &Args) -> anyhow::Result<Vec<MbppProblem>> {
    let path = match &args.mbpp {
        Some(path) => path.clone(),
        None => {
            let path = nl2py::data::shared_data_dir(Path::new("")).join("mbpp-sanitized.json");
            if !path.exists() {
                eprintln!("{} is missing: MBPP's tests are not scored (--mbpp FILE)", path.display());
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

/// Generated code for each example, in order, with the search every user gets unless the flags
/// say otherwise; greedy search decodes 32 prompts at a time.
fn generate(translator: &Translator, examples: &[Example], args: &Args) -> anyhow::Result<Vec<String>> {
    let options = args.search.options();
    let mut codes = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(32) {
        let prompts: Vec<&str> = chunk.iter().map(|e| e.prompt.as_str()).collect();
        for generation in pollster::block_on(translator.generate_batch(&prompts, &options))? {
            codes.push(match generation {
                Ok(generation) => generation.code,
                // A prompt the model cannot read gets no code, and scores as such.
                Err(nl2py::Error::EmptyPrompt | nl2py::Error::UnknownPrompt(_)) => String::new(),
                Err(e) => return Err(e.into()),
            });
        }
    }
    Ok(codes)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = crate::devices::parse(&args.device)?.remove(0);
    // Before the model loads: a missing python3 or MBPP file says so at once.
    let sandbox = args.run.then(|| Sandbox::new(Duration::from_secs(args.run_timeout))).transpose()?;
    let mbpp = if args.run { mbpp_problems(args)? } else { Vec::new() };
    if let Some(sandbox) = &sandbox {
        eprintln!("sandbox: {}", sandbox.describe());
    }
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
    sets.retain(|(name, _)| args.splits.is_empty() || args.splits.contains(name));
    let mut scores = Vec::new();
    for (name, mut examples) in sets {
        if let Some(limit) = args.limit {
            examples.truncate(limit);
        }
        if examples.is_empty() {
            continue;
        }
        let started = Instant::now();
        let codes = generate(&translator, &examples, args)?;
        let tokens: Vec<(Vec<String>, Vec<String>)> = codes
            .iter()
            .zip(&examples)
            .map(|(code, e)| (tokenize_for_bleu_eval(code), tokenize_for_bleu_eval(&e.snippet)))
            .collect();
        let n = examples.len() as f64;
        let percent = |count: usize| 100.0 * count as f64 / n;
        // English–Python programs should run; MBPP's code should pass the problem's asserts.
        let programs: Vec<String> = match name.as_str() {
            "english-python-dev" => codes.clone(),
            MBPP => codes.iter().zip(&mbpp).map(|(code, problem)| problem.program(code)).collect(),
            _ => Vec::new(),
        };
        let runs: Vec<Run> = match &sandbox {
            Some(sandbox) => programs.iter().map(|p| sandbox.run(p)).collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
        };
        let passed =
            (!runs.is_empty()).then(|| percent(runs.iter().filter(|r| r.outcome == Outcome::Passed).count()));
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
            runs_clean: passed.filter(|_| name != MBPP),
            pass_at_1: passed.filter(|_| name == MBPP),
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
                if let Some(run) = runs.get(i) {
                    println!("ran:       {:?}\n{}", run.outcome, run.output.trim_end());
                }
            }
            let head = match score.pass_at_1 {
                Some(pass) => format!("{} problems, pass@1 {pass:.1} %", score.examples),
                None => format!("{} examples", score.examples),
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
        scores.push(score);
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
        let right = problem().program("def shared(a, b):\n    return set(a) & set(b)");
        assert!(right.contains("\nsimilar_elements = shared\n"), "{right}");
        let run = sandbox.run(&right).unwrap();
        assert_eq!(run.outcome, Outcome::Passed, "{run:?}");
        let wrong = problem().program("def shared(a, b):\n    return a");
        assert_eq!(sandbox.run(&wrong).unwrap().outcome, Outcome::Failed(1));
        // The expected name needs no second one; code without a function gets none.
        assert!(!problem().program("def similar_elements(a, b):\n    pass").contains(" = "));
        assert!(!problem().program("print(1)").contains(" = "));
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
