"""Prediction without TensorFlow: the `Predictor`, the NumPy runtime and its decoding, reading
input lines in batches. Never imports TensorFlow, Keras, pandas or `textrnn.train` (the Keras
engine is loaded only when asked for)."""
