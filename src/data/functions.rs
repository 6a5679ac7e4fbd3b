//! Function-level pairs that bring their own tests (TheAlgorithms' doctests, 30-seconds'
//! examples, the doctests of a user's own pairs): the pieces their readers share. A pair's tests are Python statements run, in order,
//! after its code: setup (imports, assignments) and `assert CALL == LITERAL` checks, LITERAL
//! being the expected value the source wrote, when it is a Python literal.
//!
//! A function is taken out of its file alone: its code is the imports it reads, then the
//! function. One that reads another definition of its file (a helper, a class, a constant, a
//! relative import) is left out, and so are tests that read one. Names are read off the lexer's
//! tokens (every name not after a `.`), so a parameter that shares a top-level name counts too.

use std::collections::BTreeSet;

use rustpython_ast::{self as ast, Ranged};
use rustpython_parser::{Mode, parse};

use super::mine::first_sentence;
use crate::text::python::{PyTokenKind, is_keyword, lex, print, strip_docstrings};

/// A module's top level, as much as a function taken out of it needs.
pub(super) struct Module<'a> {
    /// Per name that an absolute import binds, the statement that binds only it
    /// (`from math import sqrt`), in file order.
    imports: Vec<(String, String)>,
    /// Names bound at top level otherwise: functions, classes, assignments, relative imports,
    /// and whatever the bodies of top-level `if`, `try`, `for` and `with` bind.
    defined: BTreeSet<String>,
    pub functions: Vec<Function<'a>>,
}

/// A top-level `def`.
pub(super) struct Function<'a> {
    pub name: String,
    pub params: Vec<String>,
    pub docstring: Option<String>,
    /// Its source from its first decorator to its end.
    pub text: &'a str,
}

impl<'a> Module<'a> {
    /// Parses `source`; the error says where Python's parser stopped.
    pub fn parse(source: &'a str) -> Result<Self, String> {
        let parsed = parse(source, Mode::Module, "<member>").map_err(|e| format!("not Python: {e}"))?;
        let ast::Mod::Module(module) = parsed else { return Err("not a module".into()) };
        let mut read = Module { imports: Vec::new(), defined: BTreeSet::new(), functions: Vec::new() };
        for statement in &module.body {
            read.top_level(source, statement);
        }
        Ok(read)
    }

    fn top_level(&mut self, source: &'a str, statement: &ast::Stmt) {
        match statement {
            ast::Stmt::Import(import) => {
                for alias in &import.names {
                    let statement = match &alias.asname {
                        Some(asname) => format!("import {} as {asname}", alias.name),
                        None => format!("import {}", alias.name),
                    };
                    self.imports.push((bound_name(alias), statement));
                }
            }
            ast::Stmt::ImportFrom(import) => {
                let module = import.module.as_ref().map_or("", |m| m.as_str());
                let relative = import.level.as_ref().is_some_and(|level| level.to_u32() > 0);
                for alias in import.names.iter().filter(|_| module != "__future__") {
                    if relative {
                        self.defined.insert(bound_name(alias));
                        continue;
                    }
                    let statement = match &alias.asname {
                        Some(asname) => format!("from {module} import {} as {asname}", alias.name),
                        None => format!("from {module} import {}", alias.name),
                    };
                    self.imports.push((bound_name(alias), statement));
                }
            }
            ast::Stmt::FunctionDef(def) => {
                self.defined.insert(def.name.to_string());
                let first_line =
                    def.decorator_list.iter().map(|d| d.range().start()).chain([def.range.start()]);
                let start = usize::from(first_line.min().unwrap_or_default());
                let start = source[..start].rfind('\n').map_or(0, |at| at + 1);
                self.functions.push(Function {
                    name: def.name.to_string(),
                    params: params(&def.args),
                    docstring: docstring(&def.body),
                    text: &source[start..usize::from(def.range.end())],
                });
            }
            _ => self.bind_nested(statement),
        }
    }

