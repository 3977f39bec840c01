import pickle

import joblib

from triage.text.normalize import normalize
from triage.text.tokenize import JiebaTokenizer, WordAnalyzer


def test_chinese_words_and_user_dictionary():
    words = JiebaTokenizer().cut(normalize("我在亚马逊开case问物流"))
    assert "亚马逊" in words and "开case" in words and "物流" in words


def test_english_words_drop_punctuation():
    assert JiebaTokenizer().cut("where is my parcel?!") == ["where", "is", "my", "parcel"]


def test_mixed_text_keeps_latin_terms():
    words = JiebaTokenizer().cut(normalize("买家开了A-to-Z说没收到，但是tracking显示delivered了"))
    assert {"a-to-z", "tracking", "delivered", "没收到"} <= set(words)
    assert "，" not in words and "," not in words


def test_analyzer_adds_bigrams():
    grams = WordAnalyzer(ngram_range=(1, 2))("退款 没到账")
    assert "退款" in grams and "退款 没到账" in grams


def test_tokenizer_pickles_as_settings_only(tmp_path):
    tok = JiebaTokenizer(cache_dir=tmp_path)
    tok.cut("先用一次")  # builds the jieba tokenizer, which holds a lock
    state = pickle.dumps(tok)
    assert b"jieba" not in state  # no jieba object inside
    clone = pickle.loads(state)
    assert clone.cache_dir == str(tmp_path)
    assert clone.cut("物流延误") == tok.cut("物流延误")
    joblib.dump(WordAnalyzer(tok), tmp_path / "a.joblib")
    assert joblib.load(tmp_path / "a.joblib")("还没到货") == WordAnalyzer(tok)("还没到货")


def test_cache_dir_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_TOKENIZER", "jieba")  # rjieba keeps no cache file
    JiebaTokenizer(cache_dir=tmp_path / "jc").cut("缓存目录")
    assert (tmp_path / "jc" / "jieba.cache").is_file()


def test_jieba_stays_quiet(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_TOKENIZER", "jieba")
    JiebaTokenizer(cache_dir=tmp_path).cut("安静")
    captured = capfd.readouterr()
    assert "Building prefix dict" not in captured.err + captured.out


def test_rjieba_is_the_engine_where_installed(monkeypatch):
    from triage.text.tokenize import _RustJieba

    assert isinstance(JiebaTokenizer().warm()._tokenizer, _RustJieba)  # rjieba is a dependency
    monkeypatch.setenv("TRIAGE_TOKENIZER", "jieba")
    assert not isinstance(JiebaTokenizer().warm()._tokenizer, _RustJieba)
    assert not isinstance(JiebaTokenizer(hmm=False).warm()._tokenizer, _RustJieba)


def test_both_engines_cut_every_corpus_text_into_the_same_words(corpus, monkeypatch):
    """A model trained with one engine is served by the other (rjieba may be missing on a
    machine): their words must be the same. Every corpus text, plus the cases where the two
    engines' raw output differs (Latin runs with dots, hyphens, underscores) and user-dictionary
    words that hold such characters."""
    texts = [normalize(t) for t in corpus["text"]] + [
        "see t.co/abc and www.ebay.com, a follow-up e-mail from wang_1987@126.com",
        "pre-fulfillment cancel rate 到了3.5%，a-to-z 开case了，u.s. 仓 6.25x4.5 的箱子",
    ]
    from triage.text.tokenize import _RustJieba

    fast = JiebaTokenizer().warm()
    monkeypatch.setenv("TRIAGE_TOKENIZER", "jieba")
    slow = JiebaTokenizer().warm()
    assert isinstance(fast._tokenizer, _RustJieba) and not isinstance(slow._tokenizer, _RustJieba)
    different = [t for t in texts if fast.cut(t) != slow.cut(t)]
    assert not different, different[:3]
