//! The English–Python text format: a `# prompt` line, then its program. Code comments also start
//! with `#`, so a `#` line opens a new pair only when all of this holds:
//! - it starts at column 0 (an indented `#` line is inside a block);
//! - it does not read like a code comment (`# printing result`, `# Driver code`, `# using …`);
//! - it is numbered (`#20 write …`) or worded as a task (`write a …`, `define …`,
//!   `python program to …`, `… create a function …`); or, failing that, the line before it is
//!   blank, the current pair already has code, code follows it directly, and that code does not
//!   use a name the current pair defined (`# Get Yesterday` then `presentday - …` is a comment).

use std::collections::HashSet;

use super::{RawPair, ReadOutcome};
use crate::text::python::{self, PyTokenKind};

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

pub fn read(text: &str) -> ReadOutcome {
    let lines: Vec<&str> = text.lines().collect();
    let mut outcome = ReadOutcome::default();
    // (line number, prompt, code lines)
    let mut current: Option<(usize, String, Vec<&str>)> = None;
    for (i, &line) in lines.iter().enumerate() {
        let has_code = current.as_ref().is_none_or(|(_, _, code)| code.iter().any(|l| is_code(l)));
        let code_so_far = current.as_ref().map_or(&[][..], |(_, _, code)| code.as_slice());
        if is_prompt(&lines, i, has_code, code_so_far) {
            if let Some(done) = current.take() {
                finish(done, &mut outcome);
            }
            current = Some((i + 1, prompt_text(line), Vec::new()));
        } else if let Some((_, _, code)) = current.as_mut() {
            code.push(line);
        }
    }
    if let Some(done) = current {
        finish(done, &mut outcome);
    }
    outcome
}

fn finish((line_no, prompt, code): (usize, String, Vec<&str>), outcome: &mut ReadOutcome) {
    outcome.read += 1;
    if !code.iter().any(|l| is_code(l)) {
        outcome.malformed(format!("line {line_no}: prompt {prompt:?} has no code"));
        return;
    }
    let id = format!("line {line_no}");
    let code = code.join("\n").trim_end().to_string() + "\n";
    outcome.pairs.push(RawPair { group: id.clone(), id, prompt, code });
}

fn is_code(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// The prompt without `#` marks and numbering: `#20. Write a …` → `Write a …`.
fn prompt_text(line: &str) -> String {
    let t = line.trim_start_matches('#').trim();
    let after_number = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let t = if after_number.len() < t.len() {
        after_number.trim_start_matches(['.', ')', ':', '-']).trim_start()
    } else {
        t
    };
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_numbered(line: &str) -> bool {
    let t = line.trim_start_matches('#').trim_start();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    digits > 0
        && t[digits..]
            .trim_start_matches(['.', ')', ':', '-'])
            .starts_with(|c: char| c.is_whitespace() || c.is_alphabetic())
}

fn is_task_wording(words: &[String]) -> bool {
    let first = words.first().map_or("", String::as_str);
    let second = words.get(1).map_or("", String::as_str);
    if TASK_OPENERS.contains(&first) {
        return true;
    }
    if first == "how" && matches!(second, "to" | "do" | "can") {
        return true;
    }
    if matches!(first, "python" | "python3" | "program" | "function")
        && matches!(second, "program" | "code" | "function" | "script" | "to" | "that" | "which")
    {
        return true;
    }
    words.iter().enumerate().any(|(k, w)| {
        TASK_VERBS.contains(&w.as_str())
            && words[k + 1..].iter().take(3).any(|n| TASK_NOUNS.contains(&n.as_str()))
    })
}

fn is_prompt(lines: &[&str], i: usize, has_code: bool, code_so_far: &[&str]) -> bool {
    let line = lines[i];
    if !line.starts_with('#') {
        return false;
    }
    let text = prompt_text(line).to_lowercase();
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let Some(first) = words.first() else { return false };
    if COMMENT_OPENERS.contains(&first.as_str()) {
        return false;
    }
    if is_numbered(line) || is_task_wording(&words) {
        return true;
    }
    let after_blank = i == 0 || lines[i - 1].trim().is_empty();
    let following: Vec<&str> = lines[i + 1..].iter().take_while(|l| !l.trim().is_empty()).copied().collect();
    let code_follows = following.first().is_some_and(|l| is_code(l));
    after_blank && has_code && code_follows && !uses_names_defined_in(&following, code_so_far)
}

/// Whether `block` reads a name that `earlier` binds and `block` itself does not.
fn uses_names_defined_in(block: &[&str], earlier: &[&str]) -> bool {
    let (Some((_, defined_before)), Some((used, defined_here))) = (names(earlier), names(block)) else {
        return false;
    };
    used.iter().any(|n| defined_before.contains(n) && !defined_here.contains(n))
}

/// Names a code fragment reads and names it binds (assignment targets, `def`, `class`, `import`,
/// `as`, `for`). `None` when the fragment does not lex.
fn names(lines: &[&str]) -> Option<(HashSet<String>, HashSet<String>)> {
    let tokens = python::lex(&lines.join("\n")).ok()?;
    let mut used = HashSet::new();
    let mut bound = HashSet::new();
    for (k, t) in tokens.iter().enumerate() {
        if t.kind != PyTokenKind::Name || k > 0 && tokens[k - 1].is_op(".") {
            continue;
        }
        let before = k.checked_sub(1).map(|j| &tokens[j]);
        let binds = tokens.get(k + 1).is_some_and(|n| n.is_op("=") || n.is_op(","))
            || before.is_some_and(|b| ["def", "class", "import", "as", "for"].iter().any(|kw| b.is_name(kw)));
        if binds {
            bound.insert(t.text.clone());
        } else {
            used.insert(t.text.clone());
        }
    }
    Some((used, bound))
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
    fn a_prompt_without_code_is_malformed() {
        let out =
            read("# write a python program to explain assert\n# x=1\n\n# write a program to add\nx = 1\n");
        assert_eq!((out.read, out.malformed, out.pairs.len()), (2, 1, 1));
        assert!(out.problems[0].contains("has no code"));
    }
}
