"""griffe extension (loaded by mkdocstrings, see mkdocs.yml): a parameter table from fastcore "docments".

The functions of deeplense_nb document their parameters nbdev-style, with a `# comment` after each parameter in the
signature and a one-line docstring, so a Google-style docstring parser finds no parameters. This extension reads the
same comments `fastcore.docments.docments` reads — statically, from the source, so building the docs imports nothing —
and appends a markdown table (parameter, default, meaning) to the docstring of every function, method and class
(a class gets the table of its `__init__`, a dataclass the table of its commented fields).

One comment often describes every parameter on its line (`steps: int = 5, warmup: int = 1,  # timed steps; warm-up`).
It is split when that is unambiguous: `name: text` / `name=value: text` parts go to that parameter, then parts separated
by `; ` (or, failing that and for three or more parameters, top-level `, `) are matched in order when there are exactly as many as parameters left;
otherwise the parameters share one row with the whole comment.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize

import griffe

_comments_cache: dict[int, dict[int, str]] = {}


def _comments(code: str) -> dict[int, str]:
    "Line number -> text of the `# comment` on that line, for a module's source."
    key = hash(code)
    if key not in _comments_cache:
        out = {}
        try:
            for t in tokenize.generate_tokens(io.StringIO(code).readline):
                if t.type == tokenize.COMMENT: out[t.start[0]] = t.string.lstrip("#").strip()
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass
        _comments_cache[key] = out
    return _comments_cache[key]


def _split_top(text: str, sep: str) -> list[str]:
    "`text` split at `sep` outside brackets and backticks."
    parts, depth, tick, cur, i = [], 0, False, "", 0
    while i < len(text):
        ch = text[i]
        if ch == "`": tick = not tick
        elif not tick and ch in "([{": depth += 1
        elif not tick and ch in ")]}": depth = max(0, depth - 1)
        if not tick and depth == 0 and text.startswith(sep, i):
            parts.append(cur.strip()); cur = ""; i += len(sep); continue
        cur += ch; i += 1
    parts.append(cur.strip())
    return [p for p in parts if p]


def _assign(names: list[str], comment: str) -> list[tuple[list[str], str]]:
    "Rows (parameter names, meaning) for the parameters `names` that share one line's `comment`."
    if len(names) == 1: return [(names, comment)]
    named, rest, parts = {}, [], []
    for part in _split_top(comment, "; "):  # "x; default 4096 on CUDA" is one part: a default belongs to what precedes it
        if parts and re.match(r"(default|e\.g\.|i\.e\.)\b", part): parts[-1] += "; " + part
        else: parts.append(part)
    for part in parts:
        m = re.match(r"`?(\w+)`?(?:=[^:\s]+)?:\s+(.*)$", part, re.S)
        if m and m.group(1) in names and m.group(1) not in named: named[m.group(1)] = part if "=" in part.split(":")[0] else m.group(2)
        else: rest.append(part)
    left = [n for n in names if n not in named]
    shared = {}
    if rest and left:
        if len(rest) == len(left): shared = {n: [([n], r)] for n, r in zip(left, rest)}
        elif len(rest) == 1 and len(left) >= 3 and len(parts := _split_top(rest[0], ", ")) == len(left):
            shared = {n: [([n], r)] for n, r in zip(left, parts)}
        else: shared = {left[0]: [(left, "; ".join(rest))]}
    rows = []
    for n in names:
        if n in named: rows.append(([n], named[n]))
        elif n in shared: rows.extend(shared[n])
        elif not any(n in r[0] for rs in shared.values() for r in rs): rows.append(([n], ""))
    return rows


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _table(params: list[tuple[str, int, str | None]], comments: dict[int, str], first: int, last: int) -> list[tuple[list[str], str, str]]:
    """Rows (names, defaults, meaning) for `params` = (name, line, default source); comments on lines `first`..`last`
    (the signature) belong to the parameters: the comment on a parameter's line, else the comment lines just above it."""
    by_line: dict[int, list[str]] = {}
    for name, line, _ in params: by_line.setdefault(line, []).append(name)
    defaults = {name: d for name, _, d in params}
    param_lines = set(by_line)
    rows = []
    for line, names in by_line.items():
        text = comments.get(line) if line < last else None  # a one-line `def f(x): ...  # c` comments the body
        if text is None and line < last:  # comment lines directly above the parameter (inside the signature)
            above, l = [], line - 1
            while l > first and l in comments and l not in param_lines: above.append(comments[l]); l -= 1
            text = " ".join(reversed(above)) if above else ""
        for ns, meaning in (_assign(names, text) if text else [(names, "")]):
            rows.extend([([n], "") for n in ns] if not meaning and len(ns) > 1 else [(ns, meaning)])
    def default(ns):
        if len(ns) == 1: return f"`{defaults[ns[0]]}`" if defaults[ns[0]] is not None else ""
        return ", ".join(f"`{n}={defaults[n]}`" for n in ns if defaults[n] is not None)
    return [(ns, default(ns), meaning) for ns, meaning in rows]


