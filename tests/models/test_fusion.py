import numpy as np
import pytest
import torch

from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.models.ease import EASE
from torch_geometric_infodcl.models.fusion import (
    FUSION_GRID,
    EASEFusion,
    score_rms,
)
from torch_geometric_infodcl.train import Trainer

from test_ease import numpy_ease, toy_edges
from test_train import config, planted_data


def test_score_rms_is_the_root_mean_square_of_every_score():
    gen = torch.Generator().manual_seed(0)
    user, item = torch.randn(7, 3, generator=gen), torch.randn(5, 3,
                                                             generator=gen)
    brute = (user @ item.t()).square().mean().sqrt()
    assert score_rms(user, item) == pytest.approx(float(brute), rel=1e-6)


def test_fused_scores_are_the_weighted_sum_of_both_normalised_scores():
    edge_index, x = toy_edges()
    gen = torch.Generator().manual_seed(1)
    user, item = torch.randn(7, 4, generator=gen), torch.randn(5, 4,
                                                             generator=gen)
    model = EASEFusion(7, 5, user, item, weight=[0.0, 0.5, 3.0],
                       l2_weight=2.5)
    base = (user @ item.t()).numpy().astype(np.float64)
    ease = x @ numpy_ease(x, 2.5)
    rms = lambda s: np.sqrt((s ** 2).mean())  # noqa: E731
    for index, weight in enumerate([0.0, 0.5, 3.0]):
        model.fit(edge_index, index)
        user_out, item_out = model.embeddings(edge_index)
        fused = user_out @ item_out.t()
        expected = base / rms(base) + weight * ease / rms(ease)
        np.testing.assert_allclose(fused.numpy(), expected, rtol=1e-4,
                                   atol=1e-5)
        assert model.selected() == {'weight': weight, 'l2_weight': 2.5}
    # Weight 0 is the trained model alone: its own factors, rescaled.
    model.fit(edge_index, 0)
    user_out, item_out = model.embeddings(edge_index)
    assert user_out.shape == (7, 4) and torch.equal(item_out, item)


def test_trainer_selects_the_weight_on_validation_and_zero_keeps_the_model():
    data = planted_data()
    store = data['user', 'interacts', 'item']
    # A weak trained model (random factors): fusing EASE must help, and the
    # trainer must pick the weight an independent validation scan picks.
    gen = torch.Generator().manual_seed(0)
    user, item = torch.randn(60, 8, generator=gen), torch.randn(120, 8,
                                                              generator=gen)
    grid = [0.0, 0.25, 1.0, 4.0]
    scores = []
    for index in range(len(grid)):
        model = EASEFusion(60, 120, user, item, weight=grid, l2_weight=50.0)
        model.fit(store.edge_index, index)
        scores.append(full_rank_metrics(
            *model.embeddings(store.edge_index), store.val_edge_index,
            exclude_edge_index=store.edge_index, ks=(20, ))['recall@20'])
    best = int(torch.tensor(scores).argmax())
    assert best > 0 and scores[best] > scores[0]
    alone = full_rank_metrics(user, item, store.val_edge_index,
                              exclude_edge_index=store.edge_index,
                              ks=(20, ))['recall@20']
    assert scores[0] == pytest.approx(alone)

    model = EASEFusion(60, 120, user, item, weight=grid, l2_weight=50.0)
    result = Trainer(model, data, config(patience=len(grid))).fit()
    assert result['best_epoch'] == best + 1
    assert model.selected()['weight'] == grid[best]
    assert result['valid']['recall@20'] == pytest.approx(scores[best])
    # EASE inside was fitted once, with the given L2 weight.
    ease = EASE(60, 120, l2_weight=50.0)
    ease.fit(store.edge_index)
    torch.testing.assert_close(model.ease.item_weight, ease.item_weight)


def test_defaults_and_repr():
    user, item = torch.randn(3, 2), torch.randn(4, 2)
    model = EASEFusion(3, 4, user, item)
    assert model.num_fits == len(FUSION_GRID) and FUSION_GRID[0] == 0.0
    assert str(model).startswith('EASEFusion(3, 4, weight=(0, 0.015625, ')
    assert str(model).endswith('l2_weight=500)')


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(user_emb=torch.randn(4, 2)), ValueError, 'user_emb.*3 rows'),
    (dict(item_emb=torch.randn(4)), ValueError, 'item_emb.*2-dimensional'),
    (dict(item_emb=torch.ones(4, 3)), ValueError, 'same width'),
    (dict(user_emb=torch.ones(3, 2, dtype=torch.long)), TypeError,
     'floating'),
    (dict(user_emb=torch.full((3, 2), float('nan'))), ValueError,
     'NaN.*row 0'),
    (dict(weight=-1.0), ValueError, 'weight'),
    (dict(weight=[]), ValueError, 'no value'),
    (dict(l2_weight=0.0), ValueError, 'l2_weight'),
    (dict(l2_weight=[1.0, 2.0]), TypeError, 'l2_weight'),
])
def test_bad_input_is_a_clear_error(kwargs, error, match):
    args = dict(user_emb=torch.randn(3, 2), item_emb=torch.randn(4, 2))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        EASEFusion(3, 4, **args)


def test_unfitted_bad_index_and_zero_scores_are_clear_errors():
    edge_index, _ = toy_edges()
    model = EASEFusion(7, 5, torch.randn(7, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match='not fitted'):
        model.embeddings(edge_index)
    with pytest.raises(ValueError, match='index'):
        model.fit(edge_index, len(FUSION_GRID))
    zero = EASEFusion(7, 5, torch.zeros(7, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match='trained model.*all zero'):
        zero.fit(edge_index)
