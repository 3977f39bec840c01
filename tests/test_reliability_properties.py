"""Property-based tests beyond tests/test_text_properties.py (which covers normalization,
tokenization and entity offsets on their own): the whole case pipeline on any text, redaction
as a fixed point, and normalization of long mixed texts.

Any Unicode text that is not blank must be categorized without an exception, with a category
of the taxonomy, probabilities in [0, 1] in decreasing order, and entities whose offsets index
the original text; redaction leaves nothing to redact a second time.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.taxonomy import load_taxonomy
from triage.text.entities import extract_entities, redact
from triage.text.normalize import normalize
from triage.text.tokenize import JiebaTokenizer

PIECES = st.sampled_from(
    [
        "订单",
        "112-4839201-7734512",
        "B0C7K2M9QX",
        "1Z9A38F70312847765",
        "$39.99",
        "￥2,980",
        "3月5日",
        "2024-05-03",
        "jo@example.com",
        "a.b+c@mail.example.cn",
        "+1 415-555-0137",
        "13812345678",
        "tel:138 1234 5678",
        "退款",
        "refund",
        "😡",
        "\u202e",
        "\u200d",
        "<b>",
        "'; DROP TABLE x;--",
        "١٢٣",
        "עברית",
        "ｆｕｌｌ　ｗｉｄｔｈ",
        "訂單沒到",
        "\t",
        "\n",
        " ",
    ]
)
TEXTS = st.one_of(
    st.text(min_size=1, max_size=400),
    st.lists(PIECES, min_size=1, max_size=40).map("".join),
    st.lists(st.one_of(PIECES, st.text(max_size=5)), min_size=1, max_size=60).map("".join),
)
TOKENIZER = JiebaTokenizer()
PIPELINE = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PIPELINE
@given(TEXTS.filter(lambda t: t.strip()))
def test_the_case_pipeline_answers_any_text(api_router, text):
    taxonomy = load_taxonomy()
    (prediction,) = api_router.predict([text])
    assert prediction.category in taxonomy
    assert 0.0 <= prediction.confidence <= 1.0 and 0.0 <= prediction.threshold <= 1.0
    confidences = [alt["confidence"] for alt in prediction.top]
    assert confidences == sorted(confidences, reverse=True)
    assert prediction.top[0]["category"] == prediction.category
    assert prediction.needs_review == (prediction.confidence < prediction.threshold)
    for entity in prediction.entities:
        assert 0 <= entity["start"] < entity["end"] <= len(text)
        assert text[entity["start"] : entity["end"]] == entity["text"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_redaction_is_a_fixed_point(text):
    once = redact(text)
    assert redact(once) == once
    assert not [e for e in extract_entities(once) if e.type in ("email", "phone")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, min_size=100, max_size=400).map("".join))
def test_long_mixed_texts_normalize_and_tokenize(text):
    norm = normalize(text)
    assert normalize(norm) == norm
    tokens = TOKENIZER.cut(norm)
    assert all(token and token in norm for token in tokens)
    for entity in extract_entities(text):
        assert text[entity.start : entity.end] == entity.text
