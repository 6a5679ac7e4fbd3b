"""Oracle for the round-trip test: CPython's own tokenize module.

Reads JSON lines {"id", "original", "roundtrip"} on stdin ("roundtrip" is null where our
tokenizer rejected the code) and writes one JSON line per record:
{"id", "python_accepts", "equal", "first_difference"}.

Token streams are compared without comments, NL, ENCODING and ENDMARKER, with NEWLINE, INDENT
and DEDENT compared by type only (layout aside). Docstrings are removed from the original's
stream by the rule nl2py documents: a string-only statement that opens a def/class body, or the
module when more statements follow; an emptied body gets `pass`. Python rejects code when
tokenize raises or yields an ERRORTOKEN.
"""
import io
import json
import sys
import tokenize
from token import COMMENT, DEDENT, ENCODING, ENDMARKER, ERRORTOKEN, INDENT, NAME, NEWLINE, NL, OP, STRING


class Rejected(Exception):
    pass


def stream(src):
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise Rejected(str(e))
    out = []
    for t in toks:
        if t.type in (COMMENT, NL, ENCODING, ENDMARKER):
            continue
        if t.type == ERRORTOKEN:
            raise Rejected(f"ERRORTOKEN {t.string!r}")
        if t.type in (NEWLINE, INDENT, DEDENT):
            out.append((t.type, ""))
        else:
            out.append((t.type, t.string))
    return out


def logical_lines(toks):
    lines, lead, body = [], [], []
    for t in toks:
        if t[0] in (INDENT, DEDENT) and not body:
            lead.append(t)
        elif t[0] == NEWLINE:
            body.append(t)
            lines.append([lead, body])
            lead, body = [], []
        else:
            body.append(t)
    if lead or body:
        lines.append([lead, body])
    return lines


def starts_def_or_class(body):
    if len(body) >= 2 and body[0] == (NAME, "async"):
        return body[1] == (NAME, "def")
    return bool(body) and body[0] in ((NAME, "def"), (NAME, "class"))


def string_statement_len(toks):
    n = 0
    while n < len(toks) and toks[n][0] == STRING:
        n += 1
    if n and n < len(toks) and (toks[n][0] == NEWLINE or toks[n] == (OP, ";")):
        return n
    return None


def strip_docstrings(toks):
    lines = logical_lines(toks)
    for k, (lead, body) in enumerate(lines):
        header_before = k > 0 and starts_def_or_class(lines[k - 1][1]) and len(lines[k - 1][1]) >= 2 \
            and lines[k - 1][1][-2] == (OP, ":")
        indented = any(t[0] == INDENT for t in lead)
        module_doc = k == 0 and any(l[1] for l in lines[1:])
        if (module_doc and not indented) or (header_before and indented):
            n = string_statement_len(body)
            if n is not None:
                if body[n] == (OP, ";"):
                    del body[: n + 1]
                else:
                    nxt = lines[k + 1] if k + 1 < len(lines) else None
                    ends = nxt is None or (nxt[0] and nxt[0][0][0] == DEDENT) or not nxt[1]
                    if ends and k > 0:
                        body[:n] = [(NAME, "pass")]
                    else:
                        lines[k][1] = []
                        if nxt is not None:
                            nxt[0][:0] = lead
                        lines[k][0] = []
        body = lines[k][1]
        if starts_def_or_class(body):
            depth, colon = 0, None
            for i, t in enumerate(body):
                if t[0] == OP and t[1] in "([{":
                    depth += 1
                elif t[0] == OP and t[1] in ")]}":
                    depth -= 1
                if depth == 0 and t == (OP, ":"):
                    colon = i
                    break
            if colon is not None:
                rest = colon + 1
                n = string_statement_len(body[rest:])
                if n is not None:
                    if body[rest + n] == (OP, ";"):
                        del body[rest : rest + n + 1]
                    else:
                        body[rest : rest + n] = [(NAME, "pass")]
    return [t for lead, body in lines for t in lead + body]


def main():
    for line in sys.stdin:
        rec = json.loads(line)
        result = {"id": rec["id"], "python_accepts": True, "equal": False, "first_difference": None}
        try:
            want = strip_docstrings(stream(rec["original"]))
        except Rejected as e:
            result["python_accepts"] = False
            result["first_difference"] = str(e)
            print(json.dumps(result))
            continue
        if rec["roundtrip"] is not None:
            try:
                got = stream(rec["roundtrip"])
            except Rejected as e:
                got = [("rejected", str(e))]
            result["equal"] = got == want
            if not result["equal"]:
                i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                result["first_difference"] = f"at token {i}: got {got[i:i+3]} want {want[i:i+3]}"
        print(json.dumps(result))


if __name__ == "__main__":
    main()
