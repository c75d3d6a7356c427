"""The networks: the model factory and encoder registry, our Keras layers, saving a model to
its directory, and the exporter of the TensorFlow-free NumPy copy."""
