"""The declared public surface: ``__all__`` is sorted, complete and names only what exists (httpx's test)."""

from __future__ import annotations

import types

import pytest

import imagegate
from imagegate import options


def _isort_style(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else, each alphabetical."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("module", [imagegate, options], ids=lambda module: module.__name__)
def test_all_is_sorted_and_every_name_in_it_exists(module: types.ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__, key=_isort_style)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_every_public_class_and_function_of_the_package_face_is_exported() -> None:
    public = {
        name
        for name, value in vars(imagegate).items()
        if not name.startswith("_")
        and isinstance(value, (type, types.FunctionType))
        and value.__module__.startswith("imagegate")
    }
    assert public - set(imagegate.__all__) == set()


def test_the_result_types_are_exported_for_annotations() -> None:
    from imagegate.jobs import JobResult
    from imagegate.result import DryRun, Image, Result

    assert (imagegate.Result, imagegate.Image, imagegate.DryRun) == (Result, Image, DryRun)
    assert imagegate.JobResult is JobResult
