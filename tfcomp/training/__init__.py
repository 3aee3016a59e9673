"""Training: tf.data input, Keras fit with resumable checkpoints, saving with metadata."""
