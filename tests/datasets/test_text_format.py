import pytest
from file_helpers import write

from torch_geometric_infodcl.datasets.text_format import (
    FormatDetectionError,
    detect_text_format,
    explain_text_format,
)


def files(tmp_path, **texts):
    return [write(tmp_path / f'{name}.txt', text)
            for name, text in texts.items()]


def test_two_fields_are_pairs(tmp_path):
    out = explain_text_format(files(tmp_path, train='0 1\n1 2\n',
                                    test='0 2\n'))
    assert out.format == 'pairs'
    assert 'no line holds more than 2 fields' in out.reason
    assert detect_text_format(files(tmp_path, e='')) == 'pairs'
    # A complete one-field line is a LightGCN user without items or a
    # broken pair: refused, naming it.
    with pytest.raises(FormatDetectionError, match="line 2 of '.*a.txt' "
                       'holds one field.*--format'):
        detect_text_format(files(tmp_path, a='0 1\n1\n2 0\n'))
    # An unended last line may be a truncated pair: it is left to the
    # reader, which reports it.
    assert detect_text_format(files(tmp_path, b='0 1\n1')) == 'pairs'


def test_varying_widths_are_lightgcn(tmp_path):
    out = explain_text_format(files(tmp_path, train='0 1 2 3\n1 4\n2 5 6\n',
                                    test='0 7\n1 8\n'))
    assert out.format == 'lightgcn'
    assert out.reason.startswith("the lines of '") and out.reason.endswith(
        "train.txt' hold from 2 to 4 fields, which only LightGCN lines do")


def test_fixed_widths_that_differ_between_files(tmp_path):
    # train.txt 'u i' and test.txt 'u i rating': each file has one width,
    # so this is not LightGCN evidence (issue 12: never a different graph).
    paths = files(tmp_path, train='0 0\n1 2\n', test='0 1 5\n')
    with pytest.raises(FormatDetectionError, match='every file has one '
                       r'number of fields per line \(2 to 3\)'):
        explain_text_format(paths)
    paths = files(tmp_path, train='0 0\n1 2\n', test='0 1 5\n1 0 5\n')
    out = explain_text_format(paths)
    assert out.format == 'pairs' and 'column 3 holds 5 on all 2 lines' in \
        out.reason


@pytest.mark.parametrize('train, evidence', [
    # issue 12: `user item rating` with a constant rating
    ('0 5 1\n1 3 1\n', 'column 3 holds 1 on all 4 lines'),
    # a non-integer column cannot hold items
    ('0 5 4.5\n1 3 2.0\n', "'4.5' on line 1 of"),
    # timestamps: users repeat (a LightGCN file lists each user once)
    ('0 5 978300760\n1 3 978302109\n0 3 978301968\n',
     'user 0 is on 2 lines of'),
])
def test_extra_columns_are_pairs(tmp_path, train, evidence):
    paths = files(tmp_path, train=train, test='0 1 1\n1 2 1\n'
                  if 'holds 1' in evidence else '2 4 9\n')
    out = explain_text_format(paths)
    assert out.format == 'pairs'
    assert evidence in out.reason and 'further column(s)' in out.reason


def test_values_beyond_declared_items_are_pairs(tmp_path):
    paths = files(tmp_path, train='0 1 7\n1 2 3\n', test='2 0 5\n')
    with pytest.raises(FormatDetectionError):
        explain_text_format(paths)
    out = explain_text_format(paths, num_items=5)
    assert out.format == 'pairs' and 'beyond the 5 declared items' in \
        out.reason


def test_ambiguous_folder_is_refused(tmp_path):
    # Every line holds 3 fields, users are unique, column 3 varies and is
    # in range: 'u i rating' and LightGCN lines of 2 items both fit.
    paths = files(tmp_path, train='0 1 2\n1 2 3\n', test='2 0 1\n')
    with pytest.raises(FormatDetectionError) as e:
        explain_text_format(paths)
    msg = str(e.value)
    assert 'train.txt' in msg and 'test.txt' in msg
    assert 'every line holds 3 fields' in msg
    for part in ("'pairs'", "'lightgcn'", "format='pairs'",
                 "format='lightgcn'", '--format'):
        assert part in msg


def test_conflicting_evidence_is_refused(tmp_path):
    # Varying widths say LightGCN, a repeated user says pairs (e.g. two
    # lines of a ratings export merged into one):
    paths = files(tmp_path, train='0 5 4 1 3 5\n0 7 5\n1 2 3\n')
    with pytest.raises(FormatDetectionError,
                       match='from 3 to 6 fields.*but user 0 is on 2 lines'):
        explain_text_format(paths)


def test_unterminated_last_line_does_not_count(tmp_path):
    # A truncated last line ('2 7') must not turn a 3-column file into
    # LightGCN lines:
    paths = files(tmp_path, train='0 5 1\n1 3 1\n2 7')
    assert detect_text_format(paths) == 'pairs'