    /// Names a statement other than an absolute import or a `def` binds at top level, inner
    /// blocks included (an import inside `try` is not one a function can take along).
    fn bind_nested(&mut self, statement: &ast::Stmt) {
        let mut blocks: Vec<&[ast::Stmt]> = Vec::new();
        match statement {
            ast::Stmt::Import(ast::StmtImport { names, .. })
            | ast::Stmt::ImportFrom(ast::StmtImportFrom { names, .. }) => {
                self.defined.extend(names.iter().map(bound_name))
            }
            ast::Stmt::FunctionDef(def) => {
                self.defined.insert(def.name.to_string());
            }
            ast::Stmt::AsyncFunctionDef(def) => {
                self.defined.insert(def.name.to_string());
            }
            ast::Stmt::ClassDef(class) => {
                self.defined.insert(class.name.to_string());
            }
            ast::Stmt::Assign(assign) => assign.targets.iter().for_each(|t| self.bind_target(t)),
            ast::Stmt::AnnAssign(assign) => self.bind_target(&assign.target),
            ast::Stmt::AugAssign(assign) => self.bind_target(&assign.target),
            ast::Stmt::For(each) => {
                self.bind_target(&each.target);
                blocks.extend([&each.body[..], &each.orelse[..]]);
            }
            ast::Stmt::While(each) => blocks.extend([&each.body[..], &each.orelse[..]]),
            ast::Stmt::If(branch) => blocks.extend([&branch.body[..], &branch.orelse[..]]),
            ast::Stmt::With(with) => {
                with.items
                    .iter()
                    .filter_map(|item| item.optional_vars.as_deref())
                    .for_each(|t| self.bind_target(t));
                blocks.push(&with.body);
            }
            ast::Stmt::Try(attempt) => {
                blocks.extend([&attempt.body[..], &attempt.orelse[..], &attempt.finalbody[..]]);
                for ast::ExceptHandler::ExceptHandler(handler) in &attempt.handlers {
                    self.defined.extend(handler.name.iter().map(|n| n.to_string()));
                    blocks.push(&handler.body);
                }
            }
            _ => {}
        }
        for statement in blocks.into_iter().flatten() {
            self.bind_nested(statement);
        }
    }

    fn bind_target(&mut self, target: &ast::Expr) {
        match target {
            ast::Expr::Name(name) => {
                self.defined.insert(name.id.to_string());
            }
            ast::Expr::Tuple(ast::ExprTuple { elts, .. }) | ast::Expr::List(ast::ExprList { elts, .. }) => {
                elts.iter().for_each(|e| self.bind_target(e))
            }
            ast::Expr::Starred(starred) => self.bind_target(&starred.value),
            _ => {}
        }
    }

    /// The import statements that bind any of `names`, in file order.
    pub fn imports_of(&self, names: &BTreeSet<String>) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.imports
            .iter()
            .filter(|(name, statement)| names.contains(name) && seen.insert(statement.as_str()))
            .map(|(_, statement)| statement.as_str())
            .collect()
    }

    /// Whether `names` hold a definition of this module other than `own` and its imports.
    pub fn needs_other_definitions(&self, names: &BTreeSet<String>, own: &str) -> bool {
        names.iter().any(|name| name != own && self.defined.contains(name))
    }
}

/// `import os.path` binds `os`; `import numpy as np` binds `np`.
fn bound_name(alias: &ast::Alias) -> String {
    match &alias.asname {
        Some(asname) => asname.to_string(),
        None => alias.name.split('.').next().unwrap_or_default().to_string(),
    }
}

fn params(args: &ast::Arguments) -> Vec<String> {
    let with_defaults = args.posonlyargs.iter().chain(&args.args).chain(&args.kwonlyargs).map(|a| &a.def);
    with_defaults
        .chain(args.vararg.as_deref())
        .chain(args.kwarg.as_deref())
        .map(|a| a.arg.to_string())
        .collect()
}

/// The string a body opens with, as Python reads it (escapes resolved).
fn docstring(body: &[ast::Stmt]) -> Option<String> {
    let ast::Stmt::Expr(statement) = body.first()? else { return None };
    match statement.value.as_ref() {
        ast::Expr::Constant(ast::ExprConstant { value: ast::Constant::Str(text), .. }) => Some(text.clone()),
        _ => None,
    }
}

