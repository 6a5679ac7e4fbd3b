//! Syntax highlighting from our own Python lexer: the code cut into spans, each with the CSS
//! class of its token kind. Code that does not lex (a partial string while tokens stream in)
//! keeps its highlighted head and shows the rest plain.

use nl2py::text::python::{PyTokenKind, is_keyword, lex};

/// A piece of the code and its class (`None`: whitespace or text the lexer did not reach).
pub type Span<'a> = (Option<&'static str>, &'a str);

pub fn spans(code: &str) -> Vec<Span<'_>> {
    let tokens = match lex(code) {
        Ok(tokens) => tokens,
        Err(_) => return lexable_prefix(code),
    };
    let mut out = Vec::new();
    let mut at = 0;
    for token in &tokens {
        let class = match &token.kind {
            PyTokenKind::Name if is_keyword(&token.text) => "kw",
            PyTokenKind::Name => "name",
            PyTokenKind::Number => "num",
            PyTokenKind::String { .. } => "str",
            PyTokenKind::Op => "op",
            PyTokenKind::Newline | PyTokenKind::Indent | PyTokenKind::Dedent => continue,
        };
        let Some(offset) = code[at..].find(token.text.as_str()) else { break };
        if offset > 0 {
            out.push((None, &code[at..at + offset]));
        }
        let end = at + offset + token.text.len();
        out.push((Some(class), &code[at + offset..end]));
        at = end;
    }
    if at < code.len() {
        out.push((None, &code[at..]));
    }
    out
}

/// The spans of `code` line by line, each line's spans without its `\n` (a span that runs over
/// lines, a triple-quoted string, is cut at each line's end): the code view marks lines.
pub fn lines(code: &str) -> Vec<Vec<Span<'_>>> {
    let mut out = vec![Vec::new()];
    for (class, text) in spans(code) {
        for (at, piece) in text.split('\n').enumerate() {
            if at > 0 {
                out.push(Vec::new());
            }
            if !piece.is_empty() {
                out.last_mut().expect("one line at least").push((class, piece));
            }
        }
    }
    out
}

/// For code that does not lex: highlight the longest head of whole lines that does.
fn lexable_prefix(code: &str) -> Vec<Span<'_>> {
    let cut = code.match_indices('\n').map(|(i, _)| i + 1).rev().find(|&end| lex(&code[..end]).is_ok());
    match cut {
        Some(end) if end > 0 => {
            let mut out = spans(&code[..end]);
            out.push((None, &code[end..]));
            out
        }
        _ => vec![(None, code)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn spans_cover_the_code_and_classify_tokens() {
        let code = "for x in range(3):\n    print('a b', x)\n";
        let spans = spans(code);
        assert_eq!(spans.iter().map(|(_, t)| *t).collect::<String>(), code);
        assert!(spans.contains(&(Some("kw"), "for")));
        assert!(spans.contains(&(Some("str"), "'a b'")));
        assert!(spans.contains(&(Some("num"), "3")));
        assert!(spans.contains(&(Some("name"), "print")));
    }

    #[test]
    fn lines_cut_spans_at_line_ends() {
        let code = "s = \"\"\"a\nb\"\"\"\nprint(s)";
        let lines = lines(code);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], vec![(Some("str"), "b\"\"\"")]);
        assert_eq!(lines[2][0], (Some("name"), "print"));
        let joined: Vec<String> = lines.iter().map(|l| l.iter().map(|(_, t)| *t).collect()).collect();
        assert_eq!(joined.join("\n"), code);
    }

    #[test]
    fn unfinished_code_keeps_its_text() {
        let code = "x = 1\ny = 'unfinished";
        let spans = spans(code);
        assert_eq!(spans.iter().map(|(_, t)| *t).collect::<String>(), code);
        assert_eq!(spans[0], (Some("name"), "x"));
        assert_eq!(spans.last().unwrap(), &(None, "y = 'unfinished"));
    }
}
