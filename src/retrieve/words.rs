//! The words retrieval matches on. A prompt such as "write a python function to compute the
//! factorial of a number" is an instruction shell ("write a python function to") around a task
//! ("compute the factorial of a number"); only the task says which pairs are alike, so the shell
//! and English function words are dropped, words are reduced to a stem and a few synonyms to one
//! word, and a pair's code adds the words of the names it defines (`def reverse_string` →
//! reverse, string). The shell still says one thing: that the answer should be a function, which
//! [`Query::asks_for_definition`] keeps for picking neighbours.

use std::collections::HashMap;
use std::sync::OnceLock;

/// How prompts and code become the words an index matches on, and how its neighbours are picked.
/// An index records its matching (in its bytes since format 2) and reads queries the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching {
    /// Match on the task: the instruction shell ("write a python function to", "how do I", a
    /// trailing "in Python") and English function words ("the", "of", "given") are dropped.
    pub task_words: bool,
    /// Light suffix stripping: "sorted", "sorting" and "sorts" all match "sort".
    pub stems: bool,
    /// One word for a few synonyms and abbreviations: largest, maximum → max; gcd → greatest
    /// common divisor; find, compute, return → get.
    pub synonyms: bool,
    /// The words of the names a pair's code defines join its prompt's words.
    pub code_names: bool,
    /// Neighbours that are no near copies of each other while a useful other one exists.
    pub diverse: bool,
    /// When the prompt asks for a function, one of the neighbours defines one while a useful
    /// one exists.
    pub definitions: bool,
}

impl Matching {
    /// What indexes before format 2 matched on: every word of the prompt as it is; the best
    /// scores first, whatever they are.
    pub const LEGACY: Matching = Matching {
        task_words: false,
        stems: false,
        synonyms: false,
        code_names: false,
        diverse: false,
        definitions: false,
    };
    /// What new indexes match on.
    pub const TASK: Matching = Matching {
        task_words: true,
        stems: true,
        synonyms: true,
        code_names: true,
        diverse: true,
        definitions: true,
    };

    /// The matching as bit flags, as an index's bytes store it.
    pub fn to_bits(self) -> u64 {
        [self.task_words, self.stems, self.synonyms, self.code_names, self.diverse, self.definitions]
            .iter()
            .enumerate()
            .map(|(bit, &on)| u64::from(on) << bit)
            .sum()
    }

    /// The matching of these bit flags; `None` when a flag is unknown to this build.
    pub fn from_bits(bits: u64) -> Option<Matching> {
        let m = Matching {
            task_words: bits & 1 != 0,
            stems: bits & 2 != 0,
            synonyms: bits & 4 != 0,
            code_names: bits & 8 != 0,
            diverse: bits & 16 != 0,
            definitions: bits & 32 != 0,
        };
        (m.to_bits() == bits).then_some(m)
    }
}

impl Default for Matching {
    fn default() -> Self {
        Matching::TASK
    }
}

/// A prompt as a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The words to match, in order, repeats kept.
    pub words: Vec<String>,
    /// The prompt's instruction asked for a function, program or the like ("write a function
    /// to …"), so an example that defines one is worth more than a one-line idiom.
    pub asks_for_definition: bool,
}

/// The words of a prompt that retrieval matches on when it matches every word: words, numbers
/// and slot tokens; not punctuation.
pub fn searchable(tokens: &[String]) -> impl Iterator<Item = &str> {
    tokens.iter().map(String::as_str).filter(|t| is_word(t))
}

