from setuptools import find_packages, setup

__version__ = '0.1.0'

install_requires = [
    'torch>=2.1',
    'torch_geometric>=2.5',
    'numpy',
    'scipy',
    'tqdm',
    'pyyaml',  # every run writes its configuration as YAML
]

extras_require = {
    # The tuner's tests run in the suite, so the test extra carries its needs.
    'test': ['pytest', 'hypothesis', 'optuna>=3.0', 'pyyaml'],
    'tune': ['optuna>=3.0', 'pyyaml'],
    'plot': ['matplotlib'],
    'sparse': ['torch_sparse'],
    'ogb': ['ogb'],
}

setup(
    name='torch_geometric_infodcl',
    version=__version__,
    description=('InfoDCL (informative-noise diffusion contrastive learning '
                 'for recommendation) as composable PyTorch Geometric modules'),
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require=extras_require,
    packages=find_packages(include=['torch_geometric_infodcl',
                                    'torch_geometric_infodcl.*']),
)
