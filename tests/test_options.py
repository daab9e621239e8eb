import json

import pytest
import torch
from torch_geometric.data import HeteroData

import torch_geometric_infodcl.models as models
from torch_geometric_infodcl.config import (
    DataConfig,
    RunConfig,
    Spec,
    TrainConfig,
)
from torch_geometric_infodcl.experiment import build_model
from torch_geometric_infodcl.options import (
    ConfigError,
    docstring_args,
    format_config,
    option_table,
    read_config_file,
    resolve,
    split_config,
)


class Scaled(torch.nn.Module):
    r"""A toy model registered by the tests.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        dim (int, optional): Embedding size. (default: :obj:`8`)
        alpha (float, optional): A made-up weight of
            :obj:`dim` rows. (default: :obj:`0.5`)
        exact (bool, optional): Whether to be exact. (default: :obj:`True`)
    """
    def __init__(self, num_users: int, num_items: int, dim: int = 8,
                 alpha: float = 0.5, exact: bool = True) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(num_users + num_items, dim)
        self.alpha, self.exact = alpha, exact

    def loss(self, batch):
        return self.emb.weight.sum() * self.alpha, {}

    def embeddings(self, edge_index=None):
        return self.emb.weight[:2], self.emb.weight[2:]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(models.MODELS, 'scaled', Scaled)


# One source of defaults ######################################################


def test_model_defaults_come_from_the_constructors():
    table = option_table()
    # The constructors' defaults, written once there (hand-copied here).
    assert table['reg_weight'].defaults == {'infodcl': 0.003, 'mf': 1e-4,
                                            'lightgcn': 1e-4, 'simgcl': 1e-4,
                                            'xsimgcl': 1e-4,
                                            'graph-infodcl': 1e-4}
    assert table['layers'].defaults == {'infodcl': 2, 'mf': 2,
                                        'lightgcn': 3, 'simgcl': 3,
                                        'xsimgcl': 3, 'graph-infodcl': 3}
    assert table['steps'].defaults == {'infodcl': 200}
    assert table['steps'].param == 'num_steps'
    assert table['tau'].models == ('infodcl', 'graph-infodcl', 'simgcl',
                                   'xsimgcl')
    assert table['tau'].defaults == {'infodcl': 0.5, 'simgcl': 0.2,
                                     'xsimgcl': 0.15, 'graph-infodcl': 0.5}
    assert table['cl_layer'].models == ('xsimgcl', )
    assert table['l2_weight'].models == ('ease', )
    assert table['negatives'].default('infodcl') == 'full'
    # Training defaults are TrainConfig's; the device no longer drifts.
    assert table['device'].default('mf') == TrainConfig().device == 'cpu'
    assert table['epochs'].default('mf') == 1000
    assert table['ks'].default('mf') == [10, 20, 50]
    # Metadata options apply to models that take metadata only.
    assert table['top_k'].defaults == {'*': 20}
    assert table['top_k'].models == ('infodcl', 'graph-infodcl')
    assert table['metadata'].default('infodcl') == ['social', 'knowledge']
    # Help texts are the docstrings' descriptions.
    assert table['tau'].help == 'InfoNCE temperature.'
    assert table['lr'].help == 'Adam learning rate.'
    assert list(table)[:8] == ['dataset', 'root', 'raw_dir', 'format',
                               'metadata', 'metadata_base', 'top_k', 'model']
    assert table['format'].default('mf') == 'auto'


def test_resolve_fills_every_option_of_the_model_with_its_defaults():
    config = resolve([])
    assert config['model'] == 'infodcl'
    assert config['reg_weight'] == 0.003 and config['layers'] == 2
    assert config['epochs'] == 1000 and config['device'] == 'cpu'
    mf = resolve([], {'model': 'mf'})
    assert mf['reg_weight'] == 1e-4 and 'tau' not in mf
    assert 'metadata' not in mf and 'top_k' not in mf
    assert resolve([], {'model': 'lightgcn'})['layers'] == 3
    parts = split_config(mf)
    assert parts['model'] == {'dim': 64, 'num_layers': 2, 'reg_weight': 1e-4}
    TrainConfig(**parts['training'])
    DataConfig(**parts['data'])
    RunConfig(**parts['run'])


