//! Whether generated code is valid Python as CPython 3.11's `ast.parse` judges it, by a pure-Rust
//! Python parser (RustPython's), so the browser page can tell too. RustPython's parser accepts two
//! things CPython's refuses, so one walk over its tree refuses them after it: a target that
//! cannot be bound or deleted (`True = 1`, `'\n' = f(x)`, `[x for 100 in y]`, `f() = 1`), and a
//! generator argument without its own parentheses beside another argument (`f(x for x in y, 1)`).
//! What only CPython's compiler refuses (`*a = 1`, `return` outside a function) passes, as it
//! passes `ast.parse`.

use std::ops::Range;

use rustpython_ast::{self as ast, Ranged, Visitor};
use rustpython_parser::{Mode, Tok, lexer::lex, parse, text_size::TextRange};

/// True when `code` parses as a Python module, as CPython 3.11's `ast.parse` judges it.
pub fn is_valid_python(code: &str) -> bool {
    let Ok(ast::Mod::Module(module)) = parse(code, Mode::Module, "<generated>") else {
        return false;
    };
    let mut check = Check { code, valid: true };
    for statement in module.body {
        check.visit_stmt(statement);
    }
    check.valid
}

/// Where an expression binds or deletes names, which decides what may stand there.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// `=`, `for … in`, `with … as`: a name, attribute or subscript, starred or not, or a tuple or
    /// list of these.
    Bind,
    /// `del`: as `Bind`, nothing starred.
    Delete,
    /// `+=` and the other augmented assignments, an annotated assignment (`x: int = 1`): one
    /// name, attribute or subscript.
    Single,
}

/// Whether `expr` may stand as a `target`, as CPython's grammar allows.
fn is_target(expr: &ast::Expr, target: Target) -> bool {
    match expr {
        ast::Expr::Name(_) | ast::Expr::Attribute(_) | ast::Expr::Subscript(_) => true,
        ast::Expr::Starred(starred) => target == Target::Bind && is_target(&starred.value, target),
        ast::Expr::Tuple(ast::ExprTuple { elts, .. }) | ast::Expr::List(ast::ExprList { elts, .. }) => {
            target != Target::Single && elts.iter().all(|elt| is_target(elt, target))
        }
        _ => false,
    }
}

/// A walk over a parsed program that notes what CPython's parser would refuse.
struct Check<'a> {
    code: &'a str,
    valid: bool,
}

impl Check<'_> {
    fn targets<'e>(&mut self, targets: impl IntoIterator<Item = &'e ast::Expr>, target: Target) {
        self.valid &= targets.into_iter().all(|expr| is_target(expr, target));
    }

    /// Whether `argument` is a generator expression written without parentheses of its own
    /// (`f(x for x in y)`). RustPython's range of a generator starts at its `(` and ends after its
    /// `)` where it has them, and covers from its element to its last clause where it has not.
    fn is_bare_generator(&self, argument: &ast::Expr) -> bool {
        let ast::Expr::GeneratorExp(generator) = argument else { return false };
        let Some(text) = self.code.get(span(generator.range)) else { return false };
        if !(text.starts_with('(') && text.ends_with(')')) {
            return true;
        }
        // `(a) for a in f(b)` starts and ends with a parenthesis too: the generator has its own
        // only where the first `(` closes at the end.
        let mut depth = 0;
        for (token, range) in lex(text, Mode::Expression).map_while(Result::ok) {
            match token {
                Tok::Lpar => depth += 1,
                Tok::Rpar if depth == 1 => return span(range).end != text.len(),
                Tok::Rpar => depth -= 1,
                _ => {}
            }
        }
        false
    }

    /// Whether the call's source continues after `argument` with a comma before its `)`
    /// (`f(x for x in y,)`), past spaces, line continuations and comments.
    fn comma_follows(&self, argument: &ast::Expr, call: TextRange) -> bool {
        let after = span(TextRange::new(argument.range().end(), call.end()));
        let mut rest = self.code.get(after).unwrap_or_default().chars();
        while let Some(c) = rest.next() {
            match c {
                ',' => return true,
                '#' => _ = rest.by_ref().find(|&c| c == '\n'),
                c if c.is_whitespace() || c == '\\' => {}
                _ => return false,
            }
        }
        false
    }
}

