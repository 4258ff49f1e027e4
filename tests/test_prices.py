"""Price tables: an estimate from token usage when given, else from the published per-image price."""

from __future__ import annotations

import pytest

from imagegate.prices import PriceTable
from imagegate.providers.openai import MODEL_RULES

TABLE = PriceTable(
    {
        "source": "https://example.test/pricing",
        "date": "2026-12-01",
        "aliases": {"snap-2026": "model-a"},
        "models": {
            "model-a": {
                "tokens_per_million": {"text_input": 5.0, "image_input": 10.0, "image_output": 40.0},
                "images": {
                    "low": {"1024x1024": 0.011, "1536x1024": 0.016},
                    "high": {"1024x1024": 0.167, "1536x1024": 0.25},
                },
            },
            "model-b": {"images": {"standard": {"1024x1024": 0.04}}},
        },
    }
)


def test_the_per_image_price_is_read_by_quality_and_size() -> None:
    assert TABLE.per_image("model-a", "1536x1024", "low") == 0.016


def test_auto_or_unset_quality_and_size_take_the_dearest_price_listed() -> None:
    assert TABLE.per_image("model-a", "1024x1024", "auto") == 0.167
    assert TABLE.per_image("model-a", None, None) == 0.25
    assert TABLE.per_image("model-a", "auto", "low") == 0.016


def test_what_the_table_does_not_list_has_no_estimate() -> None:
    assert TABLE.per_image("model-z", "1024x1024", "low") is None
    assert TABLE.per_image("model-a", "2048x2048", "low") is None
    assert TABLE.per_image("model-a", "1024x1024", "medium") is None
    assert TABLE.estimate("model-z", size="1024x1024", quality="low", n=1, usage={"input_tokens": 1}) is None


def test_a_snapshot_name_is_priced_as_its_model() -> None:
    assert TABLE.per_image("snap-2026", "1024x1024", "low") == 0.011


def test_token_usage_is_priced_by_kind() -> None:
    usage = {
        "input_tokens": 300,
        "output_tokens": 4160,
        "input_tokens_details": {"text_tokens": 100, "image_tokens": 200},
    }
    expected = (100 * 5 + 200 * 10 + 4160 * 40) / 1e6
    assert TABLE.from_usage("model-a", usage) == pytest.approx(expected)


def test_input_without_details_is_priced_as_text() -> None:
    assert TABLE.from_usage("model-a", {"input_tokens": 1000, "output_tokens": 0}) == pytest.approx(0.005)


def test_the_estimate_prefers_usage_and_falls_back_to_the_table_times_n() -> None:
    usage = {"input_tokens": 10, "output_tokens": 100}
    assert TABLE.estimate("model-a", size="1024x1024", quality="low", n=3, usage=usage) == pytest.approx(
        0.00405
    )
    assert TABLE.estimate("model-a", size="1024x1024", quality="low", n=3) == pytest.approx(0.033)
    assert TABLE.estimate("model-b", size="1024x1024", quality="standard", n=1, usage=usage) == 0.04


def test_a_usage_object_without_token_counts_falls_back_to_the_table() -> None:
    assert TABLE.estimate("model-a", size="1024x1024", quality="low", n=1, usage={"total_tokens": 5}) == 0.011


def test_the_openai_table_names_its_source_and_date_and_only_models_imagegate_knows() -> None:
    table = PriceTable.load("imagegate.providers.openai", "prices.json")
    assert table.source.startswith("https://") and len(table.date) == 10
    assert set(table.models) | set(table.aliases) <= set(MODEL_RULES)
    assert table.per_image("gpt-image-1", "1024x1024", "high") == 0.167
    assert table.per_image("gpt-image-2-2026-04-21", "1024x1024", "low") == 0.006
    assert table.per_image("gpt-image-2", "2048x1152", "low") is None  # no published price: no guess


def test_every_price_in_the_openai_table_is_a_non_negative_number() -> None:
    table = PriceTable.load("imagegate.providers.openai", "prices.json")
    for model in table.models.values():
        for by_size in model.get("images", {}).values():
            assert all(isinstance(p, (int, float)) and p >= 0 for p in by_size.values())
        assert all(p >= 0 for p in model.get("tokens_per_million", {}).values())
