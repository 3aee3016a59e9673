"""The lighter decoder variants of bls2017 (the faster-decoder thesis, docs/systems.md), free of TensorFlow so the
JAX GPU trainer can read them too."""

# Decoder layers as (kernel size, upsampling factor); every layer but the last has N filters and IGDN.
# The faster-decoder thesis does not say how 2L splits the 16x upsampling: the N-filter layer takes 4 and the
# output layer 4, except for a 3x3 kernel (narrower than a stride of 4 would leave never-written pixels): 2 and 8.
DECODER_VARIANTS: dict[str, tuple[tuple[int, int], ...]] = {
    "baseline": ((5, 2), (5, 2), (9, 4)),
    "2L": ((5, 4), (9, 4)),
    "K3x3": ((3, 2), (3, 2), (9, 4)),
    "2L-K3x3": ((3, 2), (9, 8)),
    "2L-K9x9": ((9, 4), (9, 4)),
}
