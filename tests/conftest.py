import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prodcluster.settings import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    """Settings whose folders all live in a temporary directory."""
    return Settings(dataset="tiny", root=tmp_path, seed=7, batch_size=8, image_size=64, epochs=2,
                    train_fraction=0.5, workers=1, min_finetune_photos=1)
