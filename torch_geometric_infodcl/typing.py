r"""Names shared by every layer of the package, as
:mod:`torch_geometric.typing` is for PyG."""
from typing import Tuple

EdgeType = Tuple[str, str, str]

#: The edge type of the interactions in every :class:`HeteroData` of the
#: package: :obj:`data[EDGE_TYPE].edge_index` holds (user, item) pairs.
EDGE_TYPE: EdgeType = ('user', 'interacts', 'item')
