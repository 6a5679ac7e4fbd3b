//! 30-seconds-of-python's snippets (`snippets/*.md`): front matter between `---` lines, one
//! English sentence, bullet points on how, a ```` ```py ```` block with the function and a
//! second one with example calls and their results as comments (`f(5) # 25`, or the result on
//! the comment line below the call).
//!
//! The English is the first paragraph after the front matter, backticks kept on parameter names
//! only (`functions::sentence`); the code is the first block as written. The tests come from
//! the second block: a call whose comment is a literal becomes `assert CALL == LITERAL`; other
//! statements (imports, assignments) stay as setup; calls without a literal result (printed
//! output, `date(…)`) are left out. A snippet without front matter, sentence, code block or
//! function is malformed. Ids (and groups) are the snippet's path.

use rustpython_ast::Ranged;
use rustpython_parser::{Mode, parse};

use super::functions::{self, Module};
use super::{Member, RawPair, ReadOutcome};

pub fn read(members: &[Member]) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    for member in members {
        outcome.read += 1;
        match snippet(member, &mut outcome) {
            Ok(pair) => outcome.pairs.push(pair),
            Err(why) => outcome.malformed(format!("{}: {why}", member.path)),
        }
    }
    outcome
}

fn snippet(member: &Member, outcome: &mut ReadOutcome) -> Result<RawPair, String> {
    let lines: Vec<&str> = member.text.lines().collect();
    if lines.first().map(|l| l.trim()) != Some("---") {
        return Err("no front matter".into());
    }
    let end = (1..lines.len()).find(|&i| lines[i].trim() == "---").ok_or("the front matter never ends")?;
    let body = &lines[end + 1..];
    let paragraph: Vec<&str> = body
        .iter()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .copied()
        .collect();
    if paragraph.first().is_none_or(|l| l.starts_with("```") || l.starts_with("- ")) {
        return Err("no sentence after the front matter".into());
    }
    let blocks = python_blocks(body);
    let code = blocks.first().ok_or("no ```py block")?;
    let module = Module::parse(code)?;
    let function = module.functions.first().ok_or("the ```py block defines no function")?;
    let prompt = functions::sentence(&paragraph.join("\n"), &function.params)
        .ok_or("the sentence is too short or too long for a prompt")?;
    let tests = match blocks.get(1) {
        Some(examples) => tests(examples, &module, &function.name, outcome),
        None => Vec::new(),
    };
    Ok(RawPair {
        id: member.path.clone(),
        group: member.path.clone(),
        prompt,
        code: code.trim_end().to_string() + "\n",
        tests,
        attribution: None,
    })
}

/// The contents of each ```` ```py ```` block, in order.
fn python_blocks(lines: &[&str]) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for &line in lines {
        match open.as_mut() {
            Some(block) if line.trim_start().starts_with("```") => {
                blocks.push(block.join("\n") + "\n");
                open = None;
            }
            Some(block) => block.push(line),
            None if matches!(line.trim(), "```py" | "```python") => open = Some(Vec::new()),
            None => {}
        }
    }
    blocks
}

