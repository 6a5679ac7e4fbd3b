//! `nl2py retrieval`: how well the index finds examples, and a bundle's index rebuilt.
//!
//! `bench` scores the examples a model's index retrieves for prompt sets: sets whose right
//! example is known by tests (MBPP's test problems; the held-out functions of a prepared folder
//! with `--functions`), where an example is a hit when its code passes the prompt's tests in
//! [`crate::sandbox`] (its first function bound to the name the tests call, as `eval --run`
//! does), and a fixed set of everyday prompts whose examples are printed to be read. It compares
//! the index as the bundle stores it with the same pairs' words derived again by each
//! [`Matching`], with each index's size and search time. `reindex` writes the bundle back with
//! its index rebuilt, so a shipped model matches on tasks without training again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nl2py::data::prepare::{Example, Split};
use nl2py::decode::Translator;
use nl2py::retrieve::{Hit, Index, Matching, is_definition};
use serde::Serialize;

use crate::eval::Tested;
use crate::model_file::{SHIPPED, load_with_index, write_checked};
use crate::sandbox::{Outcome, Sandbox};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Scores retrieval: hit@1 and hit@2 on prompts with tests, the everyday prompts' examples,
    /// each index's size and search time.
    Bench(BenchArgs),
    /// Writes a bundle with the same model and its index's words derived again by a matching.
    Reindex(ReindexArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// The bundle whose index is scored.
    #[arg(long, default_value = SHIPPED)]
    model: PathBuf,
    /// The indexes compared (repeat the flag): `stored` (the bundle's as it is), `legacy` (every
    /// prompt word, as before format 2), `task` (this build's default), or `task` without one of
    /// its parts: no-task-words, no-stems, no-synonyms, no-code-names, no-diversity,
    /// no-definitions.
    #[arg(long = "matching", value_enum, default_values_t = [MatchingArg::Stored, MatchingArg::Task])]
    matchings: Vec<MatchingArg>,
    /// Sanitized MBPP, whose test problems (task ids 11–510) are a prompt set. [default:
    /// mbpp-sanitized.json in the data folder ($NL2PY_DATA, else ../shared/data, else
    /// data/sets); left out with a note when missing]
    #[arg(long)]
    mbpp: Option<PathBuf>,
    /// A folder of `nl2py prepare` whose held-out functions (`functions.jsonl`, with tests) are a
    /// prompt set too.
    #[arg(long)]
    functions: Option<PathBuf>,
    /// Score the index of this folder of `nl2py prepare` (`index.bin`) instead of the bundle's:
    /// one prepared since the bundle, with more data, and the bundle's vocabularies
    /// (`--vocabularies`). The bundle still tokenizes the prompts.
    #[arg(long)]
    index: Option<PathBuf>,
    /// Print the examples each index retrieves: for every everyday prompt, and for every tested
    /// prompt that some index's examples pass (✓ marks those that pass).
    #[arg(long)]
    show: bool,
    /// With --show: also the tested prompts that no index's examples pass.
    #[arg(long, requires = "show")]
    misses: bool,
    /// Also count, per tested set, the prompts that some indexed pair passes: every pair whose
    /// code defines a function is run against every prompt's tests (no other can pass, since
    /// the tests call a function), which bounds hit@k whatever the ranking. Slow: MBPP's 257
    /// prompts × the shipped index's 172 functions take about half an hour.
    #[arg(long)]
    ceiling: bool,
    /// Seconds an example's test program may run before it counts as failed.
    #[arg(long, default_value_t = 5)]
    run_timeout: u64,
    /// How many times every prompt is searched when timing a search.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ReindexArgs {
    /// The bundle to read.
    #[arg(long, default_value = SHIPPED)]
    model: PathBuf,
    /// The bundle to write (may be --model itself).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = MatchingArg::Task)]
    matching: MatchingArg,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum MatchingArg {
    Stored,
    Legacy,
    Task,
    NoTaskWords,
    NoStems,
    NoSynonyms,
    NoCodeNames,
    NoDiversity,
    NoDefinitions,
}

impl MatchingArg {
    /// The matching to rebuild an index with; `None` for the index as stored.
    fn matching(self) -> Option<Matching> {
        let task = Matching::TASK;
        Some(match self {
            MatchingArg::Stored => return None,
            MatchingArg::Legacy => Matching::LEGACY,
            MatchingArg::Task => task,
            MatchingArg::NoTaskWords => Matching { task_words: false, ..task },
            MatchingArg::NoStems => Matching { stems: false, ..task },
            MatchingArg::NoSynonyms => Matching { synonyms: false, ..task },
            MatchingArg::NoCodeNames => Matching { code_names: false, ..task },
            MatchingArg::NoDiversity => Matching { diverse: false, ..task },
            MatchingArg::NoDefinitions => Matching { definitions: false, ..task },
        })
    }

    fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self).map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// Everyday requests as a new user types them (issue 40): examples of the same task are what
/// the model should read before it writes.
pub const EVERYDAY_PROMPTS: [&str; 25] = [
    "write a python function to compute the factorial of a number",
    "write a program to check if a year is a leap year",
    "write a python function to reverse a string",
    "write a function to find the gcd of two numbers",
    "write a python program to swap two variables",
    "write a function to print the fibonacci sequence up to n",
    "write a python function to check if a number is prime",
    "write a program to check whether a string is a palindrome",
    "write a python function to find the sum of a list",
    "write a program to find the largest of three numbers",
    "write a python function to convert celsius to fahrenheit",
    "write a function to count the vowels in a string",
    "write a python function to remove duplicates from a list",
    "write a program to merge two dictionaries",
    "write a python function to compute the area of a circle",
    "write a program to sort a list in descending order",
    "write a function to check if a number is a perfect square",
    "write a python function to find the duplicates in a list",
    "write a python function to check if a number is an armstrong number",
    "write a program to convert a string to uppercase",
    "write a python function to count the words in a sentence",
    "write a function to find the maximum element in a list",
    "write a program to check if a number is even or odd",
    "write a python function to compute the average of a list of numbers",
    "write a python program to find the length of a string",
];

/// A prompt of a set.
struct BenchPrompt<'a> {
    id: String,
    prompt: String,
    /// What an example's code must pass to be a hit; `None`: its examples are read by a person.
    tests: Option<Tested<'a>>,
}

