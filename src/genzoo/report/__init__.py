"""What people look at: the static HTML report of runs and the one-command zoo comparison.

* :func:`build_report` (``genzoo report RUN... --out DIR``): per run a model card, training
  curves, test metrics labelled exact / bound / estimate, the run's figures and its sample
  quality; across runs a comparison table grouped by the lecture's taxonomy and two plots. The
  page opens offline (images beside it or embedded, nothing fetched).
* :func:`run_zoo` (``genzoo zoo``): one representative of each family trained on the same data
  and budget, evaluated on the same metrics, then reported.
"""

from genzoo.report.cards import FAMILIES, RunCard, family_of, paper_of, read_card
from genzoo.report.html import build_report, metric_rows
from genzoo.report.table import Row, comparison
from genzoo.report.zoo import DEFAULT_MODELS, ZooResult, run_zoo

__all__ = [
    "DEFAULT_MODELS",
    "FAMILIES",
    "Row",
    "RunCard",
    "ZooResult",
    "build_report",
    "comparison",
    "family_of",
    "metric_rows",
    "paper_of",
    "read_card",
    "run_zoo",
]
