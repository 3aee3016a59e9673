"""Slimmable layers: full width is the wrapped tfc layer, narrow widths use exactly the slices."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfcomp.layers.slimmable import (GDN_VARIANTS, ModulatedGDN, SlimmableGDN, SlimmableSignalConv2D,
                                     SwitchableGDN, slimmable_gdn)

# (kernel, stride, corr): the analysis layers correlate and downsample, the synthesis layers upsample.
DIRECTIONS = [(9, 4, True), (5, 2, True), (5, 2, False), (9, 4, False)]
SIZES = [(7, 10), (8, 9), (16, 16)]  # odd and even sizes, and one that divides every stride


def _conv(in_channels: int, filters: int, kernel: int, stride: int, corr: bool) -> SlimmableSignalConv2D:
    layer = SlimmableSignalConv2D(in_channels, filters, (kernel, kernel), corr=corr,
                                  **({"strides_down": stride} if corr else {"strides_up": stride}))
    layer.build((None, None, None, in_channels))
    # A non-zero bias, so that slicing it is tested too.
    layer.conv.bias_parameter.assign(tf.random.normal([filters]))
    return layer


def _down_reference(x, kernel, bias, stride):
    """tfc's 'same_zeros' correlation with downsampling: symmetric zero padding, then every stride-th."""
    p = kernel.shape[0] // 2
    return tf.nn.conv2d(x, kernel, stride, [[0, 0], [p, p], [p, p], [0, 0]]) + bias


def _up_reference(x, kernel, bias, stride):
    """tfc's 'same_zeros' upsampled convolution: zeros inserted after each sample, then a 'SAME'
    convolution (a correlation with the flipped kernel)."""
    b, h, w, c = x.shape
    upsampled = np.zeros((b, h * stride, w * stride, c), np.float32)
    upsampled[:, ::stride, ::stride, :] = x
    return tf.nn.conv2d(upsampled, kernel[::-1, ::-1], 1, "SAME") + bias


@pytest.mark.parametrize("kernel,stride,corr", DIRECTIONS)
@pytest.mark.parametrize("size", SIZES)
def test_full_width_is_the_wrapped_tfc_layer(kernel, stride, corr, size):
    layer = _conv(6, 5, kernel, stride, corr)
    x = tf.random.normal((2, *size, 6))
    np.testing.assert_array_equal(layer(x), layer.conv(x))
    np.testing.assert_array_equal(layer(x, 5), layer.conv(x))


@pytest.mark.parametrize("kernel,stride,corr", DIRECTIONS)
@pytest.mark.parametrize("size", SIZES[:2])
def test_narrow_width_uses_exactly_the_sliced_parameters(kernel, stride, corr, size):
    layer = _conv(8, 6, kernel, stride, corr)
    x = tf.random.normal((1, *size, 5))  # the leading 5 of 8 input channels
    out = layer(x, 3)
    kernel_slice, bias_slice = layer.conv.kernel[:, :, :5, :3], layer.conv.bias[:3]
    # A fresh narrow tfc layer whose parameters are set to the slices ...
    fresh = tfc.SignalConv2D(3, (kernel, kernel), corr=corr, padding="same_zeros", use_bias=True,
                             kernel_parameter="variable",
                             **({"strides_down": stride} if corr else {"strides_up": stride}))
    fresh.build((None, None, None, 5))
    fresh.kernel_parameter.assign(kernel_slice)
    fresh.bias_parameter.assign(bias_slice)
    np.testing.assert_array_equal(out, fresh(x))
    # ... and plain TensorFlow convolution with the slices, padding written out by hand.
    reference = (_down_reference if corr else _up_reference)(x.numpy(), kernel_slice.numpy(), bias_slice, stride)
    np.testing.assert_allclose(out, reference, atol=1e-5)


@pytest.mark.parametrize("kernel,stride,corr", DIRECTIONS)
@pytest.mark.parametrize("size", SIZES[:2])
def test_inference_path_computes_the_same_function(kernel, stride, corr, size):
    """The decoding path (kernel from the sliced RDFT parameters, upsampling as a sub-pixel convolution) gives
    the training path's outputs within float rounding, at full and narrow widths."""
    layer = _conv(8, 6, kernel, stride, corr)
    for in_channels, filters in ((8, 6), (5, 3)):
        x = tf.random.normal((1, *size, in_channels))
        np.testing.assert_allclose(layer.sliced_kernel(in_channels, filters),
                                   layer.conv.kernel[:, :, :in_channels, :filters], atol=1e-6)
        np.testing.assert_allclose(layer(x, filters, inference=True), layer(x, filters), atol=1e-5)


def test_narrow_output_equals_leading_channels_of_full_output():
    """A slimmable layer's width-k output is the first k channels of the full output (same input)."""
    layer = _conv(4, 6, 5, 2, True)
    x = tf.random.normal((1, 9, 9, 4))
    # A 2-channel and a 6-channel convolution may add their products in another order (oneDNN picks kernels by
    # shape and processor): equal within float32 rounding of sums of about 100 products, not bit for bit.
    np.testing.assert_allclose(layer(x, 2), layer(x)[..., :2], atol=1e-5)


def test_conv_without_bias_and_bad_widths():
    layer = SlimmableSignalConv2D(4, 6, (5, 5), corr=True, strides_down=2, use_bias=False)
    x = tf.random.normal((1, 8, 8, 4))
    np.testing.assert_array_equal(layer(x), layer.conv(x))
    with pytest.raises(ValueError, match="cannot run"):
        layer(tf.zeros((1, 8, 8, 5)))
    with pytest.raises(ValueError, match="cannot run"):
        layer(x, 7)


