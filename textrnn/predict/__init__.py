"""Prediction without TensorFlow: the `Predictor`, the NumPy runtime and its decoding, reading
input lines in batches, and the HTTP server (`server`; its queue in `batcher`, model reloads in
`hotswap`, request checks in `payloads`, Rasa's answer shape in `rasa`, metrics in
`telemetry`). Never imports TensorFlow, Keras, pandas or `textrnn.train` (the Keras
engine is loaded only when asked for)."""
