"""The evaluation plots as PNG images: confusion matrix, ROC and precision-recall.

Images render anywhere (``dvc plots show`` draws the CSVs with vega too, inlined by
``training.plots_html``), and MLflow shows them with the run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a build machine

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)

#: The images written, by file name.
IMAGES = ("confusion.png", "roc.png", "precision_recall.png")


def write_images(actual: np.ndarray, probability: np.ndarray, out_dir: Path) -> list[Path]:
    """Write the three plots of positive-class ``probability`` against ``actual`` (bool)."""
    predicted = probability >= 0.5
    written = []
    for name in IMAGES:
        figure, axes = plt.subplots(figsize=(5, 4.5), dpi=100)
        if name == "confusion.png":
            ConfusionMatrixDisplay.from_predictions(
                actual,
                predicted,
                display_labels=["negative", "positive"],
                ax=axes,
                colorbar=False,
            )
            axes.set_title("Confusion matrix (held-out reviews)")
        elif name == "roc.png":
            RocCurveDisplay.from_predictions(actual, probability, ax=axes, name="model")
            axes.set_title("ROC curve (held-out reviews)")
            axes.set(xlabel="false positive rate", ylabel="true positive rate")
        else:
            PrecisionRecallDisplay.from_predictions(actual, probability, ax=axes, name="model")
            axes.set_title("Precision-recall (held-out reviews)")
            axes.set(xlabel="recall of positive reviews", ylabel="precision of positive reviews")
        figure.tight_layout()
        path = out_dir / name
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
