//! Docstring removal on lexer tokens. A docstring is a statement made only of string literals
//! that opens a `def`/`class` body or a module with more statements after it; other bare strings
//! are code and stay. A body left empty gets `pass`, so the result still compiles.

use super::lexer::{PyToken, PyTokenKind};

/// One logical line: the INDENT/DEDENT tokens before it, then its tokens up to its NEWLINE.
struct Line {
    lead: Vec<PyToken>,
    body: Vec<PyToken>,
}

pub fn strip_docstrings(tokens: Vec<PyToken>) -> Vec<PyToken> {
    let mut lines = split_lines(tokens);
    let mut k = 0;
    while k < lines.len() {
        let opens_body = k > 0 && is_block_header(&lines[k - 1].body);
        let module_docstring = k == 0 && lines[1..].iter().any(|l| !l.body.is_empty());
        let indented = lines[k].lead.iter().any(|t| t.kind == PyTokenKind::Indent);
        if (module_docstring && !indented) || (opens_body && indented) {
            strip_leading_string_statement(&mut lines, k);
        }
        strip_one_line_body_docstring(&mut lines[k].body);
        k += 1;
    }
    lines.into_iter().flat_map(|l| l.lead.into_iter().chain(l.body)).collect()
}

fn split_lines(tokens: Vec<PyToken>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut current = Line { lead: Vec::new(), body: Vec::new() };
    for token in tokens {
        match token.kind {
            PyTokenKind::Indent | PyTokenKind::Dedent if current.body.is_empty() => current.lead.push(token),
            PyTokenKind::Newline => {
                current.body.push(token);
                lines.push(std::mem::replace(&mut current, Line { lead: Vec::new(), body: Vec::new() }));
            }
            _ => current.body.push(token),
        }
    }
    if !current.lead.is_empty() || !current.body.is_empty() {
        lines.push(current);
    }
    lines
}

/// The line starts a `def`, `async def` or `class` statement.
fn starts_def_or_class(body: &[PyToken]) -> bool {
    match body {
        [first, second, ..] if first.is_name("async") => second.is_name("def"),
        [first, ..] => first.is_name("def") || first.is_name("class"),
        [] => false,
    }
}

/// A `def`/`class` header whose body starts on the next line.
fn is_block_header(body: &[PyToken]) -> bool {
    starts_def_or_class(body) && body.len() >= 2 && body[body.len() - 2].is_op(":")
}

/// Length of the string-only simple statement at the start of `tokens`, if there is one.
fn string_statement_len(tokens: &[PyToken]) -> Option<usize> {
    let n = tokens.iter().take_while(|t| matches!(t.kind, PyTokenKind::String { .. })).count();
    let ends = tokens.get(n).is_some_and(|t| t.kind == PyTokenKind::Newline || t.is_op(";"));
    (n > 0 && ends).then_some(n)
}

fn pass_token(line: usize) -> PyToken {
    PyToken::new(PyTokenKind::Name, "pass", line)
}

fn strip_leading_string_statement(lines: &mut [Line], k: usize) {
    let Some(n) = string_statement_len(&lines[k].body) else { return };
    if lines[k].body[n].is_op(";") {
        lines[k].body.drain(..=n);
        return;
    }
    // The whole line was the docstring.
    let line_no = lines[k].body[0].line;
    let body_ends_here = match lines.get(k + 1) {
        None => true,
        Some(next) => {
            next.lead.first().is_some_and(|t| t.kind == PyTokenKind::Dedent) || next.body.is_empty()
        }
    };
    if body_ends_here && k > 0 {
        lines[k].body.splice(..n, [pass_token(line_no)]);
    } else {
        let lead = std::mem::take(&mut lines[k].lead);
        lines[k].body.clear();
        if let Some(next) = lines.get_mut(k + 1) {
            next.lead.splice(..0, lead);
        }
    }
}

/// `def f(): "doc"` or `class C: "doc"; x = 1` on one line.
fn strip_one_line_body_docstring(body: &mut Vec<PyToken>) {
    if !starts_def_or_class(body) {
        return;
    }
    let mut depth = 0i32;
    let Some(colon) = body.iter().position(|t| {
        match t.text.as_str() {
            "(" | "[" | "{" if t.kind == PyTokenKind::Op => depth += 1,
            ")" | "]" | "}" if t.kind == PyTokenKind::Op => depth -= 1,
            _ => {}
        }
        depth == 0 && t.is_op(":")
    }) else {
        return;
    };
    let rest = colon + 1;
    let Some(n) = string_statement_len(&body[rest..]) else { return };
    if body[rest + n].is_op(";") {
        body.drain(rest..=rest + n);
    } else {
        let line = body[rest].line;
        body.splice(rest..rest + n, [pass_token(line)]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{lex, print};
    use super::*;

    fn clean(src: &str) -> String {
        print(&strip_docstrings(lex(src).unwrap()))
    }

    #[test]
    fn drops_function_class_and_module_docstrings() {
        let src = "\"\"\"Module.\"\"\"\nimport os\ndef f(x):\n    '''Doc\n    more.'''\n    return x\nclass C:\n    \"doc\"\n    y = 1\n";
        assert_eq!(clean(src), "import os\ndef f(x):\n    return x\nclass C:\n    y = 1\n");
    }

    #[test]
    fn an_emptied_body_gets_pass() {
        assert_eq!(clean("def f():\n    'only doc'\nx = 1\n"), "def f():\n    pass\nx = 1\n");
        assert_eq!(clean("def f():\n    'only doc'\n"), "def f():\n    pass\n");
        assert_eq!(clean("def f(): 'doc'\n"), "def f(): pass\n");
        assert_eq!(clean("class C: 'doc'; x = 1\n"), "class C: x = 1\n");
    }

    #[test]
    fn other_strings_are_code() {
        assert_eq!(clean("'hello'\n"), "'hello'\n");
        assert_eq!(clean("x = 1\n'not a docstring'\n"), "x = 1\n'not a docstring'\n");
        assert_eq!(clean("def f():\n    return 'a'\n"), "def f():\n    return 'a'\n");
        assert_eq!(clean("'{}'.format(x)\ny = 2\n"), "'{}'.format(x)\ny = 2\n");
    }
}