fn is_word(token: &str) -> bool {
    token.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// A prompt's tokens (as `prompt::tokenize` gives them) as a query.
pub fn query(tokens: &[String], matching: Matching) -> Query {
    let (task, asks_for_definition) = match matching.task_words {
        true => task_tokens(tokens),
        false => (tokens.iter().map(String::as_str).collect(), false),
    };
    Query { words: normalised(&task, matching), asks_for_definition }
}

/// The words an indexed pair is found by: its prompt's, then those of the names its code
/// defines that the prompt does not already say.
pub fn entry_words(prompt_tokens: &[String], code: &str, matching: Matching) -> Vec<String> {
    let mut words = query(prompt_tokens, matching).words;
    if matching.code_names {
        let names: Vec<String> = defined_names(code).flat_map(identifier_words).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for word in normalised(&names, matching) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words
}

/// Verbs that open an instruction: "*write* a python function to".
const VERBS: &[&str] = &[
    "write",
    "create",
    "make",
    "implement",
    "define",
    "give",
    "generate",
    "code",
    "build",
    "develop",
    "construct",
    "design",
    "provide",
    "show",
];
const DETERMINERS: &[&str] = &["a", "an", "the", "some", "me", "us"];
const LANGUAGES: &[&str] = &["python", "python3", "py"];
/// What an instruction asks to be written.
const ARTIFACTS: &[&str] =
    &["function", "program", "lambda", "script", "code", "method", "snippet", "routine", "func"];
/// What joins the shell to the task: "a function *to*", "a program *that*".
const CONNECTIVES: &[&str] = &["to", "that", "which", "for", "using"];
/// Questions that open a task: "how do I reverse a string".
const QUESTIONS: &[&[&str]] = &[
    &["how", "to"],
    &["how", "do", "i"],
    &["how", "can", "i"],
    &["how", "could", "i"],
    &["how", "would", "i"],
    &["how", "should", "i"],
    &["how", "do", "you"],
    &["how", "can", "you"],
    &["how", "do", "we"],
    &["how", "can", "we"],
    &["how", "does", "one"],
    &["what", "is", "the", "best", "way", "to"],
    &["what", "is", "the", "way", "to"],
    &["is", "there", "a", "way", "to"],
    &["i", "want", "to"],
    &["i", "need", "to"],
    &["i", "would", "like", "to"],
];
/// Tokens after which a new clause, and so possibly a new instruction, begins.
const CLAUSE_BREAKS: &[&str] = &[",", ";", ":", ".", "?", "!", "("];

/// A prompt's tokens without its instruction shells, and whether a shell asked for a function,
/// program or the like. A shell opens the prompt or a clause: "write a (python) function /
/// program / lambda to", "python program to", "function that", "how do I", …; a trailing "in
/// Python" goes too. Words that are the task stay, "function" among them ("call a function by
/// its name"); so do slot tokens. A prompt that is all shell ("write a function") stays whole.
pub fn task_tokens(tokens: &[String]) -> (Vec<&str>, bool) {
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let mut task = Vec::with_capacity(tokens.len());
    let mut asks_for_definition = false;
    let mut clause_start = true;
    let mut i = 0;
    while i < tokens.len() {
        if clause_start && let Some((end, asks)) = shell_at(&tokens, i) {
            asks_for_definition |= asks;
            i = end;
            clause_start = false;
            continue;
        }
        task.push(tokens[i]);
        clause_start = CLAUSE_BREAKS.contains(&tokens[i]);
        i += 1;
    }
    // "… in python", "… using python3", before any closing punctuation.
    let words_end = task.iter().rposition(|t| is_word(t)).map_or(0, |at| at + 1);
    if words_end >= 2
        && LANGUAGES.contains(&task[words_end - 1])
        && ["in", "using", "with"].contains(&task[words_end - 2])
    {
        task.drain(words_end - 2..words_end);
    }
    if !task.iter().any(|t| is_word(t)) {
        return (tokens, asks_for_definition);
    }
    (task, asks_for_definition)
}

/// The end of an instruction shell starting at `start`, and whether it asked for a definition.
fn shell_at(tokens: &[&str], start: usize) -> Option<(usize, bool)> {
    let is = |at: usize, set: &[&str]| tokens.get(at).is_some_and(|t| set.contains(t));
    let mut at = start;
    if tokens.get(at) == Some(&"please") {
        at += 1;
    }
    if let Some(question) =
        QUESTIONS.iter().find(|q| tokens.get(at..).is_some_and(|rest| rest.starts_with(q)))
    {
        return Some((at + question.len(), false));
    }
    let verb = is(at, VERBS);
    if verb {
        at += 1;
    }
    while is(at, DETERMINERS) {
        at += 1;
    }
    if is(at, LANGUAGES) {
        at += 1;
    }
    let artifacts_start = at;
    while is(at, ARTIFACTS) {
        at += 1;
    }
    if at == artifacts_start {
        return None;
    }
    if tokens.get(at) == Some(&"in") && is(at + 1, LANGUAGES) {
        at += 2;
    }
    let connective = is(at, CONNECTIVES);
    if !verb && !connective {
        return None;
    }
    Some((at + usize::from(connective), true))
}

/// English function words, and the filler of exercise prompts ("the given list").
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "from",
    "by",
    "with",
    "and",
    "or",
    "is",
    "are",
    "be",
    "as",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "i",
    "me",
    "my",
    "you",
    "your",
    "we",
    "our",
    "do",
    "does",
    "how",
    "can",
    "could",
    "would",
    "should",
    "will",
    "what",
    "which",
    "who",
    "whose",
    "whether",
    "into",
    "than",
    "then",
    "there",
    "their",
    "them",
    "they",
    "given",
    "specified",
    "certain",
    "particular",
    "respective",
];

/// Abbreviations that stand for several words.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("gcd", &["greatest", "common", "divisor"]),
    ("hcf", &["greatest", "common", "divisor"]),
    ("lcm", &["least", "common", "multiple"]),
];

