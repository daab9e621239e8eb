import numpy as np
import pytest
import torch

from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_embedding,
    check_finite,
    check_float,
    check_float_candidates,
    check_ids,
    check_index_tensor,
    check_int,
    check_non_empty,
    check_same_shape,
    check_same_size,
    check_shape,
    check_tensor,
)


def test_wrong_types_raise_type_error():
    for value in (1.0, '3', True, None):
        with pytest.raises(TypeError, match="'n' must be an int"):
            check_int(value, 'n')
    for value in ('0.1', True, None):
        with pytest.raises(TypeError, match="'lr' must be a float"):
            check_float(value, 'lr')
    with pytest.raises(TypeError, match=r"'x' must be a torch.Tensor "
                       r"\(got list\)"):
        check_tensor([1, 2], 'x')
    with pytest.raises(TypeError, match="'emb' must be a floating-point"):
        check_embedding(torch.ones(2, 2, dtype=torch.long), 'emb')
    with pytest.raises(TypeError, match=r"'ids' must hold integer item ids "
                       r"\(got dtype torch.float32\)"):
        check_ids(torch.zeros(3), 5, 'ids', kind='item')
    with pytest.raises(TypeError, match='must hold integer ids'):
        check_index_tensor(torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match='dense'):
        check_index_tensor(torch.ones(2, 3, dtype=torch.long).to_sparse())


def test_bad_values_raise_value_error():
    with pytest.raises(ValueError, match=r"'n' must be a positive integer "
                       r"\(got 0\)"):
        check_int(0, 'n')
    with pytest.raises(ValueError, match="'n' must be a non-negative"):
        check_int(-1, 'n', min_value=0)
    with pytest.raises(ValueError, match=r"'n' must be an integer >= 2"):
        check_int(1, 'n', min_value=2)
    for value in (-0.5, float('nan'), float('inf')):
        with pytest.raises(ValueError, match="'w' must be finite and >= 0"):
            check_float(value, 'w')
    with pytest.raises(ValueError, match="'t' must be a positive finite"):
        check_float(0.0, 't', positive=True)
    with pytest.raises(ValueError, match=r"'x' must be 2-dimensional \(got "
                       r"shape \(3,\)\)"):
        check_tensor(torch.ones(3), 'x', ndim=2)
    with pytest.raises(ValueError, match=r"'x' must have shape \[B, 4\] "
                       r"\(got \(3, 5\)\)"):
        check_shape(torch.ones(3, 5), 'x', ('B', 4))
    with pytest.raises(ValueError, match=r"'x' is empty \(got shape "
                       r"\(0, 4\)\)"):
        check_non_empty(torch.ones(0, 4), 'x')
    with pytest.raises(ValueError, match=r"same shape \(got \(2,\) and "
                       r"\(3,\)\)"):
        check_same_shape(torch.ones(2), torch.ones(3), 'a', 'b')
    with pytest.raises(ValueError, match=r"same embedding size \(same "
                       r"dimension; got 4 and 3\)"):
        check_same_size(torch.ones(2, 4), torch.ones(5, 3), 'a', 'b')


def test_accepted_values_are_returned():
    assert check_int(np.int64(3), 'n') == 3
    assert type(check_int(np.int32(0), 'n', min_value=0)) is int
    assert check_float(2, 'lr', positive=True) == 2.0
    x = torch.ones(3, 4)
    assert check_shape(x, 'x', ('B', 4)) is x
    assert check_embedding(x, 'x', num_rows=3) is x
    check_ids(torch.empty(0, dtype=torch.long), 0, 'ids')


def test_non_finite_errors_name_the_first_row():
    x = torch.zeros(4, 3)
    x[2, 1] = float('nan')
    x[3, 0] = float('inf')
    with pytest.raises(ValueError, match=r"'x' holds NaN or inf values "
                       r"\(first in row 2\)"):
        check_finite(x, 'x')
    with pytest.raises(ValueError, match=r"'v' holds NaN or inf values "
                       r"\(first in row 1\)"):
        check_finite(torch.tensor([0., float('-inf')]), 'v')
    with pytest.raises(ValueError, match="'s' is NaN or inf"):
        check_finite(torch.tensor(float('nan')), 's')
    with pytest.raises(ValueError, match=r"'emb' must have shape \[5, dim\]"):
        check_embedding(torch.zeros(4, 3), 'emb', num_rows=5)


def test_id_errors_name_the_id_and_its_limit():
    with pytest.raises(ValueError, match=r"'pos' contains the id 9, but "
                       r"'item_emb' has only 9 rows \(valid ids are 0..8\)"):
        check_ids(torch.tensor([0, 9, 3]), 9, 'pos', "'item_emb' has only "
                  "9 rows")
    with pytest.raises(ValueError, match=r"'e\[0\]' \(user ids\) contains the "
                       r"negative id -2"):
        check_ids(torch.tensor([[1, -2]]), 3, 'e[0]', kind='user')
    with pytest.raises(ValueError, match="there are only 3"):
        check_ids(torch.tensor([3]), 3, 'ids')


def test_edge_index_errors_name_the_column():
    with pytest.raises(ValueError, match=r"'edges' column 2 has item id 7 "
                       r"outside \[0, 7\) \(2 such columns; num_items=7\)"):
        check_edge_index(torch.tensor([[0, 1, 2, 0], [0, 1, 7, 9]]), 3, 7,
                         'edges')
    with pytest.raises(ValueError, match=r"column 0 has user id -1"):
        check_edge_index(torch.tensor([[-1], [0]]), 3, 7)
    with pytest.raises(ValueError, match=r"'edge_index' must have shape "
                       r"\[2, num_edges\] \(got \(3, 2\)\)"):
        check_edge_index(torch.zeros(3, 2, dtype=torch.long), 3, 7)
    check_edge_index(torch.empty(2, 0, dtype=torch.long), 3, 7)


def test_check_float_candidates():
    assert check_float_candidates(2, 'w') == (2.0, )
    assert check_float_candidates([0, 0.5], 'w') == (0.0, 0.5)
    assert check_float_candidates((1.0, ), 'l2', positive=True) == (1.0, )
    with pytest.raises(ValueError, match="'w' holds no value"):
        check_float_candidates([], 'w')
    with pytest.raises(ValueError, match="'l2' must be a positive"):
        check_float_candidates([1.0, 0.0], 'l2', positive=True)
    with pytest.raises(TypeError, match="'w' must be a float"):
        check_float_candidates(['1'], 'w')
