//! Lexer tokens back to Python source: one logical line per line, 4 spaces per indent level,
//! PEP 8 spacing (`a = b + 1`, `f(x, y=1)`, `d['k']`, `x[1:2]`, `-x`, `**kwargs`, `lambda x: x`).
//! Whatever the spacing rule, tokens are never glued into different tokens, so printing and
//! lexing again gives the same tokens.

use super::lexer::{PyToken, PyTokenKind};

const INDENT: &str = "    ";

/// After a keyword (other than the values `True`, `False`, `None`) an operator is unary and an
/// opening bracket is not a call.
fn is_keyword(t: &PyToken) -> bool {
    t.kind == PyTokenKind::Name && super::is_keyword(&t.text)
}

fn is_closer(t: &PyToken) -> bool {
    t.kind == PyTokenKind::Op && matches!(t.text.as_str(), ")" | "]" | "}")
}

fn is_opener(t: &PyToken) -> bool {
    t.kind == PyTokenKind::Op && matches!(t.text.as_str(), "(" | "[" | "{")
}

/// Whether an operator written after `prev` is a prefix: `-x`, `*args`, `**kw`, `~m`.
fn is_unary_position(prev: Option<&PyToken>) -> bool {
    match prev {
        None => true,
        Some(p) if p.kind == PyTokenKind::Op => !is_closer(p) && p.text != "...",
        Some(p) => is_keyword(p),
    }
}

/// Prints tokens as source text ending in a newline (empty input gives empty text).
pub fn print(tokens: &[PyToken]) -> String {
    let mut out = String::new();
    let mut level = 0usize;
    let mut prev: Option<&PyToken> = None;
    // Whether `prev` is a prefix operator or a decorator's `@`: nothing follows it with a space.
    let mut prev_hugs_next = false;
    let mut brackets: Vec<&str> = Vec::new();
    for token in tokens {
        match token.kind {
            PyTokenKind::Newline => {
                if prev.is_some() {
                    out.push('\n');
                }
                prev = None;
                brackets.clear();
                continue;
            }
            PyTokenKind::Indent => {
                level += 1;
                continue;
            }
            PyTokenKind::Dedent => {
                level = level.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        match prev {
            None => out.push_str(&INDENT.repeat(level)),
            Some(p) => {
                if !prev_hugs_next && space_between(p, token, brackets.last().copied()) {
                    out.push(' ');
                }
            }
        }
        out.push_str(&token.text);
        prev_hugs_next = token.kind == PyTokenKind::Op
            && match token.text.as_str() {
                "-" | "+" | "~" | "*" | "**" => is_unary_position(prev),
                "@" => prev.is_none(),
                _ => false,
            };
        if is_opener(token) {
            brackets.push(token.text.as_str());
        } else if is_closer(token) {
            brackets.pop();
        }
        prev = Some(token);
    }
    if prev.is_some() {
        out.push('\n');
    }
    out
}

/// Whether a space goes between two tokens of one line; `innermost` is the open bracket they sit in.
fn space_between(a: &PyToken, b: &PyToken, innermost: Option<&str>) -> bool {
    let a_op = |s: &str| a.is_op(s);
    let b_op = |s: &str| b.is_op(s);
    if b_op(")") || b_op("]") || b_op("}") || b_op(",") || b_op(";") || is_opener(a) {
        return false;
    }
    if b_op(":") {
        return false;
    }
    if a_op(":") {
        return innermost != Some("[");
    }
    if b_op(".") {
        // `from . import x`, and `1 .real` (glued, `1.` would be a float).
        return is_keyword(a) || a.kind == PyTokenKind::Number;
    }
    if a_op(".") {
        return b.is_name("import");
    }
    if a_op("=") || b_op("=") {
        // Keyword arguments and defaults hug: `f(x=1)`.
        return innermost != Some("(");
    }
    if b_op("(") || b_op("[") {
        // A call or subscript hugs its name; after a keyword or an operator it is an atom.
        return is_keyword(a) || (a.kind == PyTokenKind::Op && !is_closer(a));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::lex;
    use super::*;

    fn reprint(src: &str) -> String {
        print(&lex(src).unwrap())
    }

    #[test]
    fn pep8_spacing() {
        for (messy, clean) in [
            ("print ( f' S u m :   {sum} ' )", "print(f' S u m :   {sum} ')"),
            ("a=b+1", "a = b + 1"),
            ("f( x,y )", "f(x, y)"),
            ("d [ 'k' ]", "d['k']"),
            ("x[1 : 2]", "x[1:2]"),
            ("x [ : : -1 ]", "x[::-1]"),
            ("y = - x", "y = -x"),
            ("def f( * args , ** kwargs ) :pass", "def f(*args, **kwargs): pass"),
            ("g = lambda x : x", "g = lambda x: x"),
            ("f(a , key = lambda p : p [ 1 ])", "f(a, key=lambda p: p[1])"),
            ("d = { 'a' : 1 , ** e }", "d = {'a': 1, **e}"),
            ("return -1", "return -1"),
            ("if (a) and not b :", "if (a) and not b:"),
            ("from . import x", "from . import x"),
            ("from .m import x", "from .m import x"),
            ("x = 1 .real", "x = 1 .real"),
            ("@ property", "@property"),
            ("a @ b", "a @ b"),
            ("def f ( x ) -> int : ...", "def f(x) -> int: ..."),
            ("', '.join ( l )", "', '.join(l)"),
            ("t = (1 ,)", "t = (1,)"),
            ("print(x , end = '')", "print(x, end='')"),
        ] {
            assert_eq!(reprint(messy), format!("{clean}\n"), "from {messy:?}");
        }
    }

    #[test]
    fn blocks_get_four_spaces_per_level() {
        let src = "if a:\n  for i in b:\n\t\tprint(i)\n  c = 1\nelse:\n    pass";
        assert_eq!(reprint(src), "if a:\n    for i in b:\n        print(i)\n    c = 1\nelse:\n    pass\n");
    }

    #[test]
    fn statements_spanning_lines_are_joined() {
        assert_eq!(reprint("x = [1,\n     2,\n  3]\ny = a + \\\n    b\n"), "x = [1, 2, 3]\ny = a + b\n");
    }

    #[test]
    fn strings_and_names_never_glue() {
        assert_eq!(reprint("print 'x'"), "print 'x'\n");
        assert_eq!(reprint("r 'x'"), "r 'x'\n");
        assert_eq!(reprint("'a' 'b'"), "'a' 'b'\n");
    }
}
