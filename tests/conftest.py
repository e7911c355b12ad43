import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prodcluster.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One cache of converted weights and LiteRT networks for every test and every script it starts, so each
    conversion is made once."""
    cache = tmp_path_factory.mktemp("cache")
    before = os.environ.get("PRODCLUSTER_CACHE_DIR")
    os.environ["PRODCLUSTER_CACHE_DIR"] = str(cache)
    yield cache
    if before is None:
        del os.environ["PRODCLUSTER_CACHE_DIR"]
    else:
        os.environ["PRODCLUSTER_CACHE_DIR"] = before


@pytest.fixture(scope="session", autouse=True)
def settings_at(shared_cache):
    """Small, fast settings for a data set under `root`."""
    return lambda root: Settings(dataset="tiny", root=root, seed=7, batch_size=8, image_size=64, epochs=2,
                                 train_fraction=0.5, workers=1, min_finetune_photos=1, cache_dir=str(shared_cache))


@pytest.fixture
def settings(tmp_path, settings_at):
    """Settings whose folders all live in a temporary directory."""
    return settings_at(tmp_path)
