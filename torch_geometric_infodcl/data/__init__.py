from .sampling import TrainBatch, NegativeSampler

__all__ = [
    'TrainBatch',
    'NegativeSampler',
]
