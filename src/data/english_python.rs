//! The English–Python text format: a `# prompt` line, then its program. Code comments also start
//! with `#`, so a `#` line opens a new pair only when all of this holds:
//! - it is not a code comment by its wording (`# printing result`, `# Driver code`, `# using …`,
//!   `# -*- coding: utf-8 -*-`, `# sample.py`);
//! - the open pair already has code, or a blank line separates the two (a `#` line right under a
//!   prompt without code continues that prompt's header);
//! - it starts at column 0 and is numbered (`#20 write …`) or worded as a task (`write a …`,
//!   `define …`, `python program to …`, `… create a function …`); or it is indented but worded as
//!   a task (`write a function …`) with the next code line at column 0; or, failing those, the line
//!   before it is blank, code follows it, and that code reads no name the open pair bound before
//!   binding it itself (`# Get Yesterday` then `presentday - …` is a comment).

use std::collections::HashSet;

use super::{RawPair, ReadOutcome};
use crate::text::python::{self, PyToken, PyTokenKind};

/// First words of the comments that tutorials write above their code lines.
const COMMENT_OPENERS: &[&str] = &[
    "driver",
    "driver's",
    "printing",
    "initializing",
    "initialising",
    "initialize",
    "initialise",
    "using",
    "importing",
    "import",
    "calculating",
    "iterating",
    "output",
    "input",
    "result",
];
/// First words that make a task on their own.
const TASK_OPENERS: &[&str] =
    &["write", "wrie", "wrtie", "writing", "define", "please", "generate", "implement"];
const TASK_VERBS: &[&str] = &["write", "define", "generate", "create", "implement"];
const TASK_NOUNS: &[&str] = &["program", "function", "class", "code", "script", "lambda"];

/// A pair being read: its prompt's line number, the prompt, and the code lines so far.
struct OpenPair<'a> {
    line_no: usize,
    prompt: String,
    code: Vec<&'a str>,
}

pub fn read(text: &str) -> ReadOutcome {
    let lines: Vec<&str> = text.lines().collect();
    let mut outcome = ReadOutcome::default();
    let mut open: Option<OpenPair> = None;
    for (i, &line) in lines.iter().enumerate() {
        let opens = match &open {
            None => line.trim_start().starts_with('#') && !prompt_words(line).is_empty(),
            Some(pair) => opens_pair(&lines, i, &pair.code),
        };
        if opens {
            if let Some(done) = open.take() {
                finish(done, &mut outcome);
            }
            open = Some(OpenPair { line_no: i + 1, prompt: prompt_text(line), code: Vec::new() });
        } else if let Some(pair) = open.as_mut() {
            pair.code.push(line);
        }
    }
    if let Some(done) = open {
        finish(done, &mut outcome);
    }
    outcome
}

fn finish(pair: OpenPair, outcome: &mut ReadOutcome) {
    outcome.read += 1;
    if !pair.code.iter().any(|l| is_code(l)) {
        outcome.malformed(format!("line {}: prompt {:?} has no code", pair.line_no, pair.prompt));
        return;
    }
    let id = format!("line {}", pair.line_no);
    let code = pair.code.join("\n").trim_end().to_string() + "\n";
    outcome.pairs.push(RawPair::alone(id, pair.prompt, code));
}

