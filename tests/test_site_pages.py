"""The page helpers on their own (no build): orders, intervals, wall times, numbers in both
languages, download recipes, the home page's count of reproduced winners."""

from __future__ import annotations

from types import SimpleNamespace

from portal.site import i18n
from portal.site.pages import download_recipes
from portal.site.pages.common import count, group_order, number, size, split_order
from portal.site.pages.home import reproduced_cell
from portal.site.pages.report import subgroup_table, wall_times


def test_age_bands_read_in_age_order_and_splits_in_pipeline_order():
    bands = ["50-59", "60-69", "70-79", "80+", "<50"]
    assert group_order(bands) == ["<50", "50-59", "60-69", "70-79", "80+"]
    assert group_order(["F", "M"]) == ["F", "M"]
    policy = {"train": "public", "public_test": "public", "private_test": "public"}
    assert split_order({"public_test": 1, "private_test": 2, "train": 3, "extra": 4}, policy) == [
        "train",
        "public_test",
        "private_test",
        "extra",
    ]


def test_subgroups_show_n_an_interval_and_flag_small_groups():
    groups = {
        "<50": {"n": 4, "positives": 2, "balanced_accuracy": 0.75, "low": 0.5, "high": 1.0},
        "60-69": {"n": 60, "positives": 30, "balanced_accuracy": 0.8, "low": 0.7, "high": 0.9},
    }
    text = subgroup_table(groups, "balanced_accuracy")
    assert "| &lt;50 | 4 ⚠ small | 0.75 [0.50, 1.00] |" in text  # escaped: outside text
    assert "| 60\\-69 | 60 | 0.80 [0.70, 0.90] |" in text
    assert "Balanced accuracy [95 % CI]" in text


def test_the_wall_time_counts_every_run():
    record = {
        "attempts": {
            "first": [{"wall_seconds": 20.0}, {"wall_seconds": 21.0}],
            "repeat": [{"wall_seconds": 22.0}, {"wall_seconds": 21.0}],
        }
    }
    text = wall_times(record, {"wall_seconds": 41.0})
    assert text == "84.0 s in all: first run 41.0 s, second run 43.0 s"


def test_numbers_take_each_language_separators():
    assert count(1234567) == "1,234,567" and number(0.5) == "0.5000"
    assert size(89_584_743) == "89.6 MB" and size(512) == "512 B"
    i18n.use(i18n.Language("fr"))
    try:
        assert count(1234567) == "1\u202f234\u202f567" and number(0.5) == "0,5000"
        assert size(89_584_743) == "89,6 Mo" and size(512) == "512 o"
    finally:
        i18n.use(i18n.Language("en"))


def test_no_dvc_get_recipe_without_a_repository():
    recipes = download_recipes("http://x/files/d/1.0.0/", "d-1.0.0", "sha256:a", "", "data/d")
    assert "dvc get" not in recipes and "curl + sha256sum" in recipes
    recipes = download_recipes("http://x/", "d", "sha256:a", "https://git.example/p.git", "p")
    assert recipes["dvc get"][1][0].startswith("dvc get https://git.example/p.git p")


def test_a_new_release_without_runs_does_not_read_as_none_reproduced():
    release = lambda v: SimpleNamespace(version=v)  # noqa: E731
    run = SimpleNamespace(verdict="reproduced")
    challenge = SimpleNamespace(
        teams=[1, 2, 3],
        releases=[release("1.0.0"), release("1.1.0")],
        runs={("a", "1.0.0"): run, ("b", "1.0.0"): SimpleNamespace(verdict="failed")},
    )
    assert reproduced_cell(challenge) == "1 of 3 on 1.0.0 (1.1.0: not yet run)"
    challenge.runs = {}
    assert reproduced_cell(challenge) == "not yet run (3 teams)"


def test_a_card_translation_with_an_unknown_heading_is_refused_by_name(tmp_path):
    import pytest

    from portal.errors import ConfigError
    from portal.site.cards_i18n import load_translation

    card = tmp_path / "demo.md"
    card.write_text("---\nid: demo\n---\n")
    (tmp_path / "demo.fr.md").write_text(
        "---\ntitle: Démo\ncolour: bleu\n---\n\n## Motivation\n\nPourquoi.\n\n## Méthodes\n\nx\n"
    )
    with pytest.raises(ConfigError) as error:
        load_translation(card, "fr")
    text = str(error.value)
    assert "demo.fr.md" in text and "colour" in text and "## Méthodes" in text
    (tmp_path / "demo.fr.md").write_text("---\ntitle: Démo\n---\n\n## Motivation\n\nPourquoi.\n")
    fields, sections = load_translation(card, "fr")
    assert fields == {"title": "Démo"} and sections == {"Motivation": "Pourquoi."}
