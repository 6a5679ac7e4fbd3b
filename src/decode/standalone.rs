//! Whether a program could run on its own, as far as reading it tells: CPython would compile it
//! (RustPython's parser accepts `return` outside a function, CPython does not), and it reads no
//! name that nothing defines. Such a name is not bound anywhere in it (assigned, a loop or `with`
//! target, a parameter, a `def` or `class`, an import, an `except … as`), not a Python builtin,
//! and not a word of the prompt; it fails at run time (`NameError`) unless the user's own code
//! defines it, hence the prompt's words count as defined ("sort list `d`" may read `d`). Scopes
//! are not told apart: a name bound anywhere counts as defined everywhere.

use std::collections::BTreeSet;

use rustpython_ast::{self as ast, Visitor};
use rustpython_parser::{Mode, parse};

use crate::metrics::visit_all_arguments;

/// Python 3.11's builtins (`dir(builtins)`) and the module attributes every module has.
const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__builtins__",
    "__debug__",
    "__doc__",
    "__file__",
    "__import__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Whether `code` parses and either is one line (a snippet, which may read the user's own names
/// or `return` from the user's function: `sorted(d, key=d.get)`) or could run on its own: it
/// compiles and reads no undefined name. Of several lines a user expects a program that runs
/// as it is.
pub fn is_standalone(code: &str, prompt_words: &[&str]) -> bool {
    let Some(reading) = read(code) else { return false };
    code.trim().lines().count() <= 1 || !reading.misplaced && reading.undefined(prompt_words).is_empty()
}

fn read(code: &str) -> Option<Reading> {
    let ast::Mod::Module(module) = parse(code, Mode::Module, "<generated>").ok()? else {
        return None;
    };
    let mut reading = Reading::default();
    for statement in module.body {
        reading.visit_stmt(statement);
    }
    Some(reading)
}

/// What a walk over a program found: the names it reads and those it binds, and whether a
/// statement stands where CPython refuses it.
#[derive(Default)]
struct Reading {
    read: BTreeSet<String>,
    bound: BTreeSet<String>,
    /// `return` or `yield` outside a function, `break` or `continue` outside a loop.
    misplaced: bool,
    /// Where the walk is: inside a function (or lambda), inside a loop (of this function).
    in_function: bool,
    in_loop: bool,
}

impl Reading {
    /// The names read that are never bound, not builtins and not among `prompt_words`
    /// (compared without case).
    fn undefined(&self, prompt_words: &[&str]) -> BTreeSet<String> {
        let mentioned: BTreeSet<String> = prompt_words.iter().map(|w| w.to_lowercase()).collect();
        self.read
            .iter()
            .filter(|name| !self.bound.contains(*name) && !BUILTINS.contains(&name.as_str()))
            .filter(|name| !mentioned.contains(&name.to_lowercase()))
            .cloned()
            .collect()
    }

    /// Walks inside a new place: a function's body (`in_function`) or a class's (neither), or
    /// a loop's body.
    fn within(&mut self, in_function: bool, in_loop: bool, walk: impl FnOnce(&mut Self)) {
        let outer = (self.in_function, self.in_loop);
        (self.in_function, self.in_loop) = (in_function, in_loop);
        walk(self);
        (self.in_function, self.in_loop) = outer;
    }
}

impl Visitor for Reading {
    fn visit_expr_name(&mut self, node: ast::ExprName) {
        let name = node.id.to_string();
        match node.ctx {
            ast::ExprContext::Load => self.read.insert(name),
            ast::ExprContext::Store | ast::ExprContext::Del => self.bound.insert(name),
        };
    }

    fn visit_stmt_function_def(&mut self, node: ast::StmtFunctionDef) {
        self.bound.insert(node.name.to_string());
        self.within(true, false, |walk| walk.generic_visit_stmt_function_def(node));
    }

    fn visit_stmt_async_function_def(&mut self, node: ast::StmtAsyncFunctionDef) {
        self.bound.insert(node.name.to_string());
        self.within(true, false, |walk| walk.generic_visit_stmt_async_function_def(node));
    }

    fn visit_expr_lambda(&mut self, node: ast::ExprLambda) {
        self.within(true, false, |walk| walk.generic_visit_expr_lambda(node));
    }

    fn visit_stmt_class_def(&mut self, node: ast::StmtClassDef) {
        self.bound.insert(node.name.to_string());
        self.within(false, false, |walk| walk.generic_visit_stmt_class_def(node));
    }

    fn visit_stmt_for(&mut self, node: ast::StmtFor) {
        self.within(self.in_function, true, |walk| walk.generic_visit_stmt_for(node));
    }

    fn visit_stmt_async_for(&mut self, node: ast::StmtAsyncFor) {
        self.within(self.in_function, true, |walk| walk.generic_visit_stmt_async_for(node));
    }

    fn visit_stmt_while(&mut self, node: ast::StmtWhile) {
        self.within(self.in_function, true, |walk| walk.generic_visit_stmt_while(node));
    }

    fn visit_stmt_return(&mut self, node: ast::StmtReturn) {
        self.misplaced |= !self.in_function;
        self.generic_visit_stmt_return(node);
    }

    fn visit_expr_yield(&mut self, node: ast::ExprYield) {
        self.misplaced |= !self.in_function;
        self.generic_visit_expr_yield(node);
    }

    fn visit_expr_yield_from(&mut self, node: ast::ExprYieldFrom) {
        self.misplaced |= !self.in_function;
        self.generic_visit_expr_yield_from(node);
    }

    fn visit_stmt_break(&mut self, _node: ast::StmtBreak) {
        self.misplaced |= !self.in_loop;
    }

    fn visit_stmt_continue(&mut self, _node: ast::StmtContinue) {
        self.misplaced |= !self.in_loop;
    }

