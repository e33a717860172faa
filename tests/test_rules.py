"""The rule registry: each rule's examples hold, `nnreg rule` prints the registry, docs/rules.md is
the registry's rendering, and every reason code a finding can carry is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codemod import engine
from codemod.config import Options
from codemod.findings import FileResult
from codemod.reasons import CODES, Reason, status_of
from codemod.rules import RULES
from conftest import nnreg

DOCS = Path(__file__).parent.parent / "docs" / "rules.md"
INVALID = [(code, n) for code, rule in RULES.items() for n in range(len(rule.invalid))]
VALID = [(code, n) for code, rule in RULES.items() for n in range(len(rule.valid))]


def _run(tmp_path: Path, source: str) -> FileResult:
    path = tmp_path / "example.py"
    path.write_text(source)
    [result] = engine.run([path], tmp_path, Options())
    return result


def test_every_rule_has_examples_of_both_kinds() -> None:
    assert all(rule.invalid and rule.valid for rule in RULES.values())


@pytest.mark.parametrize(("code", "number"), INVALID, ids=lambda v: str(v))
def test_invalid_example_is_flagged_and_fixed_exactly(code: str, number: int, tmp_path: Path) -> None:
    example = RULES[code].invalid[number]
    result = _run(tmp_path, example.source)
    assert [f.code for f in result.findings if f.status == "fixed"] == [code]
    assert result.fixed is not None and result.fixed.decode() == example.fixed


@pytest.mark.parametrize(("code", "number"), VALID, ids=lambda v: str(v))
def test_valid_example_is_not_flagged(code: str, number: int, tmp_path: Path) -> None:
    result = _run(tmp_path, RULES[code].valid[number])
    assert [f for f in result.findings if f.code == code] == []
    assert not result.changed


def test_rule_prints_one_rule_documentation() -> None:
    result = nnreg("rule", "nr002")
    assert result.returncode == 0
    text = result.stdout.decode()
    assert text.startswith("# TensorShouldBeBuffer (NR002)\n\nTensor attribute should be a registered buffer.\n")
    assert RULES["NR002"].refuses in text and RULES["NR002"].invalid[0].fixed.rstrip("\n") in text
    assert "NR001" not in text


def test_rule_all_lists_every_rule_in_registry_order() -> None:
    result = nnreg("rule", "--all", "--format", "json")
    assert result.returncode == 0
    assert [r["code"] for r in json.loads(result.stdout)] == list(RULES)
    text = nnreg("rule", "--all").stdout.decode()
    assert [line for line in text.splitlines() if line.startswith("# ")] == [
        f"# {rule.name} ({code})" for code, rule in RULES.items()]


@pytest.mark.parametrize("args", [["NR999"], ["NR1"], [], ["NR001", "--all"]])
def test_rule_refuses_unknown_or_missing_codes(args: list[str]) -> None:
    result = nnreg("rule", *args)
    assert result.returncode == 2 and result.stdout == b""
    assert b"unknown rule code" in result.stderr or b"give one rule CODE" in result.stderr


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    result = nnreg("rule", "--all", "--format", "markdown")
    assert result.returncode == 0
    assert DOCS.read_text() == result.stdout.decode(), "regenerate: nnreg rule --all --format markdown > docs/rules.md"


def test_reason_codes_start_with_their_kind_letter() -> None:
    assert all(Reason.of(code, "x").kind == {"E": "evidence", "D": "doubt", "R": "refusal", "W": "warning",
                                               "X": "runtime", "S": "suppression"}[code[0]] for code in CODES)
    with pytest.raises(KeyError):
        Reason.of("R-UNDOCUMENTED", "x")


@pytest.mark.parametrize(("codes", "ambiguous", "status"), [
    ([], "skip", "fixed"),
    (["E-DETERMINISTIC", "W-FLOAT-CAST"], "skip", "fixed"),
    (["D-CONFLICT"], "skip", "ambiguous"),
    (["D-CONFLICT", "E-OPTION"], "buffer", "fixed"),
    (["D-FITTED-OR-RUNTIME"], "parameter", "ambiguous"),
    (["D-FITTED-OR-RUNTIME"], "buffer", "fixed"),
    (["D-NEVER-READ", "X-REFUTED"], "skip", "unconfirmed"),
    (["D-NEVER-READ", "R-ALIAS-OF", "X-REFUTED"], "skip", "unsafe"),
    (["R-SPELLING", "S-COMMENT"], "skip", "suppressed"),
    (["X-VERIFY-SKIPPED", "X-NOT-BUILT"], "skip", "fixed"),
])
def test_status_is_the_strongest_status_a_reason_holds(codes: list[str], ambiguous: str, status: str) -> None:
    assert status_of([Reason.of(code, code) for code in codes], Options(ambiguous=ambiguous)) == status


def test_a_refusal_found_by_the_rewrite_settles_the_finding_through_its_reasons(tmp_path: Path) -> None:
    """Stage 2 adds the spelling refusal as a reason; the status follows from it (unsafe), not by hand."""
    result = _run(tmp_path, "from torch import randn\nfrom torch.nn import Module\nimport numpy as torch\n\n\n"
                            "class Net(Module):\n    def __init__(self, n):\n        super().__init__()\n"
                            "        self.weight = randn(n, n, requires_grad=True)\n\n"
                            "    def forward(self, x):\n        return x @ self.weight\n")
    [finding] = result.findings
    assert (finding.code, finding.status, finding.action, result.fixed) == ("NR001", "unsafe", "skip", None)
    assert [r.code for r in finding.reasons if r.kind == "refusal"] == ["R-SPELLING"]
    assert finding.held_back == ["refused: the name 'torch' is bound to numpy; cannot spell torch.nn.Parameter"]


def test_container_rules_only_rely_on_what_torch_containers_do() -> None:
    """NR101/NR102 let a container keep the uses its torch replacement supports: each is real in torch."""
    torch = pytest.importorskip("torch")
    from codemod.rules.containers import SUPPORTED_METHODS, TORCH_NAMES

    for kind, methods in SUPPORTED_METHODS.items():
        container = getattr(torch.nn, TORCH_NAMES[kind].split(".")[1])
        assert all(callable(getattr(container, name, None)) for name in methods - {"__reversed__"}), kind
        assert all(hasattr(container, name) for name in ("__getitem__", "__iter__", "__len__"))
        if "__reversed__" in methods:  # reversed() works on each, by __reversed__ or the sequence protocol
            element = torch.nn.Linear(1, 1) if kind.startswith("module") else torch.nn.Parameter(torch.ones(1))
            held = container({"a": element}) if kind.endswith("dict") else container([element])
            assert len(list(reversed(held))) == 1, kind


def test_container_rules_facts_about_torch_nn_hold() -> None:
    """A CapWords name torch.nn exports is a module class (bar the Parameter and Buffer factories), and no
    key the container rules accept is an attribute nn.ModuleDict/nn.ParameterDict already has."""
    torch = pytest.importorskip("torch")
    from codemod.containers import _torch_nn_class
    from codemod.rules.containers import _valid_key
    from codemod.torch_facts import BUFFER_FACTORIES, PARAMETER_FACTORIES, is_module_constructor

    for name in dir(torch.nn):
        qualified = f"torch.nn.{name}"
        if is_module_constructor(qualified) and _torch_nn_class(qualified) and isinstance(getattr(torch.nn, name), type):
            assert issubclass(getattr(torch.nn, name), torch.nn.Module) or qualified in PARAMETER_FACTORIES | BUFFER_FACTORIES, name
    assert not _torch_nn_class("torch.nn.utils.rnn.PackedSequence")
    for container in (torch.nn.ModuleDict(), torch.nn.ParameterDict()):
        assert not [name for name in dir(container) if _valid_key(name)]
