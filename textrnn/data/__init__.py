"""Reading and writing examples: every file format (`read.read_corpus` picks one), streamed
shards and word-vector files. Never imports Keras or TensorFlow (pandas only inside a reader)."""