/// The example block as tests: each call with a literal result as an assert, the other
/// statements as setup, then the imports of the code that they read ahead of them.
fn tests(examples: &str, module: &Module, name: &str, outcome: &mut ReadOutcome) -> Vec<String> {
    let Ok(rustpython_ast::Mod::Module(parsed)) = parse(examples, Mode::Module, "<examples>") else {
        outcome.skip("example blocks Python's parser rejects");
        return Vec::new();
    };
    let mut tests = Vec::new();
    for (i, statement) in parsed.body.iter().enumerate() {
        let (start, end) = (usize::from(statement.start()), usize::from(statement.end()));
        let text = &examples[start..end];
        if !statement.is_expr_stmt() {
            tests.push(text.to_string());
            continue;
        }
        // Its result: the first comment after it, before the next statement (nothing but
        // blanks and comments lies between two statements).
        let next = parsed.body.get(i + 1).map_or(examples.len(), |s| usize::from(s.start()));
        let between = &examples[end..next];
        let result = between.find('#').and_then(|at| between[at + 1..].lines().next());
        match result {
            Some(result) => match functions::assertion(text, result) {
                Some(assert) => tests.push(assert),
                None => outcome.skip("example calls whose result is no literal"),
            },
            None => outcome.skip("example calls without a result"),
        }
    }
    if crate::data::count_asserts(&tests) == 0 {
        return Vec::new();
    }
    functions::self_contained(module, name, tests).unwrap_or_else(|| {
        outcome.skip("snippets whose examples read names the code does not define (tests dropped)");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNIPPET: &str = "---
title: add_days
tags: date,intermediate
---

Calculates the date of `n` days from the given date, using `timedelta`.

- Use `datetime.timedelta` and the `+` operator.

```py
from datetime import datetime, timedelta

def add_days(n, d = datetime.today()):
  return d + timedelta(n)
```

```py
from datetime import date

add_days(5, date(2020, 10, 25)) # date(2020, 10, 30)
start = date(2020, 1, 1)
add_days(1, start).day # 2
add_days(-5, start).isoformat()
# '2019-12-27'
add_days(0, start)
timedelta(3).days # 3
```
";

    fn member(path: &str, text: &str) -> Member {
        Member { path: path.into(), text: text.into() }
    }

    #[test]
    fn a_snippet_is_a_pair_with_its_examples_as_asserts() {
        let out = read(&[member("snippets/add_days.md", SNIPPET)]);
        assert_eq!((out.read, out.malformed), (1, 0));
        let pair = &out.pairs[0];
        assert_eq!((pair.id.as_str(), pair.group.as_str()), ("snippets/add_days.md", "snippets/add_days.md"));
        assert_eq!(pair.prompt, "Calculates the date of `n` days from the given date, using timedelta");
        assert!(pair.code.starts_with("from datetime import datetime, timedelta\n\ndef add_days("));
        assert!(pair.code.ends_with("  return d + timedelta(n)\n"));
        assert_eq!(
            pair.tests,
            [
                "from datetime import timedelta",
                "from datetime import date",
                "start = date(2020, 1, 1)",
                "assert add_days(1, start).day == 2",
                "assert add_days(-5, start).isoformat() == '2019-12-27'",
                "assert timedelta(3).days == 3",
            ]
        );
        assert_eq!(out.skipped.get("example calls whose result is no literal"), Some(&1));
        assert_eq!(out.skipped.get("example calls without a result"), Some(&1));
    }

    #[test]
    fn malformed_snippets_are_counted_and_named() {
        let no_code = "---\ntitle: x\n---\n\nDoes something useful here.\n";
        let no_function = "---\ntitle: x\n---\n\nDoes something useful here.\n\n```py\nx = 1\n```\n";
        let no_sentence = "---\ntitle: x\n---\n\n```py\ndef f():\n  pass\n```\n";
        let broken = "---\ntitle: x\n---\n\nDoes something useful here.\n\n```py\ndef f(:\n```\n";
        let out = read(&[
            member("snippets/a.md", "no front matter\n"),
            member("snippets/b.md", no_code),
            member("snippets/c.md", no_function),
            member("snippets/d.md", no_sentence),
            member("snippets/e.md", broken),
        ]);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (5, 5, 0));
        assert_eq!(out.problems[0], "snippets/a.md: no front matter");
        assert_eq!(out.problems[1], "snippets/b.md: no ```py block");
        assert_eq!(out.problems[2], "snippets/c.md: the ```py block defines no function");
        assert_eq!(out.problems[3], "snippets/d.md: no sentence after the front matter");
        assert!(out.problems[4].starts_with("snippets/e.md: not Python"), "{}", out.problems[4]);
    }

    #[test]
    fn a_snippet_without_examples_has_no_tests() {
        let text =
            "---\ntitle: f\n---\n\nReturns one more than `x`.\n\n```py\ndef f(x):\n  return x + 1\n```\n";
        let out = read(&[member("snippets/f.md", text)]);
        assert_eq!((out.pairs.len(), out.pairs[0].tests.len()), (1, 0));
    }
}
