//! Whether generated code is valid Python, by a pure-Rust Python parser (RustPython's), so the
//! browser page can tell too.

use rustpython_parser::{Mode, parse};

/// True when `code` parses as a Python module.
pub fn is_valid_python(code: &str) -> bool {
    parse(code, Mode::Module, "<generated>").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_python() {
        assert!(is_valid_python("def f(x):\n    return [i for i in x if i]\n"));
        assert!(is_valid_python("print(f'Sum: {sum}')\n"));
        assert!(!is_valid_python("def f(:\n"));
        assert!(!is_valid_python("print 'python 2'\n"));
        assert!(!is_valid_python("if x:\nreturn\n"));
    }
}
