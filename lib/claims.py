"""The prose's claims, checked where their figure is computed, and its numbers in both languages.

``expect(condition, "what the text says")`` fails the page (and so the strict build) when the
claim does not hold. A claim about what a *trained* network shows says so (``trained=True``),
names the network it was measured on (``network=model``) and records whether the same check
also holds on an untrained copy (``untrained=``): where it does, the effect is the
architecture's or the method's, and the prose must not credit training for it. Every call is
recorded in ``REGISTRY`` and, when ``CNNX_CLAIMS_LOG`` names a folder, written there as one
JSON file per claim: the build collects them into the claims log that each edition publishes.
``scripts/list_claims.py`` lists the claims of the whole book from the pages' code.

Twin pages run identical code, so ``glue_number("name", value)`` glues two renderings of a number:
``name`` for the English page and ``name_it`` for the Italian one (decimal comma).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

LANGUAGES = ("en", "it")
LOG_ENV = "CNNX_CLAIMS_LOG"


class ClaimError(AssertionError):
    """A claim of the text that the page's own computation contradicts."""


@dataclass(frozen=True)
class Claim:
    text: str
    held: bool
    trained: bool
    network: str | None
    measured: str | None
    threshold: str | None
    untrained: bool | None


REGISTRY: list[Claim] = []


def expect(
    condition,
    claim: str,
    *,
    trained: bool = False,
    network=None,
    measured: str | None = None,
    threshold: str | None = None,
    untrained: bool | None = None,
) -> bool:
    """Check one claim of the text; return whether it holds (a false one raises ``ClaimError``).

    ``condition`` is a bool (or a one-element array or tensor); ``measured`` says in words what
    was measured and ``threshold`` what it is compared with. A claim about a trained network
    (``trained=True``) needs the ``network`` it ran on (a model of ``lib.models`` or its title)
    and ``untrained``: whether the same check holds on an untrained copy.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("expect() needs the claim as a non-empty string, as the text states it.")
    held = _truth(condition, claim)
    if trained and (network is None or untrained is None):
        raise ValueError(
            f"{claim!r} is about a trained network: pass network= (the model it ran on) and "
            "untrained= (whether the same check holds on an untrained copy)."
        )
    if untrained is not None:
        untrained = _truth(untrained, claim)
    title = network if isinstance(network, str) or network is None else _title(network)
    record = Claim(claim, held, trained, title, measured, threshold, untrained)
    REGISTRY.append(record)
    _log(record)
    if not held:
        seen = f" (measured: {measured}{'; threshold: ' + threshold if threshold else ''})"
        on = f" on {title}" if title else ""
        raise ClaimError(
            f"The text claims: {claim!r}, but the computation{on} says otherwise"
            f"{seen if measured else ''}. Correct the text or the computation."
        )
    return held


def _title(model) -> str:
    from .networks import describe

    trained = "" if getattr(model, "pretrained", True) else ", untrained"
    return describe(model).title + trained


def _log(record: Claim) -> None:
    folder = os.environ.get(LOG_ENV)
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(f"{record.text}|{record.network}".encode()).hexdigest()[:16]
    (path / f"{key}.json").write_text(json.dumps(asdict(record), ensure_ascii=False), "utf-8")


def read_log(folder: str | os.PathLike | None = None) -> list[Claim]:
    """The claims written to the log folder (``CNNX_CLAIMS_LOG`` by default), sorted by text."""
    folder = folder or os.environ.get(LOG_ENV)
    if not folder or not Path(folder).is_dir():
        return []
    records = [json.loads(p.read_text("utf-8")) for p in sorted(Path(folder).glob("*.json"))]
    return sorted((Claim(**r) for r in records), key=lambda c: (c.network or "", c.text))


def glue_text(name: str, text: str) -> str:
    """Glue ``text`` (a layer or network name, a setting) for both editions; return it."""
    _glue_editions(name, dict.fromkeys(LANGUAGES, str(text)))
    return str(text)


def _truth(condition, claim: str) -> bool:
    if isinstance(condition, bool):
        return condition
    try:
        value = condition.item()  # a numpy bool, a one-element array or tensor
    except (AttributeError, ValueError, RuntimeError):
        value = None
    if isinstance(value, bool):
        return value
    raise TypeError(
        f"expect() got {type(condition).__name__} for {claim!r}: pass a single truth value "
        "(a comparison such as `a < b`, or `all(...)` over several)."
    )


def format_number(value: float, lang: str = "en", *, digits: int | None = None) -> str:
    """``value`` as the prose writes it: fixed notation, ``digits`` decimals.

    Without ``digits``: three significant digits below 100 and none after the point above it;
    below 0.001, ``4.7 × 10⁻⁷``. Italian writes a decimal comma.
    """
    _check_language(lang)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Cannot write {value} in the text: the computation gave no number.")
    if digits is None:
        magnitude = abs(value)
        if 0 < magnitude < 1e-3:
            return _scientific(value, lang)
        digits = 0 if magnitude >= 100 or magnitude == 0 else 2 - math.floor(math.log10(magnitude))
    if digits < 0:
        raise ValueError(f"digits={digits}: the number of decimals cannot be negative.")
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")  # no "-0.00"
    return text.replace(".", ",") if lang == "it" else text


def format_percent(fraction: float, lang: str = "en") -> str:
    """A fraction (1 = 100%) as a percentage with sensible digits: "52%", "3.3%", "0.047%".

    Whole percent from 10% up (one decimal between 99% and 99.9%, where it is not zero), one
    decimal from 1%, two significant digits below; never
    "100%" or "0%" for a fraction that is not exactly 1 or 0 ("<0.01%", ">99.9%").
    """
    fraction = float(fraction)
    if not fraction >= 0:
        raise ValueError(f"format_percent() takes a fraction (0.5 for 50%), got {fraction}.")
    percent = 100 * fraction
    if percent in (0, 100):
        return f"{percent:.0f}%"
    if percent < 0.01:
        return "<" + format_number(0.01, lang, digits=2) + "%"
    if 99.9 < percent < 100:
        return ">" + format_number(99.9, lang, digits=1) + "%"
    if 99 <= percent < 100:
        digits = 0 if round(percent, 1) == round(percent) else 1  # "99%", but "99.4%"
    elif percent >= 10:
        digits = 0
    elif percent >= 1:
        digits = 1
    else:
        digits = 1 - math.floor(math.log10(percent))
    return format_number(percent, lang, digits=digits) + "%"


def italian_article(number: str, article: str = "il") -> str:
    """``number`` (as written in Italian) after the article or articulated preposition it takes.

    ``article`` is the form before a consonant ("il", "al", "del", "dal", "nel", "sul"); the form
    follows the sound of the number: "il 52%", "l'8%", "all'11%", "dello 0,5%". A bound takes
    words instead: "sotto lo 0,01%", "oltre il 99,9%".
    """
    if article not in _ARTICLES:
        raise ValueError(f"Unknown article {article!r}; use one of {', '.join(_ARTICLES)}.")
    if number[0] in "<>":  # "<0,01%": "sotto lo 0,01%"; ">99,9%": "oltre il 99,9%"
        return ("sotto " if number[0] == "<" else "oltre ") + italian_article(number[1:])
    whole = number.split(",")[0].rstrip("%")
    if whole == "0":
        return f"{_ARTICLES[article]}o {number}"
    if whole in ("1", "11") or whole.startswith("8"):  # uno, undici, otto…: a vowel
        return f"{_ARTICLES[article]}'{number}"
    return f"{article} {number}"


_ARTICLES = {"il": "l", "al": "all", "del": "dell", "dal": "dall", "nel": "nell", "sul": "sull"}


def glue_number(
    name: str,
    value: float,
    *,
    digits: int | None = None,
    percent: bool = False,
    it_article: str | None = None,
) -> dict[str, str]:
    """Glue ``value`` as ``name`` (English) and ``name_it`` (Italian); return both texts.

    ``percent=True`` takes a fraction (0.5 for 50%) and writes it with ``format_percent`` (the sign
    included, so the prose must not add one). ``it_article`` ("il", "al", "del"…) puts the
    Italian article that the number takes in front of ``name_it``: "al 52%" but "all'8%".
    """
    texts = {}
    for lang in LANGUAGES:
        if percent:
            texts[lang] = format_percent(value, lang)
        else:
            texts[lang] = format_number(value, lang, digits=digits)
        if lang == "it" and it_article:
            texts[lang] = italian_article(texts[lang], it_article)
    _glue_editions(name, texts)
    return texts


def _glue_editions(name: str, texts: dict[str, str]) -> None:
    """Glue each language's text: ``name`` for the English page, ``name_<lang>`` for the others."""
    from myst_nb import glue

    for lang, text in texts.items():
        glue(name if lang == "en" else f"{name}_{lang}", text, display=False)


