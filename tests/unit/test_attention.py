"""Masks, weights and the fused path of our attention, and the KV cache."""

from __future__ import annotations

import torch

from translator.attention import causal_mask, padding_mask, scaled_dot_product
from translator.config import ModelConfig
from translator.model import Transformer

CFG = ModelConfig(vocab_size=50, d_model=32, n_heads=4, d_ff=64, encoder_layers=2, decoder_layers=2, dropout=0.0)


def model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(CFG).eval()


def test_weights_sum_to_one_and_fast_path_matches() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)
    mask = padding_mask(torch.tensor([7, 4]), 7)
    out, w = scaled_dot_product(q, k, v, mask, need_weights=True)
    fast, none = scaled_dot_product(q, k, v, mask)
    assert none is None
    assert w is not None
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 5))
    assert torch.all(w[1, :, :, 4:] == 0), "padded keys get no weight"
    torch.testing.assert_close(out, fast, atol=1e-5, rtol=1e-5)


def test_causal_mask_fast_path_matches() -> None:
    torch.manual_seed(1)
    q = k = v = torch.randn(1, 2, 6, 4)
    mask = causal_mask(6)
    out, w = scaled_dot_product(q, k, v, mask, need_weights=True)
    assert w is not None
    assert torch.all(w.triu(1) == 0)
    torch.testing.assert_close(out, scaled_dot_product(q, k, v, mask)[0], atol=1e-5, rtol=1e-5)


def test_padding_never_changes_other_outputs() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 3]])
    tgt = torch.tensor([[2, 9, 10]])
    alone, _ = m(src, tgt)
    padded_src = torch.tensor([[5, 6, 7, 3, 0, 0, 0], [8, 9, 10, 11, 12, 13, 3]])
    batch, _ = m(padded_src, torch.tensor([[2, 9, 10], [2, 11, 12]]))
    torch.testing.assert_close(batch[0], alone[0], atol=1e-5, rtol=1e-5)
    # changing what sits under the padding changes nothing
    other = padded_src.clone()
    other[0, 4:] = torch.tensor([0, 0, 0])
    mem1, mask1 = m.encode(padded_src)
    mem2, _ = m.encode(other)
    torch.testing.assert_close(mem1[0, :4], mem2[0, :4])
    assert mask1[0, 0, 0].tolist() == [True] * 4 + [False] * 3


def test_no_position_sees_the_future() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 3]])
    a, _ = m(src, torch.tensor([[2, 9, 10, 11, 12]]))
    b, _ = m(src, torch.tensor([[2, 9, 10, 40, 41]]))
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_kv_cache_equals_full_recomputation() -> None:
    m = model()
    src = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]])
    tgt = torch.tensor([[2, 11, 12, 13, 14], [2, 15, 16, 17, 18]])
    full, attn = m(src, tgt, need_weights=True)
    memory, mask = m.encode(src)
    cross, cache = m.cross_kv(memory), m.empty_cache(2)
    for t in range(tgt.size(1)):
        logp, cache, a = m.decode_step(tgt[:, t], cross, mask, cache, need_weights=True)
        torch.testing.assert_close(logp, full[:, t].log_softmax(-1), atol=1e-5, rtol=1e-5)
        assert a is not None and a.shape == (2, CFG.decoder_layers, CFG.n_heads, 5)
        for layer in range(CFG.decoder_layers):
            torch.testing.assert_close(a[:, layer], attn[layer][:, :, t], atol=1e-6, rtol=1e-5)
    assert cache[0][0].shape == (2, CFG.n_heads, tgt.size(1), CFG.d_model // CFG.n_heads)


def test_dropout_is_off_in_eval_and_scales_in_train() -> None:
    from translator.model import Dropout

    d = Dropout(0.25)
    x = torch.ones(10000)
    assert torch.equal(d.eval()(x), x)
    y = d.train()(x)
    assert abs(float((y == 0).float().mean()) - 0.25) < 0.03
    assert abs(float(y.mean()) - 1.0) < 0.05


def test_hypotheses_of_a_sentence_share_its_cross_keys_and_values() -> None:
    """Cross K/V and mask stored once per sentence (rows grouped r per sentence) give
    what one copy per hypothesis gives: outputs, cache and attention weights."""
    m = model()
    src = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]])
    memory, mask = m.encode(src)
    tokens = torch.tensor([[2, 2, 2, 2, 2, 2], [11, 12, 13, 14, 15, 16], [17, 18, 19, 20, 21, 22]])  # 3 beams
    shared, per_row = m.cross_kv(memory), m.cross_kv(memory.repeat_interleave(3, dim=0))
    cache_s, cache_r = m.empty_cache(6), m.empty_cache(6)
    for step in tokens:
        logp_s, cache_s, a_s = m.decode_step(step, shared, mask, cache_s, need_weights=True)
        logp_r, cache_r, a_r = m.decode_step(step, per_row, mask.repeat_interleave(3, dim=0), cache_r, True)
        torch.testing.assert_close(logp_s, logp_r, atol=1e-5, rtol=1e-5)
        assert a_s is not None and a_r is not None and a_s.shape == (6, CFG.decoder_layers, CFG.n_heads, 5)
        torch.testing.assert_close(a_s, a_r, atol=1e-6, rtol=1e-5)
        assert torch.all(a_s[3:, :, :, 3:] == 0), "the second sentence's padding gets no weight"
    for (ks, vs), (kr, vr) in zip(cache_s, cache_r, strict=True):
        torch.testing.assert_close(ks, kr, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vs, vr, atol=1e-5, rtol=1e-5)
