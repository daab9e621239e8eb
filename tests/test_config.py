import pytest

from torch_geometric_infodcl.config import (
    DataConfig,
    RunConfig,
    Spec,
    TrainConfig,
    check_value,
    parse_text,
)


@pytest.mark.parametrize('spec,text,value', [
    (Spec('int', low=1), '12', 12),
    (Spec('int', low=0), '0', 0),
    (Spec('float', low=0, strict=True), '5e-6', 5e-6),
    (Spec('float', low=0), '.5', 0.5),
    (Spec('ints', low=1), '10,20', (10, 20)),
    (Spec('strs', choices=('a', 'b')), 'none', []),
    (Spec('strs', choices=('a', 'b')), 'b,a', ['b', 'a']),
    (Spec('negatives'), '64', 64),
    (Spec('negatives'), 'in_batch', 'in_batch'),
    (Spec('floats', low=0, strict=True), '200', 200.0),
    (Spec('floats', low=0, strict=True), '50,5e2', [50.0, 500.0]),
])
def test_parse_text(spec, text, value):
    assert parse_text(spec, text) == value


@pytest.mark.parametrize('spec,text,match', [
    (Spec('int', low=1), '0', 'expected a positive integer, got 0'),
    (Spec('int', low=1), '1_0', 'positive integer'),  # int() would say 10
    (Spec('int', low=1), '\u0661\u0662', 'positive integer'),  # Arabic 12
    (Spec('int', low=1), '\uff11', 'positive integer'),  # full-width 1
    (Spec('int', low=0), '-2', 'an integer >= 0'),
    (Spec('float', low=0, strict=True), '-1', 'a float > 0'),
    (Spec('float', low=0, strict=True), 'nan', 'a float > 0'),
    (Spec('float', low=0), '1_0.5', 'a float >= 0'),
    (Spec('ints', low=1), '10,10', 'distinct positive integers'),
    (Spec('strs', choices=('a', 'b'), item='channel'), 'a,c',
     r"unknown channel\(s\) \['c'\]; valid: a, b or 'none'"),
    (Spec('negatives'), '0', "'full', 'in_batch' or a positive"),
    (Spec('floats', low=0, strict=True), '50,0',
     'a float > 0 or comma-separated such floats'),
    (Spec('floats', low=0, strict=True), '50,,1', 'comma-separated'),
])
def test_parse_text_errors(spec, text, match):
    with pytest.raises(ValueError, match=match):
        parse_text(spec, text)


def test_check_value_types():
    assert check_value(Spec('float', low=0), 3, 'x') == 3.0
    assert isinstance(check_value(Spec('float', low=0), 3, 'x'), float)
    assert check_value(Spec('int', optional=True), None, 'x') is None
    with pytest.raises(TypeError, match=r'x must be an int \(got bool True'):
        check_value(Spec('int'), True, 'x')
    with pytest.raises(ValueError, match='x must be finite'):
        check_value(Spec('float'), float('inf'), 'x')
    with pytest.raises(TypeError, match='x must be a list of str'):
        check_value(Spec('strs', choices=('a', )), [1], 'x')
    floats = Spec('floats', low=0, strict=True)
    assert check_value(floats, (10, 20.5), 'x') == [10.0, 20.5]
    assert check_value(floats, 7, 'x') == 7.0
    with pytest.raises(TypeError, match='non-empty list'):
        check_value(floats, [], 'x')
    with pytest.raises(ValueError, match=r'x must be finite and > 0'):
        check_value(floats, [1.0, -2.0], 'x')


def test_data_and_run_configs_check_their_fields():
    assert DataConfig().metadata == ['social', 'knowledge']
    assert DataConfig(metadata=()).metadata == []
    with pytest.raises(ValueError, match=r"DataConfig.metadata: unknown "
                       r"metadata channel\(s\) \['genre'\]"):
        DataConfig(metadata=['social', 'genre'])
    with pytest.raises(ValueError, match="DataConfig.metadata_base must be "
                       "one of auto, pretrained, svd, lightgcn"):
        DataConfig(metadata_base='bert')
    with pytest.raises(ValueError, match=r'RunConfig.threads must be >= 1 '
                       r'\(got 0\)'):
        RunConfig(threads=0)
    assert RunConfig().threads is None
    assert TrainConfig(max_grad_norm=2).max_grad_norm == 2.0
