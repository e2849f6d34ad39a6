"""Claims checked in the pages, and numbers written for each language."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lib import claims

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import list_claims  # noqa: E402


@pytest.fixture(autouse=True)
def _empty_registry(monkeypatch):
    monkeypatch.setattr(claims, "REGISTRY", [])


def test_a_claim_that_holds_passes_and_is_recorded():
    assert claims.expect(2 < 3, "two is less than three") is True
    (claim,) = claims.REGISTRY
    assert claim.text == "two is less than three" and claim.held and not claim.trained


def test_a_claim_that_fails_raises_with_the_measured_value():
    with pytest.raises(
        claims.ClaimError,
        match=r"'few zeros'.*on EfficientNet-Lite0.*measured: 52%; threshold: 50%",
    ):
        claims.expect(
            False,
            "few zeros",
            trained=True,
            network="EfficientNet-Lite0",
            measured="52%",
            threshold="50%",
            untrained=True,
        )
    (claim,) = claims.REGISTRY
    assert not claim.held and claim.untrained is True  # recorded before it raised


def test_a_trained_claim_needs_its_network_and_its_untrained_result():
    with pytest.raises(ValueError, match="pass network=.*and untrained="):
        claims.expect(True, "sharp", trained=True, untrained=False)
    with pytest.raises(ValueError, match="pass network=.*and untrained="):
        claims.expect(True, "sharp", trained=True, network="VGG19")
    assert claims.expect(True, "sharp", trained=True, network="VGG19", untrained=False)


def test_a_claim_names_the_model_it_ran_on():
    from lib import models

    untrained = models.load_model("googlenet", pretrained=False, device="cpu")
    claims.expect(True, "on a model", network=untrained)
    assert claims.REGISTRY[-1].network == "GoogLeNet, untrained"


def test_the_log_folder_gets_one_file_per_claim(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNX_CLAIMS_LOG", str(tmp_path / "log"))
    claims.expect(True, "b", trained=True, network="VGG19", measured="3", untrained=False)
    claims.expect(True, "a", trained=True, network="VGG19", measured="1", untrained=True)
    claims.expect(True, "a", trained=True, network="VGG19", measured="2", untrained=True)
    logged = claims.read_log()
    assert [(c.text, c.measured) for c in logged] == [("a", "2"), ("b", "3")]  # the last run
    assert logged[0].untrained is True and logged[1].untrained is False
    assert claims.read_log(tmp_path / "nowhere") == []


def test_conditions_from_numpy_and_torch():
    assert claims.expect(np.float64(1.0) > 0, "numpy") is True
    with pytest.raises(claims.ClaimError):
        claims.expect(torch.tensor(1.0) < 0, "torch")
    claims.expect(True, "t", trained=True, network="x", untrained=torch.tensor(2.0) < 1)
    assert claims.REGISTRY[-1].untrained is False


@pytest.mark.parametrize("bad", [None, 0.5, torch.tensor([True, False]), np.array([1, 2]) > 0])
def test_a_condition_must_be_one_truth_value(bad):
    with pytest.raises(TypeError, match="pass a single truth value"):
        claims.expect(bad, "something")


def test_the_claim_must_be_written():
    with pytest.raises(ValueError, match="non-empty string"):
        claims.expect(True, "  ")


@pytest.mark.parametrize(
    ("value", "en", "it"),
    [
        (97.834, "97.8", "97,8"),
        (0.13312, "0.133", "0,133"),
        (2.5, "2.50", "2,50"),
        (1234.6, "1235", "1235"),
        (0, "0", "0"),
        (-0.0004, "-4.0 × 10⁻⁴", "-4,0 × 10⁻⁴"),
        (4.7e-9, "4.7 × 10⁻⁹", "4,7 × 10⁻⁹"),
    ],
)
def test_numbers_in_each_language(value, en, it):
    assert claims.format_number(value, "en") == en
    assert claims.format_number(value, "it") == it


def test_fixed_decimals_and_no_negative_zero():
    assert claims.format_number(3.14159, "it", digits=2) == "3,14"
    assert claims.format_number(-0.0001, "en", digits=2) == "0.00"
    with pytest.raises(ValueError, match="no number"):
        claims.format_number(float("nan"))
    with pytest.raises(ValueError, match="Unknown language 'fr'"):
        claims.format_number(1.0, "fr")


@pytest.mark.parametrize(
    ("fraction", "en", "it"),
    [
        (0.52, "52%", "52%"),
        (0.033, "3.3%", "3,3%"),
        (0.00047, "0.047%", "0,047%"),
        (4.7e-9, "<0.01%", "<0,01%"),
        (0.0, "0%", "0%"),
        (1.0, "100%", "100%"),
        (0.9995, ">99.9%", ">99,9%"),
        (0.994, "99.4%", "99,4%"),
        (0.99, "99%", "99%"),
        (0.99001, "99%", "99%"),
        (1.304, "130%", "130%"),
    ],
)
def test_percentages_have_sensible_digits(fraction, en, it):
    assert claims.format_percent(fraction, "en") == en
    assert claims.format_percent(fraction, "it") == it


def test_percent_takes_a_fraction():
    with pytest.raises(ValueError, match=r"fraction \(0.5 for 50%\), got -0.2"):
        claims.format_percent(-0.2)


def test_glue_number_glues_both_languages(monkeypatch):
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.update({name: value}))
    texts = claims.glue_number("accuracy", 0.978, percent=True)
    assert glued == {"accuracy": "98%", "accuracy_it": "98%"} and texts["it"] == "98%"
    claims.glue_number("ratio", 0.1333)
    assert glued["ratio"] == "0.133" and glued["ratio_it"] == "0,133"


def test_the_book_lists_its_claims(tmp_path):
    page = tmp_path / "99_page.md"
    header = (
        (ROOT / "book" / "en" / "00_introduction.md").read_text(encoding="utf-8").split("---")[1]
    )
    page.write_text(
        f"---{header}---\n\n"
        "```{code-cell} ipython3\n%pip install x\nfrom lib.claims import expect\n```\n\n"
        "```{code-cell} ipython3\nexpect(a < b, 'any', measured=f'{a}')\n"
        "claims.expect(c, 'trained', trained=True, network=m, untrained=u)\n```\n",
        encoding="utf-8",
    )
    assert list_claims.page_claims(page) == [("any", False), ("trained", True)]
    page.write_text(page.read_text().replace("'any'", "f'{a}'"), encoding="utf-8")
    with pytest.raises(ValueError, match="write the claim as a plain string"):
        list_claims.page_claims(page)


def test_every_claim_of_the_book_is_listable():
    pages = sorted((ROOT / "book").glob("*/[0-9][0-9]_*.md"))
    found = [claim for page in pages for claim in list_claims.page_claims(page)]
    assert {trained for _, trained in found} == {True, False}


@pytest.mark.parametrize(
    ("number", "article", "expected"),
    [
        ("52%", "il", "il 52%"),
        ("8%", "il", "l'8%"),
        ("83,5%", "al", "all'83,5%"),
        ("11%", "del", "dell'11%"),
        ("1,5%", "sul", "sull'1,5%"),
        ("18%", "al", "al 18%"),
        ("0,4%", "il", "lo 0,4%"),
        ("0%", "dal", "dallo 0%"),
        ("100%", "al", "al 100%"),
        ("<0,01%", "al", "sotto lo 0,01%"),
        (">99,9%", "del", "oltre il 99,9%"),
    ],
)
def test_italian_articles_follow_the_sound_of_the_number(number, article, expected):
    assert claims.italian_article(number, article) == expected


def test_glue_number_puts_the_italian_article(monkeypatch):
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.update({name: value}))
    claims.glue_number("drop", 0.083, percent=True, it_article="al")
    assert glued == {"drop": "8.3%", "drop_it": "all'8,3%"}
    with pytest.raises(ValueError, match="Unknown article 'la'"):
        claims.glue_number("drop", 0.5, percent=True, it_article="la")


def test_fractions_of_a_pixel_step(monkeypatch):
    assert claims.format_fraction(8 / 255) == "8/255"
    assert claims.format_fraction(2 / 255) == "2/255"
    assert claims.format_fraction(0.1, 10) == "1/10"
    assert claims.format_fraction(0) == "0/255"
    with pytest.raises(ValueError, match="not a whole number of 1/255 steps"):
        claims.format_fraction(0.1)
    with pytest.raises(ValueError, match="denominator"):
        claims.format_fraction(0.5, 0)
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.update({name: value}))
    assert claims.glue_fraction("eps", 8 / 255) == "8/255"
    assert glued == {"eps": "8/255", "eps_it": "8/255"}