def _set(parameter: tfc.GDNParameter, value) -> None:
    """Gives a tfc GDN parameter this (non-negative) value through its square-root reparameterization."""
    parameter.variable.assign(tf.sqrt(tf.convert_to_tensor(value, tf.float32) + parameter.offset ** 2))


def _random_gdn(layer: SlimmableGDN) -> None:
    full = max(layer.widths)
    _set(layer.gdn.gamma_parameter, tf.random.uniform((full, full), 0.0, 0.5))
    _set(layer.gdn.beta_parameter, tf.random.uniform((full,), 0.5, 1.5))


def _gdn_reference(x, gamma, beta, inverse):
    """tfc.GDN's default (simplified) form: x / (beta + |x| gamma), or x * (...) for the inverse."""
    norm = beta + np.einsum("bhwi,ij->bhwj", np.abs(x), gamma)
    return x * norm if inverse else x / norm


WIDTHS = (8, 6, 4)


@pytest.mark.parametrize("inverse", [False, True])
def test_slimmable_gdn_width_is_a_tfc_gdn_with_the_slices(inverse):
    layer = SlimmableGDN(WIDTHS, inverse=inverse)
    layer.build((None, None, None, 8))
    _random_gdn(layer)
    x = tf.random.normal((2, 5, 7, 6))
    gamma, beta = layer.gdn.gamma[:6, :6], layer.gdn.beta[:6]
    fresh = tfc.GDN(inverse=inverse)
    fresh.build((None, None, None, 6))
    _set(fresh.gamma_parameter, gamma)
    _set(fresh.beta_parameter, beta)
    np.testing.assert_allclose(layer(x), fresh(x), rtol=1e-6)
    np.testing.assert_allclose(layer(x), _gdn_reference(x.numpy(), gamma.numpy(), beta.numpy(), inverse), rtol=1e-5)
    # Full width is the shared tfc layer itself.
    x8 = tf.random.normal((1, 3, 3, 8))
    np.testing.assert_array_equal(layer(x8), layer.gdn(x8))


@pytest.mark.parametrize("inverse", [False, True])
def test_switchable_gdn_widths_are_independent(inverse):
    layer = SwitchableGDN(WIDTHS, inverse=inverse)
    x6, x4 = tf.random.normal((1, 4, 4, 6)), tf.random.normal((1, 4, 4, 4))
    before6, before4 = layer(x6), layer(x4)
    np.testing.assert_array_equal(before6, layer.gdns[1](x6))
    _set(layer.gdns[1].beta_parameter, tf.fill([6], 3.0))
    assert not np.allclose(layer(x6), before6)
    np.testing.assert_array_equal(layer(x4), before4)
    assert [v.shape.as_list() for v in layer.trainable_variables if "gamma" in v.name] == [[8, 8], [6, 6], [4, 4]]


@pytest.mark.parametrize("inverse", [False, True])
def test_modulated_gdn_starts_as_slimmable_and_modulates_one_width(inverse):
    slim = SlimmableGDN(WIDTHS, inverse=inverse)
    modulated = ModulatedGDN(WIDTHS, inverse=inverse)
    for layer in (slim, modulated):
        layer.build((None, None, None, 8))
    _random_gdn(slim)
    modulated.gdn.set_weights(slim.gdn.get_weights())
    xs = [tf.random.normal((1, 4, 5, w)) for w in WIDTHS]
    for x in xs:
        np.testing.assert_array_equal(modulated(x), slim(x))
    _set(modulated.gamma_scale, [1.0, 2.0, 1.0])
    _set(modulated.beta_offset, [0.0, 0.5, 0.0])
    assert not np.allclose(modulated(xs[1]), slim(xs[1]))
    gamma, beta = slim.parameters(1)
    np.testing.assert_allclose(modulated(xs[1]), _gdn_reference(xs[1].numpy(), 2 * gamma.numpy(), beta.numpy() + 0.5,
                                                                inverse), rtol=1e-5)
    for i in (0, 2):
        np.testing.assert_array_equal(modulated(xs[i]), slim(xs[i]))


def test_modulated_gdn_keeps_its_parameters_non_negative_and_beta_positive():
    layer = ModulatedGDN(WIDTHS)
    layer.build((None, None, None, 8))
    for parameter in (layer.gamma_scale, layer.gamma_offset, layer.beta_scale, layer.beta_offset):
        parameter.variable.assign(tf.fill([3], -5.0))  # as far below zero as a gradient step could push it
        assert np.all(parameter().numpy() >= 0)
    gamma, beta = layer.parameters(2)
    assert np.all(gamma.numpy() >= 0) and np.all(beta.numpy() > 0)
    assert np.all(np.isfinite(layer(tf.random.normal((1, 3, 3, 4)))))


def test_gdn_variants_by_name_and_width_checks():
    assert {name: type(slimmable_gdn(name, WIDTHS)) for name in GDN_VARIANTS} == {
        "switchable": SwitchableGDN, "slimmable": SlimmableGDN, "modulated": ModulatedGDN}
    with pytest.raises(ValueError, match="unknown GDN variant"):
        slimmable_gdn("batchnorm", WIDTHS)
    with pytest.raises(ValueError, match="runs at"):
        slimmable_gdn("slimmable", WIDTHS)(tf.zeros((1, 2, 2, 5)))


def test_gradients_reach_the_shared_parameters_from_a_narrow_width():
    conv = _conv(4, 6, 5, 2, True)
    gdn = ModulatedGDN((6, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gdn(conv(tf.random.normal((1, 8, 8, 4)), 3)) ** 2)
    variables = conv.trainable_variables + gdn.trainable_variables
    gradients = tape.gradient(loss, variables)
    assert all(g is not None for g in gradients), [v.name for v, g in zip(variables, gradients) if g is None]