/// The names `code` reads: every name token that is not a keyword, nor after a `.`, nor in an
/// import statement; `None` when Python's tokenizer rejects it.
pub(super) fn names_read(code: &str) -> Option<BTreeSet<String>> {
    let tokens = lex(code).ok()?;
    let mut names = BTreeSet::new();
    let mut in_import = false;
    for (i, token) in tokens.iter().enumerate() {
        let line_start = i == 0
            || matches!(tokens[i - 1].kind, PyTokenKind::Newline | PyTokenKind::Indent | PyTokenKind::Dedent);
        if line_start {
            in_import = token.is_name("import") || token.is_name("from");
        }
        let after_dot = i > 0 && tokens[i - 1].is_op(".");
        if token.kind == PyTokenKind::Name && !is_keyword(&token.text) && !after_dot && !in_import {
            names.insert(token.text.clone());
        }
    }
    Some(names)
}

/// A function's code without its docstrings (nor comments), as the printer lays it out; `None`
/// when Python's tokenizer rejects it.
pub(super) fn without_docstrings(text: &str) -> Option<String> {
    Some(print(&strip_docstrings(lex(text).ok()?)))
}

/// The English of a function: the first sentence of `text` ([`first_sentence`]), a backticked
/// span kept quoted only where it names one of `params` (a user quotes the names of their
/// inputs: the prompt's slots), other backticks dropped (`True`, `sorted()`); RST's double
/// backticks count as single ones.
pub(super) fn sentence(text: &str, params: &[String]) -> Option<String> {
    let text = text.replace("``", "`");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) => {
                let span = &after[..close];
                if params.iter().any(|p| p == span) {
                    out.push_str(&format!("`{span}`"));
                } else {
                    out.push_str(span);
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    first_sentence(&out)
}

/// One doctest: its source (`>>>` and `...` lines, prompts removed) and expected output.
#[derive(Debug, PartialEq)]
pub(super) struct Doctest {
    pub source: String,
    pub output: String,
}

/// The doctests of a docstring, as Python's `doctest` finds them: a `>>>` line and the `...`
/// lines under it, then the output up to a blank line or the next `>>>`.
pub(super) fn doctests(docstring: &str) -> Vec<Doctest> {
    let lines: Vec<&str> = docstring.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, first)) = prompt_line(lines[i], ">>>") else {
            i += 1;
            continue;
        };
        let mut source = vec![first];
        i += 1;
        while let Some(more) =
            lines.get(i).and_then(|l| prompt_line(l, "...")).filter(|(at, _)| *at == indent)
        {
            source.push(more.1);
            i += 1;
        }
        let mut output = Vec::new();
        while let Some(line) =
            lines.get(i).filter(|l| !l.trim().is_empty() && prompt_line(l, ">>>").is_none())
        {
            let indented = line.get(..indent).is_some_and(|lead| lead.trim().is_empty());
            output.push(if indented { &line[indent..] } else { line.trim_start() });
            i += 1;
        }
        found.push(Doctest { source: source.join("\n"), output: output.join("\n") });
    }
    found
}

/// A line that opens with `prompt` (`>>>` or `...`) then a space or its end: its indentation
/// and the rest.
fn prompt_line<'a>(line: &'a str, prompt: &str) -> Option<(usize, &'a str)> {
    let rest = line.trim_start();
    let after = rest.strip_prefix(prompt)?;
    let text = match after.strip_prefix(' ') {
        Some(text) => text,
        None if after.is_empty() => after,
        None => return None,
    };
    Some((line.len() - rest.len(), text))
}

/// A doctest as a test statement: an assert, or setup where it expects no output. `prints`:
/// the function under test prints, so no output can be checked as its value.
pub(super) fn doctest_statement(doctest: &Doctest, prints: bool) -> Result<String, &'static str> {
    if doctest.output.is_empty() {
        return Ok(doctest.source.clone());
    }
    if doctest.output.starts_with("Traceback (most recent call last)") {
        return Err("doctests that raise");
    }
    if prints {
        return Err("doctests of functions that print");
    }
    assertion(&doctest.source, &doctest.output).ok_or("doctests whose output is no literal")
}

