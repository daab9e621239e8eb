import numpy as np
import pytest
import torch

from torch_geometric_infodcl.models.ease import EASE


def toy_edges(num_users=7, num_items=5, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.random((num_users, num_items)) < 0.45
    dense[0, :] = True  # Every item is seen at least once.
    user, item = np.nonzero(dense)
    return torch.tensor(np.stack([user, item])), dense.astype(np.float64)


def numpy_ease(x, l2_weight):
    r"""Steck (WWW '19), Algorithm 1, in dense float64 NumPy."""
    gram = x.T @ x + l2_weight * np.eye(x.shape[1])
    precision = np.linalg.inv(gram)
    weight = np.eye(x.shape[1]) - precision @ np.diag(1 / np.diag(precision))
    return weight


def test_fit_matches_the_dense_closed_form_and_has_zero_diagonal():
    edge_index, x = toy_edges()
    model = EASE(7, 5, l2_weight=2.5)
    model.fit(edge_index)
    expected = numpy_ease(x, 2.5)
    np.testing.assert_allclose(model.item_weight.numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    assert bool((model.item_weight.diagonal() == 0).all())
    assert float(model.l2_weight) == 2.5
    # The factors score X B.
    user_emb, item_emb = model.embeddings(edge_index)
    np.testing.assert_allclose((user_emb @ item_emb.t()).numpy(),
                               x @ expected, rtol=1e-5, atol=1e-6)


def test_grid_candidates_and_duplicates_count_once():
    edge_index, x = toy_edges(seed=1)
    doubled = torch.cat([edge_index, edge_index[:, :4]], dim=1)
    model = EASE(7, 5, l2_weight=[1.0, 30.1])
    assert model.num_fits == 2
    model.fit(doubled, 1)
    assert model.selected() == {'l2_weight': 30.1}
    np.testing.assert_allclose(model.item_weight.numpy(), numpy_ease(x, 30.1),
                               rtol=1e-5, atol=1e-6)
    assert float(model.l2_weight) == 30.1
    model.fit(doubled, 0)
    np.testing.assert_allclose(model.item_weight.numpy(), numpy_ease(x, 1.0),
                               rtol=1e-5, atol=1e-6)


def test_state_dict_carries_the_fit():
    edge_index, _ = toy_edges()
    model = EASE(7, 5, l2_weight=[3.0])
    model.fit(edge_index)
    other = EASE(7, 5, l2_weight=[3.0])
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other.embeddings(edge_index),
                               model.embeddings(edge_index))
    assert str(model) == 'EASE(7, 5, l2_weight=(3))'
    assert model.selected() == {'l2_weight': 3.0}
    # By default a grid of candidates, selected by the trainer.
    assert EASE(7, 5).num_fits > 1


@pytest.mark.parametrize('l2_weight, error, match', [
    (0.0, ValueError, 'positive'),
    (-3.0, ValueError, 'positive'),
    (float('nan'), ValueError, 'finite'),
    ([], ValueError, 'no value'),
    ('200', TypeError, 'must be a float'),
])
def test_bad_l2_weight_is_a_clear_error(l2_weight, error, match):
    with pytest.raises(error, match=match):
        EASE(4, 3, l2_weight=l2_weight)


def test_unfitted_bad_index_and_bad_edges_are_clear_errors():
    edge_index, _ = toy_edges()
    model = EASE(7, 5, l2_weight=10.0)
    with pytest.raises(ValueError, match='not fitted'):
        model.embeddings(edge_index)
    with pytest.raises(ValueError, match='index'):
        model.fit(edge_index, 1)
    with pytest.raises(ValueError, match='edge_index'):
        model.fit(torch.tensor([[0], [5]]))
