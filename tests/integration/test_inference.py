"""The public API on a tiny model: texts of several sentences are translated sentence by sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import reverse_task

from translator.inference import Translator

pytestmark = pytest.mark.integration


def test_a_text_of_several_sentences_joins_its_sentences(tiny_bundle: Path) -> None:
    src, _ = reverse_task(3, seed=7)
    sentences = [s + "." for s in src]
    translator = Translator(tiny_bundle, engine="torch")
    alone = translator.translate(sentences, beam_size=3, n_best=2, return_attention=True)
    [joined] = translator.translate([" ".join(sentences)], beam_size=3, n_best=2, return_attention=True)

    assert joined.source == " ".join(sentences)
    assert joined.source_tokens == [p for r in alone for p in r.source_tokens]
    for k, hyp in enumerate(joined.hypotheses):
        parts = [r.hypotheses[k] for r in alone]
        assert hyp.text == " ".join(h.text for h in parts)
        assert hyp.target_tokens == [p for h in parts for p in h.target_tokens]
        assert hyp.log_prob == pytest.approx(sum(h.log_prob for h in parts), abs=1e-4)
        # block-diagonal attention: each sentence's pieces attend to their own source pieces,
        # and every row (EOS row included) still sums to 1
        a = hyp.attention
        assert a is not None
        assert a.shape[-2:] == (len(hyp.target_tokens) + 1, len(joined.source_tokens) + 1)
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
        t0 = s0 = 0
        for r, h in zip(alone, parts, strict=True):
            t, s = len(h.target_tokens), len(r.source_tokens)
            assert h.attention is not None
            torch.testing.assert_close(a[..., t0 : t0 + t, s0 : s0 + s], h.attention[..., :t, :s])
            assert float(a[..., t0 : t0 + t, :s0].abs().sum()) == 0.0
            t0, s0 = t0 + t, s0 + s
    assert joined.text == joined.hypotheses[0].text
