"""The rewriting pass: replaces exactly the statements the decisions name, nothing else.

Edits hold the very libcst nodes the analysis saw, so the transformer matches by identity and every
other byte of the span it rewrites (comments, blank lines, CRLF) is left alone; the bytes outside
the spans are never touched (``codemod/spans.py``). New code follows the file's style
(``codemod/style.py``), and a missing ``import torch`` is added where libcst's ``AddImportsVisitor``
would put it, by a text edit decided from the ``ast`` import table.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass, field

import libcst as cst

from .findings import Edit
from .imports import ImportBlock, ImportTable
from .spans import logical_end
from .style import FileStyle
from .torch_facts import TORCH_CONTAINERS


class SpellingError(Exception):
    """The file has no way to name ``torch.nn.Parameter``/``Buffer`` and none can be added."""


@dataclass(frozen=True)
class Spellings:
    """How the rewritten code names ``nn.Parameter`` and ``nn.Buffer``, and whether that needs an
    ``import torch`` the file lacks."""

    parameter: str
    buffer: str
    needs_import: bool
    containers: dict[str, str] = field(default_factory=dict)  # edit kind -> how ``nn.ModuleList`` & co are written


def spellings(imports: ImportTable, edits: list[Edit], buffer_style: str) -> Spellings:
    """The spellings the edits need (``_`` for one they do not); raises SpellingError."""
    parameter, buffer, needs_import = "_", "_", False
    if any(e.kind == "parameter" for e in edits):
        parameter, missing = spelling(imports, "torch.nn.Parameter")
        needs_import |= missing
    if buffer_style == "nn.Buffer" and any(e.kind == "buffer" for e in edits):
        buffer, missing = spelling(imports, "torch.nn.Buffer")
        needs_import |= missing
    containers = {}
    for kind in sorted({e.kind for e in edits} & TORCH_CONTAINERS.keys()):
        containers[kind], missing = spelling(imports, TORCH_CONTAINERS[kind])
        needs_import |= missing
    return Spellings(parameter, buffer, needs_import, containers)


def spelling(imports: ImportTable, qualified: str) -> tuple[str, bool]:
    """How the file writes ``qualified``, and whether ``import torch`` must be added for it."""
    short = qualified.rsplit(".", 1)[-1]
    for candidate in (qualified, f"torch.nn.parameter.{short}"):
        written = imports.spelling_for(candidate)
        if written:
            return written, False
    if imports.bindings.get("torch", "torch") != "torch":
        raise SpellingError(f"the name 'torch' is bound to {imports.bindings['torch']}; cannot spell {qualified}")
    return qualified, True


def _wrap(value: cst.BaseExpression, func: cst.BaseExpression, *extra: cst.Arg) -> cst.BaseExpression:
    """``func(value, *extra)``; a conditional keeps its ``None`` branch as it is (``Parameter(None)``
    would be an empty Parameter, not None)."""
    if isinstance(value, cst.IfExp):
        return value.with_changes(body=_wrap(value.body, func, *extra), orelse=_wrap(value.orelse, func, *extra))
    if isinstance(value, cst.Name) and value.value == "None":
        return value
    return cst.Call(func=func, args=[cst.Arg(value=value), *extra])


def _contained(value: cst.BaseExpression, container: cst.BaseExpression) -> cst.Call:
    """``[a, b]`` -> ``nn.ModuleList([a, b])``: the plain container's elements, held by ``container``.
    An empty display or ``list()`` becomes ``container()``, ``list(x for ...)`` ``container(x for ...)``,
    and a tuple a list display (``self.x = a, b`` has no brackets of its own to keep)."""
    if isinstance(value, (cst.List, cst.Tuple, cst.Dict)) and not value.elements:
        return cst.Call(func=container)
    if isinstance(value, cst.Tuple):  # the brackets take the parentheses' whitespace (and comments) along
        value = cst.List(elements=value.elements,
                         lbracket=cst.LeftSquareBracket(value.lpar[0].whitespace_after) if value.lpar else
                         cst.LeftSquareBracket(),
                         rbracket=cst.RightSquareBracket(value.rpar[-1].whitespace_before) if value.rpar else
                         cst.RightSquareBracket())
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in ("list", "tuple"):
        return value.with_changes(func=container)
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict" and not value.args:
        return value.with_changes(func=container)
    return cst.Call(func=container, args=[cst.Arg(value=value)])


def _convert_inside(value: cst.Call) -> cst.Call:
    """``nn.Parameter(t, ...).to(d)`` -> ``nn.Parameter(t.to(d), ...)``: the conversion happens before
    the Parameter is made, so the attribute holds a registered leaf on the right device and dtype."""
    conversion = value.func
    assert isinstance(conversion, cst.Attribute) and isinstance(conversion.value, cst.Call)
    parameter = conversion.value
    first, *rest = parameter.args
    converted = cst.Call(func=conversion.with_changes(value=_atom(first.value)), args=value.args,
                         lpar=value.lpar, rpar=value.rpar)
    return parameter.with_changes(args=[first.with_changes(value=converted), *rest])


def _unwrap_frozen(value: cst.Call) -> cst.BaseExpression:
    """``nn.Parameter(t, requires_grad=False).to(d)`` -> ``t.to(d)``: frozen state, registered as a buffer."""
    return _convert_inside(value).args[0].value


_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString, cst.ConcatenatedString, cst.Integer,
          cst.Float, cst.List, cst.Tuple, cst.Dict, cst.Set, cst.ListComp, cst.SetComp, cst.DictComp,
          cst.GeneratorExp, cst.FormattedString)


def _atom(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` as the receiver of a method call: ``(a + b).to(d)``, not ``a + b.to(d)``."""
    if isinstance(node, _ATOMS) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def runtime_name(attribute: str, class_name: str) -> str:
    """The name Python really stores: ``self.__x`` in class ``_Net`` is ``_Net__x`` (name mangling)."""
    if attribute.startswith("__") and not attribute.endswith("__") and class_name.strip("_"):
        return f"_{class_name.lstrip('_')}{attribute}"
    return attribute