def test_a_registered_model_gets_its_options(registered):
    table = option_table()
    assert table['alpha'].defaults == {'scaled': 0.5}
    assert table['alpha'].help == 'A made-up weight of dim rows.'
    assert table['exact'].spec == Spec('bool')
    assert table['dim'].defaults['scaled'] == 8
    config = resolve([], {'model': 'scaled', 'alpha': 0.7})
    assert (config['alpha'], config['exact'], config['dim']) == (0.7, True, 8)

    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = 2, 3
    model = build_model('scaled', data, **split_config(config)['model'])
    assert isinstance(model, Scaled) and model.alpha == 0.7
    with pytest.raises(ConfigError, match="--alpha does not apply to model "
                       "'mf'"):
        resolve([], {'model': 'mf', 'alpha': 0.7})


def test_a_hyperparameter_without_default_is_refused(monkeypatch):
    class NoDefault(Scaled):
        def __init__(self, num_users, num_items, width):
            super().__init__(num_users, num_items)

    monkeypatch.setitem(models.MODELS, 'bad', NoDefault)
    with pytest.raises(TypeError, match="'width' has no default"):
        option_table()


def test_a_hyperparameter_clashing_with_a_training_option_is_refused(
        monkeypatch):
    class Clash(Scaled):
        def __init__(self, num_users, num_items, lr: float = 0.1):
            super().__init__(num_users, num_items)

    monkeypatch.setitem(models.MODELS, 'clash', Clash)
    with pytest.raises(TypeError, match="'lr' clashes with the option 'lr'"):
        option_table()


# Merging, files and errors ###################################################


def write(path, text):
    path.write_text(text)
    return str(path)


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    path = write(tmp_path / 'run.yaml',
                 'model: mf\nlr: 0.01\nepochs: 7\nks: [5, 20]\n')
    config = resolve([(path, read_config_file(path))], {'lr': 0.02})
    assert (config['model'], config['lr'], config['epochs']) == ('mf', 0.02,
                                                                 7)
    assert config['ks'] == [5, 20] and config['batch_size'] == 2000


def test_yaml_exponent_without_dot_reads_as_a_float(tmp_path):
    # YAML 1.1 reads 1e-4 as a string.
    path = write(tmp_path / 'run.yml', 'model: mf\nreg_weight: 1e-4\n')
    assert resolve([(path, read_config_file(path))])['reg_weight'] == 1e-4


@pytest.mark.parametrize('text,match', [
    ('model: mf\nbatchsize: 10\n',
     r"run.yaml: key 'batchsize': unknown option; did you mean batch_size"),
    ('model: mf\ntau: 0.2\n',
     r"run.yaml: key 'tau' does not apply to model 'mf'"),
    ('epochs: 0\n', r"run.yaml: key 'epochs' must be >= 1 \(got 0\)"),
    ('epochs: ten\n', r"run.yaml: key 'epochs' must be an int"),
    ('lr: .nan\n', r"run.yaml: key 'lr' must be finite and > 0"),
    ('bf16: 1\n', r"run.yaml: key 'bf16' must be a bool"),
    ('metadata: [social, genre]\n',
     r"run.yaml: key 'metadata': unknown metadata channel\(s\) "
     r"\['genre'\]"),
    ('schedule: quadratic\n',
     r"run.yaml: key 'schedule' must be one of linear, cosine, exp, sqrt"),
    ('negatives: some\n', r"'negatives' must be 'full', 'in_batch'"),
    ('model: transformer\n', r"key 'model' must be one of infodcl"),
])
def test_file_errors_name_the_file_and_key(tmp_path, text, match):
    path = write(tmp_path / 'run.yaml', text)
    with pytest.raises(ConfigError, match=match):
        resolve([(path, read_config_file(path))])


def test_flag_errors_name_the_flag():
    with pytest.raises(ConfigError, match=r"--tau does not apply to model "
                       r"'lightgcn' \(it applies to infodcl, graph-infodcl, simgcl, "
                       r"xsimgcl\)"):
        resolve([], {'model': 'lightgcn', 'tau': 0.3})


