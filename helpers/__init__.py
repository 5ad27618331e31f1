"""Helpers shared by the notebooks on saving and loading models under ``tf.distribute``.

One concern per module:

- :mod:`helpers.devices`   – split the CPU into logical devices, build strategies
- :mod:`helpers.data`      – MNIST through ``tfds.load`` (online or offline) and the input pipeline
- :mod:`helpers.models`    – the tutorial's model (Keras 3 or ``tf_keras``)
- :mod:`helpers.roundtrip` – prediction / optimizer-state equality after a save → load
- :mod:`helpers.plots`     – digit grids, class histograms, loss curves
- :mod:`helpers.workers`   – start and always stop worker processes
- :mod:`helpers.remote`    – a ``tf.distribute.Server`` in a subprocess (the local-I/O lesson, 05)
- :mod:`helpers.multiworker` – the worker program for ``MultiWorkerMirroredStrategy`` (07)

Modules are imported on demand so that ``import helpers`` never initialises TensorFlow.
"""

__version__ = "0.1.0"
