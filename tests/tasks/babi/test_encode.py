"""Word and sentence layouts of a hand-written story, hand-computed (no data needed)."""

from __future__ import annotations

import torch

from tasks.babi.encode import (
    PAD_TOKEN,
    BabiStories,
    build_vocabulary,
    cached_encode,
    concat_encoded,
    encode_stories,
    select_stories,
    sentence_width,
)
from tasks.babi.parse import parse_stories
from tasks.batch import IGNORE_INDEX, PAD_ID, Role, collate, validate_batch
from tasks.spec import TaskSpec

STORY = (
    "1 Mary got the milk.\n"
    "2 Mary took the apple there.\n"
    "3 What is Mary carrying?\tmilk,apple\t1 2\n"
    "4 Mary went to the garden.\n"
    "5 Where is Mary?\tgarden\t4\n"
    "1 John went to the hallway.\n"
    "2 Where is John?\thallway\t1\n"
)
I, Q, A = int(Role.INPUT), int(Role.QUERY), int(Role.ANSWER)


def _spec(vocab, granularity, width):
    return TaskSpec("tokens", width, "tokens", 1, len(vocab), len(vocab), granularity, ("qa8",))


def test_vocabulary_is_pad_then_sorted_and_mode_specific():
    stories = parse_stories(STORY, "s")
    word = build_vocabulary(stories, "word")
    words = ["apple", "carrying", "garden", "got", "hallway", "is", "john", "mary", "milk",
             "the", "there", "to", "took", "went", "what", "where"]  # fmt: skip
    assert word.tokens == (PAD_TOKEN, *sorted(["-", ".", "?", *words]))
    assert word.tokens[PAD_ID] == PAD_TOKEN
    sentence = build_vocabulary(stories, "sentence")
    assert sentence.tokens == (PAD_TOKEN, *sorted([*words, "milk,apple"]))
    assert build_vocabulary(list(reversed(stories)), "word") == word  # order-free


def test_word_layout_is_the_dnc_protocol():
    stories = parse_stories(STORY, "s")
    v = build_vocabulary(stories, "word")
    enc = encode_stories(stories, v, "word", 1)
    ds = BabiStories(enc, torch.tensor([0, 0]))
    ep = ds[0]
    tokens = ("mary got the milk . mary took the apple there . what is mary carrying ? - - "
              "mary went to the garden . where is mary ? -").split()  # fmt: skip
    assert [v.tokens[i] for i in ep.inputs[:, 0].tolist()] == tokens
    roles = [I] * 11 + [Q] * 5 + [A] * 2 + [I] * 6 + [Q] * 4 + [A]
    assert ep.role.tolist() == roles
    expected_target = [IGNORE_INDEX] * len(tokens)
    expected_target[16], expected_target[17] = v.id("milk"), v.id("apple")  # two answer words
    expected_target[28] = v.id("garden")
    assert ep.target[:, 0].tolist() == expected_target
    assert ep.target_mask.tolist() == [r == A for r in roles]
    assert ep.inputs.shape == (29, 1) and ep.target.shape == (29, 1)
    assert len(ds[1].role) == len("john went to the hallway . where is john ? -".split())


def test_sentence_layout_is_one_step_per_sentence_and_one_answer_class():
    stories = parse_stories(STORY, "s")
    v = build_vocabulary(stories, "sentence")
    L = sentence_width(stories)
    assert L == 5  # "mary took the apple there"
    ep = BabiStories(encode_stories(stories, v, "sentence", L), torch.tensor([0, 0]))[0]
    assert ep.inputs.shape == (7, 5)

    def ids(text):
        return [v.id(w) for w in text.split()] + [PAD_ID] * (L - len(text.split()))

    expected = [ids("mary got the milk"), ids("mary took the apple there"),
                ids("what is mary carrying"), [PAD_ID] * L, ids("mary went to the garden"),
                ids("where is mary"), [PAD_ID] * L]  # fmt: skip
    assert ep.inputs.tolist() == expected
    assert ep.role.tolist() == [I, I, Q, A, I, Q, A]
    t = IGNORE_INDEX
    assert ep.target[:, 0].tolist() == [t, t, t, v.id("milk,apple"), t, t, v.id("garden")]
    assert ep.target_mask.tolist() == [False, False, False, True, False, False, True]


def test_collated_batches_are_valid_and_right_padded():
    stories = parse_stories(STORY, "s")
    for granularity in ("word", "sentence"):
        v = build_vocabulary(stories, granularity)
        L = 1 if granularity == "word" else sentence_width(stories)
        ds = BabiStories(encode_stories(stories, v, granularity, L), torch.tensor([0, 0]))
        batch = collate([ds[1], ds[0]])
        validate_batch(batch, _spec(v, granularity, L))
        assert batch.lengths.tolist() == [len(ds[1].role), len(ds[0].role)]
        assert (batch.role[0, len(ds[1].role) :] == Role.PAD).all()


def test_select_and_concat_repack_stories_exactly():
    stories = parse_stories(STORY * 3, "s")  # 6 stories of lengths 29, 11, 29, 11, ...
    v = build_vocabulary(stories, "word")
    enc = encode_stories(stories, v, "word", 1)
    keep = torch.tensor([True, False, False, True, True, False])
    part = select_stories(enc, keep)
    assert part.lengths.tolist() == enc.lengths[keep].tolist()
    full, sub = BabiStories(enc, torch.zeros(6)), BabiStories(part, torch.zeros(3))
    for j, i in enumerate(keep.nonzero()[:, 0].tolist()):
        assert torch.equal(sub[j].inputs, full[i].inputs)
        assert torch.equal(sub[j].target, full[i].target)
    both = concat_encoded([part, select_stories(enc, ~keep)])
    assert both.lengths.tolist() == part.lengths.tolist() + enc.lengths[~keep].tolist()
    assert torch.equal(both.inputs[: len(part.role)], part.inputs)


def test_cache_returns_the_same_tensors_and_is_keyed_by_content(tmp_path):
    stories = parse_stories(STORY, "s")
    v = build_vocabulary(stories, "word")
    calls = []

    def parse(data):
        calls.append(1)
        return parse_stories(data.decode(), "s")

    first = cached_encode(STORY.encode(), parse, v, "word", 1, tmp_path)
    second = cached_encode(STORY.encode(), parse, v, "word", 1, tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.pt"))) == 1
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b) and a.dtype == b.dtype
    changed = STORY.replace("garden", "hallway").encode()
    cached_encode(changed, parse, v, "word", 1, tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("*.pt"))) == 2


def test_damaged_cache_entries_are_rebuilt(tiny_babi, tmp_path):
    from tasks.babi.datamodule import BabiDataModule

    first = BabiDataModule(tiny_babi, size="1k", tasks=[1, 19], cache_dir=tmp_path)
    first.setup("fit")
    entries = list((tmp_path / "babi").iterdir())
    # tiny train and test files are byte-identical: one content-keyed entry per task + vocabulary
    assert sorted(p.suffix for p in entries) == [".json", ".pt", ".pt"]
    for path in entries:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncate every entry
    again = BabiDataModule(tiny_babi, size="1k", tasks=[1, 19], cache_dir=tmp_path)
    again.setup("fit")
    assert again.vocab == first.vocab
    for a, b in zip(again.train_set.enc, first.train_set.enc, strict=True):
        assert torch.equal(a, b)
