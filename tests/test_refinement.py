"""Optional refinements of the vectors before clustering, on hand-made cases."""
import numpy as np
import pytest

from prodcluster.refinement import expanded_by_neighbours, refined, whitened


def test_neighbour_expansion_adds_each_vector_s_nearest_others():
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expanded = expanded_by_neighbours(vectors, 1)
    first = vectors[0] + vectors[1]
    np.testing.assert_allclose(expanded[0], first / np.linalg.norm(first), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(expanded, axis=1), 1, rtol=1e-6)
    assert expanded[0] @ expanded[1] > vectors[0] @ vectors[1]  # the pair moved closer


def test_whitening_keeps_the_leading_components_with_shrunk_variances():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 6)) * np.array([10, 5, 1, 1, 0.1, 0.1])
    out = whitened(vectors.astype(np.float32), 3)
    assert out.shape == (200, 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)
    spread = out.std(axis=0)
    assert spread.max() / spread.min() < 10 / 1  # the raw spread ratio of the first to the third is 10


def test_refined_does_nothing_when_both_are_off_but_normalise():
    vectors = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(refined(vectors), [[0.6, 0.8], [1.0, 0.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="neighbours must be a whole number"):
        refined(vectors, neighbours=-1)
