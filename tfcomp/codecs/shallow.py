"""Shallow per-image autoencoder codec `shallow` (the shallow-autoencoder paper, docs/systems.md): an autoencoder is
trained on the one image being compressed, and the file holds its decoder's weights plus one code per 32x32 block.

Design, and why:

- Blocks: the image is cut into 32x32x3 blocks in raster order. Sizes that are not multiples of 32 are
  padded by edge replication (klt.to_blocks) and the decoded image is cropped back to H x W; replicated
  edges are smooth, so the padding costs the network little, and the paper (which only used 640x640)
  names padding noise as a concern.
- Encoders, as in the paper's figures and public code: `cnn` is Conv 32 3x3 tanh (valid) -> Conv 64 3x3
  relu -> MaxPool 2 -> Dropout 0.25 -> Flatten -> Dense(code) tanh. `lstm` is three ConvLSTM2D layers
  (64/128/128 filters, 3x3, stride 2, valid, relu) -> Flatten -> Dense(code) tanh. Like the paper's code
  (input shape (1, 32, 32, 3)), each block is a sequence of one step, from the zero state: the recurrent
  kernels then only multiply zeros, so each layer is computed as what it equals, one convolution to
  Keras' four gates (input, forget, cell, output; the same kernel shape and initializer) with
  c = hard_sigmoid(i) * relu(g), h = hard_sigmoid(o) * relu(c) (tested equal to tf.keras.layers.ConvLSTM2D).
  Skipping the zero-state recurrent convolutions halves the training time.
- Shared decoder: Dense(30*30*3) tanh -> reshape 30x30x3 -> Conv2DTranspose 3, 3x3 valid, sigmoid. It has
  (code + 1) * 2700 + 84 weights (175,584 for code 64, as the paper reports); the encoder is discarded.
- Training: sum of squared errors on [0, 1] pixels, RMSprop (Keras defaults, learning rate 1e-3), a fixed
  seed, so the same image and settings give the same file. The paper trains 300 epochs of one block per
  step; that is hours on two CPU cores for a Kodak image, so the default is DEFAULT_EPOCHS epochs of
  mini-batches of DEFAULT_BATCH blocks (RMSprop normalizes the gradient's scale, so summing over a batch
  needs no other learning rate; a 3x larger one diverged). On two CPU cores shared with another training
  job a 768x512 image took about 55 s (cnn) and 105 s (lstm). Both are constructor arguments. Longer
  helps slowly: shallow-cnn-c64 on kodim01 reached MS-SSIM 0.82 after 50 epochs, 0.89 after 120 and 0.90
  after 300 epochs of batch 32 (over 3 minutes).
- Storage: decoder weights and codes as IEEE float16 (little-endian), half the paper's float32, so our
  ratios are about twice the paper's at the same code length. There is no entropy coding: the file size
  is known before training (header + 2 * ((code + 1) * 2700 + 84) + 2 * code * blocks bytes), which is
  how the paper's feasibility criterion S_d + c_l * n_b < 3 * P is checked before any training starts.

Files use the .tfc container (docs/FORMAT.md): the model name is the rate point (`shallow-lstm-c64`),
the table hash a digest of this format's description, part 0 the dense layer ((code + 1) x 2700: kernel
rows, then the bias), part 1 the transposed convolution (1 x 84: kernel, then bias), part 2 the codes
(block grid rows x cols, code values per block).
"""
from __future__ import annotations

import functools
import hashlib
import re
import sys

import numpy as np

from tfcomp.codecs import container
from tfcomp.codecs.base import Codec
from tfcomp.codecs.klt import from_blocks, to_blocks
from tfcomp.errors import TfcompError

FAMILY = "shallow"
VARIANTS = ("cnn", "lstm")
CODES = (32, 64, 80)
DEFAULT_VARIANT, DEFAULT_CODE = "lstm", 64
MAX_CODE = 1024
BLOCK = 32
HIDDEN = (BLOCK - 2, BLOCK - 2, 3)   # the decoder's dense output, reshaped; a 3x3 valid transpose adds 2
DENSE_UNITS = int(np.prod(HIDDEN))   # 2700
KERNEL = 3
TRANSPOSE_VALUES = KERNEL * KERNEL * 3 * 3 + 3  # Conv2DTranspose kernel (3, 3, out 3, in 3) and bias: 84
STORED = np.dtype("<f2")
DEFAULT_EPOCHS = 100
DEFAULT_BATCH = 16
DEFAULT_SEED = 0
# The decoder architecture and storage are the format: a file never decodes with another of either.
FORMAT_HASH = hashlib.sha256(
    f"{FAMILY} v1 block {BLOCK} dense {DENSE_UNITS} tanh reshape {HIDDEN} conv2d_transpose {KERNEL}x{KERNEL} "
    f"valid sigmoid weights and codes {STORED.str}".encode()).digest()[:container.HASH_BYTES]


