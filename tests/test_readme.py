import os.path as osp
import re

README = osp.join(osp.dirname(__file__), '..', 'README.md')


def test_readme_usage_example_runs(office_dir, tmp_path):
    with open(README) as f:
        code = re.search(r'```python\n(.*?)```', f.read(), re.S).group(1)
    code = code.replace("'data', 'office', raw_dir='../shared/data/office'",
                        f"'{tmp_path}', 'office', raw_dir='{office_dir}'")
    assert office_dir in code  # the example still loads Office this way
    scope = {}
    exec(compile(code, 'README.md', 'exec'), scope)
    assert scope['view'].shape == (2000, 64)
    assert scope['user_out'].shape == (4905, 64)
    assert scope['item_out'].shape == (2420, 64)