def format_fraction(value: float, denominator: int = 255) -> str:
    """``value`` as a fraction with a fixed ``denominator``, as the prose writes a pixel step:
    ``8/255`` for 0.0313…, ``1/16`` for 0.0625. It must be such a fraction (a setting written
    as ``8 / 255``): a value between two steps is an error, not a rounding."""
    if not isinstance(denominator, int) or denominator < 1:
        raise ValueError(f"denominator must be a positive integer; got {denominator!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"Cannot write {value} in the text: the computation gave no number.")
    numerator = round(value * denominator)
    if not math.isclose(numerator / denominator, value, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"{value!r} is not a whole number of 1/{denominator} steps "
            f"({value * denominator:.4g}/{denominator}); glue it with glue_number instead."
        )
    return f"{numerator}/{denominator}"


def glue_fraction(name: str, value: float, denominator: int = 255) -> str:
    """Glue ``value`` written as ``format_fraction`` (e.g. ``8/255``) as ``name`` and ``name_it``
    (a fraction reads the same in both languages); return the text."""
    text = format_fraction(value, denominator)
    _glue_editions(name, dict.fromkeys(LANGUAGES, text))
    return text


def _scientific(value: float, lang: str) -> str:
    mantissa, exponent = f"{value:.1e}".split("e")
    superscript = str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    if lang == "it":
        mantissa = mantissa.replace(".", ",")
    return f"{mantissa} × 10{superscript}"


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(
            f"Unknown language {lang!r}; the book is written in {', '.join(LANGUAGES)}."
        )