def _line_break(indent: str, newline: str) -> cst.ParenthesizedWhitespace:
    """A line break inside brackets, then the block's indentation and ``indent`` more."""
    return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(newline=cst.Newline(newline)), indent=True,
                                       last_line=cst.SimpleWhitespace(indent))


def wrapped_calls(call: cst.Call, style: FileStyle) -> list[cst.Call]:
    """The ways black wraps a call that does not fit, in its order of preference: the arguments together
    on one indented line, then one argument a line with a magic trailing comma (with several)."""
    indent, newline = style.indent, style.newline
    together = [*call.args[:-1], call.args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT,
                                                             whitespace_after_arg=_line_break("", newline))]
    ways = [call.with_changes(whitespace_before_args=_line_break(indent, newline), args=together)]
    if len(call.args) > 1:
        comma = cst.Comma(whitespace_after=_line_break(indent, newline))
        exploded = [arg.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace("")) for arg in call.args]
        exploded[-1] = exploded[-1].with_changes(comma=cst.Comma(whitespace_after=_line_break("", newline)))
        ways.append(call.with_changes(whitespace_before_args=_line_break(indent, newline), args=exploded))
    return ways


def _outer_call(statement: cst.BaseSmallStatement) -> cst.Call | None:
    """The call a rewrite put around the value (or the ``register_buffer`` call itself)."""
    value = getattr(statement, "value", None)
    return value if isinstance(value, cst.Call) else None


def _no_space_equal() -> cst.AssignEqual:
    return cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


