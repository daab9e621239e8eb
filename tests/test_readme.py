import os.path as osp
import re

README = osp.join(osp.dirname(__file__), '..', 'README.md')


def test_readme_usage_example_runs(office_dir, tmp_path):
    with open(README) as f:
        code = re.search(r'```python\n(.*?)```', f.read(), re.S).group(1)
    # The README reads Office from data/office/raw; the test reads the
    # project's copy instead of downloading it.
    code = code.replace("RecommenderDataset('data', 'office')",
                        f"RecommenderDataset('{tmp_path}', 'office', "
                        f"raw_dir='{office_dir}')")
    assert office_dir in code  # the example still loads Office this way
    scope = {}
    exec(compile(code, 'README.md', 'exec'), scope)
    assert scope['view'].shape == (2000, 64)
    assert scope['user_out'].shape == (4905, 64)
    assert scope['item_out'].shape == (2420, 64)