fn is_code(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The prompt without `#` marks and numbering: `#20. Write a …` → `Write a …`.
fn prompt_text(line: &str) -> String {
    let t = line.trim_start().trim_start_matches('#').trim();
    let t = match number_prefix_len(t) {
        Some(n) => t[n..].trim_start_matches(['.', ')', ':', '-']).trim_start(),
        None => t,
    };
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Length of a task number opening the text (`20 `, `20.`, `3)`), not a quantity (`3x4`, `0 based`).
fn number_prefix_len(t: &str) -> Option<usize> {
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let next = t[digits..].chars().next();
    let separated = next.is_some_and(|c| c.is_whitespace() || matches!(c, '.' | ')' | ':' | '-'));
    (digits > 0 && separated && t[..digits].parse::<u32>().is_ok_and(|n| n > 0)).then_some(digits)
}

/// Lower-cased words of the prompt text; "python 3" reads as "python3".
fn prompt_words(line: &str) -> Vec<String> {
    let text = prompt_text(line).to_lowercase().replace("python 3", "python3");
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_comment_wording(line: &str, words: &[String]) -> bool {
    let text = line.trim_start().trim_start_matches('#').trim();
    let encoding = text.contains("-*-") || text.starts_with("coding:") || text.starts_with("coding=");
    let file_name = !text.contains(' ') && text.ends_with(".py");
    encoding || file_name || words.first().is_none_or(|w| COMMENT_OPENERS.contains(&w.as_str()))
}

fn is_task_noun(word: &str) -> bool {
    TASK_NOUNS.contains(&word) || word.strip_suffix('s').is_some_and(|w| TASK_NOUNS.contains(&w))
}

/// `write a (python) function …`, `… create a class …`: a task verb with a task noun after it.
fn has_verb_and_noun(words: &[String]) -> bool {
    words.iter().enumerate().any(|(k, w)| {
        TASK_VERBS.contains(&w.as_str()) && words[k + 1..].iter().take(3).any(|n| is_task_noun(n))
    })
}

fn is_task_wording(words: &[String]) -> bool {
    let first = words.first().map_or("", String::as_str);
    let second = words.get(1).map_or("", String::as_str);
    TASK_OPENERS.contains(&first)
        || (first == "how" && matches!(second, "to" | "do" | "can"))
        || (matches!(first, "python" | "python3" | "program" | "function")
            && (is_task_noun(second) || matches!(second, "to" | "that" | "which")))
        || has_verb_and_noun(words)
}

/// The first line after `i` that is neither blank nor a comment.
fn next_code_line<'a>(lines: &[&'a str], i: usize) -> Option<&'a str> {
    lines[i + 1..].iter().copied().find(|l| is_code(l))
}

/// Whether line `i` opens a new pair while a pair with `code` is open.
fn opens_pair(lines: &[&str], i: usize, code: &[&str]) -> bool {
    let line = lines[i];
    if !line.trim_start().starts_with('#') {
        return false;
    }
    let words = prompt_words(line);
    let after_blank = i == 0 || is_blank(lines[i - 1]);
    let has_code = code.iter().any(|l| is_code(l));
    if is_comment_wording(line, &words) || !(has_code || after_blank) {
        return false;
    }
    if line.starts_with(char::is_whitespace) {
        let code_at_column_0 = next_code_line(lines, i).is_some_and(|l| !l.starts_with(char::is_whitespace));
        return code_at_column_0 && has_verb_and_noun(&words);
    }
    if number_prefix_len(line.trim_start_matches('#').trim_start()).is_some() || is_task_wording(&words) {
        return true;
    }
    // The program this line would open: up to the next column-0 `#` line after a blank line.
    let block: Vec<&str> = lines[i + 1..]
        .iter()
        .enumerate()
        .take_while(|&(k, l)| !(l.starts_with('#') && is_blank(lines[i + k])))
        .map(|(_, l)| *l)
        .collect();
    let code_follows = block.iter().find(|l| !is_blank(l)).is_some_and(|l| is_code(l));
    after_blank && has_code && code_follows && !reads_names_bound_in(&block, code)
}

/// Whether `block` reads, before binding it itself, a name that `earlier` binds. Code that does
/// not lex counts as dependent: nothing shows it is a program of its own.
fn reads_names_bound_in(block: &[&str], earlier: &[&str]) -> bool {
    let (Some(before), Some(here)) = (names(earlier), names(block)) else {
        return true;
    };
    here.read_first.iter().any(|n| before.bound.contains(n))
}

struct Names {
    bound: HashSet<String>,
    /// Names read before any binding of theirs in the fragment.
    read_first: HashSet<String>,
}

