"""The file's own conventions that new code follows: its quote character, indentation and line break.

Stage 2 parses only the spans that hold candidate classes (``codemod/spans.py``), yet a rewrite must
look as it did when libcst parsed the whole file: new strings take the quote the file uses most
(counted over every string literal libcst would see, as ``SimpleString`` nodes), a wrapped call is
indented by the file's first indentation step, and a new line ends with the file's first line break
(libcst's ``default_indent`` and ``default_newline``). Each is read with a cheap scan of the text.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

FALLBACK_INDENT = "    "  # libcst's, for a file without an indented block
FALLBACK_NEWLINE = "\n"
_NEWLINE = re.compile(r"\r\n?|\n")
# A comment, or a string literal's opening quote (its prefix is read backwards: see ``_prefix``).
_START = re.compile(r"""#[^\r\n]*|(?P<quote>'''|\"\"\"|'|")""")
_PREFIX_LETTERS = "rRbBuUfF"
# The rest of a literal after its opening quote, escapes (and escaped line breaks) included.
_REST = {
    "'''": re.compile(r"(?:[^'\\]|\\.|'(?!''))*+'''", re.DOTALL),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*+"""', re.DOTALL),
    "'": re.compile(r"(?:[^'\\\r\n]|\\(?:\r\n|.))*+'", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\r\n]|\\(?:\r\n|.))*+"', re.DOTALL),
}


@dataclass(frozen=True)
class FileStyle:
    """What libcst would have taken from the whole module for the code a rewrite adds."""

    quote: str  # ``'`` when the file writes more strings with it than with ``"``, else ``"``
    indent: str  # one indentation step (``Module.default_indent``)
    newline: str  # the first line break (``Module.default_newline``)


def file_style(text: str) -> FileStyle:
    """The style of a source's text: one regex pass over its strings and comments, and the tokens up
    to its first indented block."""
    counts = Counter(string_quotes(text))
    newline = _NEWLINE.search(text)
    return FileStyle(quote="'" if counts["'"] > counts['"'] else '"', indent=first_indent(text),
                     newline=newline.group(0) if newline else FALLBACK_NEWLINE)


def first_indent(text: str) -> str:
    """The indentation of the first indented block, as libcst detects its ``default_indent`` (the
    first INDENT token); tokenizing stops there, near the top of nearly every file."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.INDENT:
                return token.string
    except (tokenize.TokenError, SyntaxError):
        pass
    return FALLBACK_INDENT


def string_quotes(text: str) -> Iterator[str]:
    """The quote character of each plain string literal, in order; an f-string is not one, but the
    literals inside its replacement fields are (libcst parses them as nodes of their own)."""
    position = 0
    while (found := _START.search(text, position)) is not None:
        position = found.end()
        literal = _literal(text, found) if found.group("quote") else None
        if literal is not None:
            position, quotes = literal
            yield from quotes


def _literal(text: str, found: re.Match[str]) -> tuple[int, list[str]] | None:
    """Where the literal that ``found`` opens ends, and the quotes it counts; None when no literal
    closes (not Python)."""
    quote = found.group("quote")
    rest = _REST[quote].match(text, found.end())
    if rest is None:
        return None
    if "f" in _prefix(text, found.start()).lower():
        return rest.end(), list(_field_quotes(text[found.end():rest.end() - len(quote)]))
    return rest.end(), [quote[0]]


def _prefix(text: str, quote: int) -> str:
    """The string prefix (``r``, ``b``, ``f``, ``rb``...) before the quote at ``quote``; none when the
    letters end a longer name (``or"x"`` is ``or`` then a plain string)."""
    start = quote
    while start > max(0, quote - 2) and text[start - 1] in _PREFIX_LETTERS:
        start -= 1
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return ""
    return text[start:quote]


def _field_quotes(body: str) -> Iterator[str]:
    """The quotes of the literals inside an f-string's replacement fields (``{{`` and ``}}`` are text)."""
    depth = 0
    position = 0
    while position < len(body):
        if depth == 0 and body.startswith(("{{", "}}"), position):
            position += 2
            continue
        found = _START.match(body, position) if depth else None
        literal = _literal(body, found) if found is not None and found.group("quote") else None
        if literal is not None:
            position, quotes = literal
            yield from quotes
            continue
        depth = max(0, depth + {"{": 1, "}": -1}.get(body[position], 0))
        position += 1