def grid_of(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of 32x32 blocks covering an image (the last ones edge-padded)."""
    return -(-height // BLOCK), -(-width // BLOCK)


def part_shapes(code: int, height: int, width: int) -> tuple[tuple[int, int], ...]:
    """The container's part shapes: dense layer, transposed convolution, block grid of codes."""
    return (code + 1, DENSE_UNITS), (1, TRANSPOSE_VALUES), grid_of(height, width)


def part_bytes(code: int, height: int, width: int) -> tuple[int, int, int]:
    """Byte lengths of the three parts."""
    (dense_rows, dense_cols), (_, transpose), (rows, cols) = part_shapes(code, height, width)
    return tuple(STORED.itemsize * n for n in (dense_rows * dense_cols, transpose, rows * cols * code))


def build_decoder(code: int):
    """The shared decoder: code -> (32, 32, 3) block in [0, 1]."""
    import tensorflow as tf

    layers = tf.keras.layers
    codes = tf.keras.Input((code,), name="code")
    x = layers.Dense(DENSE_UNITS, activation="tanh", name="decoder_dense")(codes)
    x = layers.Reshape(HIDDEN, name="decoder_reshape")(x)
    x = layers.Conv2DTranspose(3, KERNEL, padding="valid", activation="sigmoid", kernel_initializer="glorot_normal",
                               name="decoder_transpose")(x)
    return tf.keras.Model(codes, x, name="decoder")


def one_step_conv_lstm(x, filters: int):
    """ConvLSTM2D(filters, 3x3, stride 2, relu) on a one-step sequence from the zero state (module docstring)."""
    import tensorflow as tf

    # Keras' gate order; the forget gate only scales the zero initial cell state.
    gates = tf.keras.layers.Conv2D(4 * filters, 3, strides=2)(x)
    i, _, g, o = tf.split(gates, 4, axis=-1)
    gate = tf.keras.activations.hard_sigmoid
    return gate(o) * tf.nn.relu(gate(i) * tf.nn.relu(g))


def build_encoder(variant: str, code: int):
    """The paper's CNN or ConvLSTM+CNN encoder: (32, 32, 3) block -> code in [-1, 1]."""
    import tensorflow as tf

    layers = tf.keras.layers
    blocks = tf.keras.Input((BLOCK, BLOCK, 3), name="block")
    if variant == "cnn":
        x = layers.Conv2D(32, 3, activation="tanh")(blocks)
        x = layers.Conv2D(64, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    else:
        x = blocks
        for filters in (64, 128, 128):
            x = one_step_conv_lstm(x, filters)
    x = layers.Flatten()(x)
    return tf.keras.Model(blocks, layers.Dense(code, activation="tanh")(x), name=f"{variant}_encoder")


def sum_squared_error(y_true, y_pred):
    """The paper's loss: squared errors summed over the batch (the paper's tf.nn.l2_loss halves it)."""
    import tensorflow as tf

    return tf.reduce_sum(tf.square(y_true - y_pred))


def progress_callback(epochs: int, name: str, enabled: bool):
    """A Keras callback drawing a tqdm bar over the training epochs on stderr, with the loss."""
    import tensorflow as tf
    from tqdm import tqdm

    class Progress(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=f"training {name}", unit="epoch", file=sys.stderr,
                            disable=not enabled, leave=False)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix(loss=f"{(logs or {}).get('loss', float('nan')):.4g}")
            self.bar.update()

        def on_train_end(self, logs=None):
            self.bar.close()

    return Progress()


class ShallowCodec(Codec):
    """One shallow autoencoder variant ('cnn' or 'lstm') at one code length, trained per image at encode."""

    family = FAMILY

    def __init__(self, variant: str = DEFAULT_VARIANT, code: int = DEFAULT_CODE, epochs: int = DEFAULT_EPOCHS,
                 batch: int = DEFAULT_BATCH, seed: int = DEFAULT_SEED, progress: bool = True):
        if variant not in VARIANTS:
            raise TfcompError(f"shallow variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        if not 1 <= code <= MAX_CODE:
            raise TfcompError(f"shallow code length must be 1..{MAX_CODE}, not {code}")
        if epochs < 1 or batch < 1:
            raise TfcompError("shallow epochs and batch must be positive")
        self.variant, self.code = variant, code
        self.epochs, self.batch, self.seed, self.progress = epochs, batch, seed, progress

    @property
    def name(self) -> str:
        """e.g. 'shallow-lstm-c64'; also the model name written into the file."""
        return f"{FAMILY}-{self.variant}-c{self.code}"

    @classmethod
    def from_name(cls, name: str) -> "ShallowCodec | None":
        """The codec a name denotes ('shallow' is shallow-lstm-c64, else 'shallow-VARIANT-cN'), else None."""
        match = re.fullmatch(rf"{FAMILY}(?:-(?P<variant>[a-z]+)-c(?P<code>\d+))?", name)
        if match is None or match["variant"] not in (None, *VARIANTS):
            return None
        return cls(match["variant"], int(match["code"])) if match["variant"] else cls()

    @classmethod
    def sweep(cls) -> list["ShallowCodec"]:
        """Both variants at the paper's code lengths, smallest files first (cnn, the paper's weaker, first)."""
        return [cls(variant, code) for code in CODES for variant in VARIANTS]

    def stages(self, image: np.ndarray, data: bytes) -> dict:
        """Only decoding: an encode trains for minutes (tfcomp/evaluation/shallow_eval.py times one instead)."""
        return {"decode": lambda: self.decode(data)}

    def file_size(self, height: int, width: int) -> int:
        """Exact size in bytes of this rate point's file for an image: header + decoder + codes."""
        shapes = part_shapes(self.code, height, width)
        header = len(container.pack(container.Container(self.name, FORMAT_HASH, height, width, 3, 0, shapes,
                                                        (b"",) * len(shapes))))
        return header + sum(part_bytes(self.code, height, width))

    def check_feasible(self, height: int, width: int) -> None:
        """The paper's criterion, with the header counted: the file must be smaller than the raw RGB image."""
        size, raw = self.file_size(height, width), 3 * height * width
        if size >= raw:
            dense, transpose, codes = part_bytes(self.code, height, width)
            raise TfcompError(f"{self.name} cannot compress a {width}x{height} image: decoder {dense + transpose} B"
                              f" + codes {codes} B + header = {size} B, not less than the raw {raw} B "
                              "(use a larger image or a shorter code)")

    def encode(self, image: np.ndarray, grayscale: bool = False) -> bytes:
        """Checks feasibility, trains an autoencoder on the image's blocks, writes its decoder and codes."""
        height, width = image.shape[:2]
        self.check_feasible(height, width)
        vectors, grid = to_blocks(image, BLOCK)
        blocks = (vectors / 255.0).astype(np.float32).reshape(-1, BLOCK, BLOCK, 3)
        encoder, decoder = self.train(blocks)
        codes = encoder(blocks, training=False).numpy().reshape(*grid, self.code)
        kernel, bias, transpose_kernel, transpose_bias = decoder.get_weights()
        parts = (np.vstack([kernel, bias[None]]), np.concatenate([transpose_kernel.ravel(), transpose_bias]), codes)
        return container.pack(container.Container(
            model=self.name, table_hash=FORMAT_HASH, height=height, width=width, channels=1 if grayscale else 3,
            variant=0, latent_shapes=part_shapes(self.code, height, width),
            strings=tuple(part.astype(STORED).tobytes() for part in parts)))

    def train(self, blocks: np.ndarray):
        """Fits encoder and decoder to reproduce the blocks; returns both (float32 weights)."""
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.seed)  # same image, same settings: same file
        encoder, decoder = build_encoder(self.variant, self.code), build_decoder(self.code)
        inputs = tf.keras.Input((BLOCK, BLOCK, 3))
        autoencoder = tf.keras.Model(inputs, decoder(encoder(inputs)))
        # Several steps per call: the model is small, so per-step Python overhead would dominate.
        autoencoder.compile(optimizer=tf.keras.optimizers.RMSprop(), loss=sum_squared_error,
                            steps_per_execution=max(1, len(blocks) // self.batch))
        autoencoder.fit(blocks, blocks, batch_size=self.batch, epochs=self.epochs, shuffle=True, verbose=0,
                        callbacks=[progress_callback(self.epochs, self.name, self.progress)])
        return encoder, decoder

    def decode(self, data: bytes) -> np.ndarray:
        """Decompresses a .tfc file made at this rate point."""
        return self.decode_container(container.unpack(data))

    def decode_container(self, c: container.Container) -> np.ndarray:
        """Checks a parsed container against this rate point's format, then runs the stored decoder."""
        if c.model != self.name:
            raise TfcompError(f"file was made by {c.model!r}, not {self.name!r}")
        if c.table_hash != FORMAT_HASH:
            raise TfcompError(f"file's format hash does not match this {FAMILY} decoder (different version?)")
        if (c.variant != 0 or c.latent_shapes != part_shapes(self.code, c.height, c.width)
                or tuple(map(len, c.strings)) != part_bytes(self.code, c.height, c.width)):
            raise TfcompError("corrupt tfcomp file (shallow part shapes do not match the image size)")
        dense, transpose, codes = (np.frombuffer(s, STORED).astype(np.float32) for s in c.strings)
        if not all(np.isfinite(part).all() for part in (dense, transpose, codes)) or np.abs(codes).max() > 1:
            raise TfcompError("corrupt tfcomp file (shallow weights or codes out of range)")
        blocks = self._run_decoder(dense.reshape(self.code + 1, DENSE_UNITS), transpose, codes.reshape(-1, self.code))
        image = from_blocks(255.0 * blocks.reshape(len(blocks), -1), grid_of(c.height, c.width), BLOCK,
                            c.height, c.width)
        return np.clip(np.round(image), 0, 255).astype(np.uint8)

    def _run_decoder(self, dense: np.ndarray, transpose: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The stored weights in the shared decoder, applied to every block's code: (blocks, 32, 32, 3)."""
        decoder = _decoder(self.code)
        split = transpose.size - 3
        decoder.set_weights([dense[:-1], dense[-1], transpose[:split].reshape(KERNEL, KERNEL, 3, 3), transpose[split:]])
        return decoder(codes, training=False).numpy()


@functools.lru_cache(maxsize=None)
def _decoder(code: int):
    """One decoder model per code length and process; decoding only swaps its weights."""
    return build_decoder(code)