/// Prompts scored together. A new set with tests plugs in as one more of these.
struct PromptSet<'a> {
    name: &'static str,
    prompts: Vec<BenchPrompt<'a>>,
}

impl PromptSet<'_> {
    fn tested(&self) -> bool {
        self.prompts.iter().any(|p| p.tests.is_some())
    }
}

/// The examples one index retrieves for one prompt, as `--show` prints them.
#[derive(Clone)]
struct Shown<'a> {
    index: &'a str,
    hits: Vec<Hit>,
    /// For a tested prompt: whether each example passes its tests.
    passes: Vec<bool>,
}

/// One index of the comparison.
struct Variant {
    name: String,
    index: Arc<Index>,
    /// Milliseconds to derive its words again from the stored pairs (none for `stored`).
    build_ms: Option<f64>,
}

#[derive(Serialize)]
struct IndexReport {
    matching: String,
    entries: usize,
    words: usize,
    bytes: usize,
    build_ms: Option<f64>,
    /// Milliseconds to read the index from its bytes, as a bundle's loading does.
    load_ms: f64,
    /// Mean time of one search (the model's neighbours), over every prompt of every set.
    search_us: f64,
}

#[derive(Serialize)]
struct SetReport {
    set: String,
    matching: String,
    prompts: usize,
    /// Tested sets: prompts whose first example passes their tests, and whose first or second.
    hit_at_1: Option<usize>,
    hit_at_2: Option<usize>,
    /// Prompts for which nothing shares a word.
    no_example: usize,
    /// Prompts whose first two examples are near copies of each other.
    near_copies: usize,
}

/// How many prompts of a tested set any indexed function passes (`--ceiling`).
#[derive(Serialize)]
struct Ceiling {
    set: String,
    prompts: usize,
    /// Indexed pairs whose code defines a function: each was run against each prompt's tests
    /// until one passed.
    functions: usize,
    reachable: usize,
}

#[derive(Serialize)]
struct Report {
    model: String,
    sandbox: Option<String>,
    indexes: Vec<IndexReport>,
    sets: Vec<SetReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ceilings: Vec<Ceiling>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Bench(args) => bench(args),
        Command::Reindex(args) => reindex(args),
    }
}

/// The index of `translator` rebuilt with `matching`, and how long that took.
fn rebuilt(translator: &Translator, matching: Matching) -> (Index, f64) {
    let index = translator.index.as_deref().expect("load_with_index checked the index");
    let started = Instant::now();
    let rebuilt = index.reindexed(matching, |prompt| translator.tokenize_prompt(prompt).tokens);
    (rebuilt, started.elapsed().as_secs_f64() * 1e3)
}

