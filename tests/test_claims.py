"""Claims checked in the pages, and numbers written for each language."""

from __future__ import annotations

import re
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
    page.write_text(page.read_text().replace("'any'", "f'{a} grows'"), encoding="utf-8")
    assert list_claims.page_claims(page)[0] == ("[computed] f'{a} grows'", False)
    page.write_text(page.read_text().replace("trained=True", "trained=flag"), encoding="utf-8")
    with pytest.raises(ValueError, match="trained must be True or False"):
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


# --------------------------------------------------------------------------------------------
# The log's files, the messages and the numbers' digits, pinned


def test_the_log_file_is_named_by_claim_and_network_and_keeps_unicode(tmp_path, monkeypatch):
    import hashlib
    import json

    monkeypatch.setenv("CNNX_CLAIMS_LOG", str(tmp_path / "a" / "log"))  # made if missing
    claims.expect(True, "più nitida", network="VGG19", measured="3 × 10⁻²")
    key = hashlib.sha1("più nitida|VGG19".encode()).hexdigest()[:16]
    (path,) = (tmp_path / "a" / "log").iterdir()
    assert path.name == f"{key}.json"
    text = path.read_text("utf-8")
    assert "più nitida" in text and "10⁻²" in text  # written as it reads, not escaped
    assert json.loads(text) == {
        "text": "più nitida",
        "held": True,
        "trained": False,
        "network": "VGG19",
        "measured": "3 × 10⁻²",
        "threshold": None,
        "untrained": None,
    }
    claims.expect(True, "più nitida", network=None)  # another network: another file
    assert len(list((tmp_path / "a" / "log").iterdir())) == 2


