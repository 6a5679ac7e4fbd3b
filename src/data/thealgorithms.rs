//! TheAlgorithms/Python: every `.py` file of the folder. Each top-level function with a docstring
//! is a pair:
//! - the English is the docstring's first sentence, read from its prose only (before the first
//!   doctest or section such as `:param` or `Args:`, without lines that hold a URL), backticks
//!   kept on parameter names only (`functions::sentence`); the function's name is not added;
//! - the code is the imports the function reads, then the function without its docstrings;
//! - the tests are its doctests: `>>> CALL` with a literal expected output becomes
//!   `assert CALL == OUTPUT`, `>>>` lines without output stay as setup; a doctest that raises,
//!   prints (the function calls `print`), or whose output is no literal is left out.
//!
//! Functions that read another definition of their file are left out, as are those without a
//! usable sentence; tests that read one are dropped. A file Python's parser rejects is malformed;
//! one without a top-level function (`__init__.py`, a class) is only counted. Ids are
//! `path#function`, grouped by file.

use super::functions::{self, Function, Module};
use super::{Member, RawPair, ReadOutcome};

/// Lines that open a docstring's sections after its prose (compared without case).
const SECTIONS: &[&str] = &[
    ":param",
    ":type",
    ":return",
    ":rtype",
    ":raises",
    "args:",
    "arguments:",
    "parameters",
    "params:",
    "returns:",
    "return:",
    "raises:",
    "example",
    "doctest",
    "usage",
    "input:",
    "output:",
    "note:",
];

pub fn read(members: &[Member]) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    for member in members {
        outcome.read += 1;
        let module = match Module::parse(&member.text) {
            Ok(module) => module,
            Err(e) => {
                outcome.malformed(format!("{}: {e}", member.path));
                continue;
            }
        };
        if module.functions.is_empty() {
            outcome.skip("files without a top-level function (`__init__.py`, classes only)");
            continue;
        }
        for function in &module.functions {
            if let Some(pair) = pair(&module, function, &member.path, &mut outcome) {
                outcome.pairs.push(pair);
            }
        }
    }
    outcome
}

/// A function's pair, or `None` (the reason counted in `outcome`).
fn pair(module: &Module, function: &Function, path: &str, outcome: &mut ReadOutcome) -> Option<RawPair> {
    let Some(docstring) = &function.docstring else {
        outcome.skip("functions without a docstring");
        return None;
    };
    let Some(prompt) = functions::sentence(&prose(docstring), &function.params) else {
        outcome.skip("functions without a usable first sentence");
        return None;
    };
    let (Some(read), Some(body)) =
        (functions::names_read(function.text), functions::without_docstrings(function.text))
    else {
        outcome.skip("functions Python's tokenizer rejects");
        return None;
    };
    if module.needs_other_definitions(&read, &function.name) {
        outcome.skip("functions that read other definitions of their file");
        return None;
    }
    let imports = module.imports_of(&read);
    let code = imports.iter().map(|i| format!("{i}\n")).collect::<String>() + &body;
    let prints = read.contains("print");
    let mut tests = Vec::new();
    for example in functions::doctests(docstring) {
        match functions::doctest_statement(&example, prints) {
            Ok(statement) => tests.push(statement),
            Err(reason) => outcome.skip(reason),
        }
    }
    let tests = if crate::data::count_asserts(&tests) == 0 {
        Vec::new()
    } else {
        functions::self_contained(module, &function.name, tests).unwrap_or_else(|| {
            outcome.skip("functions whose tests read other definitions of their file (tests dropped)");
            Vec::new()
        })
    };
    let id = format!("{path}#{}", function.name);
    Some(RawPair { id, group: path.to_string(), prompt, code, tests, attribution: None })
}

