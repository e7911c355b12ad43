"""Stage 03's feature options on hand-made cases."""
import keras
import numpy as np

from prodcluster.features import photo_vectors


def tiny_network():
    inputs = keras.Input((4, 6, 3))
    outputs = keras.layers.Dense(5, kernel_initializer=keras.initializers.RandomNormal(seed=1))(
        keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_flip_averages_each_photo_with_its_mirror_image():
    network = tiny_network()
    photos = np.random.default_rng(0).uniform(0, 255, (2, 4, 6, 3)).astype(np.float32)
    mirrored = photos[:, :, ::-1]
    plain, of_mirror = network.predict_on_batch(photos), network.predict_on_batch(mirrored)
    np.testing.assert_allclose(photo_vectors(network, photos), plain, rtol=1e-6)
    np.testing.assert_allclose(photo_vectors(network, photos, flip=True), (plain + of_mirror) / 2, rtol=1e-5)
    np.testing.assert_allclose(photo_vectors(network, photos, flip=True), photo_vectors(network, mirrored, flip=True),
                               rtol=1e-5)  # a photo and its mirror image get one vector
    assert not np.allclose(plain, of_mirror)