/// `assert CALL == EXPECTED` when `call` is one expression and `expected` a Python literal
/// (numbers, strings, `True`, `None`, and lists, tuples, sets and dicts of them); `None` otherwise.
pub(super) fn assertion(call: &str, expected: &str) -> Option<String> {
    let (call, call_text) = expression(call)?;
    let (expected, expected_text) = expression(expected)?;
    if !is_literal(&expected) {
        return None;
    }
    Some(format!("assert {} == {}", operand(call_text, &call), operand(expected_text, &expected)))
}

/// One expression and its text, without the comments around it (`f(3)  # doctest: +ELLIPSIS`).
fn expression(text: &str) -> Option<(ast::Expr, &str)> {
    let text = text.trim();
    match parse(text, Mode::Expression, "<test>").ok()? {
        ast::Mod::Expression(expression) => {
            let range = expression.body.range();
            Some((*expression.body, &text[usize::from(range.start())..usize::from(range.end())]))
        }
        _ => None,
    }
}

fn is_literal(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::Constant(constant) => !matches!(constant.value, ast::Constant::Ellipsis),
        ast::Expr::List(ast::ExprList { elts, .. })
        | ast::Expr::Tuple(ast::ExprTuple { elts, .. })
        | ast::Expr::Set(ast::ExprSet { elts, .. }) => elts.iter().all(is_literal),
        ast::Expr::Dict(dict) => {
            dict.keys.iter().all(|k| k.as_ref().is_some_and(is_literal)) && dict.values.iter().all(is_literal)
        }
        ast::Expr::UnaryOp(unary) => {
            matches!(unary.op, ast::UnaryOp::USub | ast::UnaryOp::UAdd)
                && matches!(
                    unary.operand.as_ref(),
                    ast::Expr::Constant(ast::ExprConstant {
                        value: ast::Constant::Int(_)
                            | ast::Constant::Float(_)
                            | ast::Constant::Complex { .. },
                        ..
                    })
                )
        }
        _ => false,
    }
}

/// `text` as a side of `==`: bracketed where it would otherwise bind differently (`a == b`,
/// `not x`, `1, 2`, `x if c else y`).
fn operand(text: &str, expr: &ast::Expr) -> String {
    let binds_looser = match expr {
        ast::Expr::Compare(_)
        | ast::Expr::BoolOp(_)
        | ast::Expr::IfExp(_)
        | ast::Expr::Lambda(_)
        | ast::Expr::NamedExpr(_)
        | ast::Expr::Yield(_)
        | ast::Expr::YieldFrom(_)
        | ast::Expr::Starred(_) => true,
        ast::Expr::UnaryOp(unary) => unary.op == ast::UnaryOp::Not,
        ast::Expr::Tuple(_) => !text.starts_with('('),
        _ => false,
    };
    if binds_looser { format!("({text})") } else { text.to_string() }
}