def _markdown(rows, returns: str | None = None) -> str:
    if not any(m for _, _, m in rows) and not returns: return ""
    lines = []
    if rows:
        lines += ["| Parameter | Default | Meaning |", "|---|---|---|"]
        lines += [f"| {', '.join(f'`{n}`' for n in ns)} | {_cell(d)} | {_cell(m)} |" for ns, d, m in rows]
    if returns: lines += ["", f"**Returns:** {returns}"]
    return "\n".join(lines)


def _function_params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, int, str | None]]:
    a = node.args
    pos = a.posonlyargs + a.args
    pos_defaults = [None] * (len(pos) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    out = [(x.arg, x.lineno, d) for x, d in zip(pos, pos_defaults)]
    if a.vararg: out.append(("*" + a.vararg.arg, a.vararg.lineno, None))
    out += [(x.arg, x.lineno, ast.unparse(d) if d is not None else None) for x, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg: out.append(("**" + a.kwarg.arg, a.kwarg.lineno, None))
    if out and out[0][0] in ("self", "cls") and pos: out = out[1:]
    return out


def _append(obj: griffe.Object, text: str, parser) -> None:
    if not text: return
    if obj.docstring is None:
        obj.docstring = griffe.Docstring(text, parent=obj, parser=parser.get("parser"), parser_options=parser.get("options"))
    else:
        obj.docstring.value = obj.docstring.value.rstrip() + "\n\n" + text


class DocmentsExtension(griffe.Extension):
    "Append a parameter table built from the `# comment` docments to each function, method and class."

    def on_function_instance(self, *, node, func: griffe.Function, agent, **kwargs) -> None:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not getattr(agent, "code", None): return
        comments = _comments(agent.code)
        body_line = node.body[0].lineno if node.body else node.lineno
        params = _function_params(node)
        ret_line = node.returns.lineno if node.returns is not None else None
        returns = comments.get(ret_line) if ret_line and ret_line not in {l for _, l, _ in params} else None
        rows = _table(params, comments, node.lineno, body_line)
        parser = {"parser": getattr(agent, "docstring_parser", None), "options": getattr(agent, "docstring_options", None)}
        if func.name == "__init__" and isinstance(func.parent, griffe.Class):
            _append(func.parent, _markdown(rows), parser)
        else:
            _append(func, _markdown(rows, returns), parser)

    def on_class_instance(self, *, node, cls: griffe.Class, agent, **kwargs) -> None:
        if not isinstance(node, ast.ClassDef) or not getattr(agent, "code", None): return
        is_dc = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
        if not is_dc: return
        comments = _comments(agent.code)
        fields = [(s.target.id, s.lineno, ast.unparse(s.value) if s.value is not None else None)
                  for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        rows = _table(fields, comments, node.lineno, node.end_lineno or node.lineno)
        parser = {"parser": getattr(agent, "docstring_parser", None), "options": getattr(agent, "docstring_options", None)}
        _append(cls, _markdown(rows), parser)
