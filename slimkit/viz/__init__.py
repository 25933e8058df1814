"""Pictures of skeletons, retrieval results and embedding spaces (needs ``pip install 'slimkit[viz]'``).

Every function draws with matplotlib's Agg renderer on a matplotlib `Figure` of its own (no
pyplot state, no window), so it works the same in scripts, tests, servers and notebooks; pass ``ax`` to draw
into a figure you manage yourself.

Conventions:

* a frame is ``(V, C)``; a sequence ``(T, V, C)`` or ``(M, T, V, C)`` (persons);
* missing joints (``NaN`` or exactly all-zero, as everywhere in slimkit) are not drawn, and neither is any
  bone that touches one;
* 2-D data (``C == 2``, or ``(x, y, score)`` with ``C == 3`` when you say ``y_down=True``) are pixel
  coordinates with y pointing down; 3-D data use the Kinect / NTU camera frame, y up, and are drawn from
  the front (x, y) unless you ask for a 3-D axes;
* bones of the person's left side are blue, of the right side red, the rest grey.

Modules: ``skeleton`` (frames and GIFs), ``grid`` (retrieval results), ``charts`` (embedding maps, confusion
matrices, training curves); matplotlib is imported only inside the functions that draw (an optional extra).
"""

from __future__ import annotations

from .charts import plot_confusion_matrix, plot_embedding_map, plot_metrics
from .grid import plot_retrieval_grid
from .skeleton import CENTER_COLOR as CENTER_COLOR  # bone colours: centre, left, right
from .skeleton import LEFT_COLOR as LEFT_COLOR
from .skeleton import RIGHT_COLOR as RIGHT_COLOR
from .skeleton import animate, plot_skeleton

__all__ = [
    "plot_skeleton",
    "animate",
    "plot_retrieval_grid",
    "plot_embedding_map",
    "plot_confusion_matrix",
    "plot_metrics",
]
