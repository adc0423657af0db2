"""Data for ``cnnc train``, ``eval`` and ``predict``: SOURCE strings, the standard data sets (downloaded
into a cache), the user's ``.npz`` files and image folders, and generated data.

    splits = load_source("mnist:../shared/data/mnist", network_input, 10)   # Splits(train=None, test=10,000)
    splits = splits.with_holdout(0.2)                                      # first 8,000 / last 2,000
"""

from cnnc.data.dataset import DataError, Dataset, Splits
from cnnc.data.images import conform, load_image
from cnnc.data.inputs import load_inputs
from cnnc.data.sources import DataSource, load_source, parse_source

__all__ = ["DataError", "DataSource", "Dataset", "Splits", "conform", "load_image", "load_inputs",
           "load_source", "parse_source"]
