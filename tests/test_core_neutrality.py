"""core/ never names a provider or a model: that knowledge belongs to the adapters.

The rule, checked on the syntax tree of every core/**/*.py (comments are not in the tree):

- no string constant and no identifier (names, attributes, functions, classes, arguments,
  keywords, imported names and module paths) contains a built-in or example provider name
  (openai, compatible, url-only, placeholder, azure, bfl) or a model family (gpt-image, dall-e),
  in any case and with ``-`` or ``_``;
- docstrings are allowed to (they explain, for example, what an "OpenAI-style" API is), and so is
  the phrase "OpenAI-style" anywhere, since it names the kind of API imagegate speaks, not a provider;
- ``imagegate.providers`` in an import path is fine (it is a package, not a provider), and so is
  the config folder ``gpt-image-2-apikey``, the project's own historical name, not a model.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
NAMES = ("openai", "compatible", "url-only", "placeholder", "azure", "bfl", "gpt-image", "dall-e")
ALLOWED_PHRASES = ("openai-style", "gpt-image-2-apikey")
#: Known offenders still to fix in core (each is reported to the lead); remove an entry once fixed.
KNOWN: set[tuple[str, str]] = set()


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _texts(node: ast.AST, docstrings: set[int]) -> Iterator[str]:
    """The strings and identifiers ``node`` itself carries."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
        yield node.value
    elif isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
        yield node.arg
    elif isinstance(node, ast.alias):
        yield from filter(None, (node.name, node.asname))
    elif isinstance(node, ast.ImportFrom) and node.module:
        yield node.module


def names_provider(text: str) -> str | None:
    """The provider or model ``text`` names, once the allowed phrases are taken out."""
    lowered = text.lower()
    for phrase in ALLOWED_PHRASES:
        lowered = lowered.replace(phrase, "")
    for name in NAMES:
        if name in lowered or name.replace("-", "_") in lowered:
            return name
    return None


def offenders(folder: Path) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            for text in _texts(node, docstrings):
                if names_provider(text) and (path.name, text) not in KNOWN:
                    found.append((path.name, getattr(node, "lineno", 0), text))
    return found


def test_core_never_names_a_provider_or_model() -> None:
    assert offenders(CORE) == []


def test_the_check_finds_names_in_strings_and_identifiers_but_not_in_docstrings(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(
        '"""Talks to OpenAI, Azure and dall-e (a docstring may)."""\n'
        "import imagegate.providers\n"
        "KIND = 'an OpenAI-style API'\n"
        "FOLDER = 'gpt-image-2-apikey'\n"
        "def pick(url_only=None):\n"
        "    return 'Placeholder' if AZURE_DEFAULT else openai.Client(model='gpt-image-1')\n",
        encoding="utf-8",
    )
    assert sorted((line, text) for _name, line, text in offenders(tmp_path)) == [
        (5, "url_only"),
        (6, "AZURE_DEFAULT"),
        (6, "Placeholder"),
        (6, "gpt-image-1"),
        (6, "openai"),
    ]