/// Binds: assignment targets (everything left of a top-level `=`), and names after `def`,
/// `class`, `import`, `as`, `for`, `global`. Keywords and attribute names are neither.
fn names(lines: &[&str]) -> Option<Names> {
    let tokens = python::lex(&lines.join("\n")).ok()?;
    let mut names = Names { bound: HashSet::new(), read_first: HashSet::new() };
    for statement in tokens.split(|t| t.kind == PyTokenKind::Newline) {
        let assignment_end = top_level_assignment(statement);
        let mut binds = Vec::new();
        for (k, t) in statement.iter().enumerate() {
            if t.kind != PyTokenKind::Name || is_keyword(&t.text) || k > 0 && statement[k - 1].is_op(".") {
                continue;
            }
            let after_binder = k > 0
                && ["def", "class", "import", "as", "for", "global"]
                    .iter()
                    .any(|b| statement[k - 1].is_name(b));
            if after_binder || assignment_end.is_some_and(|end| k < end) {
                binds.push(t.text.clone());
            } else if !names.bound.contains(&t.text) {
                names.read_first.insert(t.text.clone());
            }
        }
        // A statement reads its right-hand side before it binds its targets: `x = x + 1` reads `x`.
        names.bound.extend(binds);
    }
    Some(names)
}

/// Index of the last `=` at bracket depth 0 in a statement.
fn top_level_assignment(statement: &[PyToken]) -> Option<usize> {
    let mut depth = 0i32;
    let mut last = None;
    for (k, t) in statement.iter().enumerate() {
        match t.text.as_str() {
            "(" | "[" | "{" if t.kind == PyTokenKind::Op => depth += 1,
            ")" | "]" | "}" if t.kind == PyTokenKind::Op => depth -= 1,
            "=" if t.kind == PyTokenKind::Op && depth == 0 => last = Some(k),
            _ => {}
        }
    }
    last
}

fn is_keyword(name: &str) -> bool {
    matches!(name, "True" | "False" | "None" | "self") || python::is_keyword(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts(text: &str) -> Vec<String> {
        read(text).pairs.into_iter().map(|p| p.prompt).collect()
    }

    #[test]
    fn task_lines_open_pairs_and_comments_stay_in_code() {
        let text = "# write a python program to add two numbers\n# initializing list\nnum1 = 1.5\n\n# printing result\nprint(num1)\n# Write a function to merge lists\ndef m(a, b):\n    # join them\n    return a + b\n";
        let out = read(text);
        assert_eq!(
            prompts(text),
            ["write a python program to add two numbers", "Write a function to merge lists"]
        );
        assert!(out.pairs[0].code.contains("# printing result"));
        assert!(out.pairs[1].code.contains("    # join them"));
    }

    #[test]
    fn numbered_prompts_lose_their_number() {
        assert_eq!(
            prompts("#20 universal function\nx = 1\n\n#21. Multiply\ny = 2\n"),
            ["universal function", "Multiply"]
        );
    }

    #[test]
    fn an_untitled_looking_line_after_a_blank_is_a_prompt_unless_the_code_depends_on_the_last_pair() {
        let text = "# write a program to show dates\npresentday = now()\n\n# Get Yesterday\nyesterday = presentday - 1\n\n# Sort the list in ascending order\nmy_list = [4, 3]\nmy_list.sort()\n";
        assert_eq!(prompts(text), ["write a program to show dates", "Sort the list in ascending order"]);
    }

    #[test]
    fn quantities_are_not_numbering_and_header_lines_stay_with_their_prompt() {
        let text = "# write a program to multiply two matrices\n# 3x3 matrix\nX = [[1]]\n\n#20 write a program\nprint(X)\n# 0 based indexing\ny = X[0]\n";
        assert_eq!(prompts(text), ["write a program to multiply two matrices", "write a program"]);
    }

    #[test]
    fn encoding_lines_and_reads_before_binds_are_comments() {
        let text = "# write a program to fold case\nmy_str = 'Hello'\n\n# make it suitable for caseless comparison\nmy_str = my_str.casefold()\n\n# -*- coding: utf-8 -*-\nz = 1\n";
        assert_eq!(prompts(text), ["write a program to fold case"]);
    }

    #[test]
    fn an_indented_task_before_column_0_code_is_a_prompt() {
        let text = "# write a function to add\ndef add(a, b):\n    return a + b\n #write a python function to print pascal's triangle\ndef pascal(n):\n    pass\n";
        assert_eq!(prompts(text).len(), 2);
    }

    #[test]
    fn a_prompt_without_code_is_malformed() {
        let out =
            read("# write a python program to explain assert\n# x=1\n\n# write a program to add\nx = 1\n");
        assert_eq!((out.read, out.malformed, out.pairs.len()), (2, 1, 1));
        assert!(out.problems[0].contains("has no code"));
    }
}