def test_the_log_is_read_sorted_by_network_then_text(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNX_CLAIMS_LOG", str(tmp_path))
    for text, network in (("b", "VGG19"), ("a", "VGG19"), ("z", None), ("c", "GoogLeNet")):
        claims.expect(True, text, network=network)
    assert [(c.network, c.text) for c in claims.read_log()] == [
        (None, "z"),
        ("GoogLeNet", "c"),
        ("VGG19", "a"),
        ("VGG19", "b"),
    ]
    assert [c.text for c in claims.read_log(tmp_path)] == ["z", "c", "a", "b"]
    monkeypatch.delenv("CNNX_CLAIMS_LOG")
    assert claims.read_log() == []
    claims.expect(True, "not logged")  # without the variable nothing is written
    assert len(list(tmp_path.iterdir())) == 4


def test_a_claim_on_a_model_names_it_trained_or_not():
    from torch import nn

    from lib import networks

    model = networks.attach(nn.Sequential(nn.Identity()), networks.sequential("Tiny"))
    claims.expect(True, "a", network=model)
    model.pretrained = True
    claims.expect(True, "b", network=model)
    model.pretrained = False
    claims.expect(True, "c", network=model)
    assert [c.network for c in claims.REGISTRY] == ["Tiny", "Tiny", "Tiny, untrained"]


def test_the_failure_message_says_what_it_has():
    message = (
        "The text claims: 'x', but the computation says otherwise. Correct the text or the "
        "computation."
    )
    with pytest.raises(claims.ClaimError, match=f"^{re.escape(message)}$"):
        claims.expect(False, "x")
    message = (
        "The text claims: 'x', but the computation on VGG19 says otherwise (measured: 0.3). "
        "Correct the text or the computation."
    )
    with pytest.raises(claims.ClaimError, match=f"^{re.escape(message)}$"):
        claims.expect(False, "x", network="VGG19", measured="0.3", threshold="")
    with pytest.raises(claims.ClaimError, match=re.escape("(measured: 0.3; threshold: 0.5)")):
        claims.expect(False, "x", measured="0.3", threshold="0.5")
    message = (
        "'sharp' is about a trained network: pass network= (the model it ran on) and "
        "untrained= (whether the same check holds on an untrained copy)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.expect(True, "sharp", trained=True)
    message = "expect() needs the claim as a non-empty string, as the text states it."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.expect(True, 3)
    message = (
        "expect() got int for 'c': pass a single truth value (a comparison such as `a < b`, "
        "or `all(...)` over several)."
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        claims.expect(1, "c")
    with pytest.raises(TypeError, match="got float64 for 'c'"):
        claims.expect(np.float64(1.0), "c")  # a number is not a truth value
    with pytest.raises(TypeError, match="got int for 'u'"):
        claims.expect(True, "u", untrained=1)
    claims.expect(True, "u", untrained=np.bool_(True))
    assert claims.REGISTRY[-1].untrained is True and claims.REGISTRY[-1].trained is False


def test_glue_text_glues_the_same_text_for_both_languages(monkeypatch):
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.update({name: value}))
    assert claims.glue_text("layer", 5) == "5"
    assert glued == {"layer": "5", "layer_it": "5"}
    displays = []
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: displays.append(display))
    claims.glue_number("n", 1.0)
    assert displays == [False, False]


@pytest.mark.parametrize(
    ("value", "digits", "en"),
    [
        (100, None, "100"),
        (99.94, None, "99.9"),
        (-5.5, None, "-5.50"),
        (0.001, None, "0.00100"),
        (0.000999, None, "1.0 × 10⁻³"),
        (1.5e-5, None, "1.5 × 10⁻⁵"),
        (-0.0, None, "0"),
        (2.0, 0, "2"),
        (123456.7, 1, "123456.7"),
    ],
)
def test_digits_of_a_number(value, digits, en):
    assert claims.format_number(value, digits=digits) == en
    assert claims.format_number(value, "it", digits=digits) == en.replace(".", ",")


def test_number_errors_are_exact():
    message = "digits=-1: the number of decimals cannot be negative."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_number(1.0, digits=-1)
    message = "Cannot write inf in the text: the computation gave no number."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_number(float("inf"))
    message = "Unknown language 'fr'; the book is written in en, it."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_number(1.0, "fr")
    message = "format_percent() takes a fraction (0.5 for 50%), got nan."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_percent(float("nan"))


@pytest.mark.parametrize(
    ("fraction", "en"),
    [
        (0.1, "10%"),
        (0.0999, "10.0%"),
        (0.01, "1.0%"),
        (0.0099, "0.99%"),
        (0.0001, "0.010%"),
        (0.00009, "<0.01%"),
        (0.999, "99.9%"),
        (0.9991, ">99.9%"),
        (0.985, "98%"),
        (0.5, "50%"),
    ],
)
def test_percent_boundaries(fraction, en):
    assert claims.format_percent(fraction) == en
    assert claims.format_percent(fraction, "it") == en.replace(".", ",")


def test_articles_for_every_first_digit():
    expected = {
        "1%": "l'1%",
        "8%": "l'8%",
        "80%": "l'80%",
        "11,5%": "l'11,5%",
        "12%": "il 12%",
        "2%": "il 2%",
        "0%": "lo 0%",
    }
    for number, article in expected.items():
        assert claims.italian_article(number) == article
    for article, elided in claims._ARTICLES.items():
        assert claims.italian_article("8%", article) == f"{elided}'8%"
        assert claims.italian_article("0,5%", article) == f"{elided}o 0,5%"
    assert claims._ARTICLES == {
        "il": "l",
        "al": "all",
        "del": "dell",
        "dal": "dall",
        "nel": "nell",
        "sul": "sull",
    }
    message = "Unknown article 'la'; use one of il, al, del, dal, nel, sul."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.italian_article("5%", "la")


def test_fraction_messages_and_rounding():
    assert claims.format_fraction(1.0, 1) == "1/1" and claims.format_fraction(-2 / 255) == "-2/255"
    assert claims.format_fraction(8 / 255 + 1e-13) == "8/255"  # a float's rounding is fine
    message = (
        "0.1 is not a whole number of 1/255 steps (25.5/255); glue it with glue_number instead."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_fraction(0.1)
    message = "denominator must be a positive integer; got 2.5."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_fraction(0.5, 2.5)
    message = "Cannot write nan in the text: the computation gave no number."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        claims.format_fraction(float("nan"))


def test_what_is_recorded_and_glued_with_its_options(monkeypatch):
    claims.expect(True, "t", measured="0.3", threshold="0.5")
    assert claims.REGISTRY[-1].threshold == "0.5" and claims.REGISTRY[-1].measured == "0.3"
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.update({name: value}))
    assert claims.glue_fraction("step", 0.1, 10) == "1/10" and glued["step_it"] == "1/10"
    assert claims.glue_number("pi", 3.14159, digits=1) == {"en": "3.1", "it": "3,1"}
    assert claims.format_fraction(1e-13) == "0/255"  # within the absolute tolerance of zero
    assert claims.format_percent(1.004) == "100%" and claims.format_percent(0.9904) == "99%"


def test_the_log_is_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """An ASCII locale (LC_ALL=C without coercion), where text files default to ASCII."""
    import os
    import subprocess

    code = (
        "from lib import claims\n"
        "claims.expect(True, 'pi\\u00f9 nitida', network='VGG19')\n"  # ASCII source
        "print(claims.read_log()[0].text == 'pi\\u00f9 nitida')\n"
    )
    env = {
        **os.environ,
        "LC_ALL": "C",
        "PYTHONCOERCECLOCALE": "0",
        "PYTHONUTF8": "0",
        "PYTHONIOENCODING": "utf-8",
        "CNNX_CLAIMS_LOG": str(tmp_path / "ascii"),
        # the very lib under test (a mutation tool's copy included)
        "PYTHONPATH": str(Path(claims.__file__).resolve().parent.parent),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"
    # the same in this process, where the locale is UTF-8
    monkeypatch.setenv("CNNX_CLAIMS_LOG", str(tmp_path / "here"))
    claims.expect(True, "più nitida")
    assert [c.text for c in claims.read_log()] == ["più nitida"]
