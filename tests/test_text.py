from hypothesis import given
from hypothesis import strategies as st

from textrnn.text import OOV, PAD, Tokenizer, Vocabulary, align_tags, choose_max_len, token_words


def test_words_and_punctuation_split_with_offsets():
    text = "Arrive Taipei, on November 2nd."
    tokens, offsets = Tokenizer().tokenize(text)
    assert tokens == ["arrive", "taipei", ",", "on", "november", "2nd", "."]
    assert [text[a:b] for a, b in offsets] == ["Arrive", "Taipei", ",", "on", "November", "2nd",
                                                "."]


def test_inner_punctuation_stays_in_the_word():
    tokens, _ = Tokenizer().tokenize("at 10:30 o'clock, 3.5 e-mail?")
    assert tokens == ["at", "10:30", "o'clock", ",", "3.5", "e-mail", "?"]


def test_chinese_is_split_into_characters_and_spaces_are_not_tokens():
    text = "上课时 学生手机2017年"
    tokens, offsets = Tokenizer().tokenize(text)
    assert tokens == ["上", "课", "时", "学", "生", "手", "机", "2017", "年"]
    assert all(text[a:b] == t for t, (a, b) in zip(tokens, offsets))


def test_keep_case():
    assert Tokenizer(lowercase=False).tokenize("New York")[0] == ["New", "York"]


@given(st.text())
def test_any_text_tokenizes_and_offsets_slice_back(text):
    tokenizer = Tokenizer(lowercase=False)
    tokens, offsets = tokenizer.tokenize(text)
    assert [text[a:b] for a, b in offsets] == tokens
    assert all(not token.isspace() and token for token in tokens)
    assert offsets == sorted(offsets)


def test_align_tags_splits_words_into_tokens_keeping_spans():
    words = ["Fly", "to", "Taipei,", "on", "Nov", "2nd."]
    tags = ["O", "O", "B-destination", "O", "B-date", "I-date"]
    _, offsets = Tokenizer().tokenize(" ".join(words))
    assert align_tags(words, tags, offsets) == ["O", "O", "B-destination", "I-destination", "O",
                                                "B-date", "I-date", "I-date"]
    assert token_words(words, offsets) == [0, 1, 2, 2, 3, 4, 5, 5]


def test_vocabulary_min_count_max_size_and_reserved_ids():
    vocab = Vocabulary.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2)
    assert vocab.tokens == [PAD, OOV, "a", "b"]
    assert vocab.encode(["b", "zzz", "a"]) == [3, 1, 2]
    assert len(Vocabulary.build([["a", "b", "a", "c"]], max_size=3)) == 3


def test_max_len_covers_most_sentences_and_is_capped():
    assert choose_max_len([5] * 99 + [400]) == 10
    assert choose_max_len([300] * 10, cap=256) == 256