class _Rewriter(cst.CSTTransformer):
    def __init__(self, module: cst.Module, edits: list[Edit], style: FileStyle, names: Spellings,
                 buffer_style: str, line_length: int) -> None:
        self.module = module
        self.line_length = line_length
        self.indents: list[str] = []  # of the enclosing blocks
        self.rewritten = False  # on the statement line being visited
        self.edits = {id(edit.statement): edit for edit in edits if edit.kind != "declare"}
        self.declares: dict[int, list[Edit]] = {}
        for edit in edits:
            if edit.kind == "declare":
                self.declares.setdefault(id(edit.statement), []).append(edit)
        self.style = style
        self.parameter = cst.parse_expression(names.parameter)
        self.buffer = cst.parse_expression(names.buffer)
        self.containers = {kind: cst.parse_expression(text) for kind, text in names.containers.items()}
        self.buffer_style = buffer_style

    def _persistent_arg(self, edit: Edit) -> cst.Arg:
        return cst.Arg(keyword=cst.Name("persistent"), equal=_no_space_equal(),
                       value=cst.Name("True" if edit.persistent else "False"))

    def _rewrite(self, original: cst.Assign | cst.AnnAssign,
                 updated: cst.Assign | cst.AnnAssign) -> cst.BaseSmallStatement:
        edit = self.edits.get(id(original))
        if edit is None or updated.value is None:
            return updated
        self.rewritten = True
        value = updated.value
        if edit.kind in self.containers:
            return updated.with_changes(value=_contained(value, self.containers[edit.kind]))
        if edit.kind == "parameter" and edit.move_conversion and isinstance(value, cst.Call):
            return updated.with_changes(value=_convert_inside(value))
        if edit.kind == "parameter":
            return updated.with_changes(value=_wrap(value, self.parameter))
        if edit.move_conversion and isinstance(value, cst.Call):
            value = _unwrap_frozen(value)
        is_none = isinstance(value, cst.Name) and value.value == "None"
        if self.buffer_style == "nn.Buffer" and not is_none:
            return updated.with_changes(value=_wrap(value, self.buffer, self._persistent_arg(edit)))
        return cst.Expr(value=self._registration(edit, value), semicolon=updated.semicolon)

    def _registration(self, edit: Edit, value: cst.BaseExpression) -> cst.Call:
        register = cst.Attribute(value=cst.Name(edit.self_name), attr=cst.Name("register_buffer"))
        quote = self.style.quote
        name = cst.SimpleString(f"{quote}{runtime_name(edit.attribute, edit.class_name)}{quote}")
        return cst.Call(func=register, args=[cst.Arg(value=name), cst.Arg(value=value), self._persistent_arg(edit)])

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.indents.append(self.module.default_indent if node.indent is None else node.indent)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        self.indents.pop()
        return updated_node

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.rewritten = False

    def _width(self, line: cst.SimpleStatementLine) -> int | None:
        """The line's width with its indentation and trailing comment, as black measures it; None when
        it already spans several lines (the author's layout stays)."""
        code = self.module.code_for_node(line.with_changes(leading_lines=[])).rstrip("\r\n")
        return None if "\n" in code else len("".join(self.indents)) + len(code)

    def _fitted(self, line: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        """A rewritten one-statement line longer than the line length, wrapped as black would."""
        width = self._width(line)
        call = _outer_call(line.body[0]) if len(line.body) == 1 else None
        if width is None or width <= self.line_length or call is None or not call.args:
            return line
        depth = len("".join(self.indents))
        candidates = [line.with_changes(body=[line.body[0].with_changes(value=way)])
                      for way in wrapped_calls(call, self.style)]
        for candidate in candidates:
            code = self.module.code_for_node(candidate.with_changes(leading_lines=[]))
            if all(depth + len(text.rstrip("\r")) <= self.line_length for text in code.rstrip("\r\n").split("\n")):
                return candidate
        return candidates[-1]

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        """A rewritten line that has grown too long is wrapped. ``self.register_buffer("x", None,
        persistent=...)`` after ``super().__init__()`` declares a buffer that later methods fill
        (assigning a tensor to a registered name updates the buffer)."""
        if self.rewritten:
            updated_node = self._fitted(updated_node)
        declares = self.declares.get(id(original_node))
        if not declares:
            return updated_node
        end = cst.TrailingWhitespace(newline=cst.Newline(self.style.newline))
        lines = [cst.SimpleStatementLine(body=[cst.Expr(self._registration(e, cst.Name("None")))],
                                         trailing_whitespace=end) for e in declares]
        return cst.FlattenSentinel([updated_node, *lines])

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.BaseSmallStatement:
        return self._rewrite(original_node, updated_node)

    def leave_AnnAssign(self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign) -> cst.BaseSmallStatement:
        return self._rewrite(original_node, updated_node)


def rewrite_module(module: cst.Module, edits: list[Edit], names: Spellings, style: FileStyle, buffer_style: str,
                   line_length: int = 88) -> cst.Module:
    """The module (a span of the file) with every edit applied, each rewritten line within
    ``line_length`` where black's way of wrapping the call gets it there."""
    return module.visit(_Rewriter(module, edits, style, names, buffer_style, line_length))


def torch_import(data: bytes, starts: list[int], block: ImportBlock, style: FileStyle, codec: str
                 ) -> tuple[int, bytes] | None:
    """Where ``import torch`` goes and the bytes to insert there, as ``AddImportsVisitor`` adds it:
    after the top imports (or the docstring), else before the first statement (the comments above it
    are the module's header), with one empty line before the next statement unless an empty line
    already starts what comes before it. None when the block already has ``import torch``."""
    if block.lead is not None and block.lead_is_string and not _one_literal(data, starts, block.lead, codec):
        after, imported = 0, False  # ``"a" "b"``: no docstring, and no import either, so no block
    else:
        after, imported = block.last_import or (block.lead[1] if block.lead else 0), block.torch_imported
    if imported:
        return None
    line = f"import torch{style.newline}"
    if not after:
        return starts[block.first_line - 1], (line + style.newline).encode(codec)
    after = logical_end(after, data, starts)  # ``from m import a \`` joins the empty line after it
    following = data[starts[after]:starts[after + 1]] if after + 1 < len(starts) else b""
    blank = not following.decode(codec).strip(" \t\f\r\n")
    return starts[after], (line if blank else line + style.newline).encode(codec)


def _one_literal(data: bytes, starts: list[int], lines: tuple[int, int], codec: str) -> bool:
    """Is the leading string statement one literal (libcst's ``SimpleString``, a docstring), not an
    implicit concatenation?"""
    text = data[starts[lines[0] - 1]:starts[lines[1]]].decode(codec)
    kinds = [token.type for token in tokenize.generate_tokens(io.StringIO(text).readline)]
    return kinds.count(tokenize.STRING) == 1