    // rustpython-ast's visitor leaves the fields of the nodes below unvisited.

    fn visit_arguments(&mut self, node: ast::Arguments) {
        visit_all_arguments(self, node);
    }

    fn visit_arg(&mut self, node: ast::Arg) {
        self.bound.insert(node.arg.to_string());
        if let Some(annotation) = node.annotation {
            self.visit_expr(*annotation);
        }
    }

    fn visit_keyword(&mut self, node: ast::Keyword) {
        self.visit_expr(node.value);
    }

    fn visit_comprehension(&mut self, node: ast::Comprehension) {
        self.visit_expr(node.target);
        self.visit_expr(node.iter);
        for condition in node.ifs {
            self.visit_expr(condition);
        }
    }

    fn visit_withitem(&mut self, node: ast::WithItem) {
        self.visit_expr(node.context_expr);
        if let Some(target) = node.optional_vars {
            self.visit_expr(*target);
        }
    }

    fn visit_match_case(&mut self, node: ast::MatchCase) {
        self.visit_pattern(node.pattern);
        if let Some(guard) = node.guard {
            self.visit_expr(*guard);
        }
        for statement in node.body {
            self.visit_stmt(statement);
        }
    }

    fn visit_pattern_match_as(&mut self, node: ast::PatternMatchAs) {
        if let Some(name) = &node.name {
            self.bound.insert(name.to_string());
        }
        self.generic_visit_pattern_match_as(node);
    }

    fn visit_pattern_match_star(&mut self, node: ast::PatternMatchStar) {
        self.bound.extend(node.name.map(|n| n.to_string()));
    }

    /// `import os.path` binds `os`; `import numpy as np` binds `np`.
    fn visit_alias(&mut self, node: ast::Alias) {
        let name = match &node.asname {
            Some(alias) => alias.to_string(),
            None => node.name.split('.').next().unwrap_or_default().to_string(),
        };
        self.bound.insert(name);
    }

    fn visit_excepthandler_except_handler(&mut self, node: ast::ExceptHandlerExceptHandler) {
        if let Some(name) = &node.name {
            self.bound.insert(name.to_string());
        }
        self.generic_visit_excepthandler_except_handler(node);
    }

    fn visit_stmt_global(&mut self, node: ast::StmtGlobal) {
        self.bound.extend(node.names.iter().map(|n| n.to_string()));
    }

    fn visit_stmt_nonlocal(&mut self, node: ast::StmtNonlocal) {
        self.bound.extend(node.names.iter().map(|n| n.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undefined(code: &str, prompt: &[&str]) -> Vec<String> {
        read(code).expect("parses").undefined(prompt).into_iter().collect()
    }

    #[test]
    fn names_nothing_binds_are_undefined() {
        assert_eq!(undefined("print(ord(c))\n", &[]), ["c"]);
        assert_eq!(undefined("sorted(d, key=lambda x: x[k])\n", &["d"]), ["k"]);
        assert_eq!(undefined("def f(a=b):\n    return a\nwith g() as h:\n    pass\n", &[]), ["b", "g"]);
        assert_eq!(undefined("xml.etree.ElementTree.parse(f)\n", &[]), ["f", "xml"]);
        assert_eq!(
            undefined("for i in vowels:\n    if letter in i:\n        n += 1\n", &["vowels"]),
            ["letter"]
        );
    }

    #[test]
    fn bindings_builtins_and_the_prompts_words_are_defined() {
        let program = "import os.path\nimport numpy as np\nfrom re import sub as s\n\
                       def f(a, *rest, k=1, **more):\n    return [x for x in rest if a]\n\
                       class C:\n    pass\n\
                       try:\n    y = lambda q: q + np.pi\nexcept ValueError as e:\n    print(e)\n\
                       with open(os.path.join('a')) as handle:\n    f(handle, C, s, y, more, k)\n\
                       print(sum(z for z in range(3) if z), {v: w for v, w in {}.items()})\n\
                       match y:\n    case [first, *others] if first:\n        print(first, others)\n";
        assert_eq!(undefined(program, &[]), Vec::<String>::new());
        assert_eq!(undefined("sorted(D, key=D.get)\n", &["sort", "d", "by", "value"]), Vec::<String>::new());
        assert!(read("def f(:\n").is_none());
    }

    #[test]
    fn a_program_of_several_lines_must_stand_alone_and_a_snippet_need_not() {
        assert!(is_standalone("sorted(d, key=d.get)\n", &[]));
        assert!(is_standalone("return x[::-1]\n", &[]));
        assert!(!is_standalone("s = 0\nfor x in numbers:\n    s += x\n", &[]));
        assert!(is_standalone("s = 0\nfor x in numbers:\n    s += x\n", &["numbers"]));
        assert!(!is_standalone("sorted(d,\n", &[]));
    }

    /// What CPython refuses to compile though it parses, as `SyntaxError: 'return' outside
    /// function` says.
    #[test]
    fn return_and_yield_belong_in_functions_and_break_in_loops() {
        let misplaced = |code: &str| read(code).expect("parses").misplaced;
        for bad in [
            "x = 1\nreturn x\n",
            "for i in x:\n    yield i\n",
            "if x:\n    break\n",
            "def f():\n    continue\n",
            "for i in x:\n    class C:\n        return 1\n",
            "while x:\n    def f():\n        break\n",
        ] {
            assert!(misplaced(bad), "{bad}");
        }
        for good in [
            "def f(x):\n    for i in x:\n        if i:\n            break\n        yield i\n    return 0\n",
            "while True:\n    continue\n",
            "g = lambda: (yield)\n",
            "class C:\n    def f(self):\n        return 1\n",
        ] {
            assert!(!misplaced(good), "{good}");
        }
    }
}
