"""Alignment building blocks on hand-made inputs: merging, symmetrisation, formats, AER."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from translator.aer import consensus_gold, evaluate_files, parse_gold, parse_pharaoh, score
from translator.align import (
    Alignment,
    hard_links,
    merge_subwords,
    null_words,
    parse_head,
    parse_layer,
    piece_words,
    resolve_layers,
    select_attention,
)
from translator.errors import TranslatorError
from translator.links import format_pharaoh, grow_diag_final_and


def test_piece_words_handles_bare_marker_and_attached_punctuation() -> None:
    # "l'homme , dit-il ." -> words: "l'homme" "," "dit-il" "."
    pieces = ["▁l", "'", "homme", "▁", ",", "▁dit", "-", "il", "▁", "."]
    assert piece_words(pieces, ["l'homme", ",", "dit-il", "."]) == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    # punctuation attached to a word in the text stays with that word
    assert piece_words(["▁dog", "."], ["dog."]) == [0, 0]
    # no leading marker on the first piece; a trailing bare marker goes to the last word
    assert piece_words(["a", "▁b", "▁"], ["a", "b"]) == [0, 1, 1]


def test_piece_words_skips_words_the_tokenizer_drops() -> None:
    # "A \u200b dog runs." / "A \x07 dog runs.": the middle word makes no pieces
    pieces = ["▁A", "▁dog", "▁runs", "."]
    assert piece_words(pieces, ["A", "\u200b", "dog", "runs."]) == [0, 2, 3, 3]
    assert piece_words(pieces, ["A", "dog", "\x07", "runs."]) == [0, 1, 3, 3]
    # an unknown character's piece (<unk>) still lines up by position with the visible words
    assert piece_words(["▁a", "▁<unk>", "▁b"], ["\ufeff", "a", "\u2603", "b"]) == [1, 2, 3]
    # NFKC-normalised text (the ligature "ﬁ" becomes "fi") still matches its word
    assert piece_words(["▁fi", "ne", "▁x"], ["\u200b", "ﬁne", "x"]) == [1, 1, 2]


def test_piece_words_falls_back_when_word_counts_disagree() -> None:
    out = piece_words(["▁ab", "▁cd", "▁<unk>"], ["ab", "cd"])
    assert len(out) == 3 and out[0] == 0 and all(0 <= w < 2 for w in out) and out == sorted(out)
    assert piece_words(["▁a"], []) == [0]


def test_merge_sums_source_pieces_means_target_pieces_and_drops_eos() -> None:
    src_tokens, src_words = ["▁a", "b", "▁c"], ["ab", "c"]
    tgt_tokens, tgt_words = ["▁x", "y", "▁z"], ["xy", "z"]
    a = torch.tensor(
        [  # rows: x, y, z, EOS; columns: a, b, c, EOS
            [0.2, 0.2, 0.4, 0.2],
            [0.4, 0.4, 0.0, 0.2],
            [0.0, 0.1, 0.4, 0.5],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    raw = merge_subwords(a, src_tokens, tgt_tokens, src_words, tgt_words, renormalize=False)
    torch.testing.assert_close(raw, torch.tensor([[0.6, 0.2], [0.1, 0.4]]))
    words = merge_subwords(a, src_tokens, tgt_tokens, src_words, tgt_words)
    torch.testing.assert_close(words, torch.tensor([[0.75, 0.25], [0.2, 0.8]]))
    # leading (layer, head) dimensions are kept
    assert merge_subwords(a.expand(2, 3, 4, 4), src_tokens, tgt_tokens, src_words, tgt_words).shape == (2, 3, 2, 2)
    with pytest.raises(TranslatorError, match="does not fit"):
        merge_subwords(a, src_tokens[:1], tgt_tokens, src_words, tgt_words)


def test_layer_and_head_selection() -> None:
    raw = torch.arange(3 * 2 * 1 * 1, dtype=torch.float).view(3, 2, 1, 1)  # layer l, head h -> 2l + h
    assert float(select_attention(raw, 0, 1)) == 1.0
    assert float(select_attention(raw, -1, "mean")) == 4.5
    assert float(select_attention(raw, "mean", 0)) == 2.0
    assert float(select_attention(raw, [1, 2], "mean")) == 3.5
    assert float(select_attention(raw, None, "mean")) == 3.5  # default: penultimate and last layers
    assert resolve_layers(None, 1) == [0] and resolve_layers(None, 3) == [1, 2]
    with pytest.raises(TranslatorError, match="out of range: the model has 3 decoder layers"):
        select_attention(raw, 3)
    with pytest.raises(TranslatorError, match="2 heads"):
        select_attention(raw, 0, 2)
    with pytest.raises(TranslatorError, match="head must be an integer or 'mean'"):
        select_attention(raw, 0, "first")
    assert parse_layer("1") == 1 and parse_layer("0,2") == [0, 2] and parse_layer("mean") == "mean"
    assert parse_layer("default") is None and parse_head("mean") == "mean" and parse_head("-1") == -1
    with pytest.raises(TranslatorError, match="--layer"):
        parse_layer("last")


def test_grow_diag_final_and() -> None:
    t2s = {(0, 0), (1, 1), (2, 2), (0, 3), (0, 4)}  # (source, target): each target word's best source word
    s2t = {(0, 0), (1, 1), (2, 2), (3, 2), (4, 3)}
    # (3,2) grows diagonally-adjacent from (2,2); (4,3) is added by final-and (both words unaligned);
    # (0,3) and (0,4) are not: source word 0 is already aligned (grow-diag-final would add them).
    assert grow_diag_final_and(t2s, s2t) == {(0, 0), (1, 1), (2, 2), (3, 2), (4, 3)}
    assert grow_diag_final_and(set(), set()) == set()


def test_hard_links_methods() -> None:
    w = torch.tensor(
        [  # rows: target words 0..2, columns: source words 0..2
            [0.1, 0.2, 0.7],
            [0.1, 0.6, 0.3],
            [0.5, 0.1, 0.4],
        ]
    )
    assert hard_links(w, "t2s") == [(0, 2, 0.5), (1, 1, pytest.approx(0.6)), (2, 0, pytest.approx(0.7))]
    assert [(i, j) for i, j, _ in hard_links(w, "argmax")] == [(0, 2), (1, 1), (2, 0)]
    assert [(i, j) for i, j, _ in hard_links(w, "s2t")] == [(0, 2), (1, 1), (2, 0)]
    assert [(i, j) for i, j, _ in hard_links(w, "threshold", threshold=0.4)] == [(0, 2), (1, 1), (2, 0), (2, 2)]
    w2 = torch.tensor([[0.9, 0.1], [0.8, 0.2]])  # both target words on source word 0
    assert [(i, j) for i, j, _ in hard_links(w2, "t2s")] == [(0, 0), (0, 1)]
    assert [(i, j) for i, j, _ in hard_links(w2, "s2t")] == [(0, 0), (1, 1)]
    assert [(i, j) for i, j, _ in hard_links(w2, "intersection")] == [(0, 0)]
    assert [(i, j) for i, j, _ in hard_links(w2, "union")] == [(0, 0), (0, 1), (1, 1)]
    # grow-diag: (0,1) neighbours (0,0) and target word 1 is unaligned; then (1,1) is diagonal to (0,0)
    assert [(i, j) for i, j, _ in hard_links(w2, "grow-diag-final-and")] == [(0, 0), (0, 1), (1, 1)]
    assert hard_links(torch.zeros(0, 3)) == []
    with pytest.raises(TranslatorError, match="method must be one of"):
        hard_links(w, "fast_align")


def test_null_words_and_links() -> None:
    # 2 source words (3 pieces) + EOS column; 2 target words (3 pieces) + EOS row
    attention = torch.tensor(
        [
            [0.5, 0.1, 0.1, 0.3],  # word 0 piece 0
            [0.1, 0.1, 0.1, 0.7],  # word 1 piece 0: mostly on EOS
            [0.2, 0.1, 0.1, 0.6],  # word 1 piece 1
            [0.0, 0.0, 0.0, 1.0],  # EOS row
        ]
    )
    src, tgt = ["▁a", "▁b", "c"], ["▁x", "▁y", "z"]
    # word 1: EOS 0.65 vs source words a 0.15, b 0.2 (pieces summed); word 0: a 0.5 beats EOS 0.3
    assert null_words(attention, src, tgt, ["a", "bc"], ["x", "yz"]) == {1}
    words = merge_subwords(attention, src, tgt, ["a", "bc"], ["x", "yz"])
    assert [(i, j) for i, j, _ in hard_links(words, "t2s")] == [(0, 0), (1, 1)]
    assert [(i, j) for i, j, _ in hard_links(words, "t2s", null={1})] == [(0, 0)]
    assert [(i, j) for i, j, _ in hard_links(words, "threshold", threshold=0.5)] == [(0, 0), (1, 1)]
    assert [(i, j) for i, j, _ in hard_links(words, "threshold", threshold=0.5, null={1})] == [(0, 0)]
    with pytest.raises(TranslatorError, match="no source EOS column"):
        null_words(attention[:, :3], src, tgt, ["a", "bc"], ["x", "yz"])


def test_pharaoh_and_json() -> None:
    a = Alignment(
        source="a b",
        target="y x",
        source_words=["a", "b"],
        target_words=["y", "x"],
        source_tokens=["▁a", "▁b"],
        target_tokens=["▁y", "▁x"],
        links=[(1, 0, 0.9), (0, 1, 0.8)],
        attention=torch.tensor([[0.1, 0.9], [0.8, 0.2]]),
    )
    assert a.pharaoh() == "0-1 1-0"
    assert format_pharaoh([]) == ""
    d = json.loads(a.to_json(with_attention=True))
    assert d["pharaoh"] == "0-1 1-0" and d["links"] == [[1, 0, 0.9], [0, 1, 0.8]]
    assert d["attention"] == [[0.1, 0.9], [0.8, 0.2]] and d["target_words"] == ["y", "x"]


GOLD = ["1 1 1 S", "1 2 2 S", "1 2 3 P", "2 1 2", "2 2 1 P"]


def test_aer_on_a_hand_made_example() -> None:
    gold = parse_gold(GOLD)
    assert gold.sure == [{(0, 0), (1, 1)}, {(0, 1)}]
    assert gold.possible == [{(0, 0), (1, 1), (1, 2)}, {(0, 1), (1, 0)}]
    hyp = [parse_pharaoh("0-0 1-2 2-2"), parse_pharaoh("0-1")]
    # |A|=4 |S|=3 |A∩S|=2 |A∩P|=3
    result = score(gold, hyp)
    assert result["precision"] == 0.75 and result["recall"] == pytest.approx(0.6667)
    assert result["aer"] == pytest.approx(1 - 5 / 7, abs=1e-4)
    assert score(gold, [gold.sure[0], gold.sure[1]])["aer"] == 0.0
    with pytest.raises(TranslatorError, match="gold has 2 sentences but the hypothesis has 1"):
        score(gold, hyp[:1])


def test_consensus_gold_from_aligner_runs() -> None:
    runs = [[[(0, 0), (1, 1)], [(0, 0), (1, 2)], [(0, 0), (1, 1), (2, 2)]], [[(0, 1)], [], [(1, 0)]]]
    gold = consensus_gold(runs)
    assert gold.sure == [{(0, 0), (1, 1)}, set()]  # in at least 2 of the 3 runs
    assert gold.possible == [{(0, 0), (1, 1), (1, 2), (2, 2)}, {(0, 1), (1, 0)}]
    assert consensus_gold([[[(0, 0)], [(1, 1)]]]).sure == [set()]  # 1 of 2 is no majority
    with pytest.raises(TranslatorError, match="at least one aligner run"):
        consensus_gold([[]])


def test_majority_guide_is_one_link_set_per_pair() -> None:
    from translator.eflomal_baseline import majority_guide

    runs = [[[(1, 1), (0, 0)], [(0, 0)], [(0, 0), (1, 1), (2, 1)]], [[(0, 1)], [(0, 0)]]]
    assert majority_guide(runs) == [[[(0, 0), (1, 1)]], [[]]]


def test_aer_errors_name_the_line_and_link(tmp_path: Path) -> None:
    with pytest.raises(TranslatorError, match=r"gold line 2 .*link 3-1 is out of range: source sentence 1 has 2 words"):
        parse_gold(["1 1 1 S", "1 3 1 S"], source_lengths=[2], target_lengths=[3])
    with pytest.raises(TranslatorError, match=r"line 1 .*S or P"):
        parse_gold(["1 1 1 X"])
    with pytest.raises(TranslatorError, match="1-based"):
        parse_gold(["1 0 1 S"])
    with pytest.raises(TranslatorError, match="not a Pharaoh link"):
        parse_pharaoh("0-1 2:3")
    files = {"g": "\n".join(GOLD) + "\n", "h": "0-0 1-2\n0-1 5-0\n", "s": "a b\nc d\n", "t": "x y z\nu v\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(TranslatorError, match=r"h line 2: link 5-0 is out of range"):
        evaluate_files(tmp_path / "g", tmp_path / "h", tmp_path / "s", tmp_path / "t")
    (tmp_path / "h").write_text("0-0\n")
    with pytest.raises(TranslatorError, match=r"has 1 lines but .* has 2"):
        evaluate_files(tmp_path / "g", tmp_path / "h", tmp_path / "s", tmp_path / "t")
    with pytest.raises(TranslatorError, match="gold has 2 sentences but the hypothesis has 1"):
        evaluate_files(tmp_path / "g", tmp_path / "h")
