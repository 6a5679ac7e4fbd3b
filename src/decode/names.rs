//! Names a program reads that nothing defines: not bound anywhere in it (assigned, a loop or
//! `with` target, a parameter, a `def` or `class`, an import, an `except … as`), not a Python
//! builtin, and not a word of the prompt. Such a name fails at run time (`NameError`), unless the
//! user's own code defines it: hence the prompt's words count as defined ("sort list `d`" may
//! read `d`). Scopes are not told apart: a name bound anywhere counts as defined everywhere.

use std::collections::BTreeSet;

use rustpython_ast::{self as ast, Visitor};
use rustpython_parser::{Mode, parse};

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

/// Whether `code` parses and either is one line (a snippet, which may read the user's own
/// names: `sorted(d, key=d.get)`) or reads no name that [`undefined_names`] finds. Of several
/// lines a user expects a program that runs as it is.
pub fn defines_what_it_reads(code: &str, prompt_words: &[&str]) -> bool {
    let one_line = code.trim().lines().count() <= 1;
    undefined_names(code, prompt_words).is_some_and(|names| one_line || names.is_empty())
}

/// The names `code` reads that it never binds, that are not builtins and not among
/// `prompt_words` (compared without case); `None` when `code` does not parse.
pub fn undefined_names(code: &str, prompt_words: &[&str]) -> Option<BTreeSet<String>> {
    let ast::Mod::Module(module) = parse(code, Mode::Module, "<generated>").ok()? else {
        return None;
    };
    let mut names = Names::default();
    for statement in module.body {
        names.visit_stmt(statement);
    }
    let mentioned: BTreeSet<String> = prompt_words.iter().map(|w| w.to_lowercase()).collect();
    let Names { read, bound } = names;
    Some(
        read.into_iter()
            .filter(|name| !bound.contains(name) && !BUILTINS.contains(&name.as_str()))
            .filter(|name| !mentioned.contains(&name.to_lowercase()))
            .collect(),
    )
}

/// The names a program reads and those it binds.
#[derive(Default)]
struct Names {
    read: BTreeSet<String>,
    bound: BTreeSet<String>,
}

impl Visitor for Names {
    fn visit_expr_name(&mut self, node: ast::ExprName) {
        let name = node.id.to_string();
        match node.ctx {
            ast::ExprContext::Load => self.read.insert(name),
            ast::ExprContext::Store | ast::ExprContext::Del => self.bound.insert(name),
        };
    }

    fn visit_stmt_function_def(&mut self, node: ast::StmtFunctionDef) {
        self.bound.insert(node.name.to_string());
        self.generic_visit_stmt_function_def(node);
    }

    fn visit_stmt_async_function_def(&mut self, node: ast::StmtAsyncFunctionDef) {
        self.bound.insert(node.name.to_string());
        self.generic_visit_stmt_async_function_def(node);
    }

    fn visit_stmt_class_def(&mut self, node: ast::StmtClassDef) {
        self.bound.insert(node.name.to_string());
        self.generic_visit_stmt_class_def(node);
    }

    // rustpython-ast's visitor leaves the fields of the nodes below unvisited.

    fn visit_arguments(&mut self, node: ast::Arguments) {
        let with_defaults = node.posonlyargs.into_iter().chain(node.args).chain(node.kwonlyargs);
        for argument in with_defaults {
            self.visit_arg(argument.def);
            if let Some(default) = argument.default {
                self.visit_expr(*default);
            }
        }
        for argument in node.vararg.into_iter().chain(node.kwarg) {
            self.visit_arg(*argument);
        }
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
        undefined_names(code, prompt).expect("parses").into_iter().collect()
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
        assert!(undefined_names("def f(:\n", &[]).is_none());
    }

    #[test]
    fn a_program_of_several_lines_must_define_what_it_reads_and_a_snippet_need_not() {
        assert!(defines_what_it_reads("sorted(d, key=d.get)\n", &[]));
        assert!(!defines_what_it_reads("s = 0\nfor x in numbers:\n    s += x\n", &[]));
        assert!(defines_what_it_reads("s = 0\nfor x in numbers:\n    s += x\n", &["numbers"]));
        assert!(!defines_what_it_reads("sorted(d,\n", &[]));
    }
}