/// The imports of `module` that `tests` read, then `tests`: the generated code under test need
/// not import what only its tests use. `None` when a test reads another definition of the
/// module (other than the function `own`), or does not tokenize.
pub(super) fn self_contained(module: &Module, own: &str, tests: Vec<String>) -> Option<Vec<String>> {
    let mut read = BTreeSet::new();
    for test in &tests {
        read.extend(names_read(test)?);
    }
    if module.needs_other_definitions(&read, own) {
        return None;
    }
    let imports = module.imports_of(&read).into_iter().map(str::to_string);
    Some(imports.chain(tests).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"from __future__ import annotations
import math, os.path as p
from collections import Counter
from .sibling import helper

LIMIT = 10

@staticmethod
def area(r):
    """Area of a circle of radius `r`."""
    return math.pi * r ** 2

def capped(x):
    return min(x, LIMIT)

class Shape:
    def side(self):
        pass

if __name__ == "__main__":
    from doctest import testmod
    shown = 1
"#;

    #[test]
    fn a_module_knows_its_imports_definitions_and_functions() {
        let module = Module::parse(SOURCE).unwrap();
        let names: Vec<&str> = module.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["area", "capped"]);
        let area = &module.functions[0];
        assert!(
            area.text.starts_with("@staticmethod\ndef area(r):") && area.text.ends_with("** 2"),
            "{}",
            area.text
        );
        assert_eq!(area.params, ["r"]);
        assert_eq!(area.docstring.as_deref(), Some("Area of a circle of radius `r`."));
        let read = names_read(area.text).unwrap();
        assert_eq!(module.imports_of(&read), ["import math"]);
        assert!(!module.needs_other_definitions(&read, "area"));
        let capped = names_read(module.functions[1].text).unwrap();
        assert!(module.needs_other_definitions(&capped, "capped"), "LIMIT is the file's");
        for other in ["helper", "Shape", "shown", "testmod"] {
            assert!(module.needs_other_definitions(&[other.to_string()].into(), "area"), "{other}");
        }
        let aliased = ["p".to_string(), "Counter".to_string(), "annotations".to_string()].into();
        assert_eq!(module.imports_of(&aliased), ["import os.path as p", "from collections import Counter"]);
        assert!(Module::parse("def f(:\n").is_err_and(|e| e.starts_with("not Python")));
    }

    #[test]
    fn code_loses_its_docstrings() {
        let module = Module::parse(SOURCE).unwrap();
        assert_eq!(
            without_docstrings(module.functions[0].text).unwrap(),
            "@staticmethod\ndef area(r):\n    return math.pi * r ** 2\n"
        );
    }

    #[test]
    fn sentences_keep_backticks_on_parameters_only() {
        let params = ["n".to_string(), "d".to_string()];
        assert_eq!(
            sentence("Calculates the date of `n` days from `d`, using ``timedelta``.  More.", &params)
                .as_deref(),
            Some("Calculates the date of `n` days from `d`, using timedelta")
        );
        assert_eq!(
            sentence("Checks if `f` returns `True`.", &[]).as_deref(),
            Some("Checks if f returns True")
        );
        assert_eq!(sentence("get gcd of n numbers:", &[]).as_deref(), Some("get gcd of n numbers"));
        assert_eq!(sentence("Calc.", &[]), None);
    }

    #[test]
    fn asserts_are_made_from_literals_only() {
        assert_eq!(assertion("f(3) ", " 8").as_deref(), Some("assert f(3) == 8"));
        assert_eq!(
            assertion("g(1)  # doctest: +NORMALIZE_WHITESPACE", "(1,\n 2)").as_deref(),
            Some("assert g(1) == (1,\n 2)")
        );
        assert_eq!(
            assertion("f([1,\n 2])", "[ ['a'], {1: -2.5} ]").as_deref(),
            Some("assert f([1,\n 2]) == [ ['a'], {1: -2.5} ]")
        );
        assert_eq!(assertion("a == b", "True").as_deref(), Some("assert (a == b) == True"));
        assert_eq!(assertion("1, 2", "(1, 2)").as_deref(), Some("assert (1, 2) == (1, 2)"));
        assert_eq!(assertion("f(1)", "Counter({3: 2})"), None);
        assert_eq!(assertion("f(1)", "date(2020, 1, 1)"), None);
        assert_eq!(assertion("f(1)", "~3.14"), None);
        assert_eq!(assertion("f(1)", "prints 'later'"), None);
        assert_eq!(assertion("x = 1", "1"), None);
    }

    #[test]
    fn tests_take_the_imports_they_read_and_never_the_files_other_definitions() {
        let module = Module::parse(SOURCE).unwrap();
        let tests = vec!["assert area(1) == math.pi".to_string()];
        assert_eq!(
            self_contained(&module, "area", tests).unwrap(),
            ["import math", "assert area(1) == math.pi"]
        );
        assert_eq!(self_contained(&module, "area", vec!["assert capped(1) == 1".into()]), None);
    }

    #[test]
    fn doctests_are_found_as_python_finds_them() {
        let found =
            doctests("Text.\n  >>> f(1,\n  ...   2)\n  [1,\n   2]\n  >>> g()\n  >>>h()\n\n  >>> k()\n  3\n");
        assert_eq!(
            found,
            [
                Doctest { source: "f(1,\n  2)".into(), output: "[1,\n 2]".into() },
                Doctest { source: "g()".into(), output: ">>>h()".into() },
                Doctest { source: "k()".into(), output: "3".into() },
            ]
        );
    }
}