fn reindex(args: &ReindexArgs) -> anyhow::Result<()> {
    let (mut translator, info, file_len) = load_with_index(&args.model)?;
    let stored = translator.index.clone().expect("load_with_index checked the index");
    let index = match args.matching.matching() {
        Some(matching) => Arc::new(rebuilt(&translator, matching).0),
        None => stored.clone(),
    };
    let mut metadata = info.metadata.clone();
    if index.matching() != stored.matching() {
        metadata.insert(
            "index".into(),
            format!("words rebuilt by `nl2py retrieval reindex --matching {}`", args.matching.name()),
        );
    }
    translator.index = Some(index.clone());
    let (bytes, sha256) = write_checked(&args.out, &translator, info.precision, metadata)?;
    println!(
        "{}: index {} → {} bytes ({} → {} words), bundle {file_len} → {bytes} bytes, sha256 {sha256}",
        args.out.display(),
        stored.to_bytes().len(),
        index.to_bytes().len(),
        stored.word_count(),
        index.word_count(),
    );
    Ok(())
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let (mut translator, _, _) = load_with_index(&args.model)?;
    if let Some(dir) = &args.index {
        let index = crate::prepared::read_index(dir, &translator.code_vocab)?
            .with_context(|| format!("{} has no retrieval index", dir.display()))?;
        translator.index = Some(Arc::new(index));
    }
    let mbpp = crate::eval::mbpp_test_problems(args.mbpp.as_deref(), "MBPP's test prompts are left out")?;
    let functions: Vec<Example> = match &args.functions {
        Some(dir) => crate::prepared::read_split(dir, Split::Functions)?,
        None => Vec::new(),
    };
    let mut sets = Vec::new();
    if !mbpp.is_empty() {
        let prompts = mbpp
            .iter()
            .map(|p| BenchPrompt {
                id: format!("task {}", p.task_id),
                prompt: p.prompt.clone(),
                tests: Some(p.tested()),
            })
            .collect();
        sets.push(PromptSet { name: "mbpp-test", prompts });
    }
    if !functions.is_empty() {
        let prompts = functions
            .iter()
            .map(|e| BenchPrompt { id: e.id.clone(), prompt: e.prompt.clone(), tests: Some(Tested::of(e)) })
            .collect();
        sets.push(PromptSet { name: "functions", prompts });
    }
    let everyday = EVERYDAY_PROMPTS
        .iter()
        .enumerate()
        .map(|(n, p)| BenchPrompt { id: format!("everyday {}", n + 1), prompt: p.to_string(), tests: None })
        .collect();
    sets.push(PromptSet { name: "everyday", prompts: everyday });
    let sandbox = match sets.iter().any(PromptSet::tested) {
        true => Some(Sandbox::new(Duration::from_secs(args.run_timeout))?),
        false => None,
    };

    let stored = translator.index.clone().expect("load checked the index");
    let mut variants = Vec::new();
    for &arg in &args.matchings {
        let variant = match arg.matching() {
            None => Variant {
                name: format!("stored ({})", describe(stored.matching())),
                index: stored.clone(),
                build_ms: None,
            },
            Some(matching) => {
                let (index, ms) = rebuilt(&translator, matching);
                Variant { name: arg.name(), index: Arc::new(index), build_ms: Some(ms) }
            }
        };
        variants.push(variant);
    }

    // Every prompt of every set, as the model reads it.
    let tokens: Vec<Vec<Vec<String>>> = sets
        .iter()
        .map(|set| set.prompts.iter().map(|p| translator.tokenize_prompt(&p.prompt).tokens).collect())
        .collect();
    let mut report = Report {
        model: args.model.display().to_string(),
        sandbox: sandbox.as_ref().map(Sandbox::describe),
        indexes: Vec::new(),
        sets: Vec::new(),
        ceilings: Vec::new(),
    };
    for variant in &variants {
        let index = &variant.index;
        let all: Vec<&Vec<String>> = tokens.iter().flatten().collect();
        let started = Instant::now();
        for _ in 0..args.repeat.max(1) {
            for prompt in &all {
                std::hint::black_box(index.search(prompt, index.neighbours, |_| false));
            }
        }
        let search_us = started.elapsed().as_secs_f64() * 1e6 / (all.len() * args.repeat.max(1)) as f64;
        let bytes = index.to_bytes();
        let started = Instant::now();
        let read = Index::from_bytes(&bytes, translator.code_vocab.len())?;
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        anyhow::ensure!(read == **index, "{} does not read back from its bytes", variant.name);
        report.indexes.push(IndexReport {
            matching: variant.name.clone(),
            entries: index.len(),
            words: index.word_count(),
            bytes: bytes.len(),
            load_ms,
            build_ms: variant.build_ms,
            search_us,
        });
    }

    // Test runs, shared by the variants: the same entries are in every index.
    let mut passed: HashMap<(usize, usize, usize), bool> = HashMap::new();
    for (s, set) in sets.iter().enumerate() {
        // Per prompt, per index: its examples.
        let mut shown: Vec<Vec<Shown>> = vec![Vec::new(); set.prompts.len()];
        for variant in &variants {
            let index = &variant.index;
            let (mut hit_1, mut hit_2, mut no_example, mut near_copies) = (0, 0, 0, 0);
            for (p, prompt) in set.prompts.iter().enumerate() {
                let found = index.search(&tokens[s][p], index.neighbours, |_| false);
                no_example += usize::from(found.is_empty());
                if let [a, b, ..] = found[..] {
                    near_copies += usize::from(index.near_copies(a.entry, b.entry));
                }
                let mut passes = Vec::new();
                if let (Some(tests), Some(sandbox)) = (&prompt.tests, &sandbox) {
                    for hit in found.iter().take(2) {
                        let pass = match passed.get(&(s, p, hit.entry)) {
                            Some(&pass) => pass,
                            None => {
                                let run = sandbox.run(&tests.program(&index.entry(hit.entry).code))?;
                                let pass = run.outcome == Outcome::Passed;
                                passed.insert((s, p, hit.entry), pass);
                                pass
                            }
                        };
                        passes.push(pass);
                    }
                    hit_1 += usize::from(passes.first() == Some(&true));
                    hit_2 += usize::from(passes.contains(&true));
                }
                if args.show {
                    shown[p].push(Shown { index: &variant.name, hits: found, passes });
                }
            }
            let tested = set.tested();
            report.sets.push(SetReport {
                set: set.name.into(),
                matching: variant.name.clone(),
                prompts: set.prompts.len(),
                hit_at_1: tested.then_some(hit_1),
                hit_at_2: tested.then_some(hit_2),
                no_example,
                near_copies,
            });
        }
        if args.show && !args.json {
            for (prompt, shown) in set.prompts.iter().zip(&shown) {
                let passed_any = shown.iter().any(|shown| shown.passes.contains(&true));
                if prompt.tests.is_some() && !passed_any && !args.misses {
                    continue;
                }
                println!("--- {} {}: {}", set.name, prompt.id, prompt.prompt);
                for Shown { index: name, hits, passes } in shown {
                    let index = &variants.iter().find(|v| v.name == *name).expect("a variant").index;
                    for (n, hit) in hits.iter().enumerate() {
                        let entry = index.entry(hit.entry);
                        let first_line = entry.code.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                        let mark = if passes.get(n) == Some(&true) { "✓" } else { " " };
                        println!(
                            "  {name:<22} {}.{mark} #{:<6} {:>5.1}  {}  |  {}",
                            n + 1,
                            hit.entry,
                            hit.score,
                            one_line(&entry.prompt, 70),
                            one_line(first_line, 50)
                        );
                    }
                }
            }
        }
    }
    if let (true, Some(sandbox)) = (args.ceiling, &sandbox) {
        let functions: Vec<usize> =
            (0..stored.len()).filter(|&e| is_definition(&stored.entry(e).code)).collect();
        for (s, set) in sets.iter().enumerate().filter(|(_, set)| set.tested()) {
            let mut reachable = 0;
            for (p, prompt) in set.prompts.iter().enumerate() {
                let Some(tests) = &prompt.tests else { continue };
                for &entry in &functions {
                    let pass = match passed.get(&(s, p, entry)) {
                        Some(&pass) => pass,
                        None => {
                            let run = sandbox.run(&tests.program(&stored.entry(entry).code))?;
                            let pass = run.outcome == Outcome::Passed;
                            passed.insert((s, p, entry), pass);
                            pass
                        }
                    };
                    if pass {
                        reachable += 1;
                        break;
                    }
                }
                if (p + 1) % 25 == 0 {
                    eprintln!(
                        "ceiling of {}: {} of {} prompts run, {reachable} reachable",
                        set.name,
                        p + 1,
                        set.prompts.len()
                    );
                }
            }
            report.ceilings.push(Ceiling {
                set: set.name.into(),
                prompts: set.prompts.len(),
                functions: functions.len(),
                reachable,
            });
        }
    }
    print_report(&report, args.json)
}

