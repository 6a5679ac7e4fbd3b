//! Data sets: reading each source format into prompt–code pairs, and preparing the splits and
//! vocabularies the model trains on. Callers pass file contents; nothing here opens a file.

pub mod batch;
pub mod english_python;
mod functions;
pub mod mine;
pub mod pairs;
pub mod prepare;
pub mod sets;
pub mod sources;
pub mod thealgorithms;
pub mod thirty_seconds;

pub use sets::{data_dir, redistribution_licence};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A prompt and its program as a source gives them, before cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPair {
    /// Unique within its file: `q<question_id>#<n>` for CoNaLa, `line <n>` for text files; for a
    /// folder source, the member's path (`maths/gcd.py#gcd`, `snippets/add_days.md`).
    pub id: String,
    /// Pairs of one group never straddle splits (CoNaLa's `question_id`, a folder's file).
    pub group: String,
    pub prompt: String,
    pub code: String,
    /// Python statements that test `code` when run after it, in order: setup (imports,
    /// assignments) and `assert CALL == LITERAL` checks ([`count_asserts`]). Empty for sources
    /// without tests.
    pub tests: Vec<String>,
    /// Where a user's own pair says it comes from and under which licence ([`pairs`]); `None`
    /// for the data sets, whose file and manifest say it.
    pub attribution: Option<Attribution>,
}

/// A user's own pair's origin, as its record gives it: each part `None` where the record is
/// silent (the file's name is then its source; a licence given for the whole file, or none, its
/// licence).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
}

impl RawPair {
    /// A pair that is its own group, with no tests and no attribution of its own: what the data
    /// sets' line- and record-based readers give.
    pub fn alone(id: String, prompt: String, code: String) -> Self {
        RawPair { group: id.clone(), id, prompt, code, tests: Vec::new(), attribution: None }
    }
}

/// How many checks a pair's tests hold: their `assert` statements (the rest is setup).
pub fn count_asserts(tests: &[String]) -> usize {
    tests.iter().filter(|t| t.starts_with("assert ")).count()
}

/// One file of a folder source: its path inside the folder (`/`-separated) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    pub text: String,
}

/// What reading one file (or a folder source's files) gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    pub pairs: Vec<RawPair>,
    /// Records seen, malformed ones included (a folder source's records are its files).
    pub read: usize,
    pub malformed: usize,
    /// The first few malformed records, described for the user.
    pub problems: Vec<String>,
    /// What a reader left out on purpose though it was well-formed, counted by reason
    /// (a function that needs the rest of its file, a doctest that raises).
    pub skipped: BTreeMap<&'static str, usize>,
}

/// How many malformed records a report describes one by one.
const PROBLEMS_SHOWN: usize = 5;

impl ReadOutcome {
    fn malformed(&mut self, what: String) {
        self.malformed += 1;
        if self.problems.len() < PROBLEMS_SHOWN {
            self.problems.push(what);
        }
    }

    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }
}

/// The kinds of data files, by format and by the role they play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// `# prompt` lines followed by programs (`english_python_data*.txt`).
    EnglishPython,
    /// CoNaLa's curated train set (JSON array).
    ConalaTrain,
    /// CoNaLa's curated test set: the test split, never trained on.
    ConalaTest,
    /// NL–code pairs for pretraining: the Python API docs (`python-docs.jsonl`,
    /// `goldmine_*.jsonl`) and pairs from `nl2py mine` (`mined-*.jsonl`).
    ApiDocs,
    /// CoNaLa's mined pairs (`conala-mined.jsonl`), when a user has them.
    ConalaMined,
    /// Django's English pseudo-code and code lines (`django-all.anno` with `django-all.code`).
    Django,
    /// Sanitized MBPP's problems outside its test ids (`mbpp-sanitized.json`).
    Mbpp,
    // Folder sources: each reads the files of one folder ([`SourceKind::member_files`]).
    /// TheAlgorithms/Python (the folder `thealgorithms-python/`): documented top-level
    /// functions, their doctests as tests.
    TheAlgorithms,
    /// 30-seconds-of-python (the folder `30-seconds-of-python/`, its `snippets/*.md`): one
    /// function a snippet, its example calls as tests.
    ThirtySeconds,
    /// A user's own pairs, one JSON object a line (`nl2py prepare --pairs FILE.jsonl`; [`pairs`]).
    PairsJsonLines,
    /// A user's own pairs as CSV with a header row (`--pairs FILE.csv`; [`pairs`]).
    PairsCsv,
}