/// Words matched as one: the first of each row stands for the rest.
const SYNONYMS: &[&[&str]] = &[
    &["max", "maximum", "largest", "biggest", "greatest", "highest"],
    &["min", "minimum", "smallest", "lowest", "least"],
    &["sum", "total", "summation"],
    &["remove", "delete", "drop", "erase", "del"],
    &["dict", "dictionary"],
    &["string", "str"],
    &["int", "integer"],
    &["number", "num", "nums"],
    &["list", "array", "arr"],
    &["length", "len", "size"],
    &["upper", "uppercase"],
    &["lower", "lowercase"],
    &["duplicate", "dup", "dups"],
    &["check", "verify", "test", "determine"],
    &["mean", "average", "avg"],
    &["join", "concatenate", "concat"],
    &["merge", "combine"],
    &["fibonacci", "fib"],
    // Verbs that say little about the task: one common word, so they weigh little.
    &["get", "find", "compute", "calculate", "calc", "return", "obtain", "fetch", "retrieve", "give"],
];

/// The synonym table with its words as `stem` reduces them (`stemmed`) or not.
fn synonym_table(stemmed: bool) -> &'static HashMap<String, String> {
    static TABLES: [OnceLock<HashMap<String, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    TABLES[usize::from(stemmed)].get_or_init(|| {
        let form = |w: &str| if stemmed { stem(w) } else { w.to_string() };
        SYNONYMS.iter().flat_map(|row| row.iter().map(move |w| (form(w), form(row[0])))).collect()
    })
}

/// Words as the index keeps them: without stopwords (with `task_words`), abbreviations spelled
/// out, stemmed, synonyms as one word. Punctuation is dropped; slot tokens and numbers stay.
fn normalised(tokens: &[&str], m: Matching) -> Vec<String> {
    let mut words = Vec::with_capacity(tokens.len());
    let mut previous = "";
    for &token in tokens {
        let before = std::mem::replace(&mut previous, token);
        if !is_word(token) {
            continue;
        }
        if m.task_words && (STOPWORDS.contains(&token) || (token == "not" && before == "or")) {
            continue;
        }
        if !m.stems && !m.synonyms {
            words.push(token.to_string());
            continue;
        }
        let expanded = ABBREVIATIONS.iter().find(|(short, _)| *short == token).filter(|_| m.synonyms);
        let single = [token];
        let parts = expanded.map_or(&single[..], |(_, long)| *long);
        for &part in parts {
            let mut word = if m.stems && !is_slot(part) { stem(part) } else { part.to_string() };
            if m.synonyms
                && let Some(canonical) = synonym_table(m.stems).get(&word)
            {
                word = canonical.clone();
            }
            words.push(word);
        }
    }
    words
}

