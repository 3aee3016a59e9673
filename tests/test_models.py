"""bls2017 and its decoder variants: shapes, parameter counts of the faster-decoder thesis, coding round trips."""
import numpy as np
import pytest
import tensorflow as tf

from tfcomp.models.bls2017 import BLS2017, DECODER_VARIANTS, synthesis_transform

# The faster-decoder thesis, table 4.2: decoder parameters at N=192 (tfc's RDFT kernel parameterization).
SEED_002_DECODER_PARAMS = {"baseline": 2338179, "2L": 1195011, "K3x3": 1011075,
                           "2L-K3x3": 531459, "2L-K9x9": 3406851}


@pytest.mark.parametrize("decoder", sorted(DECODER_VARIANTS))
def test_decoder_parameter_counts_match_seed_002(decoder):
    transform = synthesis_transform(192, decoder)
    transform.build((None, None, None, 192))
    assert sum(w.shape.num_elements() for w in transform.weights) == SEED_002_DECODER_PARAMS[decoder]


@pytest.mark.parametrize("decoder", sorted(DECODER_VARIANTS))
def test_variant_shapes_and_round_trip(decoder):
    model = BLS2017(lmbda=0.01, num_filters=8, decoder=decoder)
    x = tf.random.uniform((2, 64, 48, 3), 0, 255)
    loss, bpp, mse = model(x, training=True)
    assert loss.shape == () and float(bpp) > 0 and float(mse) > 0
    assert model.analysis_transform(x).shape == (2, 4, 3, 8)
    assert model.synthesis_transform(tf.zeros((1, 4, 3, 8))).shape == (1, 64, 48, 3)
    model.enable_coding()
    image = tf.cast(tf.random.uniform((37, 53, 3), 0, 255), tf.uint8)  # not a multiple of 16
    strings, shapes = model.compress(image)
    assert shapes.numpy().tolist() == [[3, 4]]
    decoded = model.decompress(strings, tf.constant([37, 53]), shapes)
    assert decoded.shape == (37, 53, 3) and decoded.dtype == tf.uint8
    # Decoding the same string twice is deterministic, and equals synthesis of the rounded latents.
    y_hat = model.entropy_decode(strings, shapes)
    np.testing.assert_array_equal(decoded, model.synthesize(y_hat, tf.constant([37, 53])))
    np.testing.assert_array_equal(decoded, model.decompress(strings, tf.constant([37, 53]), shapes))


def test_unknown_decoder_and_distortion_are_rejected():
    with pytest.raises(ValueError, match="unknown decoder"):
        BLS2017(decoder="4L")
    with pytest.raises(ValueError, match="unknown distortion"):
        BLS2017(distortion="lpips")


def test_ms_ssim_distortion_trains_on_small_crops():
    model = BLS2017(lmbda=10.0, num_filters=8, distortion="ms-ssim")
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    crops = tf.random.uniform((4, 64, 64, 3), 0, 255)
    logs = model.fit(tf.data.Dataset.from_tensor_slices(crops).batch(2), epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])


def test_estimated_bits_match_the_real_file_size():
    """The entropy model's rate estimate is what the range coder really spends (within 3%)."""
    from tfcomp.samples import SAMPLE_IMAGE
    from PIL import Image

    image = np.asarray(Image.open(SAMPLE_IMAGE).convert("RGB"))[:256, :256]
    model = BLS2017(lmbda=0.01, num_filters=16)
    model.enable_coding()
    y = model.analysis_transform(tf.cast(image[None], tf.float32))
    _, bits = model.entropy_model(y, training=False)
    strings, _ = model.compress(image)
    real_bits = 8 * len(strings.numpy()[0])
    assert abs(real_bits - float(bits[0])) / real_bits < 0.03


def test_hyperprior_round_trip_with_two_parts():
    from tfcomp.models.bmshj2018 import BMSHJ2018

    model = BMSHJ2018(lmbda=0.01, num_filters=8, num_hyper_filters=8)
    loss, bpp, mse = model(tf.random.uniform((1, 64, 64, 3), 0, 255), training=True)
    assert float(bpp) > 0 and float(mse) > 0
    model.enable_coding()
    image = tf.cast(tf.random.uniform((70, 90, 3), 0, 255), tf.uint8)  # latents 5x6, hyper-latents 2x2
    strings, shapes = model.compress(image)
    assert strings.shape == (2,) and shapes.numpy().tolist() == [[5, 6], [2, 2]]
    decoded = model.decompress(strings, tf.constant([70, 90]), shapes)
    assert decoded.shape == (70, 90, 3)
    np.testing.assert_array_equal(decoded, model.decompress(strings, tf.constant([70, 90]), shapes))
    assert float(model.estimate_bits(image)) > 0
