r"""The GPU path (skipped without CUDA)."""
import pytest
import torch

from torch_geometric_infodcl.config import TrainConfig
from torch_geometric_infodcl.datasets.synthetic import generate_synthetic
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.models import InfoDCL, PyGLightGCN
from torch_geometric_infodcl.train import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA'),
]


def test_metrics_on_cuda_equal_cpu():
    torch.manual_seed(0)
    user, item = torch.randn(50, 16), torch.randn(40, 16)
    target = torch.stack([torch.arange(50), torch.arange(50) % 40])
    exclude = torch.stack([torch.arange(50), (torch.arange(50) + 1) % 40])
    cpu = full_rank_metrics(user, item, target, exclude, ks=(5, 20))
    gpu = full_rank_metrics(user.cuda(), item.cuda(), target.cuda(),
                            exclude.cuda(), ks=(5, 20))
    for key, value in cpu.items():
        assert gpu[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize('kind', ['lightgcn', 'infodcl'])
@pytest.mark.parametrize('bf16', [False, True])
def test_training_on_cuda(kind, bf16):
    data = generate_synthetic(num_users=200, num_items=100, avg_degree=10)
    torch.manual_seed(0)
    model = (PyGLightGCN(200, 100, dim=16) if kind == 'lightgcn' else
             InfoDCL(200, 100, dim=16, num_steps=20))
    config = TrainConfig(epochs=2, eval_every=1, batch_size=256,
                         device='cuda', bf16=bf16, progress=False)
    result = Trainer(model, data, config).fit()
    assert all(torch.isfinite(torch.tensor(list(row.values()))).all()
               for row in result['epoch_losses'])
    assert result['runtime']['device'] == 'cuda'
    assert 0.0 <= result['test']['recall@20'] <= 1.0
    assert next(model.parameters()).device.type == 'cuda'


def test_non_finite_loss_on_cuda_is_caught_at_the_epoch_end():
    data = generate_synthetic(num_users=200, num_items=100, avg_degree=10)
    torch.manual_seed(0)
    model = PyGLightGCN(200, 100, dim=16)
    with torch.no_grad():
        model.lightgcn.embedding.weight[0, 0] = float('nan')
    config = TrainConfig(epochs=1, batch_size=256, device='cuda',
                         progress=False)
    with pytest.raises(FloatingPointError,
                       match='non-finite training loss at epoch 1'):
        Trainer(model, data, config).fit()