def test_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match='flat mapping.*got a list'):
        read_config_file(write(tmp_path / 'a.yaml', '- 1\n- 2\n'))
    with pytest.raises(ConfigError, match="'.*b.json' is not valid JSON"):
        read_config_file(write(tmp_path / 'b.json', '{"lr": 0.1,}'))
    with pytest.raises(ConfigError, match="is not valid YAML"):
        read_config_file(write(tmp_path / 'c.yaml', 'lr: [0.1\n'))
    with pytest.raises(ConfigError, match=r"unknown configuration format "
                       r"'.toml'"):
        read_config_file(write(tmp_path / 'd.toml', 'lr = 0.1\n'))
    with pytest.raises(FileNotFoundError):
        read_config_file(str(tmp_path / 'missing.yaml'))
    assert read_config_file(write(tmp_path / 'e.yaml', '')) == {}


@pytest.mark.parametrize('kind', ['.yaml', '.json'])
def test_written_configuration_reads_back_identically(tmp_path, kind):
    config = resolve([], {'negatives': 256, 'metadata': ['social'],
                          'raw_dir': 'some/where', 'max_grad_norm': 1.5})
    path = write(tmp_path / f'config{kind}', format_config(config, kind))
    again = resolve([(path, read_config_file(path))])
    assert again == config
    assert list(again) == list(config)
    if kind == '.json':
        assert json.loads(open(path).read()) == config


def test_docstring_args():
    assert docstring_args(Scaled) == {
        'num_users': 'Number of users.',
        'num_items': 'Number of items.',
        'dim': 'Embedding size.',
        'alpha': 'A made-up weight of dim rows.',
        'exact': 'Whether to be exact.',
    }
    assert docstring_args(int) == {}


class Noisy(Scaled):
    r"""A toy model whose :obj:`noise` takes other values than InfoDCL's and
    that recommends its own learning rate.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        noise (str, optional): The noise kind. (default: :obj:`"uniform"`)
    """
    training_defaults = {'lr': 1e-3, 'batch_size': 512}

    def __init__(self, num_users: int, num_items: int,
                 noise: str = 'uniform') -> None:
        super().__init__(num_users, num_items)
        self.noise = noise


def test_models_may_differ_in_valid_values_and_training_defaults(
        monkeypatch):
    monkeypatch.setitem(models.MODELS, 'noisy', Noisy)
    table = option_table()
    assert table['noise'].defaults == {'infodcl': 'psnet', 'graph-infodcl': 'psnet',
                                       'noisy': 'uniform'}
    assert table['noise'].spec == Spec('str')  # The command line's.
    assert table['noise'].spec_for('infodcl').choices == ('psnet',
                                                          'gaussian')
    assert resolve([], {'model': 'noisy', 'noise': 'salt'})['noise'] == 'salt'
    with pytest.raises(ConfigError, match=r"--noise must be one of psnet, "
                       r"gaussian \(got 'salt'\)"):
        resolve([], {'noise': 'salt'})  # InfoDCL's choices.

    assert table['lr'].defaults == {'*': 0.005, 'noisy': 1e-3,
                                    'simgcl': 1e-3, 'xsimgcl': 1e-3,
                                    'graph-infodcl': 1e-3}
    noisy = resolve([], {'model': 'noisy'})
    assert (noisy['lr'], noisy['batch_size']) == (1e-3, 512)
    assert resolve([], {'model': 'noisy', 'lr': 0.1})['lr'] == 0.1
    assert resolve([])['lr'] == 0.005

    monkeypatch.setattr(Noisy, 'training_defaults', {'dim': 3})
    with pytest.raises(TypeError, match="'dim' is not a training option"):
        option_table()


def test_option_names_of_earlier_versions(tmp_path):
    path = write(tmp_path / 'old.yaml', 'baseline_reg: 0.01\nno_psnet: true\n'
                 'no_balance: false\nno_progress: true\n')
    config = resolve([(path, read_config_file(path))])
    assert (config['reg_weight'], config['noise']) == (0.01, 'gaussian')
    assert (config['balance'], config['progress']) == ('norm', False)
    path = write(tmp_path / 'bad.yaml', 'no_psnet: 1\n')
    with pytest.raises(ConfigError, match=r"bad.yaml: key 'no_psnet' must "
                       r"be a bool \(got int 1\)"):
        resolve([(path, read_config_file(path))])
