"""Training on several machines with tf.distribute.MultiWorkerMirroredStrategy.

Keras 3's `model.fit` fails under this strategy (keras-team/keras#20585), so the workers run a
custom step: the model and optimizer live under `strategy.scope()`, each worker computes the
loss of its share of the batch, and the optimizer all-reduces (sums) the gradients, so every
worker applies the same update and ends with the same weights. Every collective must run on
every worker in the same order: so every worker runs the same number of steps per epoch, and
validation (which involves no collective) runs on every worker on a local copy of the model,
giving every worker the same early-stopping decision. Only the chief (worker 0) writes files.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

from textrnn.errors import TextrnnError, UsageError

DEFAULT_TIMEOUT = 300  # seconds to wait for every worker to join, and for any collective


@dataclass
class Cluster:
    workers: list[str]  # host:port of every worker, the same list everywhere
    index: int  # this worker's place in `workers`; 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    def tf_config(self) -> dict:
        return {"cluster": {"worker": self.workers},
                "task": {"type": "worker", "index": self.index}}


def cluster_from(workers: str | None, index: int | None) -> Cluster | None:
    """The cluster --workers/--worker-index describe, else the one TF_CONFIG describes (as a
    scheduler may set it), else None: train in this process alone."""
    if workers is None:
        if index is not None:
            raise UsageError("--worker-index needs --workers")
        return _from_tf_config(os.environ.get("TF_CONFIG"))
    addresses = [address.strip() for address in workers.split(",") if address.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--workers: '{address}' is not host:port")
    if len(set(addresses)) != len(addresses):
        raise UsageError("--workers lists an address twice")
    if index is None or not 0 <= index < len(addresses):
        raise UsageError(f"--worker-index must be given, from 0 to {len(addresses) - 1}")
    return Cluster(addresses, index) if len(addresses) > 1 else None


def _from_tf_config(text: str | None) -> Cluster | None:
    if not text:
        return None
    try:
        config = json.loads(text)
        workers = list(config["cluster"]["worker"])
        task = config["task"]
    except (ValueError, KeyError, TypeError):
        raise UsageError("TF_CONFIG is set but is not {\"cluster\": {\"worker\": [...]}, "
                         "\"task\": {\"type\": \"worker\", \"index\": i}}") from None
    if set(config["cluster"]) != {"worker"} or task.get("type") != "worker":
        raise UsageError("TF_CONFIG: textrnn trains with workers only (no chief, ps or "
                         "evaluator tasks); worker 0 is the chief")
    return Cluster(workers, int(task["index"])) if len(workers) > 1 else None


# The watcher: quiet if its stdin closes in time (cancelled), else it prints the message.
_WATCHER = ("import select, sys\n"
            "if not select.select([sys.stdin], [], [], float(sys.argv[1]))[0]:\n"
            "    sys.stderr.write(sys.argv[2] + '\\n')\n")


class Watchdog:
    """Ends the process with a clear message if `seconds` pass before the block ends.

    A worker waiting for one that never joins blocks inside TensorFlow holding the GIL, deaf
    to Python threads and signal handlers (and TensorFlow takes SIGTERM for itself). So a tiny
    watcher process prints the message, and faulthandler's C thread (which needs no GIL) ends
    this process with exit status 1 a moment later.
    """

    def __init__(self, seconds: float, message: str):
        self.seconds = seconds
        self.message = f"textrnn: error: {message}"

    def __enter__(self) -> Watchdog:
        import faulthandler
        import subprocess

        self.watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(self.seconds),
                                         self.message], stdin=subprocess.PIPE)
        self.sink = open(os.devnull, "w")  # held until __exit__
        faulthandler.dump_traceback_later(self.seconds + 1, exit=True, file=self.sink)
        return self

    def __exit__(self, *exc) -> None:
        import faulthandler

        faulthandler.cancel_dump_traceback_later()
        self.sink.close()
        self.watcher.stdin.close()
        self.watcher.wait()


def connect(cluster: Cluster, timeout: float):
    """The strategy, once every worker has joined (or a clear failure after `timeout`)."""
    os.environ["TF_CONFIG"] = json.dumps(cluster.tf_config())
    import tensorflow as tf

    others = [address for i, address in enumerate(cluster.workers) if i != cluster.index]
    with Watchdog(timeout, f"worker {cluster.index}: not every worker joined within {timeout:g} s "
                  f"(waiting for {', '.join(others)}); start all workers with the same "
                  "--workers list, or raise --worker-timeout"):
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return strategy


def fit(strategy, cluster: Cluster, model, local_model, datasets, steps: int, epochs: int,
        callbacks: list, timeout: float) -> tuple[dict, float]:
    """Train `model` (built under strategy.scope()) for up to `epochs` epochs of `steps` steps.

    `datasets(worker, workers)` gives this worker's endless batches. After each epoch the
    weights are copied to `local_model` (a plain model), which the callbacks (validation
    score, early stopping, progress) see and which is saved in the end.
    Returns the history and the seconds spent.
    """
    import keras
    import tensorflow as tf

    workers = len(cluster.workers)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda context: datasets(context.input_pipeline_id, context.num_input_pipelines)))

    def replica_step(inputs, targets, weights=None):
        with tf.GradientTape() as tape:
            predictions = model(inputs, training=True)
            loss = model.compute_loss(x=inputs, y=targets, y_pred=predictions,
                                      sample_weight=weights, training=True)
            # The optimizer sums the workers' gradients: scale to the mean over the global batch.
            scaled = loss / strategy.num_replicas_in_sync
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function  # traced once: the iterator's shapes leave batch and length open
    def train_step(iterator):
        losses = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    recorder = keras.callbacks.History()  # last: sees what the others add to the logs
    listeners = keras.callbacks.CallbackList([*callbacks, recorder], model=local_model)
    local_model.stop_training = False  # early stopping sets it, as model.fit would
    started = time.perf_counter()
    listeners.on_train_begin()
    try:
        for epoch in range(epochs):
            listeners.on_epoch_begin(epoch)
            total = 0.0
            for step in range(steps):
                if epoch == 0 and step == 0:  # the first collective: every worker is there
                    with Watchdog(timeout, f"worker {cluster.index}: the first training step "
                                  f"did not complete within {timeout:g} s"):
                        loss = float(train_step(iterator))
                else:
                    loss = float(train_step(iterator))
                total += loss
                listeners.on_train_batch_end(step, {"loss": loss})
            local_model.set_weights(model.get_weights())
            listeners.on_epoch_end(epoch, {"loss": total / steps})
            if local_model.stop_training:
                break
    except tf.errors.OpError as error:
        raise TextrnnError(f"worker {cluster.index} of {workers}: training stopped, a worker "
                           f"failed or left ({type(error).__name__}: "
                           f"{str(error).splitlines()[0][:200]})") from None
    listeners.on_train_end()
    return recorder.history, time.perf_counter() - started


def weights_fingerprint(model) -> str:
    """SHA-256 of the weights' bytes: equal on every worker when training went right."""
    import hashlib

    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(weights.tobytes())
    return digest.hexdigest()
