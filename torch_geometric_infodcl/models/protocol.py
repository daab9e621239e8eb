r"""The contract between a model and
:class:`~torch_geometric_infodcl.train.Trainer`."""
from typing import (
    Any,
    Dict,
    List,
    Optional,
    Protocol,
    Tuple,
    runtime_checkable,
)

from torch import Tensor

from torch_geometric_infodcl.data.sampling import TrainBatch


@runtime_checkable
class RecommenderModel(Protocol):
    r"""What :class:`~torch_geometric_infodcl.train.Trainer` needs from a
    model (a :class:`torch.nn.Module`).

    :meth:`loss` returns the scalar training objective of a batch of
    (user, positive item, negative item) triples and its named terms (logged
    per epoch); :meth:`embeddings` returns the user and item embeddings that
    are scored by inner product, given the (user, item) training
    :obj:`edge_index` (:obj:`[2, E]`, row 0 users, row 1 items). The trainer
    calls :meth:`embeddings` under :func:`torch.no_grad` in :meth:`eval`
    mode.
    """
    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        ...

    def embeddings(self, edge_index: Optional[Tensor] = None,
                   ) -> Tuple[Tensor, Tensor]:
        ...


@runtime_checkable
class GraphModel(Protocol):
    r"""A model that trains on the graph: :meth:`set_graph` receives the
    (user, item) training :obj:`edge_index` once, before training (e.g.
    :class:`~torch_geometric_infodcl.models.baselines.PyGLightGCN`)."""
    def set_graph(self, edge_index: Tensor) -> None:
        ...


def require_graph(model: Any, graph: Any) -> Any:
    r"""Returns :obj:`graph`, the training graph a :class:`GraphModel`
    derived in :meth:`set_graph`, or raises a :class:`ValueError` naming
    :obj:`model` if it was never set (:obj:`None`)."""
    if graph is None:
        raise ValueError(
            f"{type(model).__name__} has no training graph: pass "
            f"'edge_index' to the constructor or call set_graph(edge_index) "
            f"before training")
    return graph


@runtime_checkable
class ClosedFormModel(Protocol):
    r"""A model fitted without gradient training (:obj:`closed_form = True`,
    e.g. :class:`~torch_geometric_infodcl.models.ease.EASE`): it offers
    :obj:`num_fits` candidate fits (e.g. one per L2 weight of a grid);
    :class:`~torch_geometric_infodcl.train.Trainer` calls :meth:`fit` for
    each in turn in place of an epoch and selects among them on validation.
    :meth:`selected` describes the fit the model holds (the chosen
    hyperparameters), :meth:`embeddings` returns the factors whose inner
    products are the scores."""
    closed_form: bool
    num_fits: int

    def fit(self, edge_index: Tensor, index: int) -> None:
        ...

    def selected(self) -> Dict[str, Any]:
        ...

    def embeddings(self, edge_index: Optional[Tensor] = None,
                   ) -> Tuple[Tensor, Tensor]:
        ...


def check_fit_index(index: Any, num_fits: int, candidate: str) -> int:
    r"""Checks the :obj:`index` of a closed-form model's candidate fit
    (one per :obj:`candidate`, *e.g.* "candidate L2 weight") and returns
    it."""
    if isinstance(index, bool) or not isinstance(index, int) or \
            not 0 <= index < num_fits:
        raise ValueError(f"'index' must be an int in 0..{num_fits - 1} (one "
                         f"per {candidate}; got {index!r})")
    return index


def missing_methods(model: Any, protocol: type) -> List[str]:
    r"""Returns the methods of :obj:`protocol` that :obj:`model` lacks."""
    methods = [name for name, value in vars(protocol).items()
               if callable(value) and not name.startswith('_')]
    return [name for name in methods
            if not callable(getattr(model, name, None))]