/// A slot token: `var_0`, `str_3`.
fn is_slot(word: &str) -> bool {
    ["var_", "str_"]
        .iter()
        .any(|p| word.strip_prefix(p).is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())))
}

/// A light stemmer for English words (never for names, numbers or anything not ASCII letters):
/// plurals, "-ing" and "-ed" come off, then a final "e", so that "sorted", "sorting", "sorts"
/// → "sort" and "reversed", "reverse" → "revers".
pub fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return word.to_string();
    }
    let mut w = word.to_string();
    if w.ends_with("ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !(w.ends_with("ss") || w.ends_with("us") || w.ends_with("is")) {
        w.pop();
    }
    let suffix = if w.ends_with("ing") && w.len() >= 7 {
        3
    } else if w.ends_with("ed") && w.len() >= 5 {
        2
    } else {
        0
    };
    if suffix > 0 {
        w.truncate(w.len() - suffix);
        // "stopped" → "stop", "summed" → "sum"; not "filled" or "added".
        let b = w.as_bytes();
        if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] && b"bgmnpt".contains(&b[b.len() - 1]) {
            w.pop();
        }
    }
    if w.len() >= 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// The names a piece of code defines with `def` or `class`, at any depth.
fn defined_names(code: &str) -> impl Iterator<Item = &str> {
    code.lines().filter_map(|line| {
        let line = line.trim_start();
        let rest = line.strip_prefix("def ").or_else(|| line.strip_prefix("class "))?;
        let name = rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
        (!name.is_empty()).then_some(name)
    })
}

/// Whether code defines a function with a body: a `def` at the start of a line and an indented
/// line after it (a one-line `def f(x):` of Django's pairs is no definition).
pub fn is_definition(code: &str) -> bool {
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("def ") {
            return lines.any(|next| next.starts_with([' ', '\t']) && !next.trim().is_empty());
        }
    }
    false
}