/// The docstring's prose: up to its first doctest or section, without lines holding a URL
/// (`Wikipedia: https://…`, `Reference: …`).
fn prose(docstring: &str) -> String {
    let mut lines = Vec::new();
    for line in docstring.lines() {
        let trimmed = line.trim().to_lowercase();
        if trimmed.starts_with(">>>") || SECTIONS.iter().any(|s| trimmed.starts_with(s)) {
            break;
        }
        if !trimmed.contains("://") {
            lines.push(line);
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#""""
Greatest common divisor. https://en.wikipedia.org/wiki/Greatest_common_divisor
"""
import math
from math import gcd as builtin_gcd

DIGITS = "0123456789"


def greatest_common_divisor(a: int, b: int) -> int:
    """
    Wikipedia: https://en.wikipedia.org/wiki/Euclidean_algorithm
    Calculate the Greatest Common Divisor of `a` and `b`. Uses Euclid's
    algorithm.
    :param a: a number

    >>> greatest_common_divisor(24, 40)
    8
    >>> pair = (3,
    ...         9)
    >>> greatest_common_divisor(*pair) == builtin_gcd(*pair)
    True
    >>> greatest_common_divisor(1.5, 2)
    Traceback (most recent call last):
        ...
    TypeError: bad
    >>> math.floor(greatest_common_divisor(10, 4) / 1)
    2
    >>> greatest_common_divisor(2, 4)  # doctest: +ELLIPSIS
    <object ...>
    """
    if not isinstance(a, int):
        raise TypeError("bad")
    return abs(b) if a == 0 else greatest_common_divisor(b % a, a)


def digit_sum(n: int) -> int:
    """
    Sum the digits of a number.

    >>> digit_sum(123)
    6
    """
    return sum(DIGITS.index(c) for c in str(n))


def shout(text):
    """Print the text in capital letters.

    >>> shout("hi")
    HI
    """
    print(text.upper())


def undocumented():
    return 1


def tiny():
    """Tiny."""
    return 1
"#;

    fn members() -> Vec<Member> {
        vec![
            Member { path: "maths/gcd.py".into(), text: FILE.into() },
            Member { path: "maths/broken.py".into(), text: "def f(:\n".into() },
            Member { path: "other/script.py".into(), text: "print('no function')\n".into() },
        ]
    }

    #[test]
    fn documented_functions_become_pairs_with_their_doctests_as_asserts() {
        let out = read(&members());
        assert_eq!((out.read, out.malformed, out.pairs.len()), (3, 1, 2));
        assert!(out.problems[0].starts_with("maths/broken.py: not Python"), "{:?}", out.problems);
        let gcd = &out.pairs[0];
        assert_eq!(
            (gcd.id.as_str(), gcd.group.as_str()),
            ("maths/gcd.py#greatest_common_divisor", "maths/gcd.py")
        );
        assert_eq!(gcd.prompt, "Calculate the Greatest Common Divisor of `a` and `b`");
        assert!(
            gcd.code.starts_with("def greatest_common_divisor(a: int, b: int) -> int:\n    if not"),
            "{}",
            gcd.code
        );
        assert!(!gcd.code.contains(">>>"));
        assert_eq!(
            gcd.tests,
            [
                "import math",
                "from math import gcd as builtin_gcd",
                "assert greatest_common_divisor(24, 40) == 8",
                "pair = (3,\n        9)",
                "assert (greatest_common_divisor(*pair) == builtin_gcd(*pair)) == True",
                "assert math.floor(greatest_common_divisor(10, 4) / 1) == 2",
            ]
        );
        let shout = &out.pairs[1];
        assert_eq!((shout.prompt.as_str(), shout.tests.len()), ("Print the text in capital letters", 0));
        let skipped = |reason| out.skipped.get(reason).copied().unwrap_or(0);
        assert_eq!(
            skipped("functions that read other definitions of their file"),
            1,
            "digit_sum reads DIGITS"
        );
        assert_eq!(skipped("functions without a docstring"), 1);
        assert_eq!(skipped("functions without a usable first sentence"), 1);
        assert_eq!(skipped("doctests that raise"), 1);
        assert_eq!(skipped("doctests whose output is no literal"), 1);
        assert_eq!(skipped("doctests of functions that print"), 1);
        assert_eq!(skipped("files without a top-level function (`__init__.py`, classes only)"), 1);
    }

    #[test]
    fn imports_come_with_the_function_that_reads_them() {
        let file = "import math\nimport os\n\ndef root(x):\n    \"\"\"Square root of a number.\"\"\"\n    return math.sqrt(x)\n";
        let out = read(&[Member { path: "r.py".into(), text: file.into() }]);
        assert_eq!(out.pairs[0].code, "import math\ndef root(x):\n    return math.sqrt(x)\n");
    }
}