/// Visits what rustpython-ast's visitor leaves out of a function's arguments: every argument
/// (its annotation, through `visit_arg`) and every default. For any visitor that needs the
/// whole tree.
pub(crate) fn visit_all_arguments(visitor: &mut impl Visitor, node: ast::Arguments) {
    let with_defaults = node.posonlyargs.into_iter().chain(node.args).chain(node.kwonlyargs);
    for argument in with_defaults {
        visitor.visit_arg(argument.def);
        if let Some(default) = argument.default {
            visitor.visit_expr(*default);
        }
    }
    for argument in node.vararg.into_iter().chain(node.kwarg) {
        visitor.visit_arg(*argument);
    }
}

fn span(range: TextRange) -> Range<usize> {
    range.start().into()..range.end().into()
}

impl Visitor for Check<'_> {
    fn visit_stmt(&mut self, node: ast::Stmt) {
        if self.valid {
            self.generic_visit_stmt(node);
        }
    }

    fn visit_stmt_assign(&mut self, node: ast::StmtAssign) {
        self.targets(&node.targets, Target::Bind);
        self.generic_visit_stmt_assign(node);
    }

    fn visit_stmt_aug_assign(&mut self, node: ast::StmtAugAssign) {
        self.targets([&*node.target], Target::Single);
        self.generic_visit_stmt_aug_assign(node);
    }

    fn visit_stmt_ann_assign(&mut self, node: ast::StmtAnnAssign) {
        self.targets([&*node.target], Target::Single);
        self.generic_visit_stmt_ann_assign(node);
    }

    fn visit_stmt_delete(&mut self, node: ast::StmtDelete) {
        self.targets(&node.targets, Target::Delete);
        self.generic_visit_stmt_delete(node);
    }

    fn visit_stmt_for(&mut self, node: ast::StmtFor) {
        self.targets([&*node.target], Target::Bind);
        self.generic_visit_stmt_for(node);
    }

    fn visit_stmt_async_for(&mut self, node: ast::StmtAsyncFor) {
        self.targets([&*node.target], Target::Bind);
        self.generic_visit_stmt_async_for(node);
    }

    /// A generator without parentheses of its own may only be a call's one argument; a class's
    /// bases never take one.
    fn visit_expr_call(&mut self, node: ast::ExprCall) {
        if let Some(bare) = node.args.iter().find(|argument| self.is_bare_generator(argument)) {
            let alone = node.args.len() == 1 && node.keywords.is_empty();
            self.valid &= alone && !self.comma_follows(bare, node.range);
        }
        self.generic_visit_expr_call(node);
    }

    fn visit_stmt_class_def(&mut self, node: ast::StmtClassDef) {
        self.valid &= !node.bases.iter().any(|base| self.is_bare_generator(base));
        self.generic_visit_stmt_class_def(node);
    }

    // rustpython-ast's visitor leaves the fields of the nodes below unvisited.

    fn visit_comprehension(&mut self, node: ast::Comprehension) {
        self.targets([&node.target], Target::Bind);
        self.visit_expr(node.target);
        self.visit_expr(node.iter);
        for condition in node.ifs {
            self.visit_expr(condition);
        }
    }

    fn visit_withitem(&mut self, node: ast::WithItem) {
        self.targets(node.optional_vars.as_deref(), Target::Bind);
        self.visit_expr(node.context_expr);
        if let Some(target) = node.optional_vars {
            self.visit_expr(*target);
        }
    }

    fn visit_arguments(&mut self, node: ast::Arguments) {
        visit_all_arguments(self, node);
    }

    fn visit_arg(&mut self, node: ast::Arg) {
        if let Some(annotation) = node.annotation {
            self.visit_expr(*annotation);
        }
    }

    fn visit_keyword(&mut self, node: ast::Keyword) {
        self.visit_expr(node.value);
    }

    fn visit_match_case(&mut self, node: ast::MatchCase) {
        if let Some(guard) = node.guard {
            self.visit_expr(*guard);
        }
        for statement in node.body {
            self.visit_stmt(statement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustpython_parser::Parse;

    #[test]
    fn parses_like_python() {
        assert!(is_valid_python("def f(x):\n    return [i for i in x if i]\n"));
        assert!(is_valid_python("print(f'Sum: {sum}')\n"));
        assert!(!is_valid_python("def f(:\n"));
        assert!(!is_valid_python("print 'python 2'\n"));
        assert!(!is_valid_python("if x:\nreturn\n"));
    }

    /// Each judged as Python 3.11's `ast.parse` judges it.
    #[test]
    fn refuses_targets_that_cannot_be_bound() {
        let refused = [
            "'\\n' = pd.fillna(x)\n",
            "True = 1\n",
            "None = 1\n",
            "lst = [(10) for 100 in Object]\n",
            "f() = 1\n",
            "a = b = 1 = c\n",
            "a + b = 1\n",
            "-a = 1\n",
            "[a, 1] = x\n",
            "(a, (b, None)) = x\n",
            "... = 1\n",
            "for 1 in x:\n    pass\n",
            "for (a, 1) in x:\n    pass\n",
            "[x for f() in y]\n",
            "with o as 1:\n    pass\n",
            "with o as f():\n    pass\n",
            "a, b += 1\n",
            "True += 1\n",
            "(a, b): int\n",
            "[a]: int\n",
            "1: int = 2\n",
            "del f()\n",
            "del *a, b\n",
            "def g():\n    if x:\n        False = 0\n",
            "class C:\n    def g(self, a=[x for 1 in y]):\n        pass\n",
            "print(f'{[x for 1 in y]}')\n",
        ];
        for code in refused {
            assert!(!is_valid_python(code), "{code:?} must be refused");
        }
        let accepted = [
            "a, b = 1, 2\n",
            "x[0] = 1\n",
            "obj.attr = 2\n",
            "*a, b = c\n",
            "(a, b) = [*c] = d\n",
            "a, = b\n",
            "() = x\n",
            "(*a, b), c = d\n",
            "x.y.z[0].w = 1\n",
            "{a: 1}[0] = 2\n",
            "for i, (j, k) in z:\n    pass\n",
            "[x for *a, b in y]\n",
            "with open(p) as f:\n    pass\n",
            "with o as (a, [b, *c]):\n    pass\n",
            "a.b += 1\n",
            "(a) += 1\n",
            "a[0] -= 1\n",
            "(a): int = 1\n",
            "a.b: int\n",
            "del a[0]\n",
            "del a, (b, c), [d.e]\n",
            "(a := 1)\n",
            "*a = 1\n",
        ];
        for code in accepted {
            assert!(is_valid_python(code), "{code:?} must be accepted");
        }
    }

    #[test]
    fn refuses_a_bare_generator_beside_another_argument() {
        let refused = [
            "f(x for x in y, 1)\n",
            "f(1, x for x in y)\n",
            "f(x for x in y, k=1)\n",
            "f(x for x in y, *a)\n",
            "f(x for x in y,)\n",
            "f(x for x in y  # c\n  ,)\n",
            "f((x) for x in y, 1)\n",
            "f((a) for a in g(b), 1)\n",
            "f((x for x in y) for z in w, 1)\n",
            "f(x for x in y)(z for z in w, 1)\n",
            "class C(x for x in y):\n    pass\n",
            "def f(a=g(x for x in y, 1)):\n    pass\n",
            "print(f'{f(x for x in y, 1)}')\n",
        ];
        for code in refused {
            assert!(!is_valid_python(code), "{code:?} must be refused");
        }
        let accepted = [
            "f(x for x in y)\n",
            "f((x)for x in y)\n",
            "f(\n    x for x in y  # a, b\n)\n",
            "sum((x for x in y), 0)\n",
            "f(1, (x for x in y))\n",
            "f((x for x in y),)\n",
            "f(k=1, *(x for x in y))\n",
            "f(((x) for x in y), 1)\n",
            "f(a=1)\n",
            "f(a for a in b)(c)\n",
            "class C((x for x in y), z):\n    pass\n",
            "print(f'{f((x for x in y), 1)}')\n",
            "print(f'{x for x in y}')\n",
        ];
        for code in accepted {
            assert!(is_valid_python(code), "{code:?} must be accepted");
        }
    }

    /// What `is_bare_generator` and `comma_follows` rely on: a generator's range covers its own
    /// parentheses and no others, and a call's ends after its `)`.
    #[test]
    fn generator_ranges_cover_their_own_parentheses() {
        let ranges = |code: &str| {
            let Ok(ast::Expr::Call(call)) = ast::Expr::parse(code, "<test>") else { panic!("{code}") };
            let text = |range: TextRange| code[span(range)].to_string();
            (text(call.range), text(call.args[0].range()))
        };
        assert_eq!(ranges("f(x for x in y)"), ("f(x for x in y)".into(), "x for x in y".into()));
        assert_eq!(
            ranges("f( (x) for x in (y) ,)"),
            ("f( (x) for x in (y) ,)".into(), "(x) for x in (y)".into())
        );
        assert_eq!(
            ranges("f(((x for x in y)), 1)"),
            ("f(((x for x in y)), 1)".into(), "(x for x in y)".into())
        );
        assert_eq!(ranges("f((x), 1)"), ("f((x), 1)".into(), "x".into()));
    }
}
