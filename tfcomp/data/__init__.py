"""Image input: files for the codecs, tf.data pipelines for training, the Kodak TFDS builder."""
