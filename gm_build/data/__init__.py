"""``make data``: the datasets the course reads, fetched from their sources or a Hub mirror, checked and installed."""

from gm_build.data.errors import FetchError
from gm_build.data.install import default_datasets, fetch_datasets
from gm_build.data.sources import DATASETS

__all__ = ["DATASETS", "FetchError", "default_datasets", "fetch_datasets"]