/// The matching's parts that are on, for a heading.
fn describe(matching: Matching) -> String {
    let Matching { task_words, stems, synonyms, code_names, diverse, definitions } = matching;
    let parts: Vec<&str> = [
        (task_words, "task words"),
        (stems, "stems"),
        (synonyms, "synonyms"),
        (code_names, "code names"),
        (diverse, "diverse"),
        (definitions, "definitions"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    match matching {
        Matching::LEGACY => "every word".into(),
        Matching::TASK => "task".into(),
        _ => parts.join(", "),
    }
}

/// `text` on one line, cut to `width` characters.
fn one_line(text: &str, width: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(width) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    if let Some(sandbox) = &report.sandbox {
        println!("sandbox: {sandbox}");
    }
    println!(
        "\n{:<40} {:>8} {:>7} {:>11} {:>9} {:>8} {:>10}",
        "index", "entries", "words", "bytes", "build ms", "load ms", "search µs"
    );
    for i in &report.indexes {
        let build = i.build_ms.map_or("-".into(), |ms| format!("{ms:.0}"));
        println!(
            "{:<40} {:>8} {:>7} {:>11} {:>9} {:>8.0} {:>10.1}",
            i.matching, i.entries, i.words, i.bytes, build, i.load_ms, i.search_us
        );
    }
    let percent = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    for c in &report.ceilings {
        println!(
            "\nceiling of {}: {} of {} prompts ({:.1} %) are passed by one of the index's {} functions",
            c.set,
            c.reachable,
            c.prompts,
            percent(c.reachable, c.prompts),
            c.functions
        );
    }
    let mut last_set = "";
    for s in &report.sets {
        if s.set != last_set {
            last_set = &s.set;
            match s.hit_at_1 {
                Some(_) => println!(
                    "\n{} ({} prompts; a hit passes the prompt's tests)\n{:<40} {:>14} {:>14} {:>10} {:>11}",
                    s.set, s.prompts, "matching", "hit@1", "hit@2", "no example", "near copies"
                ),
                None => println!(
                    "\n{} ({} prompts; read the examples with --show)\n{:<40} {:>10} {:>11}",
                    s.set, s.prompts, "matching", "no example", "near copies"
                ),
            }
        }
        match (s.hit_at_1, s.hit_at_2) {
            (Some(h1), Some(h2)) => println!(
                "{:<40} {:>14} {:>14} {:>10} {:>11}",
                s.matching,
                format!("{h1} ({:.1} %)", percent(h1, s.prompts)),
                format!("{h2} ({:.1} %)", percent(h2, s.prompts)),
                s.no_example,
                s.near_copies
            ),
            _ => println!("{:<40} {:>10} {:>11}", s.matching, s.no_example, s.near_copies),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nl2py::retrieve::task_tokens;
    use nl2py::text::prompt;

    /// The everyday set is all instruction shell around a task: each loses its shell and asks
    /// for a definition, and what is left is the task.
    #[test]
    fn everyday_prompts_lose_their_shell() {
        for text in EVERYDAY_PROMPTS {
            let tokens = prompt::tokenize(text).tokens;
            let (task, asks) = task_tokens(&tokens);
            assert!(asks, "{text}");
            let shell = tokens.len() - task.len();
            assert!((3..=5).contains(&shell), "{text}: {task:?}");
            assert!(!task.iter().any(|w| ["write", "python", "function", "program"].contains(w)), "{text}");
        }
    }

    #[test]
    fn every_matching_of_the_flag_is_distinct() {
        let all = [
            MatchingArg::Legacy,
            MatchingArg::Task,
            MatchingArg::NoTaskWords,
            MatchingArg::NoStems,
            MatchingArg::NoSynonyms,
            MatchingArg::NoCodeNames,
            MatchingArg::NoDiversity,
            MatchingArg::NoDefinitions,
        ];
        let matchings: Vec<Matching> = all.iter().filter_map(|a| a.matching()).collect();
        assert_eq!(matchings.len(), all.len());
        for (i, m) in matchings.iter().enumerate() {
            assert!(!matchings[i + 1..].contains(m), "{:?}", all[i]);
        }
        assert_eq!(MatchingArg::Stored.matching(), None);
        assert_eq!(MatchingArg::NoCodeNames.name(), "no-code-names");
    }
}
