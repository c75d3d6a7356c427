"""Training: preparing data (vocabulary, labels, encoding), the tf.data pipeline, fitting,
checkpoints, multi-worker training and `compare`."""