/// The words of an identifier, lower-cased: `reverse_string` → reverse, string;
/// `lastDigitFactorial` → last, digit, factorial; `HTTPServer` → http, server. Parts of one
/// character and numbers are left out.
pub fn identifier_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in name.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = chunk.chars().collect();
        let mut start = 0;
        for i in 1..=chars.len() {
            let boundary = i == chars.len() || {
                let (a, b) = (chars[i - 1], chars[i]);
                let next_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
                (a.is_lowercase() && b.is_uppercase())
                    || (a.is_uppercase() && b.is_uppercase() && next_lower)
                    || (a.is_alphabetic() != b.is_alphabetic())
            };
            if boundary {
                let part: String = chars[start..i].iter().collect::<String>().to_lowercase();
                if part.chars().count() > 1 && part.chars().all(char::is_alphabetic) {
                    words.push(part);
                }
                start = i;
            }
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::prompt;

    fn task(text: &str) -> (String, bool) {
        let tokens = prompt::tokenize(text).tokens;
        let (task, asks) = task_tokens(&tokens);
        (task.join(" "), asks)
    }

    #[test]
    fn the_instruction_shell_is_stripped() {
        for (prompt, expected) in [
            (
                "write a python function to compute the factorial of a number",
                "compute the factorial of a number",
            ),
            ("Write a program to check if a year is a leap year.", "check if a year is a leap year ."),
            ("write a function that returns the sum of a list", "returns the sum of a list"),
            ("Write a python lambda function to square a number", "square a number"),
            ("python program to add two numbers", "add two numbers"),
            ("create a function in python which reverses `s`", "reverses var_0"),
            ("Given a list, write a python function to sort it", "given a list , sort it"),
            ("How do I reverse a string in Python?", "reverse a string ?"),
            ("how to merge two dicts", "merge two dicts"),
            ("define the function urlquote_plus with 2 arguments", "urlquote_plus with 2 arguments"),
        ] {
            assert_eq!(
                task(prompt),
                (expected.to_string(), !prompt.to_lowercase().starts_with("how")),
                "{prompt}"
            );
        }
    }

    #[test]
    fn words_that_are_the_task_stay() {
        for prompt in [
            "call a function by its name",
            "create a list of `n` empty lists",
            "write the string 'abc' to file `f`",
            "get the code of function `f`",
            "python version",
        ] {
            let (stripped, asks) = task(prompt);
            assert_eq!(stripped, prompt::tokenize(prompt).tokens.join(" "), "{prompt}");
            assert!(!asks, "{prompt}");
        }
        // A shell before a task that names functions: only the shell goes.
        assert_eq!(task("write a function to call a function by its name").0, "call a function by its name");
        // All shell: nothing would be left to match, so the prompt stays whole.
        assert_eq!(task("write a function"), ("write a function".to_string(), true));
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(identifier_words("reverse_string"), ["reverse", "string"]);
        assert_eq!(identifier_words("last_Digit_Factorial"), ["last", "digit", "factorial"]);
        assert_eq!(identifier_words("getMaxValue2"), ["get", "max", "value"]);
        assert_eq!(identifier_words("HTTPServer"), ["http", "server"]);
        assert_eq!(identifier_words("_sum"), ["sum"]);
        let code =
            "import math\ndef reverse_string(s):\n    def helper(x):\n        return x\n    return s[::-1]";
        assert_eq!(defined_names(code).collect::<Vec<_>>(), ["reverse_string", "helper"]);
        assert!(is_definition(code));
        assert!(!is_definition("def f ( x ) :"));
        assert!(!is_definition("s[::-1]"));
    }

    #[test]
    fn task_words_are_stemmed_and_synonyms_merged() {
        let words = |text: &str| query(&prompt::tokenize(text).tokens, Matching::TASK).words;
        assert_eq!(
            words("Write a python function to find the largest of the given numbers"),
            ["get", "max", "number"]
        );
        assert_eq!(words("compute the maximum number"), words("find largest numbers"));
        assert_eq!(words("sorting the sorted lists"), ["sort", "sort", "list"]);
        assert_eq!(words("gcd of `a` and `b`"), ["max", "common", "divisor", "var_0", "var_1"]);
        assert_eq!(words("check whether it is even or not"), ["check", "even"]);
        assert_eq!(words("is not empty"), ["not", "empty"]);
        // The legacy matching keeps every word as it is.
        let legacy = query(&prompt::tokenize("Write a function, to sort!").tokens, Matching::LEGACY);
        assert_eq!(
            legacy,
            Query {
                words: vec!["write".into(), "a".into(), "function".into(), "to".into(), "sort".into()],
                asks_for_definition: false
            }
        );
    }

    #[test]
    fn code_names_join_the_prompt_words() {
        let tokens = prompt::tokenize("Reverse a string").tokens;
        let code = "def reverse_string(s):\n    return s[::-1]";
        assert_eq!(entry_words(&tokens, code, Matching::TASK), ["revers", "string"]);
        let code = "def flip_text(s):\n    return s[::-1]";
        assert_eq!(entry_words(&tokens, code, Matching::TASK), ["revers", "string", "flip", "text"]);
        let without = Matching { code_names: false, ..Matching::TASK };
        assert_eq!(entry_words(&tokens, code, without), ["revers", "string"]);
    }

    #[test]
    fn stems() {
        for (word, expected) in [
            ("sorted", "sort"),
            ("sorting", "sort"),
            ("sorts", "sort"),
            ("reversed", "revers"),
            ("reverse", "revers"),
            ("dictionaries", "dictionary"),
            ("matches", "match"),
            ("string", "string"),
            ("strings", "string"),
            ("class", "class"),
            ("added", "add"),
            ("stopped", "stop"),
            ("var_0", "var_0"),
            ("numpy2", "numpy2"),
        ] {
            assert_eq!(stem(word), expected, "{word}");
        }
    }

    #[test]
    fn matching_bits_round_trip() {
        for bits in 0..64 {
            assert_eq!(Matching::from_bits(bits).map(Matching::to_bits), Some(bits));
        }
        assert_eq!(Matching::LEGACY.to_bits(), 0);
        assert_eq!(Matching::TASK.to_bits(), 63);
        assert_eq!(Matching::from_bits(64), None);
    }
}
