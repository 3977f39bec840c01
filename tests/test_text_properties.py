"""Property-based tests of the text engine: no exceptions, idempotence, offsets in bounds."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.text.entities import extract_entities, mask_entities, redact
from triage.text.language import LANGUAGES, detect_language
from triage.text.normalize import normalize
from triage.text.tokenize import JiebaTokenizer

# Any Unicode text, plus text built from the pieces real cases are made of, so that entity
# patterns are really exercised and not only random noise.
PIECES = st.sampled_from([
    "订单", "order ", "112-4839201-7734512", "B0C7K2M9QX", "1Z9A38F70312847765", "LX482910375CN",
    "$39.99", "￥2,980", "199元", "3月5日", "2024-05-03", "March 3rd", "jo@example.com",
    "+1 415-555-0137", "13812345678", "还没到货", "refund", "tracking", "ＡＳＩＮ", "訂單", "😡", " ",
    "\u200b", "\x00", "\u202e", "<script>", "'; DROP TABLE x;--", "١٢٣", "עברית",
])
TEXTS = st.one_of(st.text(max_size=300), st.lists(PIECES, max_size=25).map("".join))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENIZER = JiebaTokenizer()


@FAST
@given(TEXTS)
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once


@FAST
@given(TEXTS)
def test_entities_have_offsets_within_the_text(text):
    last_end = 0
    for entity in extract_entities(text):
        assert 0 <= entity.start < entity.end <= len(text)
        assert text[entity.start : entity.end] == entity.text
        assert entity.start >= last_end  # sorted and without overlaps
        last_end = entity.end


@FAST
@given(TEXTS)
def test_redaction_leaves_no_email_or_phone(text):
    cleaned = redact(text)
    assert not [e for e in extract_entities(cleaned) if e.type in ("email", "phone")]


@FAST
@given(TEXTS)
def test_masking_and_language_never_fail(text):
    masked = mask_entities(normalize(text))
    assert isinstance(masked, str)
    assert detect_language(text) in LANGUAGES


@FAST
@given(TEXTS)
def test_tokens_are_non_empty_and_come_from_the_text(text):
    norm = normalize(text)
    for token in TOKENIZER.cut(norm):
        assert token and token.strip() == token
        assert token in norm