impl SourceKind {
    /// Which kind a file in the data folder is, by its name; `None` for files we do not read.
    pub fn of_file(name: &str) -> Option<Self> {
        match name {
            "conala-train.json" => Some(Self::ConalaTrain),
            "conala-test.json" => Some(Self::ConalaTest),
            "conala-mined.jsonl" => Some(Self::ConalaMined),
            "python-docs.jsonl" => Some(Self::ApiDocs),
            "django-all.anno" => Some(Self::Django),
            "mbpp-sanitized.json" => Some(Self::Mbpp),
            n if n.starts_with("goldmine_") && n.ends_with(".jsonl") => Some(Self::ApiDocs),
            n if n.starts_with("mined-") && n.ends_with(".jsonl") => Some(Self::ApiDocs),
            n if n.starts_with("english_python_data") && n.ends_with(".txt") => Some(Self::EnglishPython),
            _ => None,
        }
    }

    /// Which kind a file of a user's own pairs is, by its name: CSV for `.csv`, else JSON Lines.
    pub fn of_pairs_file(name: &str) -> Self {
        if name.to_ascii_lowercase().ends_with(".csv") { Self::PairsCsv } else { Self::PairsJsonLines }
    }

    /// A user's own pairs (`--pairs`), which no data set's file name stands for.
    pub fn is_own_pairs(self) -> bool {
        matches!(self, Self::PairsJsonLines | Self::PairsCsv)
    }

    /// Which kind a folder in the data folder is, by its name; `None` for folders we do not read.
    pub fn of_folder(name: &str) -> Option<Self> {
        match name {
            "thealgorithms-python" => Some(Self::TheAlgorithms),
            "30-seconds-of-python" => Some(Self::ThirtySeconds),
            _ => None,
        }
    }

    /// For a folder kind, the files it reads: those under this subfolder (`""`: all of the
    /// folder, subfolders included) whose names end so.
    pub fn member_files(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::TheAlgorithms => Some(("", ".py")),
            Self::ThirtySeconds => Some(("snippets", ".md")),
            _ => None,
        }
    }

    /// The second file a source of this kind reads, named after the first.
    pub fn companion(self, name: &str) -> Option<String> {
        match self {
            Self::Django => Some(name.strip_suffix(".anno").unwrap_or(name).to_string() + ".code"),
            _ => None,
        }
    }

    /// Reads a file of this kind (with its companion's text, for kinds that have one).
    pub fn read(self, text: &str, companion: Option<&str>) -> ReadOutcome {
        match self {
            Self::EnglishPython => english_python::read(text),
            Self::ConalaTrain | Self::ConalaTest => sources::read_conala_json(text),
            Self::ApiDocs | Self::ConalaMined => sources::read_jsonl(text),
            Self::Django => sources::read_django(text, companion.unwrap_or_default()),
            Self::Mbpp => sources::read_mbpp(text),
            Self::PairsJsonLines => pairs::read(text, pairs::Format::JsonLines),
            Self::PairsCsv => pairs::read(text, pairs::Format::Csv),
            Self::TheAlgorithms | Self::ThirtySeconds => {
                let mut outcome = ReadOutcome { read: 1, ..Default::default() };
                outcome.malformed(format!("{self:?} is a folder source: its files are read one by one"));
                outcome
            }
        }
    }

    /// Reads the files of a folder source of this kind ([`SourceKind::member_files`]).
    pub fn read_folder(self, members: &[Member]) -> ReadOutcome {
        match self {
            Self::TheAlgorithms => thealgorithms::read(members),
            Self::ThirtySeconds => thirty_seconds::read(members),
            _ => {
                let mut outcome = ReadOutcome { read: 1, ..Default::default() };
                outcome.malformed(format!("{self:?} is a file source, not a folder"));
                outcome
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_name() {
        assert_eq!(SourceKind::of_file("conala-test.json"), Some(SourceKind::ConalaTest));
        assert_eq!(
            SourceKind::of_file("goldmine_snippet_count100k_topk1_temp2.jsonl"),
            Some(SourceKind::ApiDocs)
        );
        assert_eq!(SourceKind::of_file("english_python_data_pruned.txt"), Some(SourceKind::EnglishPython));
        assert_eq!(SourceKind::of_file("mined-stdlib.jsonl"), Some(SourceKind::ApiDocs));
        assert_eq!(SourceKind::of_file("PROVENANCE.md"), None);
        assert_eq!(SourceKind::Django.companion("django-all.anno").as_deref(), Some("django-all.code"));
        assert_eq!(SourceKind::of_folder("thealgorithms-python"), Some(SourceKind::TheAlgorithms));
        assert_eq!(SourceKind::ThirtySeconds.member_files(), Some(("snippets", ".md")));
        assert_eq!(SourceKind::of_file("thealgorithms-python"), None);
    }
}
